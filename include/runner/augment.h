/* augment: the report's four transforms on uint8 CIFAR images (planar RGB,
 * 3 x 32 x 32), and the expansion of a training set by augmented copies.
 *
 * Each augmented image gets exactly one transform, picked uniformly among the
 * enabled ones, from an explicit rng stream:
 *   rotation  angle ~ U[-max_degrees, max_degrees] about the image centre,
 *             bilinear sampling, zero outside the source;
 *   cutout    w, h ~ U{0..cutout_max}, top-left uniform so the block lies
 *             inside the image, filled with cutout_fill in every channel;
 *   crop      zero-pad by `padding` px on every side, take a 32x32 window at
 *             an offset uniform in [0, 2*padding] on each axis;
 *   contrast  x' = clip(a(x-128)+128, 0, 255), a ~ U[min, max], then a
 *             horizontal flip with probability flip_prob.
 * Called by the CLI before features are computed. */
#ifndef RUNNER_AUGMENT_H
#define RUNNER_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "runner/cifar.h"
#include "runner/config.h"
#include "runner/err.h"
#include "runner/rng.h"

enum aug_kind { AUG_ROTATION = 0, AUG_CUTOUT = 1, AUG_CROP = 2, AUG_CONTRAST = 3 };

/* Mirror left-right in place. */
void aug_hflip(uint8_t *img);
/* dst = src rotated by `degrees` (counter-clockwise) about the centre. */
void aug_rotate(const uint8_t *src, uint8_t *dst, double degrees);
/* Fill the w x h block with top-left (x0, y0) in every channel; the block is
 * clipped to the image. */
void aug_cutout(uint8_t *img, size_t x0, size_t y0, size_t w, size_t h, uint8_t fill);
/* dst(x, y) = padded(x + ox, y + oy) where padded is src with `pad` zero px on
 * each side; ox, oy in [0, 2*pad]. ox = oy = pad is the identity. */
void aug_crop(const uint8_t *src, uint8_t *dst, size_t pad, size_t ox, size_t oy);
/* x' = clip(a(x-128)+128) in place (rounded to nearest). */
void aug_contrast(uint8_t *img, double a);

/* Apply one randomly chosen enabled transform (with its random parameters)
 * to src, writing dst (src != dst). Returns the transform used. The config
 * must have at least one transform enabled (the parser guarantees it). */
enum aug_kind aug_random(const struct cfg_augment *cfg, struct rng *r,
                         const uint8_t *src, uint8_t *dst);

/* out = in followed by cfg->copies augmented copies of every image of in
 * (copy c of image i at index n*(1+c)+i), labels copied along. out must be
 * zero-initialised; on failure it is left empty. */
int aug_expand(const struct cfg_augment *cfg, struct rng *r, const struct cifar_set *in,
               struct cifar_set *out, struct rn_err *err);

#endif

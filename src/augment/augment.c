/* augment: the four transforms of the report, one random transform per image,
 * and the expansion of a training set by augmented copies.
 *
 * Random draws of aug_random, in this fixed order (each from the caller's
 * stream `r`):
 *   1. k = rng_below(number of enabled transforms); the k-th enabled one in
 *      enum order (rotation, cutout, crop, contrast) is used;
 *   2. its parameters:
 *      rotation  degrees = rng_range(-max_degrees, max_degrees)
 *      cutout    w = rng_below(cutout_max + 1), h = rng_below(cutout_max + 1),
 *                x0 = rng_below(32 - min(w, 32) + 1), y0 likewise with h
 *      crop      ox = rng_below(2 * padding + 1), oy = rng_below(2 * padding + 1)
 *      contrast  a = rng_range(contrast_min, contrast_max), then
 *                u = rng_uniform(); flip if u < flip_prob (u is always drawn,
 *                so the number of draws does not depend on flip_prob).
 * aug_expand makes copy 0 of every image, then copy 1, ...; so the stream is
 * consumed copy by copy, image by image within a copy. */
#include "runner/augment.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIDE ((size_t)CIFAR_SIDE)

void aug_hflip(uint8_t *img)
{
    for (size_t c = 0; c < 3; c++) {
        for (size_t y = 0; y < SIDE; y++) {
            uint8_t *row = img + c * CIFAR_PLANE + y * SIDE;
            for (size_t x = 0; x < SIDE / 2; x++) {
                uint8_t t = row[x];
                row[x] = row[SIDE - 1 - x];
                row[SIDE - 1 - x] = t;
            }
        }
    }
}

/* Round to nearest (halves up) and clip to 0..255; NaN -> 0. */
static uint8_t to_pixel(double v)
{
    if (!(v > 0.0))
        return 0;
    v = floor(v + 0.5);
    if (v >= 255.0)
        return 255;
    return (uint8_t)v;
}

/* Pixel (x, y) of a plane, 0 outside the image. */
static double plane_at(const uint8_t *plane, long x, long y)
{
    if (x < 0 || y < 0 || x >= (long)SIDE || y >= (long)SIDE)
        return 0.0;
    return plane[(size_t)y * SIDE + (size_t)x];
}

/* cos and sin of an angle in degrees, exact at multiples of 90 degrees so
 * that quarter turns move pixels without interpolation error. */
static void cos_sin_deg(double degrees, double *c, double *s)
{
    double m = fmod(degrees, 360.0);
    if (m < 0)
        m += 360.0;
    if (m == 0.0) {
        *c = 1.0, *s = 0.0;
    } else if (m == 90.0) {
        *c = 0.0, *s = 1.0;
    } else if (m == 180.0) {
        *c = -1.0, *s = 0.0;
    } else if (m == 270.0) {
        *c = 0.0, *s = -1.0;
    } else {
        double rad = degrees * (3.14159265358979323846 / 180.0);
        *c = cos(rad);
        *s = sin(rad);
    }
}

void aug_rotate(const uint8_t *src, uint8_t *dst, double degrees)
{
    /* Counter-clockwise as displayed (x right, y down). For each output
     * pixel, rotate its offset from the centre by -degrees to find where it
     * came from: sx = cx + dx cos - dy sin, sy = cy + dx sin + dy cos. */
    const double cx = (CIFAR_SIDE - 1) / 2.0, cy = cx; /* 15.5 */
    double cs, sn;
    cos_sin_deg(degrees, &cs, &sn);
    for (size_t y = 0; y < SIDE; y++) {
        for (size_t x = 0; x < SIDE; x++) {
            double dx = (double)x - cx, dy = (double)y - cy;
            double sx = cx + dx * cs - dy * sn;
            double sy = cy + dx * sn + dy * cs;
            double fx0 = floor(sx), fy0 = floor(sy);
            double fx = sx - fx0, fy = sy - fy0;
            /* Outside by more than a pixel: all four neighbours are zero
             * (this also keeps the conversion to long in range). */
            int outside = !(fx0 >= -1.0 && fy0 >= -1.0 && fx0 <= (double)SIDE &&
                            fy0 <= (double)SIDE);
            long x0 = outside ? 0 : (long)fx0, y0 = outside ? 0 : (long)fy0;
            for (size_t c = 0; c < 3; c++) {
                const uint8_t *p = src + c * CIFAR_PLANE;
                double v = 0.0;
                if (!outside)
                    v = (1 - fy) * ((1 - fx) * plane_at(p, x0, y0) + fx * plane_at(p, x0 + 1, y0)) +
                        fy * ((1 - fx) * plane_at(p, x0, y0 + 1) +
                              fx * plane_at(p, x0 + 1, y0 + 1));
                dst[c * CIFAR_PLANE + y * SIDE + x] = to_pixel(v);
            }
        }
    }
}

void aug_cutout(uint8_t *img, size_t x0, size_t y0, size_t w, size_t h, uint8_t fill)
{
    if (x0 >= SIDE || y0 >= SIDE)
        return;
    if (w > SIDE - x0)
        w = SIDE - x0;
    if (h > SIDE - y0)
        h = SIDE - y0;
    for (size_t c = 0; c < 3; c++)
        for (size_t y = y0; y < y0 + h; y++)
            memset(img + c * CIFAR_PLANE + y * SIDE + x0, fill, w);
}

/* Source index for output coordinate i of a crop at offset o with padding
 * pad: i + o - pad, or -1 when that falls in the zero margin. */
static long crop_src(size_t i, size_t pad, size_t o)
{
    if (o >= pad) {
        size_t shift = o - pad;
        if (shift >= SIDE || i >= SIDE - shift)
            return -1;
        return (long)(i + shift);
    }
    size_t back = pad - o;
    if (i < back)
        return -1;
    return (long)(i - back);
}

void aug_crop(const uint8_t *src, uint8_t *dst, size_t pad, size_t ox, size_t oy)
{
    for (size_t y = 0; y < SIDE; y++) {
        long sy = crop_src(y, pad, oy);
        for (size_t x = 0; x < SIDE; x++) {
            long sx = crop_src(x, pad, ox);
            for (size_t c = 0; c < 3; c++) {
                uint8_t v = 0;
                if (sx >= 0 && sy >= 0)
                    v = src[c * CIFAR_PLANE + (size_t)sy * SIDE + (size_t)sx];
                dst[c * CIFAR_PLANE + y * SIDE + x] = v;
            }
        }
    }
}

void aug_contrast(uint8_t *img, double a)
{
    uint8_t lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = to_pixel(a * (v - 128) + 128);
    for (size_t i = 0; i < CIFAR_IMAGE; i++)
        img[i] = lut[img[i]];
}

/* Uniform in {0..max}; max may be SIZE_MAX. */
static size_t draw_upto(struct rng *r, size_t max)
{
    if ((uint64_t)max >= UINT64_MAX)
        return (size_t)rng_u64(r);
    return (size_t)rng_below(r, (uint64_t)max + 1);
}

enum aug_kind aug_random(const struct cfg_augment *cfg, struct rng *r, const uint8_t *src,
                         uint8_t *dst)
{
    enum aug_kind enabled[4];
    size_t n = 0;
    if (cfg->rotation)
        enabled[n++] = AUG_ROTATION;
    if (cfg->cutout)
        enabled[n++] = AUG_CUTOUT;
    if (cfg->crop)
        enabled[n++] = AUG_CROP;
    if (cfg->contrast)
        enabled[n++] = AUG_CONTRAST;
    assert(n > 0 && "aug_random: no transform enabled");
    if (n == 0) { /* contract violated; leave the image unchanged */
        memcpy(dst, src, CIFAR_IMAGE);
        return AUG_ROTATION;
    }
    enum aug_kind k = enabled[rng_below(r, n)];
    switch (k) {
    case AUG_ROTATION: {
        double deg = rng_range(r, -cfg->max_degrees, cfg->max_degrees);
        aug_rotate(src, dst, deg);
        break;
    }
    case AUG_CUTOUT: {
        size_t w = draw_upto(r, cfg->cutout_max);
        size_t h = draw_upto(r, cfg->cutout_max);
        size_t wc = w < SIDE ? w : SIDE, hc = h < SIDE ? h : SIDE;
        size_t x0 = (size_t)rng_below(r, SIDE - wc + 1);
        size_t y0 = (size_t)rng_below(r, SIDE - hc + 1);
        memcpy(dst, src, CIFAR_IMAGE);
        aug_cutout(dst, x0, y0, wc, hc, (uint8_t)(cfg->cutout_fill > 255 ? 255 : cfg->cutout_fill));
        break;
    }
    case AUG_CROP: {
        size_t span; /* 2 * padding, saturated */
        if (rn_mul_size(cfg->crop_padding, 2, &span))
            span = SIZE_MAX;
        size_t ox = draw_upto(r, span);
        size_t oy = draw_upto(r, span);
        aug_crop(src, dst, cfg->crop_padding, ox, oy);
        break;
    }
    case AUG_CONTRAST: {
        double a = rng_range(r, cfg->contrast_min, cfg->contrast_max);
        double u = rng_uniform(r);
        memcpy(dst, src, CIFAR_IMAGE);
        aug_contrast(dst, a);
        if (u < cfg->flip_prob)
            aug_hflip(dst);
        break;
    }
    }
    return k;
}

int aug_expand(const struct cfg_augment *cfg, struct rng *r, const struct cifar_set *in,
               struct cifar_set *out, struct rn_err *err)
{
    /* Disabled augmentation means no copies, whatever `copies` says. */
    size_t copies = cfg->enabled ? cfg->copies : 0;
    if (copies > 0 && !(cfg->rotation || cfg->cutout || cfg->crop || cfg->contrast))
        return rn_fail(err, RN_ERR_GENERIC,
                       "augmentation: %zu copies requested but no transform is enabled", copies);
    size_t n = in->n, factor, total, bytes;
    if (rn_add_size(copies, 1, &factor) || rn_mul_size(n, factor, &total) ||
        rn_mul_size(total, CIFAR_IMAGE, &bytes))
        return rn_fail(err, RN_ERR_NOMEM,
                       "augmentation: %zu images x (1 + %zu copies) would overflow", n, copies);
    if (total == 0)
        return RN_OK; /* out stays empty */
    uint8_t *images = malloc(bytes);
    uint8_t *labels = malloc(total);
    if (!images || !labels) {
        free(images);
        free(labels);
        return rn_fail(err, RN_ERR_NOMEM,
                       "augmentation: out of memory for %zu images (%zu bytes)", total, bytes);
    }
    memcpy(images, in->images, n * (size_t)CIFAR_IMAGE);
    memcpy(labels, in->labels, n);
    for (size_t c = 1; c <= copies; c++) {
        size_t base = n * c;
        for (size_t i = 0; i < n; i++) {
            aug_random(cfg, r, in->images + i * CIFAR_IMAGE, images + (base + i) * CIFAR_IMAGE);
            labels[base + i] = in->labels[i];
        }
    }
    out->images = images;
    out->labels = labels;
    out->n = total;
    return RN_OK;
}

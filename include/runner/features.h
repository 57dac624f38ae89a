/* features: images -> float feature matrix (one row per image).
 *
 * Sources: raw = per-channel standardised pixels (3072-d), with mean and
 * standard deviation from the training images only. Called by the CLI after
 * augmentation and before training. */
#ifndef RUNNER_FEATURES_H
#define RUNNER_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "runner/cifar.h"
#include "runner/err.h"

struct feat_matrix {
    size_t rows, cols;
    float *data;          /* rows * cols, row-major */
};

/* Per-channel statistics for the raw source. */
struct feat_raw_stats {
    double mean[3];
    double std[3];
};

/* Mean and (population) standard deviation of each channel over all pixels
 * of the n images. */
void feat_raw_fit(const uint8_t *images, size_t n, struct feat_raw_stats *st);
/* out (n x 3072) = (pixel - mean[c]) / std[c], planar order kept. */
int feat_raw_apply(const struct feat_raw_stats *st, const struct cifar_set *set,
                   struct feat_matrix *out, struct rn_err *err);
void feat_free(struct feat_matrix *m);

#endif

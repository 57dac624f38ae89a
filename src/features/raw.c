/* features/raw: per-channel standardised pixels.
 *
 * feat_raw_fit counts the 256 pixel values of each channel (exact integer
 * counts), then computes mean and population variance from the counts in
 * double, two-pass (variance around the computed mean), so the result does not
 * depend on the order of the images and does not lose precision however many
 * images there are. A channel whose standard deviation is 0 (every pixel the
 * same value), or an empty image set, gets std = 1 so that applying never
 * divides by zero; such a channel then maps to pixel - mean. With n == 0 the
 * mean is 0. */
#include "runner/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void feat_raw_fit(const uint8_t *images, size_t n, struct feat_raw_stats *st)
{
    uint64_t hist[3][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *img = images + i * (size_t)CIFAR_IMAGE;
        for (size_t c = 0; c < 3; c++) {
            const uint8_t *p = img + c * CIFAR_PLANE;
            for (size_t k = 0; k < CIFAR_PLANE; k++)
                hist[c][p[k]]++;
        }
    }
    for (size_t c = 0; c < 3; c++) {
        uint64_t count = 0;
        double sum = 0.0;
        for (int v = 0; v < 256; v++) {
            count += hist[c][v];
            sum += (double)v * (double)hist[c][v];
        }
        if (count == 0) {
            st->mean[c] = 0.0;
            st->std[c] = 1.0;
            continue;
        }
        double mean = sum / (double)count;
        double ss = 0.0;
        for (int v = 0; v < 256; v++) {
            double d = v - mean;
            ss += (double)hist[c][v] * d * d;
        }
        double sd = sqrt(ss / (double)count);
        st->mean[c] = mean;
        st->std[c] = sd > 0.0 ? sd : 1.0;
    }
}

int feat_raw_apply(const struct feat_raw_stats *st, const struct cifar_set *set,
                   struct feat_matrix *out, struct rn_err *err)
{
    size_t count, bytes;
    memset(out, 0, sizeof *out);
    if (rn_mul_size(set->n, CIFAR_IMAGE, &count) || rn_mul_size(count, sizeof(float), &bytes))
        return rn_fail(err, RN_ERR_NOMEM, "raw features: %zu x %d floats would overflow",
                       set->n, CIFAR_IMAGE);
    out->cols = CIFAR_IMAGE;
    if (set->n == 0)
        return RN_OK;
    float *data = malloc(bytes);
    if (!data) {
        out->cols = 0;
        return rn_fail(err, RN_ERR_NOMEM,
                       "raw features: out of memory for %zu x %d floats (%zu bytes)", set->n,
                       CIFAR_IMAGE, bytes);
    }
    /* Every pixel value maps to one float per channel: a 256-entry table
     * gives the same values as computing (x - mean) / std each time. */
    float lut[3][256];
    for (size_t c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = (float)((v - st->mean[c]) / st->std[c]);
    for (size_t i = 0; i < set->n; i++) {
        const uint8_t *img = set->images + i * (size_t)CIFAR_IMAGE;
        float *row = data + i * (size_t)CIFAR_IMAGE;
        for (size_t c = 0; c < 3; c++)
            for (size_t k = 0; k < CIFAR_PLANE; k++)
                row[c * CIFAR_PLANE + k] = lut[c][img[c * CIFAR_PLANE + k]];
    }
    out->rows = set->n;
    out->data = data;
    return RN_OK;
}

void feat_free(struct feat_matrix *m)
{
    free(m->data);
    m->data = NULL;
    m->rows = 0;
    m->cols = 0;
}

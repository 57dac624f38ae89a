/* standardize: column statistics in double, applied in place.
 *
 * Both passes walk the matrix row by row (contiguous memory) and keep one
 * double accumulator per column, so the sums are in row order and
 * vectorize across columns. */
#include "runner/standardize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int stdz_fit(const float *x, size_t rows, size_t cols, double var_eps, struct stdz_stats *st,
             struct rn_err *err)
{
    memset(st, 0, sizeof *st);
    if (!(var_eps >= 0.0) || !isfinite(var_eps))
        return rn_fail(err, RN_ERR_GENERIC, "standardize: var_eps must be finite and >= 0");
    size_t count, bytes;
    if (rn_mul_size(cols, 2, &count) || rn_mul_size(count, sizeof(double), &bytes))
        return rn_fail(err, RN_ERR_NOMEM, "standardize: %zu columns overflow", cols);
    double *buf = calloc(count ? count : 1, sizeof(double));
    if (!buf)
        return rn_fail(err, RN_ERR_NOMEM, "standardize: out of memory for %zu columns", cols);
    double *mean = buf, *sd = buf + cols;

    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        for (size_t j = 0; j < cols; j++)
            mean[j] += row[j];
    }
    for (size_t j = 0; j < cols; j++)
        mean[j] = rows ? mean[j] / (double)rows : 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        for (size_t j = 0; j < cols; j++) {
            double d = row[j] - mean[j];
            sd[j] += d * d;
        }
    }
    for (size_t j = 0; j < cols; j++) {
        double s = rows ? sqrt(sd[j] / (double)rows + var_eps) : 0.0;
        sd[j] = s > 0.0 && isfinite(s) ? s : 1.0;
    }
    st->cols = cols;
    st->mean = mean;
    st->std = sd;
    return RN_OK;
}

void stdz_apply(const struct stdz_stats *st, float *x, size_t rows)
{
    size_t cols = st->cols;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        for (size_t j = 0; j < cols; j++)
            row[j] = (float)((row[j] - st->mean[j]) / st->std[j]);
    }
}

void stdz_free(struct stdz_stats *st)
{
    if (!st)
        return;
    free(st->mean); /* mean and std share one allocation */
    memset(st, 0, sizeof *st);
}

/* standardize: column-wise standardisation of a float matrix.
 *
 * Statistics are fitted on the training rows only and then applied to any
 * matrix with the same columns (train, augmented train, test):
 *   mean_j = (1/n) sum_r x_rj            (in double, rows in order)
 *   var_j  = (1/n) sum_r (x_rj - mean_j)^2   (population, two-pass)
 *   std_j  = sqrt(var_j + var_eps), or 1 where that is 0
 *   x_rj  <- (x_rj - mean_j) / std_j
 * var_eps acts as a smooth floor on the standard deviation (sqrt(var_eps)).
 * STDZ_DEFAULT_VAR_EPS is the 0.01 of Coates, Lee & Ng's code (applied to the
 * pooled k-means features, whose variances are in the hundreds, so it only
 * matters for near-constant columns). A constant training column maps to 0 on
 * the training rows, and to (x - mean) / std elsewhere.
 * Called by the CLI's feature stage on the final k-means features. */
#ifndef RUNNER_STANDARDIZE_H
#define RUNNER_STANDARDIZE_H

#include <stddef.h>

#include "runner/err.h"

#define STDZ_DEFAULT_VAR_EPS 0.01

struct stdz_stats {
    size_t cols;
    double *mean; /* (cols) */
    double *std;  /* (cols), > 0 */
};

/* Fit on x (rows, cols) row-major; var_eps >= 0 and finite. rows == 0 gives
 * mean 0 and std 1. st is overwritten; free with stdz_free. */
int stdz_fit(const float *x, size_t rows, size_t cols, double var_eps, struct stdz_stats *st,
             struct rn_err *err);
/* x (rows, st->cols) <- standardised in place. */
void stdz_apply(const struct stdz_stats *st, float *x, size_t rows);
void stdz_free(struct stdz_stats *st);

#endif

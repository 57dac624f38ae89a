/* test_standardize: column statistics fitted on training rows, applied to
 * the same and to other rows; constant columns; var_eps; edge cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/rng.h"
#include "runner/standardize.h"

enum { ROWS = 300, COLS = 9, OTHER = 40 };

/* Column j: offset 100 j, scale 1 + j^2 (wide range); column 4 constant. */
static void fill(float *x, size_t rows, uint64_t seed)
{
    struct rng r;
    rng_init(&r, seed, 1);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < COLS; j++)
            x[i * COLS + j] = j == 4 ? 7.5f
                                     : (float)(100.0 * (double)j +
                                               (1.0 + (double)(j * j)) * rng_normal(&r));
}

static void col_moments(const float *x, size_t rows, size_t j, double *mean, double *sd)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < rows; i++)
        m += x[i * COLS + j];
    m /= (double)rows;
    for (size_t i = 0; i < rows; i++)
        s += (x[i * COLS + j] - m) * (x[i * COLS + j] - m);
    *mean = m;
    *sd = sqrt(s / (double)rows);
}

int main(void)
{
    static float train[ROWS * COLS], orig[ROWS * COLS], other[OTHER * COLS],
        other0[OTHER * COLS];
    struct rn_err err = {0};
    struct stdz_stats st;
    fill(train, ROWS, 1);
    fill(other, OTHER, 2);
    memcpy(orig, train, sizeof train);
    memcpy(other0, other, sizeof other);

    /* var_eps = 0: training columns get mean 0 and (population) std 1;
     * float rounding of the outputs allows 1e-5. */
    CHECK(stdz_fit(train, ROWS, COLS, 0.0, &st, &err) == RN_OK);
    CHECK(st.cols == COLS);
    double train_mean[COLS], train_sd[COLS];
    for (size_t j = 0; j < COLS; j++)
        col_moments(orig, ROWS, j, &train_mean[j], &train_sd[j]);
    for (size_t j = 0; j < COLS; j++) {
        CHECK_NEAR(st.mean[j], train_mean[j], 1e-9 * (1 + fabs(train_mean[j])));
        if (j != 4)
            CHECK_NEAR(st.std[j], train_sd[j], 1e-9 * train_sd[j]);
    }
    CHECK(st.std[4] == 1.0); /* constant column: std 0 -> 1 */
    stdz_apply(&st, train, ROWS);
    for (size_t j = 0; j < COLS; j++) {
        double m, s;
        col_moments(train, ROWS, j, &m, &s);
        CHECK_NEAR(m, 0.0, 1e-5);
        if (j == 4)
            CHECK(s == 0.0 && train[j] == 0.0f);
        else
            CHECK_NEAR(s, 1.0, 1e-5);
    }

    /* Other rows use the training statistics, not their own. */
    stdz_apply(&st, other, OTHER);
    double maxd = 0;
    for (size_t i = 0; i < OTHER; i++)
        for (size_t j = 0; j < COLS; j++) {
            double sd = j == 4 ? 1.0 : train_sd[j];
            double want = (other0[i * COLS + j] - train_mean[j]) / sd;
            maxd = fmax(maxd, fabs(other[i * COLS + j] - want) / (1 + fabs(want)));
        }
    CHECK(maxd < 1e-6);
    double om, os;
    col_moments(other, OTHER, 3, &om, &os);
    CHECK(fabs(om) > 1e-3); /* not re-centred on its own mean */
    stdz_free(&st);
    CHECK(st.mean == NULL && st.std == NULL && st.cols == 0);
    stdz_free(&st); /* twice is harmless */

    /* var_eps = 0.01 (the paper's): std = sqrt(var + 0.01); the constant
     * column gets std 0.1 and still maps to 0 on the training rows. */
    memcpy(train, orig, sizeof train);
    CHECK(stdz_fit(train, ROWS, COLS, STDZ_DEFAULT_VAR_EPS, &st, &err) == RN_OK);
    for (size_t j = 0; j < COLS; j++) {
        double want = sqrt(train_sd[j] * train_sd[j] + 0.01);
        if (j == 4)
            want = 0.1;
        CHECK_NEAR(st.std[j], want, 1e-9 * want);
    }
    stdz_apply(&st, train, ROWS);
    CHECK(train[4] == 0.0f && train[COLS + 4] == 0.0f);
    memcpy(other, other0, sizeof other);
    other[4] = 8.5f;
    stdz_apply(&st, other, 1);
    CHECK_NEAR(other[4], 10.0, 1e-5); /* (8.5 - 7.5) / 0.1 */
    stdz_free(&st);

    /* Edge cases: no rows -> mean 0, std 1 (identity); no columns; bad eps. */
    CHECK(stdz_fit(train, 0, COLS, 0.01, &st, &err) == RN_OK);
    CHECK(st.mean[2] == 0.0 && st.std[2] == 1.0);
    memcpy(other, other0, sizeof other);
    stdz_apply(&st, other, OTHER);
    CHECK(memcmp(other, other0, sizeof other) == 0);
    stdz_free(&st);
    CHECK(stdz_fit(train, ROWS, 0, 0.01, &st, &err) == RN_OK);
    stdz_apply(&st, train, ROWS);
    stdz_free(&st);
    err.code = 0;
    CHECK(stdz_fit(train, ROWS, COLS, -1.0, &st, &err) == RN_ERR_GENERIC);
    CHECK(err.code == RN_ERR_GENERIC && st.mean == NULL);
    CHECK(stdz_fit(train, ROWS, COLS, NAN, &st, &err) == RN_ERR_GENERIC);
    CHECK(stdz_fit(train, ROWS, (size_t)-1, 0.01, &st, &err) == RN_ERR_NOMEM);
    return check_exit("test_standardize");
}

/* kmeans_fit: patch sampling, and Lloyd's k-means with the matrix-multiply
 * assignment step.
 *
 * Assignment: for a block of rows X_b, S = X_b C^T (one kn_sgemm), and row r
 * goes to argmin_j ||c_j||^2 - 2 S_rj (||x_r||^2 is common to all j), the
 * lowest j on ties. Blocks are fixed row ranges, run in parallel; each label
 * has one writer. Update: serial, in row order, sums in double, so the
 * centroids do not depend on the thread count. All rng draws (sampling,
 * initial rows, re-seeding) happen on the caller's thread in a fixed order. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans_internal.h"
#include "runner/cifar.h"
#include "runner/kernels.h"
#include "runner/kmeans.h"

/* Rows per assignment task: the score block is ASSIGN_BLOCK x k floats. */
#define ASSIGN_BLOCK 1024

struct assign_ctx {
    const float *x;    /* (n, dim) */
    const float *xx;   /* (n) ||x_r||^2 */
    const float *c;    /* (k, dim) */
    const float *cc;   /* (k) ||c_j||^2 */
    size_t n, dim, k;
    size_t *labels;    /* (n) out */
    float *dmin;       /* (n) out: squared distance to the chosen centroid */
    float *scratch;    /* per worker: ASSIGN_BLOCK x k */
};

static size_t assign_task(void *arg, size_t worker, size_t task)
{
    struct assign_ctx *a = arg;
    size_t r0 = task * ASSIGN_BLOCK;
    size_t b = a->n - r0 < ASSIGN_BLOCK ? a->n - r0 : ASSIGN_BLOCK;
    size_t k = a->k;
    float *s = a->scratch + worker * ASSIGN_BLOCK * k;
    /* s (b, k) = X_b (b, dim) * C^T (dim, k) */
    kn_sgemm(false, true, b, k, a->dim, 1.0f, a->x + r0 * a->dim, a->dim, a->c, a->dim, 0.0f,
             s, k);
    for (size_t i = 0; i < b; i++) {
        float *row = s + i * k;
        for (size_t j = 0; j < k; j++)
            row[j] = a->cc[j] - 2.0f * row[j];
        /* Minimum in 8 lanes (vectorizable), then its first index. */
        float lane[8];
        size_t j = 0;
        for (size_t l = 0; l < 8; l++)
            lane[l] = INFINITY;
        for (; j + 8 <= k; j += 8)
            for (size_t l = 0; l < 8; l++)
                lane[l] = row[j + l] < lane[l] ? row[j + l] : lane[l];
        float best = INFINITY;
        for (size_t l = 0; l < 8; l++)
            best = lane[l] < best ? lane[l] : best;
        for (; j < k; j++)
            best = row[j] < best ? row[j] : best;
        size_t arg_best = 0;
        for (j = 0; j < k; j++)
            if (row[j] == best) {
                arg_best = j;
                break;
            }
        float d = a->xx[r0 + i] + row[arg_best];
        a->labels[r0 + i] = arg_best;
        a->dmin[r0 + i] = d > 0.0f ? d : 0.0f;
    }
    return b;
}

int kmeans_cluster(const float *x, size_t n, size_t dim, size_t k, size_t iterations,
                   const float *init, struct rng *rng, const struct kmeans_exec *exec,
                   float *centroids, struct kmeans_stats *stats, struct rn_err *err)
{
    if (k < 1 || dim < 1 || k > n)
        return rn_fail(err, RN_ERR_GENERIC,
                       "k-means: need 1 <= k <= n and dim >= 1 (k = %zu, n = %zu, dim = %zu)",
                       k, n, dim);
    size_t tasks = (n - 1) / ASSIGN_BLOCK + 1;
    size_t workers = km_workers(exec, tasks);
    size_t kd, per, scratch_n;
    if (rn_mul_size(k, dim, &kd) || rn_mul_size(ASSIGN_BLOCK, k, &per) ||
        rn_mul_size(per, workers, &scratch_n))
        return rn_fail(err, RN_ERR_NOMEM, "k-means: k = %zu x dim = %zu is too large", k, dim);

    size_t *labels = km_alloc(n, sizeof *labels);
    float *xx = km_alloc(n, sizeof *xx);
    float *dmin = km_alloc(n, sizeof *dmin);
    float *cc = km_alloc(k, sizeof *cc);
    double *sums = km_alloc(kd, sizeof *sums);
    size_t *counts = km_alloc(k, sizeof *counts);
    float *scratch = km_alloc(scratch_n, sizeof *scratch);
    size_t *idx = init ? NULL : km_alloc(n, sizeof *idx);
    int rc = RN_OK;
    if (!labels || !xx || !dmin || !cc || !sums || !counts || !scratch || (!init && !idx)) {
        rc = rn_fail(err, RN_ERR_NOMEM, "k-means: out of memory (n = %zu, k = %zu, dim = %zu)",
                     n, k, dim);
        goto done;
    }

    if (init) {
        memcpy(centroids, init, kd * sizeof *centroids);
    } else {
        /* k distinct rows: the first k steps of a Fisher-Yates shuffle. */
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        for (size_t i = 0; i < k; i++) {
            size_t j = i + (size_t)rng_below(rng, (uint64_t)(n - i));
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            memcpy(centroids + i * dim, x + idx[i] * dim, dim * sizeof *centroids);
        }
    }
    for (size_t r = 0; r < n; r++)
        xx[r] = km_sum_sq(x + r * dim, dim);

    struct kmeans_stats st = {0, 0.0};
    struct assign_ctx ac = {x, xx, centroids, cc, n, dim, k, labels, dmin, scratch};
    for (size_t it = 0; it < iterations; it++) {
        for (size_t j = 0; j < k; j++)
            cc[j] = km_sum_sq(centroids + j * dim, dim);
        rc = km_parallel(workers, tasks, assign_task, &ac, NULL, NULL, n, err);
        if (rc != RN_OK)
            goto done;
        double total = 0.0;
        for (size_t r = 0; r < n; r++)
            total += dmin[r];
        st.inertia = total / (double)n;

        memset(sums, 0, kd * sizeof *sums);
        memset(counts, 0, k * sizeof *counts);
        for (size_t r = 0; r < n; r++) {
            size_t l = labels[r];
            const float *xr = x + r * dim;
            double *s = sums + l * dim;
            counts[l]++;
            for (size_t j = 0; j < dim; j++)
                s[j] += xr[j];
        }
        for (size_t l = 0; l < k; l++) {
            float *c = centroids + l * dim;
            if (counts[l] == 0) {
                size_t r = (size_t)rng_below(rng, (uint64_t)n);
                memcpy(c, x + r * dim, dim * sizeof *c);
                st.reseeded++;
                continue;
            }
            double inv = 1.0 / (double)counts[l];
            for (size_t j = 0; j < dim; j++)
                c[j] = (float)(sums[l * dim + j] * inv);
        }
        if (exec && exec->progress && exec->progress(exec->progress_ctx, it + 1, iterations)) {
            rc = rn_fail(err, RN_ERR_INTERRUPTED, "k-means: interrupted after %zu of %zu iterations",
                         it + 1, iterations);
            goto done;
        }
    }
    if (stats)
        *stats = st;

done:
    free(labels);
    free(xx);
    free(dmin);
    free(cc);
    free(sums);
    free(counts);
    free(scratch);
    free(idx);
    return rc;
}

int kmeans_fit(const struct kmeans_params *params, const uint8_t *images, size_t n,
               struct rng *rng, const struct kmeans_exec *exec, struct kmeans_model *model,
               struct rn_err *err)
{
    memset(model, 0, sizeof *model);
    int rc = kmeans_params_check(params, err);
    if (rc != RN_OK)
        return rc;
    if (n == 0 || !images)
        return rn_fail(err, RN_ERR_GENERIC, "k-means: no training images");

    const struct kmeans_params *p = params;
    size_t dim = 3 * p->patch * p->patch;
    size_t k = p->k;
    /* Model block: zca_mean (dim) | zca (dim^2) | centroids (k dim) |
     * centroid_sq (k) | dict (k dim). */
    size_t kd, total, dd;
    if (rn_mul_size(k, dim, &kd) || rn_mul_size(dim, dim, &dd) || rn_mul_size(kd, 2, &total) ||
        rn_add_size(total, dd, &total) || rn_add_size(total, dim, &total) ||
        rn_add_size(total, k, &total))
        return rn_fail(err, RN_ERR_NOMEM, "k-means: model of k = %zu is too large", k);
    size_t xn;
    if (rn_mul_size(p->n_patches, dim, &xn))
        return rn_fail(err, RN_ERR_NOMEM, "k-means: %zu patches of %zu values overflow",
                       p->n_patches, dim);
    float *block = km_alloc(total, sizeof(float));
    float *x = km_alloc(xn, sizeof(float));
    if (!block || !x) {
        free(block);
        free(x);
        return rn_fail(err, RN_ERR_NOMEM,
                       "k-means: out of memory for %zu patches x %zu values and the model",
                       p->n_patches, dim);
    }
    model->params = *p;
    model->dim = dim;
    model->block_ = block;
    model->zca_mean = block;
    model->zca = model->zca_mean + dim;
    model->centroids = model->zca + dd;
    model->centroid_sq = model->centroids + kd;
    model->dict = model->centroid_sq + k;

    /* 1-2. Random patches (image, row, column), each normalised. */
    size_t span = CIFAR_SIDE - p->patch + 1;
    for (size_t i = 0; i < p->n_patches; i++) {
        size_t img = (size_t)rng_below(rng, (uint64_t)n);
        size_t r = (size_t)rng_below(rng, (uint64_t)span);
        size_t c = (size_t)rng_below(rng, (uint64_t)span);
        float *xi = x + i * dim;
        km_extract_patch(images + img * (size_t)CIFAR_IMAGE, p->patch, r, c, xi);
        kmeans_normalize_patch(xi, dim, p->norm_eps);
    }
    /* 3. ZCA. */
    rc = kmeans_zca_fit(x, p->n_patches, dim, p->zca_eps, model->zca_mean, model->zca, err);
    if (rc == RN_OK)
        rc = kmeans_zca_apply(model->zca_mean, model->zca, dim, x, p->n_patches, exec, err);
    /* 4. k-means. */
    if (rc == RN_OK)
        rc = kmeans_cluster(x, p->n_patches, dim, k, p->iterations, NULL, rng, exec,
                            model->centroids, &model->stats, err);
    free(x);
    if (rc != RN_OK) {
        kmeans_model_free(model);
        return rc;
    }
    for (size_t j = 0; j < k; j++) {
        const float *c = model->centroids + j * dim;
        float *d = model->dict + j * dim;
        double s = 0.0;
        for (size_t t = 0; t < dim; t++)
            s += (double)c[t] * c[t];
        model->centroid_sq[j] = (float)s;
        double inv = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
        for (size_t t = 0; t < dim; t++)
            d[t] = (float)(c[t] * inv);
    }
    return RN_OK;
}

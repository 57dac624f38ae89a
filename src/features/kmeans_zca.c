/* kmeans_zca: the Jacobi eigenvalue routine and ZCA whitening.
 *
 * Jacobi (cyclic, Golub & Van Loan section 8.5): sweep over all pairs p < q
 * and apply the plane rotation J(p, q, theta) that zeroes a_pq,
 * A <- J^T A J, V <- V J, until the off-diagonal Frobenius norm is below
 * 1e-14 of the whole norm. Each sweep is O(n^3); for the 108 x 108
 * covariance it converges in well under 20 sweeps, a few ms in total. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans_internal.h"
#include "runner/kernels.h"
#include "runner/kmeans.h"

#define JACOBI_MAX_SWEEPS 100

int kmeans_eigen_sym(double *a, size_t n, double *lambda, double *v, struct rn_err *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            v[i * n + j] = i == j ? 1.0 : 0.0;

    double total = 0.0;
    for (size_t i = 0; i < n * n; i++)
        total += a[i] * a[i];
    if (!isfinite(total))
        return rn_fail(err, RN_ERR_GENERIC, "eigendecomposition: the matrix is not finite");

    bool converged = false;
    for (int sweep = 0; sweep < JACOBI_MAX_SWEEPS && !converged; sweep++) {
        double off = 0.0;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++)
                off += 2.0 * a[p * n + q] * a[p * n + q];
        if (off <= 1e-28 * total) {
            converged = true;
            break;
        }
        for (size_t p = 0; p + 1 < n; p++) {
            for (size_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0.0)
                    continue;
                /* t = tan(theta) is the smaller root of t^2 + 2 tau t - 1 = 0. */
                double tau = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                double t;
                if (fabs(tau) > 1e150)
                    t = 0.5 / tau;
                else
                    t = (tau >= 0.0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1.0 + tau * tau));
                double c = 1.0 / sqrt(1.0 + t * t);
                double s = t * c;
                /* Columns p, q: A <- A J. */
                for (size_t k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                /* Rows p, q: A <- J^T A. */
                double *rp = a + p * n, *rq = a + q * n;
                for (size_t k = 0; k < n; k++) {
                    double apk = rp[k], aqk = rq[k];
                    rp[k] = c * apk - s * aqk;
                    rq[k] = s * apk + c * aqk;
                }
                /* Zero by construction; drop the rounding residue. */
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for (size_t k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    if (!converged)
        return rn_fail(err, RN_ERR_GENERIC,
                       "eigendecomposition: Jacobi did not converge in %d sweeps",
                       JACOBI_MAX_SWEEPS);
    for (size_t i = 0; i < n; i++)
        lambda[i] = a[i * n + i];
    return RN_OK;
}

/* Rows of x accumulated into the covariance per block (as double). */
#define ZCA_COV_BLOCK 64

int kmeans_zca_fit(const float *x, size_t n, size_t dim, double eps, float *mean, float *w,
                   struct rn_err *err)
{
    if (n < 2 || dim < 1)
        return rn_fail(err, RN_ERR_GENERIC, "ZCA: need at least 2 rows (got %zu) of dim >= 1",
                       n);
    size_t dd, count, rest;
    /* mean (dim) | cov (dim^2) | v (dim^2) | lambda (dim) | y (block x dim) */
    if (rn_mul_size(dim, dim, &dd) || rn_mul_size(dd, 2, &count) ||
        rn_mul_size(dim, 2 + ZCA_COV_BLOCK, &rest) || rn_add_size(count, rest, &count))
        return rn_fail(err, RN_ERR_NOMEM, "ZCA: dimension %zu is too large", dim);
    double *buf = km_alloc(count, sizeof(double));
    if (!buf)
        return rn_fail(err, RN_ERR_NOMEM, "ZCA: out of memory for %zu doubles", count);
    double *mu = buf, *cov = mu + dim, *v = cov + dd, *lambda = v + dd, *y = lambda + dim;

    memset(mu, 0, dim * sizeof *mu);
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < dim; j++)
            mu[j] += x[r * dim + j];
    for (size_t j = 0; j < dim; j++)
        mu[j] /= (double)n;

    /* Upper triangle of sum_r (x_r - mu)(x_r - mu)^T, rows in order. */
    memset(cov, 0, dd * sizeof *cov);
    for (size_t r0 = 0; r0 < n; r0 += ZCA_COV_BLOCK) {
        size_t b = n - r0 < ZCA_COV_BLOCK ? n - r0 : ZCA_COV_BLOCK;
        for (size_t i = 0; i < b; i++)
            for (size_t j = 0; j < dim; j++)
                y[i * dim + j] = x[(r0 + i) * dim + j] - mu[j];
        for (size_t i = 0; i < dim; i++) {
            double *row = cov + i * dim;
            for (size_t r = 0; r < b; r++) {
                const double *yr = y + r * dim;
                double a = yr[i];
                for (size_t j = i; j < dim; j++)
                    row[j] += a * yr[j];
            }
        }
    }
    for (size_t i = 0; i < dim; i++)
        for (size_t j = i; j < dim; j++) {
            double c = cov[i * dim + j] / (double)(n - 1);
            cov[i * dim + j] = c;
            cov[j * dim + i] = c;
        }

    int rc = kmeans_eigen_sym(cov, dim, lambda, v, err);
    if (rc != RN_OK) {
        free(buf);
        return rn_prefix(err, "ZCA");
    }
    /* W = V diag(1 / sqrt(max(lambda, 0) + eps)) V^T; the scale goes into
     * cov (no longer needed) as V diag(s). */
    for (size_t i = 0; i < dim; i++) {
        double l = lambda[i] > 0.0 ? lambda[i] : 0.0;
        lambda[i] = 1.0 / sqrt(l + eps);
    }
    for (size_t i = 0; i < dim; i++)
        for (size_t k = 0; k < dim; k++)
            cov[i * dim + k] = v[i * dim + k] * lambda[k];
    for (size_t i = 0; i < dim; i++)
        for (size_t j = i; j < dim; j++) {
            double s = 0.0;
            for (size_t k = 0; k < dim; k++)
                s += cov[i * dim + k] * v[j * dim + k];
            w[i * dim + j] = (float)s;
            w[j * dim + i] = (float)s;
        }
    for (size_t j = 0; j < dim; j++)
        mean[j] = (float)mu[j];
    free(buf);
    return RN_OK;
}

/* Rows per whitening task. */
#define ZCA_APPLY_BLOCK 1024

struct zca_apply_ctx {
    const float *mean, *w;
    size_t dim, n;
    float *x;
    float *scratch; /* per worker: ZCA_APPLY_BLOCK x dim */
};

static size_t zca_apply_task(void *arg, size_t worker, size_t task)
{
    struct zca_apply_ctx *c = arg;
    size_t r0 = task * ZCA_APPLY_BLOCK;
    size_t b = c->n - r0 < ZCA_APPLY_BLOCK ? c->n - r0 : ZCA_APPLY_BLOCK;
    float *s = c->scratch + worker * ZCA_APPLY_BLOCK * c->dim;
    float *xb = c->x + r0 * c->dim;
    for (size_t i = 0; i < b; i++)
        for (size_t j = 0; j < c->dim; j++)
            s[i * c->dim + j] = xb[i * c->dim + j] - c->mean[j];
    /* xb (b, dim) = s (b, dim) * W (dim, dim); W is symmetric. */
    kn_sgemm(false, false, b, c->dim, c->dim, 1.0f, s, c->dim, c->w, c->dim, 0.0f, xb, c->dim);
    return b;
}

int kmeans_zca_apply(const float *mean, const float *w, size_t dim, float *x, size_t n,
                     const struct kmeans_exec *exec, struct rn_err *err)
{
    if (n == 0)
        return RN_OK;
    size_t tasks = (n - 1) / ZCA_APPLY_BLOCK + 1;
    size_t workers = km_workers(exec, tasks);
    size_t per, count;
    if (rn_mul_size(ZCA_APPLY_BLOCK, dim, &per) || rn_mul_size(per, workers, &count))
        return rn_fail(err, RN_ERR_NOMEM, "ZCA: dimension %zu is too large", dim);
    struct zca_apply_ctx c = {mean, w, dim, n, x, km_alloc(count, sizeof(float))};
    if (!c.scratch)
        return rn_fail(err, RN_ERR_NOMEM, "ZCA: out of memory for %zu floats", count);
    int rc = km_parallel(workers, tasks, zca_apply_task, &c, NULL, NULL, n, err);
    free(c.scratch);
    return rc;
}

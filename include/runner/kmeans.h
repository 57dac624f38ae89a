/* kmeans: the single-layer k-means feature front end of Coates, Lee and Ng
 * (2011), "An Analysis of Single-Layer Networks in Unsupervised Feature
 * Learning". uint8 CIFAR images (planar RGB, see cifar.h) -> 4K floats each.
 *
 * Learning (kmeans_fit), from the training images only:
 *   1. sample n_patches random p x p x 3 patches (random image, random
 *      top-left position; every position, not just those on the stride);
 *   2. normalise each patch: x <- (x - mean(x)) / sqrt(var(x) + norm_eps),
 *      on the 0..255 pixel scale, mean and variance over its 3p^2 values,
 *      variance with the n - 1 divisor (MATLAB's var, as in the paper's code);
 *   3. ZCA whitening: mean vector m and covariance S (n - 1 divisor) of the
 *      normalised patches in double, S = V diag(lambda) V^T by a Jacobi
 *      eigenvalue routine, W = V diag(1/sqrt(lambda + zca_eps)) V^T, and
 *      x <- W (x - m);
 *   4. k-means (Lloyd) on the whitened patches: init with k random distinct
 *      patches, then `iterations` rounds of assignment (nearest centroid via
 *      the matrix-multiply form ||c||^2 - 2 x.c, ties to the lower index) and
 *      update (mean of the assigned patches, summed in double in patch
 *      order); a cluster that receives no patch is re-seeded with a random
 *      patch. The centroids are kept unnormalised, as in the paper's code.
 *
 * Encoding (kmeans_encode): for each image, every patch position on the
 * stride grid (top-left (r*stride, c*stride), r, c in 0..G-1 with
 * G = (32 - p) / stride + 1; 27 x 27 at p = 6, stride 1), normalised and
 * whitened as above, then
 *   triangle:        z_k = ||x - c_k||, f_k = max(0, mean_j(z_j) - z_k);
 *   soft threshold:  f_k = max(0, d_k.x - alpha), d_k = c_k / ||c_k||
 *                    (unit-length centroids, as the dictionary of Coates & Ng
 *                    2011b; d_k = 0 if c_k = 0).
 * Sum pooling over the 4 quadrants of the position grid: a position (r, c)
 * is in the top half if r < H and in the left half if c < H, with
 * H = (G + 1) / 2 (the paper's round(G/2); 14 of 27 at stride 1). Output row:
 * [top-left K | top-right K | bottom-left K | bottom-right K], i.e. feature
 * q*K + k with q = 2*(r >= H) + (c >= H).
 *
 * Threads: work is split into fixed blocks of images (independent of the
 * thread count) and every output element is written by exactly one thread, so
 * the features are bit-identical for any number of threads; the same holds
 * for the k-means assignment in kmeans_fit. Scratch memory is allocated once
 * per call per thread, never per image.
 *
 * Called by the CLI's feature stage (fit on the original training images,
 * encode train / augmented / test); kmeans_cluster, kmeans_zca_* and
 * kmeans_eigen_sym are exposed for tests and reuse. Nothing here prints. */
#ifndef RUNNER_KMEANS_H
#define RUNNER_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "runner/err.h"
#include "runner/rng.h"

/* The paper's settings (Coates, Lee & Ng 2011, section 4 and their code). */
#define KMEANS_DEFAULT_K 1600           /* centroids; 4K = 6400 features */
#define KMEANS_DEFAULT_PATCH 6          /* receptive field 6 x 6 x 3 = 108-d */
#define KMEANS_DEFAULT_STRIDE 1         /* encoding stride: 27 x 27 positions */
#define KMEANS_DEFAULT_N_PATCHES 400000 /* patches sampled for learning */
#define KMEANS_DEFAULT_NORM_EPS 10.0    /* added to the patch variance (0..255 scale) */
#define KMEANS_DEFAULT_ZCA_EPS 0.1      /* added to the covariance eigenvalues */
#define KMEANS_DEFAULT_ITERATIONS 50    /* Lloyd iterations (fixed count) */
#define KMEANS_DEFAULT_ALPHA 0.25       /* soft-threshold offset */

/* Accepted ranges (kmeans_params_check). The patch limit keeps the Jacobi
 * eigendecomposition (3p^2 square) cheap. */
#define KMEANS_MAX_PATCH 16

enum kmeans_encoder {
    KMEANS_TRIANGLE = 0,      /* f_k = max(0, mean(z) - z_k) (paper's default) */
    KMEANS_SOFT_THRESHOLD = 1 /* f_k = max(0, d_k.x - alpha) */
};

struct kmeans_params {
    size_t k;          /* number of centroids, >= 1 */
    size_t patch;      /* patch side p, 1..KMEANS_MAX_PATCH */
    size_t stride;     /* encoding stride, 1..32 */
    size_t n_patches;  /* patches sampled by kmeans_fit, >= k and >= 2 */
    double norm_eps;   /* > 0 */
    double zca_eps;    /* > 0 */
    size_t iterations; /* Lloyd iterations, >= 0 (0 keeps the initial patches) */
    enum kmeans_encoder encoder;
    double alpha;      /* soft threshold only; finite */
};

/* Fill p with the KMEANS_DEFAULT_* values and the triangle encoder. */
void kmeans_params_default(struct kmeans_params *p);
/* RN_OK, or RN_ERR_GENERIC with a message naming the bad field. */
int kmeans_params_check(const struct kmeans_params *p, struct rn_err *err);

/* Positions per side of the encoding grid, G = (32 - patch) / stride + 1. */
size_t kmeans_grid(const struct kmeans_params *p);
/* Features per image, 4 * k. */
size_t kmeans_n_features(const struct kmeans_params *p);

/* What the k-means loop did, for logs and tests. */
struct kmeans_stats {
    size_t reseeded; /* empty clusters re-seeded, summed over all iterations */
    double inertia;  /* mean squared distance of the points to their nearest
                        centroid in the last assignment step (0 if none) */
};

/* A fitted model. All arrays live in one allocation owned by the model.
 * params.encoder, params.alpha and params.stride only affect encoding and may
 * be changed between kmeans_fit and kmeans_encode; the other fields must
 * stay as fitted. */
struct kmeans_model {
    struct kmeans_params params; /* the parameters it was fitted with */
    size_t dim;                  /* 3 * patch * patch */
    float *zca_mean;             /* (dim) mean of the normalised patches */
    float *zca;                  /* (dim, dim) symmetric whitening matrix W */
    float *centroids;            /* (k, dim) whitened space, unnormalised */
    float *centroid_sq;          /* (k) ||c_k||^2 */
    float *dict;                 /* (k, dim) c_k / ||c_k|| (soft threshold) */
    struct kmeans_stats stats;
    void *block_;                /* the allocation; internal */
};

/* Progress: called on the caller's thread with units done so far and the
 * total (kmeans_fit: k-means iterations; kmeans_encode: images). Return 0 to
 * continue, non-zero to stop: the function then returns RN_ERR_INTERRUPTED. */
typedef int (*kmeans_progress_fn)(void *ctx, size_t done, size_t total);

/* How to run (not part of the result: it never changes the numbers).
 * A NULL exec means one thread and no progress. */
struct kmeans_exec {
    size_t threads;              /* worker threads, the caller's included; 0 = 1 */
    kmeans_progress_fn progress; /* may be NULL */
    void *progress_ctx;
};

/* Learn the model from n >= 1 images (n * CIFAR_IMAGE bytes). Deterministic
 * given the rng state (which it advances) and params. model is overwritten;
 * free it with kmeans_model_free (also safe after a failed fit). */
int kmeans_fit(const struct kmeans_params *params, const uint8_t *images, size_t n,
               struct rng *rng, const struct kmeans_exec *exec, struct kmeans_model *model,
               struct rn_err *err);
void kmeans_model_free(struct kmeans_model *model);

/* out (n, 4K) row-major = features of the n images; out must hold
 * n * kmeans_n_features(&model->params) floats. Row i depends only on image
 * i (and the model): encoding a subset, in any order or batch size, gives
 * the same rows. exec->threads is used as given, capped at the number of
 * work blocks; each thread allocates scratch of about 4 * 729 * (K + 216)
 * bytes at stride 1 (5 MB for K = 1600). On failure or interruption the
 * contents of out are unspecified. */
int kmeans_encode(const struct kmeans_model *model, const uint8_t *images, size_t n,
                  float *out, const struct kmeans_exec *exec, struct rn_err *err);

/* Building blocks. -------------------------------------------------------- */

/* Normalise one patch in place (dim values): x <- (x - mean) / sqrt(var + eps),
 * var with the dim - 1 divisor, computed in double. dim >= 2. */
void kmeans_normalize_patch(float *x, size_t dim, double eps);

/* Symmetric eigendecomposition by cyclic Jacobi rotations, in double.
 * a (n, n) symmetric is destroyed; on return lambda[i] are the eigenvalues
 * (not sorted) and column i of v (n, n) row-major is the eigenvector of
 * lambda[i]. RN_ERR_GENERIC if it does not converge (non-finite input). */
int kmeans_eigen_sym(double *a, size_t n, double *lambda, double *v, struct rn_err *err);

/* From x (n, dim), n >= 2: mean (dim) and W (dim, dim) =
 * V diag(1/sqrt(max(lambda, 0) + eps)) V^T of the covariance (n - 1 divisor). */
int kmeans_zca_fit(const float *x, size_t n, size_t dim, double eps, float *mean, float *w,
                   struct rn_err *err);
/* x (n, dim) <- (x - mean) W in place, as one gemm per block of rows. */
int kmeans_zca_apply(const float *mean, const float *w, size_t dim, float *x, size_t n,
                     const struct kmeans_exec *exec, struct rn_err *err);

/* Lloyd's k-means on x (n, dim), k <= n. init (k, dim) gives the starting
 * centroids, or NULL for k distinct random rows of x (drawn from rng). rng
 * also re-seeds empty clusters. centroids (k, dim) receives the result; stats
 * may be NULL. Progress counts iterations. */
int kmeans_cluster(const float *x, size_t n, size_t dim, size_t k, size_t iterations,
                   const float *init, struct rng *rng, const struct kmeans_exec *exec,
                   float *centroids, struct kmeans_stats *stats, struct rn_err *err);

#endif

/* test_kmeans: the k-means feature front end on small generated data.
 *
 * - parameters: defaults and range checks; grid sizes;
 * - patch normalisation against a direct double computation;
 * - Jacobi: A v = lambda v and V^T V = I;
 * - ZCA: the whitened sample has identity covariance (tiny epsilon);
 * - k-means: recovers well-separated Gaussian blobs in 108-d (from a one-per-
 *   blob start), ends at a fixed point from the random start, re-seeds empty
 *   clusters; 1 vs 2 threads bit-identical;
 * - fit + encode: triangle and soft-threshold features with quadrant pooling
 *   match a naive per-patch double-precision computation; features are
 *   bit-identical across runs and thread counts; progress and interruption;
 *   error codes.
 *
 * Tolerances are stated where used. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/cifar.h"
#include "runner/kernels.h"
#include "runner/kmeans.h"
#include "runner/rng.h"

#include "../../src/features/kmeans_internal.h"

/* Smooth-ish random images: per channel a random gradient plus a few
 * random-phase sinusoids plus noise, clamped to 0..255. */
static uint8_t *make_images(size_t n, uint64_t seed)
{
    struct rng r;
    rng_init(&r, seed, 99);
    uint8_t *img = malloc(n * CIFAR_IMAGE);
    for (size_t i = 0; i < n; i++) {
        for (size_t ch = 0; ch < 3; ch++) {
            double base = rng_range(&r, 40, 200), gx = rng_range(&r, -4, 4),
                   gy = rng_range(&r, -4, 4);
            double fx = rng_range(&r, 0.1, 0.9), fy = rng_range(&r, 0.1, 0.9),
                   ph = rng_range(&r, 0, 6.28), amp = rng_range(&r, 10, 60);
            for (size_t y = 0; y < CIFAR_SIDE; y++)
                for (size_t x = 0; x < CIFAR_SIDE; x++) {
                    double v = base + gx * ((double)x - 16) + gy * ((double)y - 16) +
                               amp * sin(fx * (double)x + fy * (double)y + ph) +
                               8.0 * rng_normal(&r);
                    v = v < 0 ? 0 : v > 255 ? 255 : v;
                    img[i * CIFAR_IMAGE + ch * CIFAR_PLANE + y * CIFAR_SIDE + x] =
                        (uint8_t)lround(v);
                }
        }
    }
    return img;
}

static void test_params(void)
{
    struct kmeans_params p;
    struct rn_err err = {0};
    kmeans_params_default(&p);
    CHECK(p.k == 1600 && p.patch == 6 && p.stride == 1 && p.n_patches == 400000);
    CHECK(p.norm_eps == 10.0 && p.zca_eps == 0.1 && p.iterations == 50);
    CHECK(p.encoder == KMEANS_TRIANGLE && p.alpha == 0.25);
    CHECK(kmeans_params_check(&p, &err) == RN_OK);
    CHECK(kmeans_grid(&p) == 27);
    CHECK(kmeans_n_features(&p) == 6400);
    p.stride = 2;
    CHECK(kmeans_grid(&p) == 14);
    p.patch = 5;
    p.stride = 3;
    CHECK(kmeans_grid(&p) == 10);

    struct kmeans_params bad;
#define BAD(field, value, text)                                       \
    do {                                                              \
        kmeans_params_default(&bad);                                  \
        bad.field = value;                                            \
        err.code = 0;                                                 \
        CHECK(kmeans_params_check(&bad, &err) == RN_ERR_GENERIC);     \
        CHECK(err.code == RN_ERR_GENERIC);                            \
        CHECK_STR_CONTAINS(err.msg, text);                            \
    } while (0)
    BAD(k, 0, "k must be");
    BAD(patch, 0, "patch size");
    BAD(patch, 17, "patch size");
    BAD(stride, 0, "stride");
    BAD(stride, 33, "stride");
    BAD(n_patches, 1599, "n_patches");
    BAD(norm_eps, 0.0, "norm_eps");
    BAD(norm_eps, NAN, "norm_eps");
    BAD(zca_eps, -1.0, "zca_eps");
    BAD(zca_eps, INFINITY, "zca_eps");
    BAD(encoder, (enum kmeans_encoder)7, "encoder");
    BAD(alpha, INFINITY, "alpha");
#undef BAD
}

static void test_normalize(void)
{
    float x[108];
    double ref[108];
    struct rng r;
    rng_init(&r, 1, 1);
    for (size_t i = 0; i < 108; i++)
        x[i] = (float)(rng_below(&r, 256));
    double mean = 0, ss = 0;
    for (size_t i = 0; i < 108; i++)
        mean += x[i];
    mean /= 108;
    for (size_t i = 0; i < 108; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(ss / 107 + 10.0);
    for (size_t i = 0; i < 108; i++)
        ref[i] = (x[i] - mean) / sd;
    kmeans_normalize_patch(x, 108, 10.0);
    double maxd = 0;
    for (size_t i = 0; i < 108; i++)
        maxd = fmax(maxd, fabs(x[i] - ref[i]));
    CHECK(maxd < 1e-6);

    /* A constant patch becomes all zeros (variance 0, eps keeps it finite). */
    for (size_t i = 0; i < 108; i++)
        x[i] = 77.0f;
    kmeans_normalize_patch(x, 108, 10.0);
    int zeros = 1;
    for (size_t i = 0; i < 108; i++)
        zeros &= x[i] == 0.0f;
    CHECK(zeros);
}

/* The summation order kmeans_normalize_patch promises (four double
 * accumulators, combined as (s0 + s1) + (s2 + s3), then the tail), written
 * out plainly: the cached features depend on it bit for bit. */
static void normalize_reference(float *x, size_t dim, double eps)
{
    double s[4] = {0, 0, 0, 0}, q[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (size_t l = 0; l < 4; l++)
            s[l] = s[l] + (double)x[i + l];
    double sum = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < dim; i++)
        sum = sum + (double)x[i];
    double mean = sum / (double)dim;
    for (i = 0; i + 4 <= dim; i += 4)
        for (size_t l = 0; l < 4; l++) {
            double d = (double)x[i + l] - mean;
            double dd = d * d;
            q[l] = q[l] + dd;
        }
    double ss = (q[0] + q[1]) + (q[2] + q[3]);
    for (; i < dim; i++) {
        double d = (double)x[i] - mean;
        double dd = d * d;
        ss = ss + dd;
    }
    double var = dim > 1 ? ss / (double)(dim - 1) : 0.0;
    double inv = 1.0 / sqrt(var + eps);
    for (i = 0; i < dim; i++) {
        double v = ((double)x[i] - mean) * inv;
        x[i] = (float)v;
    }
}

/* kmeans_normalize_patch (AVX-512 where the CPU has it) equals the reference
 * order bit for bit, on lengths across the 4- and 8-wide blocks. The values
 * mix +-1e17 with small ones, so that sums taken in another order (other
 * lanes, or the lanes combined otherwise) lose different small terms and
 * the result changes even after rounding to float; ordinary patches would
 * hide most order changes, as double sums round far below float. (This
 * catches a change in the order of the mean's sum. The variance's sum has
 * only non-negative terms, so its order moves the result by about 1e-16
 * relative, which rounding to float hides; the code keeps that order too.) */
static void test_normalize_order(void)
{
    struct rng r;
    rng_init(&r, 3, 1);
    int bad = 0;
    for (size_t trial = 0; trial < 4 * 130; trial++) {
        size_t dim = trial % 130 + 1;
        float x[130], want[130];
        for (size_t i = 0; i < dim; i++)
            x[i] = rng_below(&r, 3) == 0 ? (rng_below(&r, 2) ? 1e17f : -1e17f)
                                         : (float)rng_range(&r, -8.0, 8.0);
        memcpy(want, x, dim * sizeof(float));
        normalize_reference(want, dim, 10.0);
        kmeans_normalize_patch(x, dim, 10.0);
        if (memcmp(x, want, dim * sizeof(float)) != 0) {
            if (!bad)
                fprintf(stderr, "kmeans_normalize_patch differs from the reference at dim %zu\n",
                        dim);
            bad = 1;
        }
    }
    CHECK_MSG(!bad, "patch normalisation sums in the reference order");
}

/* km_extract_patch (AVX-512 masked loads and stores for patches up to 8
 * wide where the CPU has them) copies exactly the patch, channel by channel
 * and row by row, for every size 1-10 at the corners and edges of an image
 * that is the last thing in its buffer, and writes nothing past the patch. */
static void test_extract_patch(void)
{
    struct rng r;
    rng_init(&r, 4, 1);
    unsigned char *img = malloc(CIFAR_IMAGE);
    for (size_t i = 0; i < CIFAR_IMAGE; i++)
        img[i] = (unsigned char)rng_below(&r, 256);
    int bad = 0;
    for (size_t p = 1; p <= 10; p++) {
        size_t last = CIFAR_SIDE - p, dim = 3 * p * p;
        const size_t at[][2] = {{0, 0}, {0, last}, {last, 0}, {last, last}, {last / 2, last / 3}};
        for (size_t a = 0; a < sizeof at / sizeof at[0]; a++) {
            float out[3 * 10 * 10 + 1];
            out[dim] = -1.0f;
            km_extract_patch(img, p, at[a][0], at[a][1], out);
            size_t n = 0;
            for (size_t ch = 0; ch < 3; ch++)
                for (size_t dy = 0; dy < p; dy++)
                    for (size_t dx = 0; dx < p; dx++) {
                        size_t src = ch * CIFAR_PLANE + (at[a][0] + dy) * CIFAR_SIDE + at[a][1] + dx;
                        bad |= out[n++] != (float)img[src];
                    }
            bad |= out[dim] != -1.0f;
        }
    }
    CHECK_MSG(!bad, "patch extraction copies exactly the patch");
    free(img);
}

static void check_eigen(size_t n, uint64_t seed)
{
    struct rn_err err = {0};
    struct rng r;
    rng_init(&r, seed, 2);
    double *a = malloc(n * n * sizeof *a), *a0 = malloc(n * n * sizeof *a0);
    double *v = malloc(n * n * sizeof *v), *lam = malloc(n * sizeof *lam);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) {
            double x = rng_range(&r, -1, 1);
            a[i * n + j] = a[j * n + i] = x;
        }
    memcpy(a0, a, n * n * sizeof *a);
    CHECK(kmeans_eigen_sym(a, n, lam, v, &err) == RN_OK);
    double res = 0, orth = 0, norm = 0;
    for (size_t i = 0; i < n * n; i++)
        norm = fmax(norm, fabs(a0[i]));
    for (size_t c = 0; c < n; c++)
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += a0[i * n + j] * v[j * n + c];
            res = fmax(res, fabs(s - lam[c] * v[i * n + c]));
        }
    for (size_t c = 0; c < n; c++)
        for (size_t d = 0; d < n; d++) {
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += v[i * n + c] * v[i * n + d];
            orth = fmax(orth, fabs(s - (c == d ? 1.0 : 0.0)));
        }
    /* Residuals at double precision, scaled by n for the O(n) rounding. */
    CHECK_MSG(res < 1e-12 * (double)n * norm, "n=%zu residual %g", n, res);
    CHECK_MSG(orth < 1e-12 * (double)n, "n=%zu orthogonality %g", n, orth);
    free(a);
    free(a0);
    free(v);
    free(lam);
}

static void test_eigen(void)
{
    check_eigen(1, 1);
    check_eigen(2, 2);
    check_eigen(17, 3);
    check_eigen(108, 4);

    /* A diagonal matrix is already converged: eigenvalues are the diagonal. */
    double a[9] = {3, 0, 0, 0, -1, 0, 0, 0, 2}, v[9], lam[3];
    struct rn_err err = {0};
    CHECK(kmeans_eigen_sym(a, 3, lam, v, &err) == RN_OK);
    CHECK(lam[0] == 3 && lam[1] == -1 && lam[2] == 2);

    double bad[4] = {1, NAN, NAN, 1};
    CHECK(kmeans_eigen_sym(bad, 2, lam, v, &err) == RN_ERR_GENERIC);
}

/* Correlated data x = A z (z standard normal, A random with column scales
 * 1..10) in 108-d; after ZCA with eps 1e-9 the sample covariance (n - 1) of
 * the whitened rows is the identity up to float rounding of x, W and the
 * product: within 2e-3 per entry. */
static void test_zca(void)
{
    const size_t n = 3000, dim = 108;
    struct rng r;
    rng_init(&r, 5, 3);
    double *mix = malloc(dim * dim * sizeof *mix);
    for (size_t i = 0; i < dim * dim; i++)
        mix[i] = rng_range(&r, -1, 1) * (1.0 + (double)(i % dim) / 12.0);
    float *x = malloc(n * dim * sizeof *x), *x2 = malloc(n * dim * sizeof *x2);
    double z[108];
    for (size_t s = 0; s < n; s++) {
        for (size_t j = 0; j < dim; j++)
            z[j] = rng_normal(&r);
        for (size_t i = 0; i < dim; i++) {
            double v = 5.0;
            for (size_t j = 0; j < dim; j++)
                v += mix[i * dim + j] * z[j];
            x[s * dim + i] = (float)v;
        }
    }
    memcpy(x2, x, n * dim * sizeof *x);
    float *mean = malloc(dim * sizeof *mean), *w = malloc(dim * dim * sizeof *w);
    struct rn_err err = {0};
    CHECK(kmeans_zca_fit(x, n, dim, 1e-9, mean, w, &err) == RN_OK);
    int sym = 1;
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < dim; j++)
            sym &= w[i * dim + j] == w[j * dim + i];
    CHECK(sym);
    struct kmeans_exec one = {1, NULL, NULL}, two = {2, NULL, NULL};
    CHECK(kmeans_zca_apply(mean, w, dim, x, n, &one, &err) == RN_OK);
    CHECK(kmeans_zca_apply(mean, w, dim, x2, n, &two, &err) == RN_OK);
    CHECK(memcmp(x, x2, n * dim * sizeof *x) == 0);

    double *mu = calloc(dim, sizeof *mu), maxdev = 0, maxmean = 0;
    for (size_t s = 0; s < n; s++)
        for (size_t j = 0; j < dim; j++)
            mu[j] += x[s * dim + j] / (double)n;
    for (size_t j = 0; j < dim; j++)
        maxmean = fmax(maxmean, fabs(mu[j]));
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < dim; j++) {
            double c = 0;
            for (size_t s = 0; s < n; s++)
                c += (x[s * dim + i] - mu[i]) * (x[s * dim + j] - mu[j]);
            c /= (double)(n - 1);
            maxdev = fmax(maxdev, fabs(c - (i == j ? 1.0 : 0.0)));
        }
    CHECK_MSG(maxdev < 2e-3, "whitened covariance deviates from I by %g", maxdev);
    CHECK_MSG(maxmean < 1e-3, "whitened mean %g", maxmean);

    CHECK(kmeans_zca_fit(x, 1, dim, 0.1, mean, w, &err) == RN_ERR_GENERIC);
    free(mix);
    free(x);
    free(x2);
    free(mean);
    free(w);
    free(mu);
}

/* nb blobs in dim-d: centres N(0, 10^2) per coordinate, points centre +
 * N(0, 1), stored interleaved (point s belongs to blob s % nb). */
static float *make_blobs(size_t nb, size_t per, size_t dim, uint64_t seed, double *centre)
{
    struct rng r;
    rng_init(&r, seed, 4);
    for (size_t b = 0; b < nb * dim; b++)
        centre[b] = 10.0 * rng_normal(&r);
    float *x = malloc(nb * per * dim * sizeof *x);
    for (size_t s = 0; s < nb * per; s++)
        for (size_t j = 0; j < dim; j++)
            x[s * dim + j] = (float)(centre[(s % nb) * dim + j] + rng_normal(&r));
    return x;
}

static double dist2(const float *a, const double *b, size_t dim)
{
    double s = 0;
    for (size_t j = 0; j < dim; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

static void test_cluster(void)
{
    enum { NB = 8, PER = 100, DIM = 108 };
    const size_t n = NB * PER;
    double centre[NB * DIM], sample_mean[NB * DIM];
    float *x = make_blobs(NB, PER, DIM, 11, centre);
    memset(sample_mean, 0, sizeof sample_mean);
    for (size_t s = 0; s < n; s++)
        for (size_t j = 0; j < DIM; j++)
            sample_mean[(s % NB) * DIM + j] += x[s * DIM + j] / (double)PER;

    /* Start: one point of each blob, in a scrambled blob order. */
    static const size_t order[NB] = {5, 2, 7, 0, 3, 6, 1, 4};
    float init[NB * DIM], c[NB * DIM], c_rand[NB * DIM];
    for (size_t b = 0; b < NB; b++)
        memcpy(init + b * DIM, x + (3 * NB + order[b]) * DIM, DIM * sizeof(float));
    struct rng r;
    rng_init(&r, 1, RNG_STREAM_FEATURES);
    struct kmeans_stats st;
    struct rn_err err = {0};
    CHECK(kmeans_cluster(x, n, DIM, NB, 10, init, &r, NULL, c, &st, &err) == RN_OK);
    CHECK(st.reseeded == 0);
    /* Up to permutation: centroid b must be the blob order[b]. Its distance to
     * the sample mean of that blob is float rounding (1e-4 per coordinate is
     * generous); to the true centre it is the sampling error, about
     * sqrt(108 / 100) = 1.04 in norm; allow 2. */
    for (size_t b = 0; b < NB; b++) {
        size_t best = 0;
        for (size_t t = 1; t < NB; t++)
            if (dist2(c + b * DIM, centre + t * DIM, DIM) <
                dist2(c + b * DIM, centre + best * DIM, DIM))
                best = t;
        CHECK(best == order[b]);
        CHECK_MSG(sqrt(dist2(c + b * DIM, centre + best * DIM, DIM)) < 2.0, "blob %zu", b);
        CHECK(sqrt(dist2(c + b * DIM, sample_mean + best * DIM, DIM)) < 1e-4 * DIM);
    }
    /* Inertia of the recovered clustering: about dim = 108 (unit noise). */
    CHECK(st.inertia > 90 && st.inertia < 125);
    double best_inertia = st.inertia;

    /* From the random start: a fixed point (one more iteration from the
     * result changes nothing) with no lower inertia than the optimum. */
    struct kmeans_stats st2;
    rng_init(&r, 2, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(x, n, DIM, NB, 30, NULL, &r, NULL, c_rand, &st2, &err) == RN_OK);
    float again[NB * DIM];
    struct kmeans_stats st3;
    CHECK(kmeans_cluster(x, n, DIM, NB, 1, c_rand, &r, NULL, again, &st3, &err) == RN_OK);
    CHECK(memcmp(again, c_rand, sizeof again) == 0);
    CHECK(st2.inertia >= best_inertia * (1 - 1e-6));

    /* Same rng state -> identical result; 1 vs 2 threads identical. */
    float c1[NB * DIM], c2[NB * DIM];
    struct kmeans_exec one = {1, NULL, NULL}, two = {2, NULL, NULL};
    rng_init(&r, 2, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(x, n, DIM, NB, 30, NULL, &r, &one, c1, NULL, &err) == RN_OK);
    rng_init(&r, 2, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(x, n, DIM, NB, 30, NULL, &r, &two, c2, NULL, &err) == RN_OK);
    CHECK(memcmp(c1, c_rand, sizeof c1) == 0);
    CHECK(memcmp(c2, c_rand, sizeof c2) == 0);

    /* A start far from every blob (about 10000 away) gets no points and is
     * re-seeded with a data point. In 108-d a point lies about sqrt(108) = 10.4
     * from its blob centre and sqrt(216) = 14.7 from the other points of its
     * blob, so the re-seeded centroid keeps just that point: it must end
     * within 15 of a blob centre. */
    float init9[(NB + 1) * DIM], c9[(NB + 1) * DIM];
    memcpy(init9, init, sizeof init);
    for (size_t j = 0; j < DIM; j++)
        init9[NB * DIM + j] = 1000.0f;
    rng_init(&r, 3, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(x, n, DIM, NB + 1, 10, init9, &r, NULL, c9, &st, &err) == RN_OK);
    CHECK(st.reseeded >= 1);
    double nearest = INFINITY;
    for (size_t t = 0; t < NB; t++)
        nearest = fmin(nearest, dist2(c9 + NB * DIM, centre + t * DIM, DIM));
    CHECK_MSG(sqrt(nearest) < 15.0, "re-seeded centroid is %g from the nearest blob",
              sqrt(nearest));

    /* Only two distinct points (50 copies each) and k = 4: at least two
     * centroids start as copies of the same point, the higher-indexed copies
     * win no ties and are re-seeded every iteration; every centroid stays
     * exactly one of the two points. */
    float two_pts[100 * DIM], c4[4 * DIM];
    for (size_t s = 0; s < 100; s++)
        for (size_t j = 0; j < DIM; j++)
            two_pts[s * DIM + j] = s % 2 ? 3.0f : -1.0f + (float)j * 0.01f;
    rng_init(&r, 4, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(two_pts, 100, DIM, 4, 5, NULL, &r, NULL, c4, &st, &err) == RN_OK);
    CHECK(st.reseeded >= 5 * 2);
    int exact = 1;
    for (size_t b = 0; b < 4; b++)
        exact &= memcmp(c4 + b * DIM, two_pts, DIM * sizeof(float)) == 0 ||
                 memcmp(c4 + b * DIM, two_pts + DIM, DIM * sizeof(float)) == 0;
    CHECK(exact);

    /* More than two assignment blocks (1024 rows each), 1 vs 2 threads. */
    enum { NB2 = 5, PER2 = 600 };
    double centre2[NB2 * DIM];
    float *big = make_blobs(NB2, PER2, DIM, 12, centre2);
    float b1[NB2 * DIM], b2[NB2 * DIM];
    struct kmeans_stats s1, s2;
    rng_init(&r, 5, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(big, NB2 * PER2, DIM, NB2, 8, NULL, &r, &one, b1, &s1, &err) == RN_OK);
    rng_init(&r, 5, RNG_STREAM_FEATURES);
    CHECK(kmeans_cluster(big, NB2 * PER2, DIM, NB2, 8, NULL, &r, &two, b2, &s2, &err) == RN_OK);
    CHECK(memcmp(b1, b2, sizeof b1) == 0);
    CHECK(s1.inertia == s2.inertia && s1.reseeded == s2.reseeded);

    /* Bad sizes. */
    CHECK(kmeans_cluster(x, 3, DIM, 4, 1, NULL, &r, NULL, c, NULL, &err) == RN_ERR_GENERIC);
    CHECK(kmeans_cluster(x, n, DIM, 0, 1, NULL, &r, NULL, c, NULL, &err) == RN_ERR_GENERIC);
    free(big);
    free(x);
}

/* Naive features of one image in double: per position extract, normalise
 * (n - 1 variance), subtract the mean, whiten with W, then the encoder from
 * the definition (triangle: explicit distances ||x - c_k||; soft threshold:
 * unit-length centroids), summed into quadrants split at round(G / 2). */
static void naive_features(const struct kmeans_model *m, const uint8_t *img, double *f)
{
    const struct kmeans_params *p = &m->params;
    size_t dim = m->dim, k = p->k;
    size_t g = (CIFAR_SIDE - p->patch) / p->stride + 1;
    size_t half = (size_t)floor((double)g / 2.0 + 0.5);
    double *x = malloc(dim * sizeof *x), *xw = malloc(dim * sizeof *xw);
    double *z = malloc(k * sizeof *z);
    memset(f, 0, 4 * k * sizeof *f);
    for (size_t r = 0; r < g; r++)
        for (size_t c = 0; c < g; c++) {
            size_t t = 0;
            for (size_t ch = 0; ch < 3; ch++)
                for (size_t dy = 0; dy < p->patch; dy++)
                    for (size_t dx = 0; dx < p->patch; dx++)
                        x[t++] = img[ch * CIFAR_PLANE + (r * p->stride + dy) * CIFAR_SIDE +
                                     c * p->stride + dx];
            double mean = 0, ss = 0;
            for (t = 0; t < dim; t++)
                mean += x[t];
            mean /= (double)dim;
            for (t = 0; t < dim; t++)
                ss += (x[t] - mean) * (x[t] - mean);
            double sd = sqrt(ss / (double)(dim - 1) + p->norm_eps);
            for (t = 0; t < dim; t++)
                x[t] = (x[t] - mean) / sd - m->zca_mean[t];
            for (size_t i = 0; i < dim; i++) {
                double s = 0;
                for (t = 0; t < dim; t++)
                    s += (double)m->zca[i * dim + t] * x[t];
                xw[i] = s;
            }
            size_t q = (r < half ? 0 : 2) + (c < half ? 0 : 1);
            if (p->encoder == KMEANS_TRIANGLE) {
                double mu = 0;
                for (size_t j = 0; j < k; j++) {
                    double s = 0;
                    for (t = 0; t < dim; t++) {
                        double d = xw[t] - m->centroids[j * dim + t];
                        s += d * d;
                    }
                    z[j] = sqrt(s);
                    mu += z[j] / (double)k;
                }
                for (size_t j = 0; j < k; j++)
                    f[q * k + j] += fmax(0.0, mu - z[j]);
            } else {
                for (size_t j = 0; j < k; j++) {
                    double nn = 0, s = 0;
                    for (t = 0; t < dim; t++)
                        nn += (double)m->centroids[j * dim + t] * m->centroids[j * dim + t];
                    for (t = 0; t < dim; t++)
                        s += m->centroids[j * dim + t] / sqrt(nn) * xw[t];
                    f[q * k + j] += fmax(0.0, s - p->alpha);
                }
            }
        }
    free(x);
    free(xw);
    free(z);
}

/* Fit on 40 generated images with the given patch / stride / encoder, then
 * compare the features of 2 other images with the naive computation.
 * Tolerance: the float pipeline (whitening, the distance expansion
 * ||x||^2 - 2 x.c + ||c||^2, float sums) measured at most 7e-7 relative
 * error here; |fast - naive| <= 2e-5 (1 + |naive|) leaves a ~30x margin while
 * still catching any wrong index, quadrant or normalisation. */
static void check_encode_vs_naive(size_t patch, size_t stride, enum kmeans_encoder enc, size_t k)
{
    uint8_t *train = make_images(40, 21 + patch);
    uint8_t *test = make_images(2, 1000 + stride);
    struct kmeans_params p;
    kmeans_params_default(&p);
    p.k = k;
    p.patch = patch;
    p.stride = stride;
    p.n_patches = 2500;
    p.iterations = 10;
    p.encoder = enc;
    struct kmeans_model m;
    struct rng r;
    struct rn_err err = {0};
    rng_init(&r, 7, RNG_STREAM_FEATURES);
    CHECK(kmeans_fit(&p, train, 40, &r, NULL, &m, &err) == RN_OK);
    size_t nf = kmeans_n_features(&p);
    float *out = malloc(2 * nf * sizeof *out);
    double *ref = malloc(nf * sizeof *ref);
    struct kmeans_exec two = {2, NULL, NULL};
    CHECK(kmeans_encode(&m, test, 2, out, &two, &err) == RN_OK);
    double worst = 0, total = 0;
    size_t nonzero = 0;
    for (size_t i = 0; i < 2; i++) {
        naive_features(&m, test + i * CIFAR_IMAGE, ref);
        for (size_t j = 0; j < nf; j++) {
            double e = fabs(out[i * nf + j] - ref[j]) / (1.0 + fabs(ref[j]));
            worst = fmax(worst, e);
            total += ref[j];
            nonzero += ref[j] > 0;
        }
    }
    CHECK_MSG(worst < 2e-5, "patch %zu stride %zu encoder %d: relative error %g", patch, stride,
              (int)enc, worst);
    /* Not trivially all zero. */
    CHECK(nonzero > nf / 4 && total > 0);
    free(out);
    free(ref);
    kmeans_model_free(&m);
    free(train);
    free(test);
}

struct progress_log {
    size_t calls, last_done, last_total, stop_at;
    int monotone;
};

static int on_progress(void *ctx, size_t done, size_t total)
{
    struct progress_log *l = ctx;
    l->monotone &= done >= l->last_done && done <= total;
    l->calls++;
    l->last_done = done;
    l->last_total = total;
    return l->stop_at && l->calls >= l->stop_at;
}

static void test_fit_encode(void)
{
    check_encode_vs_naive(6, 1, KMEANS_TRIANGLE, 16);
    check_encode_vs_naive(6, 3, KMEANS_SOFT_THRESHOLD, 12);
    check_encode_vs_naive(5, 2, KMEANS_TRIANGLE, 9);
    check_encode_vs_naive(4, 2, KMEANS_SOFT_THRESHOLD, 8);

    /* Determinism: same seed -> identical model and features; 1, 2 and 3
     * threads bit-identical; a different seed gives another model. (4 x 4
     * patches, 29 x 29 positions, to keep the test fast under sanitizers.) */
    const size_t n = 7;
    uint8_t *train = make_images(30, 3);
    uint8_t *imgs = make_images(n, 4);
    struct kmeans_params p;
    kmeans_params_default(&p);
    p.k = 24;
    p.patch = 4;
    p.n_patches = 2500;
    p.iterations = 8;
    struct kmeans_model m1, m2, m3;
    struct rng r;
    struct rn_err err = {0};
    struct kmeans_exec one = {1, NULL, NULL}, two = {2, NULL, NULL}, three = {3, NULL, NULL};
    rng_init(&r, 42, RNG_STREAM_FEATURES);
    CHECK(kmeans_fit(&p, train, 30, &r, &one, &m1, &err) == RN_OK);
    rng_init(&r, 42, RNG_STREAM_FEATURES);
    CHECK(kmeans_fit(&p, train, 30, &r, &two, &m2, &err) == RN_OK);
    rng_init(&r, 43, RNG_STREAM_FEATURES);
    CHECK(kmeans_fit(&p, train, 30, &r, &two, &m3, &err) == RN_OK);
    size_t model_floats = m1.dim + m1.dim * m1.dim + 2 * p.k * m1.dim + p.k;
    CHECK(memcmp(m1.block_, m2.block_, model_floats * sizeof(float)) == 0);
    CHECK(memcmp(m1.centroids, m3.centroids, p.k * m1.dim * sizeof(float)) != 0);
    CHECK(m1.stats.inertia == m2.stats.inertia && m1.stats.inertia > 0);

    size_t nf = kmeans_n_features(&p);
    float *f1 = malloc(n * nf * sizeof *f1), *f2 = malloc(n * nf * sizeof *f2);
    float *f3 = malloc(n * nf * sizeof *f3);
    CHECK(kmeans_encode(&m1, imgs, n, f1, &one, &err) == RN_OK);
    CHECK(kmeans_encode(&m2, imgs, n, f2, &two, &err) == RN_OK);
    CHECK(memcmp(f1, f2, n * nf * sizeof *f1) == 0);
    CHECK(kmeans_encode(&m1, imgs, n, f3, &three, &err) == RN_OK);
    CHECK(memcmp(f1, f3, n * nf * sizeof *f1) == 0);
    CHECK(kmeans_encode(&m1, imgs, n, f3, NULL, &err) == RN_OK);
    CHECK(memcmp(f1, f3, n * nf * sizeof *f1) == 0);
    /* A row depends only on its image: encoding image 5 alone gives row 5. */
    CHECK(kmeans_encode(&m1, imgs + 5 * CIFAR_IMAGE, 1, f3, &two, &err) == RN_OK);
    CHECK(memcmp(f1 + 5 * nf, f3, nf * sizeof *f1) == 0);
    CHECK(kmeans_encode(&m1, imgs, 0, f3, &two, &err) == RN_OK);

    /* Progress: monotone, ends at total; a non-zero return interrupts. */
    struct progress_log log = {0, 0, 0, 0, 1};
    struct kmeans_exec prog = {2, on_progress, &log};
    CHECK(kmeans_encode(&m1, imgs, n, f3, &prog, &err) == RN_OK);
    CHECK(log.calls >= 1 && log.monotone && log.last_done == n && log.last_total == n);
    struct progress_log stop = {0, 0, 0, 1, 1};
    struct kmeans_exec stopper = {2, on_progress, &stop};
    err.code = 0;
    CHECK(kmeans_encode(&m1, imgs, n, f3, &stopper, &err) == RN_ERR_INTERRUPTED);
    CHECK(err.code == RN_ERR_INTERRUPTED);
    /* No call after the one that asked to stop. (How many images were done
     * by then depends on the threads' timing, so it is not checked.) */
    CHECK(stop.calls == 1);

    struct kmeans_model mi;
    struct progress_log fitlog = {0, 0, 0, 3, 1};
    struct kmeans_exec fitstop = {1, on_progress, &fitlog};
    rng_init(&r, 42, RNG_STREAM_FEATURES);
    CHECK(kmeans_fit(&p, train, 30, &r, &fitstop, &mi, &err) == RN_ERR_INTERRUPTED);
    CHECK(fitlog.calls == 3 && fitlog.last_total == p.iterations);
    CHECK(mi.block_ == NULL);
    kmeans_model_free(&mi);

    /* Errors. */
    struct kmeans_model empty;
    memset(&empty, 0, sizeof empty);
    CHECK(kmeans_encode(&empty, imgs, n, f3, NULL, &err) == RN_ERR_GENERIC);
    CHECK(kmeans_encode(&m1, imgs, SIZE_MAX / 8, f3, NULL, &err) == RN_ERR_NOMEM);
    CHECK(kmeans_fit(&p, train, 0, &r, NULL, &mi, &err) == RN_ERR_GENERIC);
    CHECK_STR_CONTAINS(err.msg, "no training images");
    struct kmeans_params q = p;
    q.k = 0;
    CHECK(kmeans_fit(&q, train, 30, &r, NULL, &mi, &err) == RN_ERR_GENERIC);
    q = p;
    q.n_patches = SIZE_MAX / 64; /* n_patches * 108 floats overflows */
    CHECK(kmeans_fit(&q, train, 30, &r, NULL, &mi, &err) == RN_ERR_NOMEM);
    q.k = SIZE_MAX / 64; /* k * 108 overflows */
    CHECK(kmeans_fit(&q, train, 30, &r, NULL, &mi, &err) == RN_ERR_NOMEM);
    kmeans_model_free(&mi);

    free(f1);
    free(f2);
    free(f3);
    kmeans_model_free(&m1);
    kmeans_model_free(&m2);
    kmeans_model_free(&m3);
    free(train);
    free(imgs);
}

/* The order both sums are defined by (kmeans_internal.h): four lanes, lane l
 * summing elements l, l+4, l+8, ... of the first n - n % 4, then
 * (lane0 + lane1) + (lane2 + lane3), then the tail in order. */
static float sqrt_sum_ref(const float *z, size_t n)
{
    float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (size_t l = 0; l < 4; l++)
            lane[l] += sqrtf(z[i + l]);
    float sum = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    for (; i < n; i++)
        sum += sqrtf(z[i]);
    return sum;
}

/* km_sqrt_sum4 gives, row by row, exactly km_sqrt_sum's roots and sums, and
 * both the sums of the reference order above (lengths with and without a
 * tail). km_tri_dist_sqrt_sum4, which has the 16-wide AVX-512 path, is
 * held to km_sqrt_sum by test_tri_fused. */
static void test_sqrt_sum4(void)
{
    static const size_t lens[] = {0, 3, 4, 15, 16, 17, 20, 31, 33, 128, 1600, 1603, 1612};
    struct rng r;
    rng_init(&r, 11, 1);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        float *a[4], *b[4];
        for (size_t q = 0; q < 4; q++) {
            a[q] = malloc((n + 1) * sizeof(float));
            b[q] = malloc((n + 1) * sizeof(float));
            for (size_t j = 0; j < n; j++)
                a[q][j] = b[q][j] = (float)rng_range(&r, 0.0, 1000.0);
        }
        float ref[4];
        for (size_t q = 0; q < 4; q++)
            ref[q] = sqrt_sum_ref(a[q], n);
        float sum4[4], sum1[4];
        km_sqrt_sum4(a, n, sum4);
        for (size_t q = 0; q < 4; q++) {
            sum1[q] = km_sqrt_sum(b[q], n);
            CHECK_MSG(memcmp(&sum1[q], &sum4[q], sizeof(float)) == 0, "n %zu row %zu: %.9g vs %.9g",
                      n, q, sum1[q], sum4[q]);
            CHECK_MSG(memcmp(&ref[q], &sum4[q], sizeof(float)) == 0,
                      "n %zu row %zu: reference order %.9g vs %.9g", n, q, ref[q], sum4[q]);
            CHECK(n == 0 || memcmp(a[q], b[q], n * sizeof(float)) == 0);
            free(a[q]);
            free(b[q]);
        }
    }
}

/* The fused triangle passes give bit for bit the plain ones: distances
 * (some negative, clamped to 0), roots, their sums, and the pooled codes,
 * for lengths around the 16-wide blocks; on a CPU without AVX-512 both are
 * the plain passes. */
static void test_tri_fused(void)
{
    static const size_t lens[] = {1, 15, 16, 17, 33, 128, 1600, 1603};
    struct rng r;
    rng_init(&r, 12, 1);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        float *cc = malloc(n * sizeof(float));
        float *a[4], *b[4], xx[4];
        double *pa = calloc(n, sizeof(double)), *pb = calloc(n, sizeof(double));
        for (size_t j = 0; j < n; j++)
            cc[j] = (float)rng_range(&r, 0.0, 50.0);
        for (size_t q = 0; q < 4; q++) {
            xx[q] = (float)rng_range(&r, 0.0, 50.0);
            a[q] = malloc(n * sizeof(float));
            b[q] = malloc(n * sizeof(float));
            for (size_t j = 0; j < n; j++) /* dot products; large ones give d < 0 */
                a[q][j] = b[q][j] = (float)rng_range(&r, -10.0, 60.0);
        }
        float sa[4], sb[4];
        km_tri_dist_sqrt_sum4(a, xx, cc, n, sa);
        for (size_t q = 0; q < 4; q++) {
            for (size_t j = 0; j < n; j++) {
                float v = xx[q] + cc[j] - 2.0f * b[q][j];
                b[q][j] = v > 0.0f ? v : 0.0f;
            }
            sb[q] = km_sqrt_sum(b[q], n);
        }
        int same = memcmp(sa, sb, sizeof sa) == 0;
        for (size_t q = 0; q < 4; q++)
            same &= memcmp(a[q], b[q], n * sizeof(float)) == 0;
        CHECK_MSG(same, "n %zu: fused distance + root + sum differ from the plain passes", n);
        for (size_t q = 0; q < 4; q++) {
            float mu = sa[q] / (float)n;
            km_tri_pool(a[q], mu, n, pa);
            for (size_t j = 0; j < n; j++) {
                float f = mu - b[q][j];
                b[q][j] = f > 0.0f ? f : 0.0f;
            }
            for (size_t j = 0; j < n; j++)
                pb[j] += b[q][j];
        }
        CHECK_MSG(memcmp(pa, pb, n * sizeof(double)) == 0, "n %zu: fused pooling differs", n);
        for (size_t q = 0; q < 4; q++) {
            free(a[q]);
            free(b[q]);
        }
        free(cc);
        free(pa);
        free(pb);
    }
}

/* km_tri_tile, fed a block of scores tile by tile in the order of
 * kn_sgemm_packed_b_tiles (column panels of 32, rows in 8s), gives bit for
 * bit the roots and, through km_tri_tile_sum, the sums of the plain
 * distance pass and km_sqrt_sum: k with and without a tail of k % 4 and
 * with partial last panels, blocks with a partial last row group. */
static void test_tri_tile(void)
{
    static const size_t ks[] = {1, 3, 4, 16, 17, 37, 64, 102, 1600, 1603};
    static const size_t ms[] = {1, 5, 8, 19};
    struct rng r;
    rng_init(&r, 13, 1);
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            size_t k = ks[ki], m = ms[mi];
            float *S = malloc(m * k * sizeof(float)), *Z = malloc(m * k * sizeof(float));
            float *ref = malloc(m * k * sizeof(float)), *cc = malloc(k * sizeof(float));
            float xx[19], (*lane)[4] = calloc(m, sizeof *lane);
            for (size_t j = 0; j < k; j++)
                cc[j] = (float)rng_range(&r, 0.0, 50.0);
            for (size_t i = 0; i < m; i++) {
                xx[i] = (float)rng_range(&r, 0.0, 50.0);
                for (size_t j = 0; j < k; j++) /* dot products; large ones give d < 0 */
                    S[i * k + j] = (float)rng_range(&r, -10.0, 60.0);
            }
            float tile[KN_TILE_ROWS * KN_TILE_LD];
            for (size_t j0 = 0; j0 < k; j0 += KN_TILE_LD)
                for (size_t i0 = 0; i0 < m; i0 += KN_TILE_ROWS) {
                    size_t tm = m - i0 < KN_TILE_ROWS ? m - i0 : KN_TILE_ROWS;
                    size_t tn = k - j0 < KN_TILE_LD ? k - j0 : KN_TILE_LD;
                    for (size_t a = 0; a < tm; a++)
                        memcpy(tile + a * KN_TILE_LD, S + (i0 + a) * k + j0, tn * sizeof(float));
                    km_tri_tile(tile, KN_TILE_LD, tm, tn, j0, k, xx + i0, cc, Z + i0 * k, k,
                                lane + i0);
                }
            int same = 1;
            for (size_t i = 0; i < m; i++) {
                float *row = ref + i * k;
                for (size_t j = 0; j < k; j++) {
                    float v = xx[i] + cc[j] - 2.0f * S[i * k + j];
                    row[j] = v > 0.0f ? v : 0.0f;
                }
                float want = km_sqrt_sum(row, k), got = km_tri_tile_sum(lane[i], Z + i * k, k);
                same &= memcmp(&want, &got, sizeof want) == 0;
            }
            same &= memcmp(ref, Z, m * k * sizeof(float)) == 0;
            CHECK_MSG(same, "k %zu, %zu rows: tile by tile differs from the plain passes", k, m);
            free(S);
            free(Z);
            free(ref);
            free(cc);
            free(lane);
        }
    }
}

int main(void)
{
    test_params();
    test_normalize();
    test_normalize_order();
    test_extract_patch();
    test_eigen();
    test_zca();
    test_cluster();
    test_fit_encode();
    test_sqrt_sum4();
    test_tri_fused();
    test_tri_tile();
    return check_exit("test_kmeans");
}

/* kmeans: parameters, the model's storage, and the helpers every stage uses
 * (thread runner, patch extraction and normalisation, vector sums). */
#include "runner/kmeans.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans_internal.h"
#include "runner/cifar.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KM_HAVE_AVX512 1
#endif

void kmeans_params_default(struct kmeans_params *p)
{
    p->k = KMEANS_DEFAULT_K;
    p->patch = KMEANS_DEFAULT_PATCH;
    p->stride = KMEANS_DEFAULT_STRIDE;
    p->n_patches = KMEANS_DEFAULT_N_PATCHES;
    p->norm_eps = KMEANS_DEFAULT_NORM_EPS;
    p->zca_eps = KMEANS_DEFAULT_ZCA_EPS;
    p->iterations = KMEANS_DEFAULT_ITERATIONS;
    p->encoder = KMEANS_TRIANGLE;
    p->alpha = KMEANS_DEFAULT_ALPHA;
}

int kmeans_params_check(const struct kmeans_params *p, struct rn_err *err)
{
    if (p->k < 1)
        return rn_fail(err, RN_ERR_GENERIC, "k-means: k must be >= 1");
    if (p->patch < 1 || p->patch > KMEANS_MAX_PATCH)
        return rn_fail(err, RN_ERR_GENERIC, "k-means: patch size %zu is not in 1..%d", p->patch,
                       KMEANS_MAX_PATCH);
    if (p->stride < 1 || p->stride > CIFAR_SIDE)
        return rn_fail(err, RN_ERR_GENERIC, "k-means: stride %zu is not in 1..%d", p->stride,
                       CIFAR_SIDE);
    if (p->n_patches < p->k || p->n_patches < 2)
        return rn_fail(err, RN_ERR_GENERIC,
                       "k-means: n_patches (%zu) must be at least k (%zu) and at least 2",
                       p->n_patches, p->k);
    if (!(p->norm_eps > 0.0) || !isfinite(p->norm_eps))
        return rn_fail(err, RN_ERR_GENERIC, "k-means: norm_eps must be finite and > 0");
    if (!(p->zca_eps > 0.0) || !isfinite(p->zca_eps))
        return rn_fail(err, RN_ERR_GENERIC, "k-means: zca_eps must be finite and > 0");
    if (p->encoder != KMEANS_TRIANGLE && p->encoder != KMEANS_SOFT_THRESHOLD)
        return rn_fail(err, RN_ERR_GENERIC, "k-means: unknown encoder %d", (int)p->encoder);
    if (!isfinite(p->alpha))
        return rn_fail(err, RN_ERR_GENERIC, "k-means: alpha must be finite");
    /* 4k features per image: the caller multiplies by the image count. */
    size_t feats;
    if (rn_mul_size(p->k, 4, &feats))
        return rn_fail(err, RN_ERR_GENERIC, "k-means: k = %zu is too large", p->k);
    return RN_OK;
}

size_t kmeans_grid(const struct kmeans_params *p)
{
    return (CIFAR_SIDE - p->patch) / p->stride + 1;
}

size_t kmeans_n_features(const struct kmeans_params *p)
{
    return 4 * p->k;
}

void kmeans_model_free(struct kmeans_model *model)
{
    if (!model)
        return;
    free(model->block_);
    memset(model, 0, sizeof *model);
}

void *km_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (rn_mul_size(count, size, &bytes))
        return NULL;
    return malloc(bytes ? bytes : 1);
}

#if defined(KM_HAVE_AVX512)
/* kmeans_normalize_patch with vectors: the four double lanes of each sum are
 * the four accumulators of the plain loop (one __m256d), added in the same
 * order and combined the same way; the last pass is elementwise (8 at a
 * time). -std=c11 keeps the multiply and the add of d * d separate, as in
 * the plain loop. So the result is bitwise the plain loop's. */
__attribute__((target("avx512f"))) static void normalize_avx512(float *x, size_t dim, double eps)
{
    __m256d acc = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    double l[4];
    _mm256_storeu_pd(l, acc);
    double sum = (l[0] + l[1]) + (l[2] + l[3]);
    for (; i < dim; i++)
        sum += x[i];
    double mean = sum / (double)dim;

    const __m256d m4 = _mm256_set1_pd(mean);
    acc = _mm256_setzero_pd();
    for (i = 0; i + 4 <= dim; i += 4) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m4);
        acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
    }
    _mm256_storeu_pd(l, acc);
    double ss = (l[0] + l[1]) + (l[2] + l[3]);
    for (; i < dim; i++) {
        double d = x[i] - mean;
        ss += d * d;
    }
    double var = dim > 1 ? ss / (double)(dim - 1) : 0.0;
    double inv = 1.0 / sqrt(var + eps);

    const __m512d m8 = _mm512_set1_pd(mean), inv8 = _mm512_set1_pd(inv);
    for (i = 0; i + 8 <= dim; i += 8) {
        __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        _mm256_storeu_ps(x + i, _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(v, m8), inv8)));
    }
    for (; i < dim; i++)
        x[i] = (float)((x[i] - mean) * inv);
}
#endif

void kmeans_normalize_patch(float *x, size_t dim, double eps)
{
#if defined(KM_HAVE_AVX512)
    if (__builtin_cpu_supports("avx512f")) {
        normalize_avx512(x, dim, eps);
        return;
    }
#endif
    /* Two passes in double; four accumulators keep the sums pipelined. */
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (size_t l = 0; l < 4; l++)
            s[l] += x[i + l];
    double sum = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < dim; i++)
        sum += x[i];
    double mean = sum / (double)dim;

    double q[4] = {0.0, 0.0, 0.0, 0.0};
    for (i = 0; i + 4 <= dim; i += 4)
        for (size_t l = 0; l < 4; l++) {
            double d = x[i + l] - mean;
            q[l] += d * d;
        }
    double ss = (q[0] + q[1]) + (q[2] + q[3]);
    for (; i < dim; i++) {
        double d = x[i] - mean;
        ss += d * d;
    }
    double var = dim > 1 ? ss / (double)(dim - 1) : 0.0;
    double inv = 1.0 / sqrt(var + eps);
    for (i = 0; i < dim; i++)
        x[i] = (float)((x[i] - mean) * inv);
}
#if defined(KM_HAVE_AVX512)
/* km_extract_patch for p <= 8: each patch row of p bytes is loaded and
 * stored with a p-lane mask (no byte or float outside the patch is touched),
 * the bytes widened to int32 and converted, which is exact. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void
extract_patch_avx512(const unsigned char *img, size_t p, size_t r, size_t c, float *out)
{
    const __mmask16 bytes = (__mmask16)((1u << p) - 1);
    const __mmask8 lanes = (__mmask8)((1u << p) - 1);
    for (size_t ch = 0; ch < 3; ch++) {
        const unsigned char *plane = img + ch * CIFAR_PLANE;
        for (size_t dy = 0; dy < p; dy++) {
            __m128i b = _mm_maskz_loadu_epi8(bytes, plane + (r + dy) * CIFAR_SIDE + c);
            _mm256_mask_storeu_ps(out, lanes, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
            out += p;
        }
    }
}
#endif

void km_extract_patch(const unsigned char *img, size_t p, size_t r, size_t c, float *out)
{
#if defined(KM_HAVE_AVX512)
    if (p <= 8 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        extract_patch_avx512(img, p, r, c, out);
        return;
    }
#endif
    for (size_t ch = 0; ch < 3; ch++) {
        const unsigned char *plane = img + ch * CIFAR_PLANE;
        for (size_t dy = 0; dy < p; dy++) {
            const unsigned char *src = plane + (r + dy) * CIFAR_SIDE + c;
            for (size_t dx = 0; dx < p; dx++)
                *out++ = (float)src[dx];
        }
    }
}

float km_sqrt_sum(float *z, size_t n)
{
    size_t i = 0;
    float lane[4];
#if defined(__SSE2__)
    __m128 acc = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_sqrt_ps(_mm_loadu_ps(z + i));
        _mm_storeu_ps(z + i, v);
        acc = _mm_add_ps(acc, v);
    }
    _mm_storeu_ps(lane, acc);
#else
    lane[0] = lane[1] = lane[2] = lane[3] = 0.0f;
    for (; i + 4 <= n; i += 4)
        for (size_t l = 0; l < 4; l++) {
            z[i + l] = sqrtf(z[i + l]);
            lane[l] += z[i + l];
        }
#endif
    float sum = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    for (; i < n; i++) {
        z[i] = sqrtf(z[i]);
        sum += z[i];
    }
    return sum;
}

#if defined(KM_HAVE_AVX512)
/* acc + v[0:4] + v[4:8] + v[8:12] + v[12:16], added in that order: the
 * order in which the 4-wide loop adds these 16 elements to its lanes. */
__attribute__((target("avx512f"))) static inline __m128 add_quarters(__m128 acc, __m512 v)
{
    acc = _mm_add_ps(acc, _mm512_castps512_ps128(v));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(v, 1));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(v, 2));
    return _mm_add_ps(acc, _mm512_extractf32x4_ps(v, 3));
}
#endif

/* The distance pass of the triangle encoding on z[from..n) of four rows. */
static void tri_dist_rows(float *const z[4], const float xx[4], const float *cc, size_t from,
                          size_t n)
{
    for (size_t r = 0; r < 4; r++)
        for (size_t j = from; j < n; j++) {
            float v = xx[r] + cc[j] - 2.0f * z[r][j];
            z[r][j] = v > 0.0f ? v : 0.0f;
        }
}

#if defined(KM_HAVE_AVX512)
/* The triangle distance and root of 16 scores s against centroid norms cc
 * for a row of squared norm x: sqrt(max((x + cc) - (s + s), 0)).
 * (x + cc) - (s + s) rounds exactly as x + cc - 2 s (doubling is exact), and
 * max(d, 0) picks 0 for d <= 0 and NaN as the select of the plain pass does. */
__attribute__((target("avx512f"))) static inline __m512 tri_root16(__m512 x, const float *cc,
                                                                   __m512 s)
{
    __m512 d = _mm512_sub_ps(_mm512_add_ps(x, _mm512_loadu_ps(cc)), _mm512_add_ps(s, s));
    return _mm512_sqrt_ps(_mm512_max_ps(d, _mm512_setzero_ps()));
}

/* km_tri_dist_sqrt_sum4 on the first n - n % 16 elements (tri_root16), the
 * roots added to acc four at a time in the order of the 4-wide loop.
 * Returns the elements done. */
__attribute__((target("avx512f"))) static size_t
tri_dist_sqrt_sum4_avx512(float *const z[4], const float xx[4], const float *cc, size_t n,
                          float lane[4][4])
{
    size_t i = 0;
    __m128 acc[4];
    for (size_t r = 0; r < 4; r++)
        acc[r] = _mm_loadu_ps(lane[r]);
    for (; i + 16 <= n; i += 16) {
        for (size_t r = 0; r < 4; r++) {
            __m512 v = tri_root16(_mm512_set1_ps(xx[r]), cc + i, _mm512_loadu_ps(z[r] + i));
            _mm512_storeu_ps(z[r] + i, v);
            acc[r] = add_quarters(acc[r], v);
        }
    }
    for (size_t r = 0; r < 4; r++)
        _mm_storeu_ps(lane[r], acc[r]);
    return i;
}

/* km_tri_pool on the first n - n % 16 elements; returns the elements done. */
__attribute__((target("avx512f"))) static size_t tri_pool_avx512(const float *z, float mu,
                                                                 size_t n, double *pool)
{
    const __m512 zero = _mm512_setzero_ps(), m = _mm512_set1_ps(mu);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 f = _mm512_max_ps(_mm512_sub_ps(m, _mm512_loadu_ps(z + i)), zero);
        __m256 lo = _mm512_castps512_ps256(f);
        __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
        _mm512_storeu_pd(pool + i, _mm512_add_pd(_mm512_loadu_pd(pool + i), _mm512_cvtps_pd(lo)));
        _mm512_storeu_pd(pool + i + 8,
                         _mm512_add_pd(_mm512_loadu_pd(pool + i + 8), _mm512_cvtps_pd(hi)));
    }
    return i;
}
#endif

bool km_tri_fused(void)
{
#if defined(KM_HAVE_AVX512)
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

/* The 4-wide root-and-sum loop of four rows from element i on (lane[r]
 * holds row r's four lane sums so far), then each row's lanes combined as
 * (l0 + l1) + (l2 + l3) and its tail added. */
static void sqrt_sum4_from(float *const z[4], size_t i, size_t n, float lane[4][4],
                           float sum[4])
{
#if defined(__SSE2__)
    __m128 acc[4];
    for (size_t r = 0; r < 4; r++)
        acc[r] = _mm_loadu_ps(lane[r]);
    for (; i + 4 <= n; i += 4)
        for (size_t r = 0; r < 4; r++) {
            __m128 v = _mm_sqrt_ps(_mm_loadu_ps(z[r] + i));
            _mm_storeu_ps(z[r] + i, v);
            acc[r] = _mm_add_ps(acc[r], v);
        }
    for (size_t r = 0; r < 4; r++)
        _mm_storeu_ps(lane[r], acc[r]);
#else
    for (; i + 4 <= n; i += 4)
        for (size_t r = 0; r < 4; r++)
            for (size_t l = 0; l < 4; l++) {
                z[r][i + l] = sqrtf(z[r][i + l]);
                lane[r][l] += z[r][i + l];
            }
#endif
    for (size_t r = 0; r < 4; r++) {
        sum[r] = (lane[r][0] + lane[r][1]) + (lane[r][2] + lane[r][3]);
        for (size_t j = i; j < n; j++) {
            z[r][j] = sqrtf(z[r][j]);
            sum[r] += z[r][j];
        }
    }
}

void km_tri_dist_sqrt_sum4(float *const z[4], const float xx[4], const float *cc, size_t n,
                           float sum[4])
{
    float lane[4][4] = {{0.0f}};
    size_t i = 0;
#if defined(KM_HAVE_AVX512)
    if (__builtin_cpu_supports("avx512f"))
        i = tri_dist_sqrt_sum4_avx512(z, xx, cc, n, lane);
#endif
    tri_dist_rows(z, xx, cc, i, n);
    sqrt_sum4_from(z, i, n, lane, sum);
}

void km_tri_pool(const float *z, float mu, size_t n, double *pool)
{
    size_t i = 0;
#if defined(KM_HAVE_AVX512)
    if (__builtin_cpu_supports("avx512f"))
        i = tri_pool_avx512(z, mu, n, pool);
#endif
    for (; i < n; i++) {
        float f = mu - z[i];
        pool[i] += (double)(f > 0.0f ? f : 0.0f);
    }
}

#if defined(KM_HAVE_AVX512)
/* km_tri_tile for rows whose n columns are all below k - k % 4 and n a
 * multiple of 16 (full tiles): one 16-float vector at a time. */
__attribute__((target("avx512f"))) static void tri_tile_avx512(const float *t, size_t ld,
                                                               size_t m, size_t n,
                                                               const float *xx, const float *cc,
                                                               float *z, size_t ldz,
                                                               float (*lane)[4])
{
    for (size_t r = 0; r < m; r++) {
        __m128 acc = _mm_loadu_ps(lane[r]);
        const __m512 x = _mm512_set1_ps(xx[r]);
        for (size_t c = 0; c < n; c += 16) {
            __m512 v = tri_root16(x, cc + c, _mm512_loadu_ps(t + r * ld + c));
            _mm512_storeu_ps(z + r * ldz + c, v);
            acc = add_quarters(acc, v);
        }
        _mm_storeu_ps(lane[r], acc);
    }
}
#endif

void km_tri_tile(const float *t, size_t ld, size_t m, size_t n, size_t j0, size_t k,
                 const float *xx, const float *cc, float *z, size_t ldz, float (*lane)[4])
{
    const float *cj = cc + j0;
    float *zj = z + j0;
    (void)k; /* The last k % 4 columns never fill a group of four below. */
#if defined(KM_HAVE_AVX512)
    /* j0 and n multiples of 16: the tile ends at a multiple of 4, so all of
     * its columns go to the lanes. */
    if (n % 16 == 0 && __builtin_cpu_supports("avx512f")) {
        tri_tile_avx512(t, ld, m, n, xx, cj, zj, ldz, lane);
        return;
    }
#endif
    for (size_t r = 0; r < m; r++) {
        float *zr = zj + r * ldz;
        for (size_t c = 0; c < n; c++) {
            float v = xx[r] + cj[c] - 2.0f * t[r * ld + c];
            zr[c] = sqrtf(v > 0.0f ? v : 0.0f);
        }
        /* j0 is a multiple of 4, so the tile's groups of four are the row's;
         * a last partial group is the row's tail (km_tri_tile_sum). */
        for (size_t c = 0; c + 4 <= n; c += 4)
            for (size_t l = 0; l < 4; l++)
                lane[r][l] += zr[c + l];
    }
}

float km_tri_tile_sum(const float lane[4], const float *z, size_t k)
{
    float sum = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    for (size_t j = k - k % 4; j < k; j++)
        sum += z[j];
    return sum;
}

void km_sqrt_sum4(float *const z[4], size_t n, float sum[4])
{
    float lane[4][4] = {{0.0f}};
    sqrt_sum4_from(z, 0, n, lane, sum);
}

float km_sum_sq(const float *x, size_t n)
{
    float lane[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t l = 0; l < 8; l++)
            lane[l] += x[i + l] * x[i + l];
    double s = 0.0;
    for (size_t l = 0; l < 8; l++)
        s += lane[l];
    for (; i < n; i++)
        s += (double)x[i] * x[i];
    return (float)s;
}

/* Thread runner ----------------------------------------------------------- */

struct km_par {
    pthread_mutex_t mu;
    km_task_fn fn;
    void *ctx;
    size_t n_tasks;
    size_t next;  /* next task to hand out */
    size_t units; /* progress units finished */
    int stop;
};

struct km_worker {
    struct km_par *par;
    size_t index;
};

static int take_task(struct km_par *p, size_t *task)
{
    int ok = 0;
    pthread_mutex_lock(&p->mu);
    if (!p->stop && p->next < p->n_tasks) {
        *task = p->next++;
        ok = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static size_t finish_task(struct km_par *p, size_t units)
{
    pthread_mutex_lock(&p->mu);
    p->units += units;
    size_t done = p->units;
    pthread_mutex_unlock(&p->mu);
    return done;
}

static void *worker_main(void *arg)
{
    struct km_worker *w = arg;
    size_t task;
    while (take_task(w->par, &task))
        finish_task(w->par, w->par->fn(w->par->ctx, w->index, task));
    return NULL;
}

size_t km_workers(const struct kmeans_exec *exec, size_t n_tasks)
{
    size_t t = exec && exec->threads > 1 ? exec->threads : 1;
    if (t > n_tasks)
        t = n_tasks;
    return t ? t : 1;
}

/* Enough for kn_sgemm's packing buffers (about 400 KiB on the stack) with a
 * wide margin, whatever the process's default thread stack size is. */
#define KM_THREAD_STACK ((size_t)16 << 20)

int km_parallel(size_t workers, size_t n_tasks, km_task_fn fn, void *ctx,
                kmeans_progress_fn progress, void *progress_ctx, size_t total_units,
                struct rn_err *err)
{
    struct km_par par;
    memset(&par, 0, sizeof par);
    if (pthread_mutex_init(&par.mu, NULL) != 0)
        return rn_fail(err, RN_ERR_GENERIC, "k-means: cannot create a mutex");
    par.fn = fn;
    par.ctx = ctx;
    par.n_tasks = n_tasks;
    if (workers < 1)
        workers = 1;

    pthread_t *tids = NULL;
    struct km_worker *ws = km_alloc(workers, sizeof *ws);
    size_t started = 0;
    if (!ws) {
        pthread_mutex_destroy(&par.mu);
        return rn_fail(err, RN_ERR_NOMEM, "k-means: out of memory for %zu workers", workers);
    }
    for (size_t i = 0; i < workers; i++) {
        ws[i].par = &par;
        ws[i].index = i;
    }
    if (workers > 1)
        tids = km_alloc(workers - 1, sizeof *tids);
    if (tids) {
        pthread_attr_t attr;
        int have_attr = pthread_attr_init(&attr) == 0;
        if (have_attr)
            pthread_attr_setstacksize(&attr, KM_THREAD_STACK);
        /* Worker indices 1..started; a thread that cannot start is simply
         * not used (its share goes to the others). */
        for (size_t i = 1; i < workers; i++) {
            if (pthread_create(&tids[started], have_attr ? &attr : NULL, worker_main,
                               &ws[started + 1]) != 0)
                break;
            started++;
        }
        if (have_attr)
            pthread_attr_destroy(&attr);
    }

    size_t task;
    while (take_task(&par, &task)) {
        size_t done = finish_task(&par, fn(ctx, 0, task));
        if (progress && progress(progress_ctx, done, total_units)) {
            pthread_mutex_lock(&par.mu);
            par.stop = 1;
            pthread_mutex_unlock(&par.mu);
        }
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    free(ws);

    int stopped = par.stop;
    if (!stopped && progress && progress(progress_ctx, par.units, total_units))
        stopped = 1;
    pthread_mutex_destroy(&par.mu);
    if (stopped)
        return rn_fail(err, RN_ERR_INTERRUPTED, "interrupted");
    return RN_OK;
}

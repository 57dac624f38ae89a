/* test_kernels: kn_sgemm against the naive kn_sgemm_ref; kn_sgemm_mt and
 * kn_sgemm_pool with 1-4 threads bit-identical to kn_sgemm.
 *
 * Tolerance: for every element, |fast - ref| <= 1e-5 * (|alpha| sum_p |a_ip||b_pj|
 * + |beta| |c_ij|) + 1e-30. Single-precision accumulation over K terms errs by
 * at most about K * 2^-24 of that bound in the worst case and ~sqrt(K) * 2^-24
 * typically, so 1e-5 has ample margin for K <= 1000 with random signs. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "runner/kernels.h"
#include "runner/rng.h"

#define REL_TOL 1e-5

/* A matrix of rows x cols stored with leading dimension ld >= cols; the
 * padding columns hold NaN so that reading them would poison the result. */
static float *make_matrix(struct rng *r, size_t rows, size_t cols, size_t ld)
{
    float *m = malloc((rows * ld + 1) * sizeof(float));
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < ld; j++)
            m[i * ld + j] = j < cols ? (float)rng_range(r, -1.0, 1.0) : NAN;
    return m;
}

/* Compare C (M x N, ldc) from kn_sgemm with the reference; padding of C must
 * be untouched (NaN in, NaN out is checked with isnan). Returns 1 if all ok. */
static int compare(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                   const float *A, size_t lda, const float *B, size_t ldb, float beta,
                   const float *C0, const float *Cf, const float *Cr, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < ldc; j++) {
            size_t at = i * ldc + j;
            if (j >= N) {
                if (memcmp(&Cf[at], &C0[at], sizeof(float)) != 0) {
                    fprintf(stderr, "padding of C written at (%zu, %zu)\n", i, j);
                    return 0;
                }
                continue;
            }
            double bound = 0.0;
            for (size_t p = 0; p < K; p++) {
                double a = ta ? A[p * lda + i] : A[i * lda + p];
                double b = tb ? B[j * ldb + p] : B[p * ldb + j];
                bound += fabs(a * b);
            }
            bound = fabs(alpha) * bound + (beta != 0.0f ? fabs(beta * C0[at]) : 0.0);
            double err = fabs((double)Cf[at] - (double)Cr[at]);
            if (!(err <= REL_TOL * bound + 1e-30)) {
                fprintf(stderr,
                        "mismatch ta=%d tb=%d M=%zu N=%zu K=%zu alpha=%g beta=%g at (%zu, %zu): "
                        "fast %.9g ref %.9g bound %.3g\n",
                        ta, tb, M, N, K, alpha, beta, i, j, Cf[at], Cr[at], bound);
                return 0;
            }
        }
    }
    return 1;
}

/* One case: random A, B, C with the given padding of every leading dimension. */
static int run_case(struct rng *r, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                    float beta, size_t pad, bool nan_c)
{
    size_t a_rows = ta ? K : M, a_cols = ta ? M : K;
    size_t b_rows = tb ? N : K, b_cols = tb ? K : N;
    size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
    float *A = make_matrix(r, a_rows, a_cols, lda);
    float *B = make_matrix(r, b_rows, b_cols, ldb);
    float *C0 = make_matrix(r, M, N, ldc);
    if (nan_c)
        for (size_t i = 0; i < M * ldc; i++)
            C0[i] = NAN;
    float *Cf = malloc((M * ldc + 1) * sizeof(float));
    float *Cr = malloc((M * ldc + 1) * sizeof(float));
    memcpy(Cf, C0, M * ldc * sizeof(float));
    memcpy(Cr, C0, M * ldc * sizeof(float));
    kn_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cf, ldc);
    kn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cr, ldc);
    int ok = compare(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, Cf, Cr, ldc);
    free(A);
    free(B);
    free(C0);
    free(Cf);
    free(Cr);
    return ok;
}

static void test_shapes(void)
{
    struct rng r;
    rng_init(&r, 1, 100);
    static const size_t dims[] = {1, 7, 63, 65};
    /* Every combination of small awkward sizes, all transposes. */
    for (size_t mi = 0; mi < 4; mi++)
        for (size_t ni = 0; ni < 4; ni++)
            for (size_t ki = 0; ki < 4; ki++)
                for (int t = 0; t < 4; t++) {
                    bool ta = t & 1, tb = t & 2;
                    size_t M = dims[mi], N = dims[ni], K = dims[ki];
                    CHECK_MSG(run_case(&r, ta, tb, M, N, K, 1.0f, 0.0f, 0, false),
                              "M=%zu N=%zu K=%zu ta=%d tb=%d", M, N, K, ta, tb);
                }
    /* Sizes that cross the block constants (MR 8, NR 32, KC 256, MC 128,
     * NC 256) and 1000 in one or two dimensions. */
    static const size_t big[][3] = {
        {1000, 7, 65},  {65, 1000, 7},  {7, 63, 1000}, {1000, 1000, 1}, {1, 1000, 300},
        {1000, 1, 300}, {129, 257, 257}, {10, 300, 128}, {128, 10, 300}, {33, 31, 257},
    };
    for (size_t c = 0; c < sizeof big / sizeof big[0]; c++)
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            size_t M = big[c][0], N = big[c][1], K = big[c][2];
            CHECK_MSG(run_case(&r, ta, tb, M, N, K, 1.0f, 0.0f, 0, false),
                      "M=%zu N=%zu K=%zu ta=%d tb=%d", M, N, K, ta, tb);
        }
    /* The MLP's shapes, with the transposes it uses: forward X W^T, dW = dY^T X. */
    CHECK(run_case(&r, false, true, 64, 64, 3072, 1.0f, 0.0f, 0, false));
    CHECK(run_case(&r, true, false, 64, 3072, 64, 1.0f, 0.0f, 0, false));
}

static void test_alpha_beta_ld(void)
{
    struct rng r;
    rng_init(&r, 2, 100);
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 2.0f},
                                  {3.0f, -1.0f}, {0.0f, 0.5f}, {0.0f, 0.0f}, {2.0f, 0.0f}};
    static const size_t shapes[][3] = {{7, 65, 63}, {65, 7, 300}, {1, 1, 1}, {40, 70, 33}};
    for (size_t a = 0; a < sizeof ab / sizeof ab[0]; a++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                for (size_t pad = 0; pad <= 5; pad += 5) {
                    bool ta = t & 1, tb = t & 2;
                    size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    CHECK_MSG(run_case(&r, ta, tb, M, N, K, ab[a][0], ab[a][1], pad, false),
                              "alpha=%g beta=%g M=%zu N=%zu K=%zu ta=%d tb=%d pad=%zu",
                              ab[a][0], ab[a][1], M, N, K, ta, tb, pad);
                }
}

/* beta == 0 must not read C: a NaN-filled C gives finite, correct results. */
static void test_beta_zero_nan(void)
{
    struct rng r;
    rng_init(&r, 3, 100);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        CHECK(run_case(&r, ta, tb, 65, 70, 300, 1.0f, 0.0f, 3, true));
        CHECK(run_case(&r, ta, tb, 9, 33, 0, 1.0f, 0.0f, 0, true)); /* K = 0 */
        CHECK(run_case(&r, ta, tb, 9, 33, 5, 0.0f, 0.0f, 0, true)); /* alpha = 0 */
    }
    /* The fast kernel's own output is finite. */
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4] = {NAN, NAN, NAN, NAN};
    kn_sgemm(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    /* [1 2 3; 4 5 6] x [1 0; 0 1; 1 1] = [4 5; 10 11] */
    CHECK(C[0] == 4.0f && C[1] == 5.0f && C[2] == 10.0f && C[3] == 11.0f);
}

/* Degenerate sizes: M or N of 0 leaves C alone; K = 0 scales C by beta. */
static void test_degenerate(void)
{
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4};
    float C[4] = {1, 2, 3, 4};
    kn_sgemm(false, false, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    kn_sgemm(false, false, 2, 0, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    CHECK(C[0] == 1.0f && C[1] == 2.0f && C[2] == 3.0f && C[3] == 4.0f);
    kn_sgemm(false, false, 2, 2, 0, 1.0f, A, 2, B, 2, 0.5f, C, 2);
    CHECK(C[0] == 0.5f && C[1] == 1.0f && C[2] == 1.5f && C[3] == 2.0f);
    kn_sgemm(true, true, 2, 2, 0, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    CHECK(C[0] == 0.0f && C[1] == 0.0f && C[2] == 0.0f && C[3] == 0.0f);
    /* 1 x 1 x 1 */
    float a = 3.0f, b = -2.0f, c = 10.0f;
    kn_sgemm(true, false, 1, 1, 1, 0.5f, &a, 1, &b, 1, 2.0f, &c, 1);
    CHECK(c == 17.0f); /* 0.5 * 3 * -2 + 2 * 10 */
}

/* Same inputs give bit-identical outputs, on repeated calls, whatever the
 * old contents of C (beta = 0), the padding of C, and the alignment of the
 * operands in memory. */
static void test_determinism(void)
{
    struct rng r;
    rng_init(&r, 4, 100);
    size_t M = 70, N = 100, K = 300;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        size_t lda = ta ? M : K, ldb = tb ? K : N;
        float *A = make_matrix(&r, ta ? K : M, lda, lda);
        float *B = make_matrix(&r, tb ? N : K, ldb, ldb);
        float *C1 = malloc(M * N * sizeof(float));
        float *C2 = malloc(M * N * sizeof(float));
        float *C3 = malloc(M * (N + 3) * sizeof(float));
        /* A and B shifted by one float: different alignment, same values. */
        float *A2 = malloc((M * K + 1) * sizeof(float));
        float *B2 = malloc((K * N + 1) * sizeof(float));
        memcpy(A2 + 1, A, M * K * sizeof(float));
        memcpy(B2 + 1, B, K * N * sizeof(float));
        for (size_t i = 0; i < M * N; i++) {
            C1[i] = 1.0f;
            C2[i] = NAN;
        }
        kn_sgemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.0f, C1, N);
        kn_sgemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.0f, C2, N);
        CHECK(memcmp(C1, C2, M * N * sizeof(float)) == 0);
        kn_sgemm(ta, tb, M, N, K, 0.75f, A2 + 1, lda, B2 + 1, ldb, 0.0f, C2, N);
        CHECK(memcmp(C1, C2, M * N * sizeof(float)) == 0);
        kn_sgemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.0f, C3, N + 3);
        int same = 1;
        for (size_t i = 0; i < M; i++)
            same &= memcmp(C1 + i * N, C3 + i * (N + 3), N * sizeof(float)) == 0;
        CHECK(same);
        free(A);
        free(B);
        free(A2);
        free(B2);
        free(C1);
        free(C2);
        free(C3);
    }
}

/* ---- multi-threaded ------------------------------------------------------ */

/* kn_sgemm_mt with 1 to 4 threads, and kn_sgemm_pool on pools[2..4]
 * (pools[t] has t threads), give bitwise the C of kn_sgemm, padding of C
 * (NaN) included, for every transpose combination whose bit (ta + 2 tb) is
 * set in `transposes`. One set of random values serves all of them (only the
 * layout changes). To keep the test fast under sanitizers, a thread count
 * that the plan reduces to the previous one (too little work, too few
 * columns) is skipped: it would repeat the same computation. most[0] and
 * most[1] (if most is not NULL) get the largest number of threads that
 * kn_sgemm_mt and kn_sgemm_pool used. Returns 1 if all agree. */
#define ALL_TRANSPOSES 0xF
static int mt_case(struct rng *r, struct kn_pool *const *pools, unsigned transposes, size_t M,
                   size_t N, size_t K, float alpha, float beta, size_t pad, size_t *most)
{
    size_t n_a = (M + pad) * (K + pad), n_b = (K + pad) * (N + pad), ldc = N + pad;
    float *A = make_matrix(r, 1, n_a, n_a);
    float *B = make_matrix(r, 1, n_b, n_b);
    float *C0 = make_matrix(r, M, N, ldc);
    float *Cs = malloc((M * ldc + 1) * sizeof(float));
    float *Ct = malloc((M * ldc + 1) * sizeof(float));
    int ok = 1;
    for (int tr = 0; tr < 4; tr++) {
        if (!(transposes >> tr & 1))
            continue;
        bool ta = tr & 1, tb = tr & 2;
        size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad;
        memcpy(Cs, C0, M * ldc * sizeof(float));
        kn_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cs, ldc);
        for (int via_pool = 0; via_pool < 2; via_pool++) {
            /* A pool of 1 thread is kn_sgemm itself. */
            for (size_t t = via_pool ? 2 : 1, prev = via_pool; t <= 4; t++) {
                size_t used = via_pool ? kn_sgemm_pool_threads(pools[t], M, N, K)
                                       : kn_sgemm_mt_threads(t, M, N, K);
                if (most && used > most[via_pool])
                    most[via_pool] = used;
                if (used == prev)
                    continue;
                prev = used;
                memcpy(Ct, C0, M * ldc * sizeof(float));
                if (via_pool)
                    kn_sgemm_pool(pools[t], ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Ct,
                                  ldc);
                else
                    kn_sgemm_mt(t, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Ct, ldc);
                if (memcmp(Ct, Cs, M * ldc * sizeof(float)) != 0) {
                    fprintf(stderr,
                            "%s(%zu) differs from kn_sgemm: ta=%d tb=%d M=%zu N=%zu K=%zu "
                            "alpha=%g beta=%g pad=%zu\n",
                            via_pool ? "kn_sgemm_pool" : "kn_sgemm_mt", t, ta, tb, M, N, K,
                            alpha, beta, pad);
                    ok = 0;
                }
            }
        }
    }
    free(A);
    free(B);
    free(C0);
    free(Cs);
    free(Ct);
    return ok;
}

static void test_mt_identical(void)
{
    struct rng r;
    rng_init(&r, 5, 100);
    struct kn_pool *pools[5];
    for (size_t t = 0; t <= 4; t++) {
        pools[t] = kn_pool_create(t);
        CHECK(pools[t] != NULL);
        if (!pools[t])
            return;
        CHECK(kn_pool_threads(pools[t]) == (t ? t : 1));
    }
    /* Awkward M and N, all transposes; with K = 65 only 1000 x 1000 is large
     * enough for several threads, the rest run on one. */
    static const size_t dims[] = {1, 7, 63, 65, 1000};
    size_t most[2] = {0, 0};
    for (size_t mi = 0; mi < 5; mi++)
        for (size_t ni = 0; ni < 5; ni++)
            CHECK_MSG(mt_case(&r, pools, ALL_TRANSPOSES, dims[mi], dims[ni], 65, 1.0f, 0.0f, 0,
                              most),
                      "M=%zu N=%zu", dims[mi], dims[ni]);
    CHECK(most[0] == 4 && most[1] == 4);
    /* Awkward M and N with a K large enough for several threads of the pool
     * (kn_sgemm_mt needs more work, see below), split by columns (N >= M)
     * or by rows; K crosses KC; also alpha, beta, padding. */
    static const size_t forced[][3] = {
        {7, 1000, 1000}, {1000, 7, 1000},  {63, 65, 3000},  {65, 63, 3000},
        {65, 65, 3000},  {129, 257, 400},  {257, 129, 400}, {33, 300, 1300},
    };
    for (size_t c = 0; c < sizeof forced / sizeof forced[0]; c++) {
        size_t M = forced[c][0], N = forced[c][1], K = forced[c][2];
        size_t used[2] = {0, 0};
        CHECK_MSG(mt_case(&r, pools, ALL_TRANSPOSES, M, N, K, 1.0f, 0.0f, 0, used),
                  "M=%zu N=%zu K=%zu", M, N, K);
        CHECK_MSG(mt_case(&r, pools, ALL_TRANSPOSES, M, N, K, -0.75f, 0.5f, 3, NULL),
                  "M=%zu N=%zu K=%zu beta pad", M, N, K);
        CHECK_MSG(used[1] >= 2, "M=%zu N=%zu K=%zu: the pool used %zu threads", M, N, K,
                  used[1]);
    }
    /* Awkward shapes large enough for kn_sgemm_mt's threads (split by rows:
     * 1600 x 729 below). */
    static const size_t forced_mt[][3] = {{65, 1000, 1000}, {129, 257, 1000}};
    for (size_t c = 0; c < sizeof forced_mt / sizeof forced_mt[0]; c++) {
        size_t M = forced_mt[c][0], N = forced_mt[c][1], K = forced_mt[c][2];
        size_t used[2] = {0, 0};
        CHECK_MSG(mt_case(&r, pools, ALL_TRANSPOSES, M, N, K, 1.0f, 0.0f, 0, used),
                  "M=%zu N=%zu K=%zu", M, N, K);
        CHECK_MSG(used[0] >= 2, "M=%zu N=%zu K=%zu: kn_sgemm_mt used %zu threads", M, N, K,
                  used[0]);
    }
    CHECK(mt_case(&r, pools, 0x9, 129, 257, 1000, -0.75f, 0.5f, 3, NULL));
    /* One row or one column of C, split the other way (packing dominates
     * these under ASan: one transpose combination each). */
    size_t used_row[2] = {0, 0}, used_col[2] = {0, 0};
    CHECK(mt_case(&r, pools, 0x1, 1, 2560, 2560, 1.0f, 0.0f, 0, used_row));
    CHECK(mt_case(&r, pools, 0x8, 2560, 1, 2560, 1.0f, 0.0f, 0, used_col));
    /* 13 MFLOP: at 1 MFLOP per thread, all 4 threads of the largest pool. */
    CHECK(used_row[1] == 4 && used_col[1] == 4);
    /* Large shapes: the MLP's and feature extraction's, and their mirrors
     * (split by rows); the largest only with op(A) or op(B) transposed.
     * 64 x 3072 x 64 (25 MFLOP) is too small for kn_sgemm_mt's threads. */
    static const struct {
        size_t M, N, K;
        unsigned transposes;
        size_t mt_threads;
    } large[] = {
        {128, 1024, 3072, 0x6, 4},        {729, 1600, 108, ALL_TRANSPOSES, 4},
        {1600, 729, 108, ALL_TRANSPOSES, 4}, {64, 3072, 64, ALL_TRANSPOSES, 1},
        {3072, 64, 64, ALL_TRANSPOSES, 1},
    };
    for (size_t c = 0; c < sizeof large / sizeof large[0]; c++) {
        size_t M = large[c].M, N = large[c].N, K = large[c].K;
        size_t used[2] = {0, 0};
        CHECK_MSG(mt_case(&r, pools, large[c].transposes, M, N, K, 1.0f, 0.0f, 0, used),
                  "M=%zu N=%zu K=%zu", M, N, K);
        CHECK_MSG(used[0] == large[c].mt_threads && used[1] == 4,
                  "M=%zu N=%zu K=%zu: kn_sgemm_mt used %zu threads, the pool %zu", M, N, K,
                  used[0], used[1]);
    }
    for (size_t t = 0; t <= 4; t++)
        kn_pool_destroy(pools[t]);
    kn_pool_destroy(NULL);
}

/* Two threads calling kn_sgemm_pool on one pool at once (the calls take
 * turns) both get kn_sgemm's result. */
struct pool_caller {
    struct kn_pool *pool;
    const float *A, *B;
    float *C;
    size_t M, N, K;
};

static void *pool_caller_main(void *arg)
{
    struct pool_caller *c = arg;
    for (int i = 0; i < 5; i++)
        kn_sgemm_pool(c->pool, false, true, c->M, c->N, c->K, 1.0f, c->A, c->K, c->B, c->K,
                      0.0f, c->C + (size_t)i * c->M * c->N, c->N);
    return NULL;
}

static void test_pool_shared(void)
{
    struct rng r;
    rng_init(&r, 6, 100);
    size_t M = 64, N = 256, K = 600;
    float *A = make_matrix(&r, M, K, K), *B = make_matrix(&r, N, K, K);
    float *want = malloc(M * N * sizeof(float));
    float *got[2];
    kn_sgemm(false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, want, N);
    struct kn_pool *pool = kn_pool_create(2);
    CHECK(pool != NULL);
    if (!pool)
        return;
    CHECK(kn_sgemm_pool_threads(pool, M, N, K) == 2);
    struct pool_caller c[2];
    pthread_t other;
    for (int k = 0; k < 2; k++) {
        got[k] = malloc(5 * M * N * sizeof(float));
        c[k] = (struct pool_caller){pool, A, B, got[k], M, N, K};
    }
    int started = pthread_create(&other, NULL, pool_caller_main, &c[1]) == 0;
    pool_caller_main(&c[0]);
    if (started)
        pthread_join(other, NULL);
    else
        pool_caller_main(&c[1]);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 5; i++)
            CHECK(memcmp(got[k] + (size_t)i * M * N, want, M * N * sizeof(float)) == 0);
    kn_pool_destroy(pool);
    /* No pool: kn_sgemm. */
    kn_sgemm_pool(NULL, false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, got[0], N);
    CHECK(memcmp(got[0], want, M * N * sizeof(float)) == 0);
    CHECK(kn_pool_threads(NULL) == 1);
    free(A);
    free(B);
    free(want);
    free(got[0]);
    free(got[1]);
}

/* The degenerate cases of kn_sgemm_mt and kn_sgemm_pool are kn_sgemm's; the
 * thread count follows the work. */
static void test_mt_degenerate(void)
{
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4};
    float C[4] = {1, 2, 3, 4};
    kn_sgemm_mt(2, false, false, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    kn_sgemm_mt(2, false, false, 2, 0, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    CHECK(C[0] == 1.0f && C[1] == 2.0f && C[2] == 3.0f && C[3] == 4.0f);
    kn_sgemm_mt(2, false, false, 2, 2, 0, 1.0f, A, 2, B, 2, 0.5f, C, 2);
    CHECK(C[0] == 0.5f && C[1] == 1.0f && C[2] == 1.5f && C[3] == 2.0f);
    kn_sgemm_mt(3, true, true, 2, 2, 2, 0.0f, A, 2, B, 2, 0.0f, C, 2);
    CHECK(C[0] == 0.0f && C[1] == 0.0f && C[2] == 0.0f && C[3] == 0.0f);
    struct kn_pool *pool = kn_pool_create(2);
    CHECK(pool != NULL);
    float D[4] = {1, 2, 3, 4};
    kn_sgemm_pool(pool, false, false, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, D, 2);
    CHECK(D[0] == 1.0f && D[1] == 2.0f && D[2] == 3.0f && D[3] == 4.0f);
    kn_sgemm_pool(pool, false, false, 2, 2, 0, 1.0f, A, 2, B, 2, 2.0f, D, 2);
    CHECK(D[0] == 2.0f && D[1] == 4.0f && D[2] == 6.0f && D[3] == 8.0f);
    kn_sgemm_pool(pool, false, false, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, D, 2);
    /* [1 2; 3 4]^2 = [7 10; 15 22] */
    CHECK(D[0] == 7.0f && D[1] == 10.0f && D[2] == 15.0f && D[3] == 22.0f);
    kn_pool_destroy(pool);

    CHECK(kn_sgemm_mt_threads(2, 0, 10, 10) == 1);
    CHECK(kn_sgemm_mt_threads(2, 10, 10, 0) == 1);
    CHECK(kn_sgemm_mt_threads(0, 128, 1024, 3072) == 1);
    CHECK(kn_sgemm_mt_threads(1, 128, 1024, 3072) == 1);
    CHECK(kn_sgemm_mt_threads(2, 128, 1024, 3072) == 2);
    /* 805 MFLOP / 32 MFLOP: 25 threads for 32 column ranges: 16 of 2 each. */
    CHECK(kn_sgemm_mt_threads(1000, 128, 1024, 3072) == 16);
    CHECK(kn_sgemm_mt_threads(4, 64, 64, 64) == 1);          /* 0.5 MFLOP */
    CHECK(kn_sgemm_mt_threads(4, 1, 1, 100000000) == 1);     /* one element */
    CHECK(kn_sgemm_mt_threads(4, 64, 64, 3072) == 1);        /* 25 MFLOP */
    CHECK(kn_sgemm_mt_threads(4, 128, 256, 6400) == 4);      /* 419 MFLOP */
    struct kn_pool *p2 = kn_pool_create(2), *p64 = kn_pool_create(64);
    CHECK(kn_sgemm_pool_threads(NULL, 128, 1024, 3072) == 1);
    CHECK(kn_sgemm_pool_threads(p2, 128, 1024, 3072) == 2);
    CHECK(kn_sgemm_pool_threads(p64, 128, 1024, 3072) == 32); /* one per 32 columns */
    CHECK(kn_sgemm_pool_threads(p2, 64, 64, 64) == 1);
    CHECK(kn_sgemm_pool_threads(p64, 64, 64, 3072) == 2);     /* two 32-column ranges */
    CHECK(kn_sgemm_pool_threads(p64, 3072, 64, 64) == 24);    /* 24 chunks of 128 rows */
    CHECK(kn_sgemm_pool_threads(p2, 64, 64, 512) == 2);       /* 4.2 MFLOP, report layer */
    CHECK(kn_sgemm_pool_threads(p2, 64, 10, 64) == 1);        /* 82 kFLOP */
    kn_pool_destroy(p2);
    kn_pool_destroy(p64);
}

/* kn_pool_for runs every task exactly once, on the pool's threads or
 * (pool NULL, or a single task) on the caller's. */
struct count_ctx {
    atomic_int *hits;
    atomic_int threads_seen; /* tasks not run on the main thread */
    pthread_t main;
};

static void count_task(void *ctx, size_t t)
{
    struct count_ctx *c = ctx;
    atomic_fetch_add(&c->hits[t], 1);
    if (!pthread_equal(pthread_self(), c->main))
        atomic_fetch_add(&c->threads_seen, 1);
    /* A little work, so that a worker gets a chance to take tasks. */
    volatile double acc = 0.0;
    for (int i = 0; i < 20000; i++)
        acc += (double)i * 1e-9;
}

static void test_pool_for(void)
{
    enum { N = 257 };
    static atomic_int hits[N];
    struct kn_pool *pools[3] = {NULL, kn_pool_create(1), kn_pool_create(2)};
    for (size_t k = 0; k < 3; k++) {
        for (size_t n = 0; n <= N; n += (n < 3 ? 1 : 127)) {
            for (size_t i = 0; i < N; i++)
                atomic_init(&hits[i], 0);
            struct count_ctx c = {.hits = hits, .main = pthread_self()};
            atomic_init(&c.threads_seen, 0);
            kn_pool_for(pools[k], n, count_task, &c);
            int once = 1;
            for (size_t i = 0; i < N; i++)
                once &= atomic_load(&hits[i]) == (i < n ? 1 : 0);
            CHECK_MSG(once, "pool %zu, %zu tasks: every task exactly once", k, n);
            if (k < 2 || n <= 1)
                CHECK_MSG(atomic_load(&c.threads_seen) == 0,
                          "pool %zu, %zu tasks: all on the caller's thread", k, n);
        }
    }
    kn_pool_destroy(pools[1]);
    kn_pool_destroy(pools[2]);
}

/* Many jobs in a row on pools of 2-4 threads, alternating bursts of
 * back-to-back jobs (the workers are still spinning when the next one comes)
 * with pauses longer than the spin (they have gone to sleep on their
 * condition variables), with 1 task (caller alone) up to more tasks than
 * threads: every task of every job runs exactly once, and no job returns
 * before its last task has finished. Run under ThreadSanitizer by
 * scripts/test.sh. */
struct stress_ctx {
    atomic_int *hits;
    atomic_int running; /* tasks started and not yet finished */
};

static void stress_task(void *ctx, size_t t)
{
    struct stress_ctx *c = ctx;
    atomic_fetch_add(&c->running, 1);
    atomic_fetch_add(&c->hits[t], 1);
    volatile double acc = 0.0;
    for (int i = 0; i < 200 * (int)(t % 5); i++)
        acc += (double)i * 1e-9;
    atomic_fetch_sub(&c->running, 1);
}

static void test_pool_stress(void)
{
    enum { MAX_TASKS = 9, JOBS = 3000 };
    atomic_int hits[MAX_TASKS];
    for (size_t threads = 2; threads <= 4; threads++) {
        struct kn_pool *pool = kn_pool_create(threads);
        CHECK(pool != NULL);
        if (!pool)
            return;
        int bad = 0;
        for (int j = 0; j < JOBS && !bad; j++) {
            size_t n = 1 + (size_t)j % MAX_TASKS;
            struct stress_ctx c = {.hits = hits};
            atomic_init(&c.running, 0);
            for (size_t i = 0; i < MAX_TASKS; i++)
                atomic_init(&hits[i], 0);
            kn_pool_for(pool, n, stress_task, &c);
            bad |= atomic_load(&c.running) != 0;
            for (size_t i = 0; i < MAX_TASKS; i++)
                bad |= atomic_load(&hits[i]) != (i < n ? 1 : 0);
            if (j % 500 == 499) {
                struct timespec pause = {0, 3000000}; /* 3 ms: workers sleep */
                nanosleep(&pause, NULL);
            }
        }
        CHECK_MSG(!bad, "pool of %zu threads: a task ran twice, not at all, or late", threads);
        kn_pool_destroy(pool);
    }
    /* A pool destroyed while its workers spin, and one right after creation. */
    struct kn_pool *p = kn_pool_create(3);
    struct stress_ctx c = {.hits = hits};
    atomic_init(&c.running, 0);
    kn_pool_for(p, 3, stress_task, &c);
    kn_pool_destroy(p);
    kn_pool_destroy(kn_pool_create(4));
}

/* kn_sgemm_packed_b on a once-packed op(B) is bitwise kn_sgemm, for every
 * transpose pair, awkward shapes (K across the KC = 256 block edge), padded
 * leading dimensions (padding of C untouched), alpha and beta variants, and
 * the same packed op(B) reused for several A. kn_sgemm_packed_b always packs
 * op(A), and packs op(B) the plain way, while kn_sgemm reads a non-transposed
 * A in place when N <= 64 and a non-transposed B in place when M <= 64
 * (kernels.c, "Reading an operand in place"): the shapes on both sides of
 * those limits check that the in-place paths, with their packed partial
 * panels, give bitwise the packed result. */
static void test_packed_b(void)
{
    struct rng r;
    rng_init(&r, 8, 100);
    const size_t dims[] = {1, 7, 63, 64, 65, 300};
    const size_t ks[] = {1, 7, 108, 256, 257, 600};
    const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.25f}};
    int bad = 0;
    for (unsigned t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (size_t mi = 0; mi < 6; mi++)
            for (size_t ni = 0; ni < 6; ni++)
                for (size_t ki = 0; ki < 6; ki++) {
                    size_t M = dims[mi], N = dims[ni], K = ks[ki], pad = (mi + ki) % 3;
                    size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                    float *B = make_matrix(&r, tb ? N : K, tb ? K : N, ldb);
                    float *bp = malloc(kn_packed_b_floats(K, N) * sizeof(float));
                    kn_pack_b(tb, K, N, B, ldb, bp);
                    for (size_t v = 0; v < 3; v++) {
                        float alpha = ab[v][0], beta = ab[v][1];
                        float *A = make_matrix(&r, ta ? K : M, ta ? M : K, lda);
                        float *C0 = make_matrix(&r, M, N, ldc);
                        float *want = malloc(M * ldc * sizeof(float));
                        float *got = malloc(M * ldc * sizeof(float));
                        memcpy(want, C0, M * ldc * sizeof(float));
                        memcpy(got, C0, M * ldc * sizeof(float));
                        kn_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, want, ldc);
                        kn_sgemm_packed_b(ta, M, N, K, alpha, A, lda, bp, beta, got, ldc);
                        if (memcmp(want, got, M * ldc * sizeof(float)) != 0) {
                            if (!bad)
                                fprintf(stderr, "packed B differs: ta=%d tb=%d M=%zu N=%zu "
                                                "K=%zu alpha=%g beta=%g\n",
                                        ta, tb, M, N, K, alpha, beta);
                            bad = 1;
                        }
                        free(A);
                        free(C0);
                        free(want);
                        free(got);
                    }
                    free(B);
                    free(bp);
                }
    }
    CHECK_MSG(!bad, "kn_sgemm_packed_b is bitwise kn_sgemm");
}

/* What kn_sgemm_packed_b_tiles hands over, for test_packed_b_tiles: the
 * tiles written into a matrix, how often each element came, and whether
 * every row's tiles came in increasing column order. */
struct tiles_seen {
    float *C;
    unsigned char *count;
    size_t N, *next_col; /* next_col[i]: the column row i's next tile must start at */
    int order_ok, shape_ok;
};

static void collect_tile(void *ctx, const float *tile, size_t i, size_t j, size_t m, size_t n)
{
    struct tiles_seen *t = ctx;
    t->shape_ok &= m >= 1 && m <= KN_TILE_ROWS && n >= 1 && n <= KN_TILE_LD &&
                   j % KN_TILE_LD == 0 && i % KN_TILE_ROWS == 0;
    for (size_t a = 0; a < m; a++) {
        t->order_ok &= t->next_col[i + a] == j;
        t->next_col[i + a] = j + n;
        for (size_t b = 0; b < n; b++) {
            t->C[(i + a) * t->N + j + b] = tile[a * KN_TILE_LD + b];
            t->count[(i + a) * t->N + j + b]++;
        }
    }
}

/* kn_sgemm_packed_b_tiles hands over every element once, bitwise what
 * kn_sgemm_packed_b(alpha 1, beta 0) stores, each row's tiles in column
 * order: shapes around the tile and block sizes, K up to KN_SGEMM_KC and 0. */
static void test_packed_b_tiles(void)
{
    struct rng r;
    rng_init(&r, 9, 100);
    const size_t ms[] = {1, 7, 8, 9, 130, 300}, ns[] = {1, 31, 32, 33, 100, 1600};
    const size_t ks[] = {0, 1, 7, 108, KN_SGEMM_KC};
    int bad = 0;
    for (size_t mi = 0; mi < 6; mi++)
        for (size_t ni = 0; ni < 6; ni++)
            for (size_t ki = 0; ki < 5; ki++) {
                size_t M = ms[mi], N = ns[ni], K = ks[ki], lda = K + 1;
                float *A = make_matrix(&r, M, K, lda), *B = make_matrix(&r, N, K, K + 1);
                float *bp = malloc((kn_packed_b_floats(K, N) + 1) * sizeof(float));
                kn_pack_b(true, K, N, B, K + 1, bp);
                float *want = malloc(M * N * sizeof(float));
                size_t *next_col = calloc(M, sizeof *next_col);
                struct tiles_seen t = {malloc(M * N * sizeof(float)), calloc(M * N, 1), N,
                                       next_col, 1, 1};
                kn_sgemm_packed_b(false, M, N, K, 1.0f, A, lda, bp, 0.0f, want, N);
                kn_sgemm_packed_b_tiles(M, N, K, A, lda, bp, collect_tile, &t);
                int once = 1;
                for (size_t e = 0; e < M * N; e++)
                    once &= t.count[e] == 1;
                int ok = once && t.order_ok && t.shape_ok &&
                         memcmp(want, t.C, M * N * sizeof(float)) == 0;
                if (!ok && !bad)
                    fprintf(stderr,
                            "tiles differ: M=%zu N=%zu K=%zu (once %d, order %d, shape %d)\n", M,
                            N, K, once, t.order_ok, t.shape_ok);
                bad |= !ok;
                free(A);
                free(B);
                free(bp);
                free(want);
                free(next_col);
                free(t.C);
                free(t.count);
            }
    CHECK_MSG(!bad, "kn_sgemm_packed_b_tiles is bitwise kn_sgemm_packed_b, tile by tile");
}

/* Operands given as row selections (kn_mat.rows: out of order, with
 * repeats, rows of a larger NaN-padded matrix) give bitwise the C that
 * kn_sgemm computes on copies of the selected rows, for every transpose
 * pair, on both sides of the in-place limits (64 rows / columns), single-
 * threaded and split over pools of 2 and 3 threads. */
static void test_row_selection(struct kn_pool *const pools[3])
{
    struct rng r;
    rng_init(&r, 9, 100);
    const size_t dims[] = {1, 7, 63, 64, 65, 130};
    const size_t ks[] = {1, 17, 64, 257};
    int bad = 0;
    for (unsigned t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (size_t mi = 0; mi < 6; mi++)
            for (size_t ni = 0; ni < 6; ni++)
                for (size_t ki = 0; ki < 4; ki++) {
                    size_t M = dims[mi], N = dims[ni], K = ks[ki];
                    /* Stored shapes of A and B, and their selections from
                     * sets of 2 * rows + 3 rows with 2 padding columns. */
                    size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
                    size_t an = 2 * ar + 3, bn = 2 * br + 3, lda = ac + 2, ldb = bc + 2;
                    float *Aset = make_matrix(&r, an, ac, lda);
                    float *Bset = make_matrix(&r, bn, bc, ldb);
                    size_t *asel = malloc(ar * sizeof(size_t));
                    size_t *bsel = malloc(br * sizeof(size_t));
                    float *A = malloc(ar * ac * sizeof(float));
                    float *B = malloc(br * bc * sizeof(float));
                    for (size_t i = 0; i < ar; i++) {
                        asel[i] = i % 5 == 4 ? asel[i - 1] : (size_t)rng_below(&r, an);
                        memcpy(A + i * ac, Aset + asel[i] * lda, ac * sizeof(float));
                    }
                    for (size_t i = 0; i < br; i++) {
                        bsel[i] = i % 5 == 4 ? bsel[i - 1] : (size_t)rng_below(&r, bn);
                        memcpy(B + i * bc, Bset + bsel[i] * ldb, bc * sizeof(float));
                    }
                    float *Cin = make_matrix(&r, M, N, N);
                    float *want = malloc(M * N * sizeof(float));
                    float *got = malloc(M * N * sizeof(float));
                    memcpy(want, Cin, M * N * sizeof(float));
                    kn_sgemm(ta, tb, M, N, K, -0.5f, A, ac, B, bc, 1.0f, want, N);
                    const struct kn_mat Am = {Aset, lda, asel}, Bm = {Bset, ldb, bsel};
                    for (size_t p = 0; p < 3; p++) {
                        memcpy(got, Cin, M * N * sizeof(float));
                        kn_sgemm_pool_mat(pools[p], ta, tb, M, N, K, -0.5f, Am, Bm, 1.0f, got, N);
                        if (memcmp(want, got, M * N * sizeof(float)) != 0) {
                            if (!bad)
                                fprintf(stderr, "row selection differs: pool of %zu, ta=%d "
                                                "tb=%d M=%zu N=%zu K=%zu\n",
                                        kn_pool_threads(pools[p]), ta, tb, M, N, K);
                            bad = 1;
                        }
                    }
                    memcpy(got, Cin, M * N * sizeof(float));
                    kn_sgemm_mt_mat(2, ta, tb, M, N, K, -0.5f, Am, Bm, 1.0f, got, N);
                    if (memcmp(want, got, M * N * sizeof(float)) != 0) {
                        if (!bad)
                            fprintf(stderr, "row selection differs: kn_sgemm_mt_mat, ta=%d "
                                            "tb=%d M=%zu N=%zu K=%zu\n",
                                    ta, tb, M, N, K);
                        bad = 1;
                    }
                    free(Aset);
                    free(Bset);
                    free(asel);
                    free(bsel);
                    free(A);
                    free(B);
                    free(want);
                    free(got);
                    free(Cin);
                }
    }
    CHECK_MSG(!bad, "products on row selections are bitwise those on copies of the rows");
}

/* Copies the rows sel[0 .. n) of a set (row stride ld) into a dense matrix
 * of n x cols; the selection picks rows out of order, with repeats. */
static float *select_rows(struct rng *r, const float *set, size_t n_set, size_t ld, size_t n,
                          size_t cols, size_t **sel)
{
    float *m = malloc((n * cols + 1) * sizeof(float));
    *sel = malloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        (*sel)[i] = i % 5 == 4 ? (*sel)[i - 1] : (size_t)rng_below(r, n_set);
        memcpy(m + i * cols, set + (*sel)[i] * ld, cols * sizeof(float));
    }
    return m;
}

/* A matrix kept packed (kernels.h): kn_unpack_b undoes kn_pack_b and leaves
 * the rest of B alone; kn_sgemm_pool_packed_b is bitwise kn_sgemm, with
 * op(A) a row selection, single-threaded and on pools of 2 and 3 threads;
 * kn_sgemm_pool_add_packed (P += alpha A^T B, P packed) is bitwise
 * kn_sgemm(true, false, ..., beta = 1) on P unpacked, for P of up to 600
 * rows (tiles in every K block of the packed layout, 256 rows each) and
 * partial panels, whose zero padding it must keep. */
static void test_kept_packed(struct kn_pool *const pools[3])
{
    struct rng r;
    rng_init(&r, 10, 100);
    int bad = 0;
    const size_t ms[] = {1, 7, 65, 130}, ns[] = {1, 33, 64, 100}, ks[] = {1, 17, 257};
    for (unsigned t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (size_t mi = 0; mi < 4; mi++)
            for (size_t ni = 0; ni < 4; ni++)
                for (size_t ki = 0; ki < 3; ki++) {
                    size_t M = ms[mi], N = ns[ni], K = ks[ki];
                    size_t ar = ta ? K : M, ac = ta ? M : K, an = 2 * ar + 3, lda = ac + 2;
                    size_t br = tb ? N : K, bc = tb ? K : N, ldb = bc + 1;
                    float *Aset = make_matrix(&r, an, ac, lda);
                    size_t *asel;
                    float *A = select_rows(&r, Aset, an, lda, ar, ac, &asel);
                    float *B = make_matrix(&r, br, bc, ldb);
                    float *bp = malloc(kn_packed_b_floats(K, N) * sizeof(float));
                    kn_pack_b(tb, K, N, B, ldb, bp);
                    /* Unpacking into NaN-padded storage restores B exactly. */
                    float *Bu = malloc((br * ldb + 1) * sizeof(float));
                    for (size_t i = 0; i < br * ldb; i++)
                        Bu[i] = i % ldb < bc ? 0.0f : NAN;
                    kn_unpack_b(tb, K, N, bp, Bu, ldb);
                    for (size_t i = 0; i < br * ldb; i++)
                        if (i % ldb < bc ? Bu[i] != B[i] : !isnan(Bu[i])) {
                            if (!bad)
                                fprintf(stderr, "kn_unpack_b: tb=%d K=%zu N=%zu at %zu\n", tb,
                                        K, N, i);
                            bad = 1;
                            break;
                        }
                    float *Cin = make_matrix(&r, M, N, N);
                    float *want = malloc(M * N * sizeof(float));
                    float *got = malloc(M * N * sizeof(float));
                    memcpy(want, Cin, M * N * sizeof(float));
                    kn_sgemm(ta, tb, M, N, K, 1.5f, A, ac, B, ldb, 0.5f, want, N);
                    const struct kn_mat Am = {Aset, lda, asel};
                    for (size_t p = 0; p < 3; p++) {
                        memcpy(got, Cin, M * N * sizeof(float));
                        kn_sgemm_pool_packed_b(pools[p], ta, M, N, K, 1.5f, Am, bp, 0.5f, got,
                                               N);
                        if (memcmp(want, got, M * N * sizeof(float)) != 0) {
                            if (!bad)
                                fprintf(stderr, "kept-packed product differs: pool of %zu, "
                                                "ta=%d tb=%d M=%zu N=%zu K=%zu\n",
                                        kn_pool_threads(pools[p]), ta, tb, M, N, K);
                            bad = 1;
                        }
                    }
                    free(Aset);
                    free(asel);
                    free(A);
                    free(B);
                    free(Bu);
                    free(bp);
                    free(Cin);
                    free(want);
                    free(got);
                }
    }
    const size_t pm[] = {1, 7, 255, 256, 300, 600}, pn[] = {1, 32, 33, 100},
                 pk[] = {1, 17, 256};
    for (size_t mi = 0; mi < 6; mi++)
        for (size_t ni = 0; ni < 4; ni++)
            for (size_t ki = 0; ki < 3; ki++) {
                size_t M = pm[mi], N = pn[ni], K = pk[ki];
                size_t an = 2 * K + 3, bn = 2 * K + 3, lda = M + 1, ldb = N + 3;
                float *Aset = make_matrix(&r, an, M, lda);
                float *Bset = make_matrix(&r, bn, N, ldb);
                size_t *asel, *bsel;
                float *A = select_rows(&r, Aset, an, lda, K, M, &asel);
                float *B = select_rows(&r, Bset, bn, ldb, K, N, &bsel);
                float *want = make_matrix(&r, M, N, N);
                size_t np = kn_packed_b_floats(M, N);
                float *bp = malloc(np * sizeof(float));
                float *wantp = malloc(np * sizeof(float));
                float *P0 = malloc(np * sizeof(float));
                float *scratch = malloc(kn_packed_b_floats(K, N) * sizeof(float));
                kn_pack_b(false, M, N, want, N, P0);
                kn_sgemm(true, false, M, N, K, -0.75f, A, M, B, N, 1.0f, want, N);
                kn_pack_b(false, M, N, want, N, wantp);
                const struct kn_mat Am = {Aset, lda, asel}, Bm = {Bset, ldb, bsel};
                for (size_t p = 0; p < 3; p++) {
                    memcpy(bp, P0, np * sizeof(float));
                    kn_sgemm_pool_add_packed(pools[p], M, N, K, -0.75f, Am, Bm, bp, scratch);
                    if (memcmp(bp, wantp, np * sizeof(float)) != 0) {
                        if (!bad)
                            fprintf(stderr, "packed update differs: pool of %zu, M=%zu N=%zu "
                                            "K=%zu\n",
                                    kn_pool_threads(pools[p]), M, N, K);
                        bad = 1;
                    }
                }
                free(Aset);
                free(Bset);
                free(asel);
                free(bsel);
                free(A);
                free(B);
                free(want);
                free(bp);
                free(wantp);
                free(P0);
                free(scratch);
            }
    CHECK_MSG(!bad, "products on and updates of a kept-packed matrix are bitwise kn_sgemm's");
}

static void test_row_selections(void)
{
    struct kn_pool *pools[3] = {NULL, kn_pool_create(2), kn_pool_create(3)};
    CHECK(pools[1] && pools[2]);
    if (pools[1] && pools[2]) {
        test_row_selection(pools);
        test_kept_packed(pools);
    }
    kn_pool_destroy(pools[1]);
    kn_pool_destroy(pools[2]);
}

/* `test_kernels pool` runs only the thread-pool tests (scripts/test.sh runs
 * them under ThreadSanitizer, where the product tests would take minutes). */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "pool") == 0) {
        test_pool_shared();
        test_pool_for();
        test_pool_stress();
        return check_exit("test_kernels pool");
    }
    test_shapes();
    test_alpha_beta_ld();
    test_beta_zero_nan();
    test_degenerate();
    test_determinism();
    test_mt_identical();
    test_mt_degenerate();
    test_pool_shared();
    test_pool_for();
    test_pool_stress();
    test_packed_b();
    test_packed_b_tiles();
    test_row_selections();
    return check_exit("test_kernels");
}

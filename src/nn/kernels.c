/* kernels: single-precision GEMM, a naive reference, a cache-blocked fast
 * version, and a multi-threaded driver of the fast version (at the end).
 *
 * Blocking scheme of kn_sgemm (GotoBLAS / BLIS style, row-major C):
 *
 *   for jc over N in steps of NC            columns of C and op(B)
 *     for pc over K in steps of KC          the shared dimension
 *       pack op(B)[pc:+kc, jc:+nc] -> bp    (kc x NR panels, L2/L3 resident)
 *       for ic over M in steps of MC        rows of C and op(A)
 *         pack op(A)[ic:+mc, pc:+kc] -> ap  (kc x MR panels, L2 resident)
 *         for jr over nc in steps of NR     one B panel, stays in L1 ...
 *           for ir over mc in steps of MR   ... while A panels stream past it
 *             micro-kernel: an MR x NR tile of C += ap_panel * bp_panel
 *
 * Packing copies each block into the exact order the micro-kernel reads it
 * (for every k: MR values of op(A), then NR values of op(B)), so all four
 * transpose combinations share one micro-kernel and the transposes cost only
 * the packing. Panels at the edges are zero-padded to the full MR / NR, so the
 * micro-kernel always computes a full tile; only the store is clipped. In
 * skinny products (small-batch training) a non-transposed operand is read
 * in place instead of packed ("Reading an operand in place" below), and on
 * AVX-512 CPUs the transposing packs move 16 x 16 blocks with shuffles.
 * Before each micro-kernel call the cache lines of its C tile are
 * prefetched (prefetch_tile).
 *
 * An op(B) that many products share can be packed once (kn_pack_b) and
 * multiplied from there (kn_sgemm_packed_b, kn_sgemm_pool_packed_b), or even
 * kept packed for good and updated in place by a product whose C is the
 * packed matrix (kn_sgemm_pool_add_packed): mlp keeps its first layer's
 * weights so while plain SGD trains. In the packed layout a micro-tile of
 * C is MR consecutive NR-float rows, one contiguous 1 KiB block.
 *
 * The micro-kernel: an MR x NR array of accumulators updated with
 * acc[i][j] += a[i] * b[j] over j, in plain C that the compiler vectorizes
 * along j (compiled with target_clones for AVX2 + FMA and baseline x86-64),
 * and the same arithmetic with AVX-512 intrinsics for x86-64-v4 CPUs,
 * picked at run time (micro_v4). The driver (packing, stores) is compiled
 * with target_clones (AVX-512, AVX2 + FMA, baseline), its version picked
 * once, at load time, through an ifunc resolver.
 *
 * Determinism: the summation order depends only on (M, N, K) and the block
 * constants, never on the data, alignment or leading dimensions, so repeated
 * calls give bit-identical results. The micro-kernel alone is compiled with
 * fp-contract=fast, so its x86-64-v4 (AVX-512) and x86-64-v3 (AVX2) clones
 * fuse a * b + c into FMA instructions (about 1.3-1.4x faster here); the
 * baseline clone has no FMA. Results are therefore bit-identical run to run
 * on one machine, but may differ in the last bits between a CPU with FMA and
 * one without.
 *
 * The packing buffers are fixed-size arrays on the stack (sized by the block
 * constants, about 400 KiB), so there is no allocation per call and the
 * function is reentrant (safe to call from several threads at once). */
#include "runner/kernels.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* KN_PORTABLE_ONLY leaves out the AVX-512 code (a test build, see
 * CMakeLists.txt), so that the portable kernels run on an AVX-512 CPU too. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(KN_PORTABLE_ONLY)
#include <immintrin.h>
#define KN_HAVE_AVX512 1
#endif

/* Micro-tile: MR rows x NR columns of C held in registers. With AVX-512 the
 * 8 x 32 tile is 16 zmm accumulators (of 32 registers). */
#define KN_MR 8
#define KN_NR 32
/* Cache blocks: a packed op(A) block is MC x KC (128 KiB), a packed op(B)
 * block is KC x NC (256 KiB). One B panel (KC x NR = 32 KiB) is reused
 * across all MR-row panels of the A block. MC is a multiple of MR, NC of NR. */
#define KN_KC KN_SGEMM_KC /* 256, see kernels.h */
#define KN_MC 128
#define KN_NC 256

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

void kn_sgemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                  const float *A, size_t lda, const float *B, size_t ldb, float beta,
                  float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            if (alpha != 0.0f) {
                for (size_t p = 0; p < K; p++) {
                    double a = trans_a ? A[p * lda + i] : A[i * lda + p];
                    double b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                    s += a * b;
                }
            }
            double c = (double)alpha * s;
            if (beta != 0.0f)
                c += (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)c;
        }
    }
}

/* C (m x n) = beta * C, without reading C when beta == 0. */
static void scale_c(size_t m, size_t n, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) {
            for (size_t j = 0; j < n; j++)
                c[j] = 0.0f;
        } else if (beta != 1.0f) {
            for (size_t j = 0; j < n; j++)
                c[j] *= beta;
        }
    }
}

/* Completes a product that needs no multiply and returns true: nothing to
 * do for M or N = 0, C = beta * C for K = 0 or alpha = 0 (BLAS semantics:
 * A and B unread). */
static bool trivial_product(size_t M, size_t N, size_t K, float alpha, float beta, float *C,
                            size_t ldc)
{
    if (M == 0 || N == 0)
        return true;
    if (K == 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return true;
    }
    return false;
}

/* The operand without its first lo stored rows, or its first lo columns. */
static struct kn_mat mat_skip_rows(struct kn_mat m, size_t lo)
{
    if (m.rows)
        m.rows += lo;
    else
        m.base += lo * m.ld;
    return m;
}

static struct kn_mat mat_skip_cols(struct kn_mat m, size_t lo)
{
    m.base += lo;
    return m;
}

/* dst[k * ldd + r] = src[r][k] for r < 8, k < kc: eight rows that are
 * contiguous in k become eight adjacent columns of a k-major panel. With k
 * outermost and the 8 rows unrolled the compiler builds one 8-wide vector
 * per k (about 4x faster than row-by-row scalar copies). */
static inline __attribute__((always_inline)) void transpose8(const float *const src[8],
                                                             size_t kc, float *restrict dst,
                                                             size_t ldd)
{
    for (size_t k = 0; k < kc; k++) {
#pragma GCC unroll 8
        for (size_t r = 0; r < 8; r++)
            dst[k * ldd + r] = src[r][k];
    }
}

#if defined(KN_HAVE_AVX512)
/* Transposes the 16 x 16 block r[i][j] in place (r[j][i] afterwards), in
 * four rounds of shuffles: 32-bit and 64-bit interleaves within each
 * 128-bit lane, then two rounds of 128-bit lane moves. */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int m = 0; m < 16; m += 2) {
        /* t[m] lane L: r[m][4L], r[m+1][4L], r[m][4L+1], r[m+1][4L+1]. */
        t[m] = _mm512_unpacklo_ps(r[m], r[m + 1]);
        t[m + 1] = _mm512_unpackhi_ps(r[m], r[m + 1]);
    }
    for (int g = 0; g < 16; g += 4) {
        /* u[g+c] lane L: column 4L+c of rows g..g+3. */
        __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; c++) {
        /* Row 4L+c of the result: lane L of u[c], u[4+c], u[8+c], u[12+c]. */
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);      /* lanes 0, 1 of each */
        __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);      /* lanes 2, 3 */
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}

/* dst[k * ldd + c] = src[c][k] for c < 16 and k < kc rounded down to 16;
 * returns the number of k done. 16 x 16 blocks through transpose16. */
__attribute__((target("avx512f"))) static size_t transpose16_avx512(const float *const src[16],
                                                                     size_t kc, float *dst,
                                                                     size_t ldd)
{
    size_t k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 r[16];
        for (int c = 0; c < 16; c++)
            r[c] = _mm512_loadu_ps(src[c] + k);
        transpose16(r);
        for (int i = 0; i < 16; i++)
            _mm512_storeu_ps(dst + (k + (size_t)i) * ldd, r[i]);
    }
    return k;
}
#endif

/* dst[k * ldd + c] = src[c][k] for c < 16, k < kc: 16 rows that are
 * contiguous in k become 16 adjacent columns of a k-major panel. The plain
 * loops compile to scalar moves, about 10x slower than the AVX-512 shuffles
 * (which move the same values, so the result does not depend on the path). */
static inline __attribute__((always_inline)) void transpose16_rows(const float *const src[16],
                                                                   size_t kc,
                                                                   float *restrict dst,
                                                                   size_t ldd)
{
    size_t k0 = 0;
#if defined(KN_HAVE_AVX512)
    if (__builtin_cpu_supports("avx512f"))
        k0 = transpose16_avx512(src, kc, dst, ldd);
#endif
    for (size_t c = 0; c < 16; c += 8) {
        const float *rest[8];
        for (size_t r = 0; r < 8; r++)
            rest[r] = src[c + r] + k0;
        transpose8(rest, kc - k0, dst + k0 * ldd + c, ldd);
    }
}

/* Pack op(A)[i0:+mc, p0:+kc] as ceil(mc/MR) panels of kc x MR: panel q holds,
 * for each k, the MR values op(A)[i0 + q + r][p0 + k] (zero for rows past mc). */
static inline __attribute__((always_inline)) void pack_a(bool trans, const struct kn_mat *A,
                                                         size_t i0, size_t p0, size_t mc,
                                                         size_t kc, float *restrict ap)
{
    if (trans) {
        /* op(A)[i][k] = A[k][i]: row p0 + k of A holds the mc values of k
         * for all panels, so it is read once, front to back, and dealt out
         * MR floats per panel (panel by panel, each k's reads would jump a
         * row of A per MR floats). A full panel's MR floats are one vector
         * copy; with the padding test GCC makes them MR scalar moves. */
        size_t full = mc / KN_MR * KN_MR;
        for (size_t k = 0; k < kc; k++) {
            const float *src = kn_mat_row(A, p0 + k) + i0;
            for (size_t q = 0; q < full; q += KN_MR)
                for (size_t r = 0; r < KN_MR; r++)
                    ap[q * kc + k * KN_MR + r] = src[q + r];
            if (full < mc)
                for (size_t r = 0; r < KN_MR; r++)
                    ap[full * kc + k * KN_MR + r] = full + r < mc ? src[full + r] : 0.0f;
        }
        return;
    }
    for (size_t q = 0; q < mc; q += KN_MR) {
        size_t rows = min_size(KN_MR, mc - q);
        float *dst = ap + q * kc;
        if (rows == KN_MR) {
            /* op(A)[i][k] = A[i][k]: rows are contiguous in k; transpose. */
            const float *src[KN_MR];
            for (size_t r = 0; r < KN_MR; r++)
                src[r] = kn_mat_row(A, i0 + q + r) + p0;
            transpose8(src, kc, dst, KN_MR);
        } else {
            /* Edge panel: zero padding, plain loops. */
            for (size_t r = 0; r < KN_MR; r++) {
                const float *src = r < rows ? kn_mat_row(A, i0 + q + r) + p0 : NULL;
                for (size_t k = 0; k < kc; k++)
                    dst[k * KN_MR + r] = src ? src[k] : 0.0f;
            }
        }
    }
}

/* Pack op(B)[p0:+kc, j0:+nc] as ceil(nc/NR) panels of kc x NR: panel q holds,
 * for each k, the NR values op(B)[p0 + k][j0 + q + c] (zero for columns past nc). */
static inline __attribute__((always_inline)) void pack_b(bool trans, const struct kn_mat *B,
                                                         size_t p0, size_t j0, size_t kc,
                                                         size_t nc, float *restrict bp)
{
    for (size_t q = 0; q < nc; q += KN_NR) {
        size_t cols = min_size(KN_NR, nc - q);
        float *dst = bp + q * kc;
        if (!trans) {
            /* op(B)[k][j] = B[k][j]: up to NR contiguous floats per k. */
            for (size_t k = 0; k < kc; k++) {
                const float *src = kn_mat_row(B, p0 + k) + j0 + q;
                if (cols == KN_NR) {
                    for (size_t c = 0; c < KN_NR; c++)
                        dst[k * KN_NR + c] = src[c];
                } else {
                    for (size_t c = 0; c < KN_NR; c++)
                        dst[k * KN_NR + c] = c < cols ? src[c] : 0.0f;
                }
            }
        } else if (cols == KN_NR) {
            /* op(B)[k][j] = B[j][k]: rows of B are contiguous in k; transpose
             * in groups of 16 columns. */
            for (size_t c = 0; c < KN_NR; c += 16) {
                const float *src[16];
                for (size_t r = 0; r < 16; r++)
                    src[r] = kn_mat_row(B, j0 + q + c + r) + p0;
                transpose16_rows(src, kc, dst + c, KN_NR);
            }
        } else {
            /* Edge panel: zeros first (contiguous, vector stores), then the
             * cols real columns. One scalar store per element of the panel,
             * each a row of NR floats away from the last, cost the output
             * layer's products (10 columns of 32) more than their FMAs. */
            memset(dst, 0, kc * KN_NR * sizeof(float));
            for (size_t c = 0; c < cols; c++) {
                const float *src = kn_mat_row(B, j0 + q + c) + p0;
                for (size_t k = 0; k < kc; k++)
                    dst[k * KN_NR + c] = src[k];
            }
        }
    }
}

/* The micro-kernel: tile (MR x NR, row-major) = op(A) panel x op(B) panel,
 * tile[i][j] = sum_k a(i, k) * b(k, j), summed in increasing k, with
 * a(i, k) = a[i][k * a_cs] and b(k, j) = (brow ? brow[k] : b + k * NR)[j].
 * A packed A panel has a[i] = ap + i and a_cs = MR, a packed B panel is b;
 * operands read in place (see "Reading an operand in place" below) come as
 * row pointers. Every variant does the same multiply-adds in the same order,
 * so a tile is bitwise the same whether its operands were packed or not.
 *
 * Two bodies with the same arithmetic. micro_body_vec keeps the accumulators
 * in __m512 variables, one zmm register each, and multiplies-adds with
 * explicit FMA intrinsics: with a plain float array (micro_body) GCC kept a
 * second copy of the accumulators on the stack, zeroed it with rep stos and
 * copied it out on every call, about 100 cycles per tile, 5-6% of a K = 108
 * product. It serves AVX-512 CPUs (x86-64-v4); micro_body, with FMA through
 * fp-contract=fast, the AVX2 + FMA and baseline clones.
 *
 * Each kernel is its own (non-inlined) function so that it can be compiled
 * for its instruction set and exempted from sanitizer instrumentation,
 * which would otherwise keep the accumulators out of registers (50-70x
 * slower under ASan/UBSan). That is safe because it only writes the local
 * tile and reads either the packed buffers (kc * MR and kc * NR floats,
 * kc <= KC, inside the fixed-size arrays of sgemm_blocked) or row segments
 * of the caller's A or B whose first and last element the instrumented
 * caller has read (touch_rows), so the sanitizers check that each segment
 * lies in one object. Every write to the caller's C happens in the
 * instrumented store. */
static inline __attribute__((always_inline)) void micro_body(size_t kc,
                                                             const float *const a[KN_MR],
                                                             size_t a_cs,
                                                             const float *restrict b,
                                                             const float *const *brow,
                                                             float *restrict tile)
{
    float acc[KN_MR][KN_NR];
    for (size_t i = 0; i < KN_MR; i++)
        for (size_t j = 0; j < KN_NR; j++)
            acc[i][j] = 0.0f;
    for (size_t k = 0; k < kc; k++) {
        const float *bk = brow ? brow[k] : b + k * KN_NR;
        /* Unrolled over rows so that the NR-wide rows of acc stay in
         * registers as far as there are registers. */
#pragma GCC unroll 8
        for (size_t i = 0; i < KN_MR; i++) {
            const float ai = a[i][k * a_cs];
            for (size_t j = 0; j < KN_NR; j++)
                acc[i][j] += ai * bk[j];
        }
    }
#pragma GCC unroll 8
    for (size_t i = 0; i < KN_MR; i++)
        for (size_t j = 0; j < KN_NR; j++)
            tile[i * KN_NR + j] = acc[i][j];
}

#if defined(KN_HAVE_AVX512)
/* Forced inlining of micro_body_vec into its kernels makes GCC 12 crash
 * (internal compiler error in the sanopt pass) when building with
 * -fsanitize=address, so sanitizer builds leave it to the compiler; the
 * arithmetic is the same either way. */
#if defined(__SANITIZE_ADDRESS__)
#define KN_VEC_INLINE
#else
#define KN_VEC_INLINE always_inline
#endif

/* micro_body with AVX-512 intrinsics: 16 accumulators of 16 floats, each
 * updated with one explicit FMA per k, fma(a, b, acc), which is what the
 * contracted acc += a * b of micro_body computes. */
__attribute__((target("avx512f"), KN_VEC_INLINE)) static inline void micro_body_vec(size_t kc,
                                                                    const float *const a[KN_MR],
                                                                    size_t a_cs,
                                                                    const float *restrict b,
                                                                    const float *const *brow,
                                                                    float *restrict tile)
{
    __m512 acc[KN_MR][KN_NR / 16];
    for (size_t i = 0; i < KN_MR; i++)
        for (size_t v = 0; v < KN_NR / 16; v++)
            acc[i][v] = _mm512_setzero_ps();
    /* kc >= 1: every K block is non-empty. A do-while, because with
     * for (k = 0; k < kc; k++) GCC 12 kept the accumulators on the stack as
     * soon as one caller passed a kc it could not prove non-zero (the
     * packed update's K; 5-8% slower k-means products, seen in the
     * disassembly as 48 stack accesses in micro_kernel_v4). */
    size_t k = 0;
    do {
        const float *bk = brow ? brow[k] : b + k * KN_NR;
        __m512 bv[KN_NR / 16];
        for (size_t v = 0; v < KN_NR / 16; v++)
            bv[v] = _mm512_loadu_ps(bk + 16 * v);
#pragma GCC unroll 8
        for (size_t i = 0; i < KN_MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i][k * a_cs]);
            for (size_t v = 0; v < KN_NR / 16; v++)
                acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    } while (++k < kc);
    for (size_t i = 0; i < KN_MR; i++)
        for (size_t v = 0; v < KN_NR / 16; v++)
            _mm512_storeu_ps(tile + i * KN_NR + 16 * v, acc[i][v]);
}
#endif

/* The three kernels for one body and one set of attributes (suffix S):
 *   micro_kernelS:          both panels packed;
 *   micro_kernel_direct_aS: op(A) = A (not transposed) read in place, a[i]
 *                           pointing at op(A)[i0 + i][p0];
 *   micro_kernel_direct_bS: op(B) = B (not transposed) read in place,
 *                           brow[k] pointing at op(B)[p0 + k][j0]. */
#define KN_MICRO_KERNELS(S, ATTRS, BODY)                                                      \
    ATTRS static void micro_kernel##S(size_t kc, const float *restrict ap,                    \
                                      const float *restrict bp, float *restrict tile)         \
    {                                                                                         \
        const float *a[KN_MR] = {ap, ap + 1, ap + 2, ap + 3, ap + 4, ap + 5, ap + 6, ap + 7}; \
        BODY(kc, a, KN_MR, bp, NULL, tile);                                                   \
    }                                                                                         \
    ATTRS static void micro_kernel_direct_a##S(size_t kc, const float *const a[KN_MR],        \
                                               const float *restrict bp,                      \
                                               float *restrict tile)                          \
    {                                                                                         \
        BODY(kc, a, 1, bp, NULL, tile);                                                       \
    }                                                                                         \
    ATTRS static void micro_kernel_direct_b##S(size_t kc, const float *restrict ap,           \
                                               const float *const *brow,                      \
                                               float *restrict tile)                          \
    {                                                                                         \
        const float *a[KN_MR] = {ap, ap + 1, ap + 2, ap + 3, ap + 4, ap + 5, ap + 6, ap + 7}; \
        BODY(kc, a, KN_MR, NULL, brow, tile);                                                 \
    }

#define KN_MICRO_COMMON optimize("fp-contract=fast"), noinline, no_sanitize("address", "undefined")
KN_MICRO_KERNELS(_portable,
                 __attribute__((target_clones("arch=x86-64-v3", "default"), KN_MICRO_COMMON)),
                 micro_body)
#if defined(KN_HAVE_AVX512)
KN_MICRO_KERNELS(_v4,
                 __attribute__((target("arch=x86-64-v4"), noinline,
                                no_sanitize("address", "undefined"))),
                 micro_body_vec)
#endif

/* Whether the CPU runs the x86-64-v4 kernels (checked per call: a load and a
 * test against a tile of hundreds of cycles). */
static inline bool micro_v4(void)
{
#if defined(KN_HAVE_AVX512)
    return __builtin_cpu_supports("x86-64-v4");
#else
    return false;
#endif
}

static inline __attribute__((always_inline)) void micro_kernel(size_t kc,
                                                               const float *restrict ap,
                                                               const float *restrict bp,
                                                               float *restrict tile)
{
    assert(kc >= 1);
#if defined(KN_HAVE_AVX512)
    if (micro_v4()) {
        micro_kernel_v4(kc, ap, bp, tile);
        return;
    }
#endif
    micro_kernel_portable(kc, ap, bp, tile);
}

static inline __attribute__((always_inline)) void micro_kernel_direct_a(
    size_t kc, const float *const a[KN_MR], const float *restrict bp, float *restrict tile)
{
    assert(kc >= 1);
#if defined(KN_HAVE_AVX512)
    if (micro_v4()) {
        micro_kernel_direct_a_v4(kc, a, bp, tile);
        return;
    }
#endif
    micro_kernel_direct_a_portable(kc, a, bp, tile);
}

static inline __attribute__((always_inline)) void micro_kernel_direct_b(
    size_t kc, const float *restrict ap, const float *const *brow, float *restrict tile)
{
    assert(kc >= 1);
#if defined(KN_HAVE_AVX512)
    if (micro_v4()) {
        micro_kernel_direct_b_v4(kc, ap, brow, tile);
        return;
    }
#endif
    micro_kernel_direct_b_portable(kc, ap, brow, tile);
}

/* C[0:m, 0:n] = alpha * tile + beta * C, not reading C when beta == 0;
 * m <= MR and n <= NR clip the tile at the edges of C. */
static inline __attribute__((always_inline)) void store_tile(const float *restrict tile,
                                                             float alpha, float beta,
                                                             float *restrict C, size_t ldc,
                                                             size_t m, size_t n)
{
    if (m == KN_MR && n == KN_NR) {
        /* Full tile: constant trip counts, vectorized. */
        for (size_t i = 0; i < KN_MR; i++) {
            float *c = C + i * ldc;
            const float *t = tile + i * KN_NR;
            if (beta == 0.0f) {
                for (size_t j = 0; j < KN_NR; j++)
                    c[j] = alpha * t[j];
            } else {
                for (size_t j = 0; j < KN_NR; j++)
                    c[j] = alpha * t[j] + beta * c[j];
            }
        }
        return;
    }
    for (size_t i = 0; i < m; i++) {
        float *c = C + i * ldc;
        const float *t = tile + i * KN_NR;
        if (beta == 0.0f) {
            for (size_t j = 0; j < n; j++)
                c[j] = alpha * t[j];
        } else {
            for (size_t j = 0; j < n; j++)
                c[j] = alpha * t[j] + beta * c[j];
        }
    }
}

/* Asks for the cache lines of the C tile C[0:m, 0:n] (n <= NR) before the
 * micro-kernel runs, so that store_tile does not wait for them: in a fused
 * weight update C is the whole weight matrix (12 MiB for 3072 -> 1024),
 * read and written once per batch from L3 or memory. Not with beta = 0,
 * where C is only written. A tile row spans at most three cache lines. A
 * prefetch is a hint: it never faults and changes no value. */
static inline __attribute__((always_inline)) void prefetch_tile(float beta, const float *C,
                                                                size_t ldc, size_t m, size_t n)
{
    if (beta == 0.0f)
        return;
    for (size_t i = 0; i < m; i++) {
        const float *c = C + i * ldc;
        __builtin_prefetch(c, 1, 3);
        __builtin_prefetch(c + n / 2, 1, 3);
        __builtin_prefetch(c + n - 1, 1, 3);
    }
}

/* The two inner loops: C[0:mc, 0:nc] (= alpha * ap^T bp + beta * C) from a
 * packed op(A) block ap (mc x kc) and packed op(B) panels bp (kc x nc), tile
 * by tile: each B panel stays in L1 while the A panels stream past it.
 * With prefetch_b, the tiles of one panel between them ask for the next
 * panel (for panels packed long before, such as mlp's layer-0 weights,
 * which come from L3 or memory; panels packed just now are in L2). */
static inline __attribute__((always_inline)) void multiply_packed(
    size_t mc, size_t nc, size_t kc, const float *ap, const float *bp, float alpha, float beta,
    float *C, size_t ldc, float *restrict tile, bool prefetch_b)
{
    /* Floats of the next panel each tile prefetches: a 16-float line at a time. */
    size_t tiles = (mc + KN_MR - 1) / KN_MR, per_tile = (kc * KN_NR / tiles + 15) / 16 * 16;
    for (size_t jr = 0; jr < nc; jr += KN_NR) {
        size_t n = min_size(KN_NR, nc - jr);
        for (size_t ir = 0; ir < mc; ir += KN_MR) {
            size_t m = min_size(KN_MR, mc - ir);
            if (prefetch_b && jr + KN_NR < nc) {
                const float *next = bp + (jr + KN_NR) * kc;
                size_t lo = ir / KN_MR * per_tile, hi = min_size(lo + per_tile, kc * KN_NR);
                for (size_t f = lo; f < hi; f += 16)
                    __builtin_prefetch(next + f, 0, 2);
            }
            prefetch_tile(beta, C + ir * ldc + jr, ldc, m, n);
            micro_kernel(kc, ap + ir * kc, bp + jr * kc, tile);
            store_tile(tile, alpha, beta, C + ir * ldc + jr, ldc, m, n);
        }
    }
}

/* ---- Reading an operand in place ------------------------------------------
 *
 * Packing pays because every packed value is used by many micro-tiles. In the
 * skinny products of small-batch training it is not: in x W^T at batch 64
 * with 64 hidden units every value of x is used by 2 tiles, in the weight
 * update delta^T x every value of x by 8, and packing an operand cost about
 * as much as the multiply-adds that use it. So an operand that is not
 * transposed (a row-major matrix whose micro-kernel reads are contiguous
 * runs anyway) is read where it is when few tiles use each value:
 *   - op(A) = A when a block of C has at most KN_DIRECT_A_MAX_NC columns;
 *   - op(B) = B when C has at most KN_DIRECT_B_MAX_M rows (one row block).
 * Only full MR x kc (kc x NR) panels are read in place; a last partial panel
 * is still packed, with its zero padding. The tiles, the K blocks and the
 * summation order are those of the packed path, so the result is bitwise
 * the same (unit/test_kernels compares with kn_sgemm_packed_b, which always
 * packs op(A)). With a row selection (kn_mat.rows) this is what lets a
 * training step read its batch straight from the training set. */
#define KN_DIRECT_A_MAX_NC (2 * KN_NR)
#define KN_DIRECT_B_MAX_M (8 * KN_MR)

/* Reads the first and last float of each of n row segments of length len,
 * in instrumented code, so that the sanitizers check what an uninstrumented
 * micro-kernel reads. */
static inline __attribute__((always_inline)) void touch_rows(const float *const *row, size_t n,
                                                             size_t len)
{
#if defined(__SANITIZE_ADDRESS__)
    volatile float sink = 0.0f;
    for (size_t i = 0; i < n; i++) {
        sink = row[i][0];
        sink = row[i][len - 1];
    }
    (void)sink;
#else
    /* Only AddressSanitizer checks these reads. Elsewhere they only cost:
     * each row's last float is a cache miss when the rows come from a large
     * matrix (training batches), and the volatile reads waited on it, about
     * a quarter of the blocked driver's own time in the 512-64-10 step. */
    (void)row;
    (void)n;
    (void)len;
#endif
}

/* multiply_packed with op(A) = A read in place: rows i0 .. i0 + mc of A from
 * column p0. */
static inline __attribute__((always_inline)) void multiply_direct_a(
    size_t mc, size_t nc, size_t kc, const struct kn_mat *A, size_t i0, size_t p0,
    const float *bp, float alpha, float beta, float *C, size_t ldc, float *restrict ap,
    float *restrict tile)
{
    size_t full = mc / KN_MR * KN_MR;
    if (full < mc)
        pack_a(false, A, i0 + full, p0, mc - full, kc, ap);
    for (size_t ir = 0; ir < full; ir += KN_MR) {
        const float *a[KN_MR];
        for (size_t i = 0; i < KN_MR; i++)
            a[i] = kn_mat_row(A, i0 + ir + i) + p0;
        touch_rows(a, KN_MR, kc);
        for (size_t jr = 0; jr < nc; jr += KN_NR) {
            size_t n = min_size(KN_NR, nc - jr);
            prefetch_tile(beta, C + ir * ldc + jr, ldc, KN_MR, n);
            micro_kernel_direct_a(kc, a, bp + jr * kc, tile);
            store_tile(tile, alpha, beta, C + ir * ldc + jr, ldc, KN_MR, n);
        }
    }
    if (full < mc)
        for (size_t jr = 0; jr < nc; jr += KN_NR) {
            micro_kernel(kc, ap, bp + jr * kc, tile);
            store_tile(tile, alpha, beta, C + full * ldc + jr, ldc, mc - full,
                       min_size(KN_NR, nc - jr));
        }
}

/* multiply_packed with op(B) = B read in place: rows p0 .. p0 + kc of B from
 * column j0, through the row pointers brow (kc of them, scratch); a last
 * partial column panel is packed into bp. */
static inline __attribute__((always_inline)) void multiply_direct_b(
    size_t mc, size_t nc, size_t kc, const float *ap, const struct kn_mat *B, size_t p0,
    size_t j0, float alpha, float beta, float *C, size_t ldc, const float **brow,
    float *restrict bp, float *restrict tile)
{
    size_t full = nc / KN_NR * KN_NR;
    if (full < nc)
        pack_b(false, B, p0, j0 + full, kc, nc - full, bp);
    for (size_t k = 0; k < kc; k++)
        brow[k] = kn_mat_row(B, p0 + k) + j0;
    if (full > 0)
        touch_rows(brow, kc, full);
    for (size_t jr = 0; jr < full; jr += KN_NR) {
        for (size_t ir = 0; ir < mc; ir += KN_MR) {
            prefetch_tile(beta, C + ir * ldc + jr, ldc, min_size(KN_MR, mc - ir), KN_NR);
            micro_kernel_direct_b(kc, ap + ir * kc, brow, tile);
            store_tile(tile, alpha, beta, C + ir * ldc + jr, ldc, min_size(KN_MR, mc - ir),
                       KN_NR);
        }
        for (size_t k = 0; k < kc; k++)
            brow[k] += KN_NR;
    }
    if (full < nc)
        multiply_packed(mc, nc - full, kc, ap, bp, alpha, beta, C + full, ldc, tile, false);
}

/* The blocked driver (see the top of the file); M, N, K >= 1, alpha != 0. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sgemm_blocked(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                          float alpha, struct kn_mat A, struct kn_mat B, float beta, float *C,
                          size_t ldc)
{
    _Alignas(64) float ap[KN_MC * KN_KC];
    _Alignas(64) float bp[KN_KC * KN_NC];
    _Alignas(64) float tile[KN_MR * KN_NR];
    const float *brow[KN_KC];
    const bool direct_b = !trans_b && M <= KN_DIRECT_B_MAX_M;

    for (size_t jc = 0; jc < N; jc += KN_NC) {
        size_t nc = min_size(KN_NC, N - jc);
        const bool direct_a = !direct_b && !trans_a && nc <= KN_DIRECT_A_MAX_NC;
        for (size_t pc = 0; pc < K; pc += KN_KC) {
            size_t kc = min_size(KN_KC, K - pc);
            /* The first K block applies the caller's beta, later ones add. */
            float beta_k = pc == 0 ? beta : 1.0f;
            if (direct_b) {
                /* M <= MC: one row block. */
                pack_a(trans_a, &A, 0, pc, M, kc, ap);
                multiply_direct_b(M, nc, kc, ap, &B, pc, jc, alpha, beta_k, C + jc, ldc, brow,
                                  bp, tile);
                continue;
            }
            pack_b(trans_b, &B, pc, jc, kc, nc, bp);
            for (size_t ic = 0; ic < M; ic += KN_MC) {
                size_t mc = min_size(KN_MC, M - ic);
                float *c = C + ic * ldc + jc;
                if (direct_a) {
                    multiply_direct_a(mc, nc, kc, &A, ic, pc, bp, alpha, beta_k, c, ldc, ap,
                                      tile);
                } else {
                    pack_a(trans_a, &A, ic, pc, mc, kc, ap);
                    multiply_packed(mc, nc, kc, ap, bp, alpha, beta_k, c, ldc, tile, false);
                }
            }
        }
    }
}

/* ---- op(B) packed once, for many products --------------------------------
 *
 * kn_pack_b packs all of op(B) (K x N) the way sgemm_blocked packs one block:
 * for every K block (pc = 0, KC, ...), ceil(N / NR) panels of kc x NR, the
 * K blocks one after another (panel (pc, q) at pc * Np + q * kc, Np = N
 * rounded up to NR). sgemm_packed_b then runs the loops of sgemm_blocked
 * with NC = N: for every K block and every MC rows, op(A) is packed once and
 * every B panel of the block is multiplied with it. The micro-kernel sees the
 * same panels with the same kc and the tiles start at the same rows and
 * columns, so every element is summed in the same order as by kn_sgemm and
 * the result is bit-identical (unit/test_kernels checks it); only the
 * packing of op(B) for every product and every NC columns is saved, and
 * op(A) is packed once per MC rows instead of once per NC columns. */

/* N rounded up to whole NR-wide panels: the row length of a packed op(B). */
static size_t padded_n(size_t N)
{
    return (N + KN_NR - 1) / KN_NR * KN_NR;
}

size_t kn_packed_b_floats(size_t K, size_t N)
{
    return K * padded_n(N);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void kn_pack_b(bool trans_b, size_t K, size_t N, const float *B, size_t ldb, float *bp)
{
    const struct kn_mat Bm = kn_mat_dense(B, ldb);
    size_t np = padded_n(N);
    for (size_t pc = 0; pc < K; pc += KN_KC) {
        size_t kc = min_size(KN_KC, K - pc);
        pack_b(trans_b, &Bm, pc, 0, kc, N, bp + pc * np);
    }
}

/* C (M x N) = alpha op(A) P + beta C, where P is columns n0 .. n0 + N of
 * the K x n_total matrix that bp holds packed (n0 a multiple of NR). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sgemm_packed_b(bool trans_a, size_t M, size_t N, size_t K, float alpha,
                           struct kn_mat A, const float *bp, size_t n0, size_t n_total,
                           float beta, float *C, size_t ldc)
{
    _Alignas(64) float ap[KN_MC * KN_KC];
    _Alignas(64) float tile[KN_MR * KN_NR];
    size_t np = padded_n(n_total);
    /* op(A) in place for narrow C, as in sgemm_blocked. */
    const bool direct_a = !trans_a && N <= KN_DIRECT_A_MAX_NC;

    for (size_t pc = 0; pc < K; pc += KN_KC) {
        size_t kc = min_size(KN_KC, K - pc);
        float beta_k = pc == 0 ? beta : 1.0f;
        const float *bk = bp + pc * np + n0 * kc;
        for (size_t ic = 0; ic < M; ic += KN_MC) {
            size_t mc = min_size(KN_MC, M - ic);
            if (direct_a) {
                multiply_direct_a(mc, N, kc, &A, ic, pc, bk, alpha, beta_k, C + ic * ldc, ldc,
                                  ap, tile);
            } else {
                pack_a(trans_a, &A, ic, pc, mc, kc, ap);
                multiply_packed(mc, N, kc, ap, bk, alpha, beta_k, C + ic * ldc, ldc, tile,
                                true);
            }
        }
    }
}

void kn_sgemm_packed_b(bool trans_a, size_t M, size_t N, size_t K, float alpha,
                       const float *A, size_t lda, const float *bp, float beta, float *C,
                       size_t ldc)
{
    if (trivial_product(M, N, K, alpha, beta, C, ldc))
        return;
    sgemm_packed_b(trans_a, M, N, K, alpha, kn_mat_dense(A, lda), bp, 0, N, beta, C, ldc);
}

_Static_assert(KN_TILE_ROWS == KN_MR && KN_TILE_LD == KN_NR, "kn_tile_fn tiles are MR x NR");

/* kn_sgemm_packed_b's loops (K in one block) with fn in place of
 * store_tile. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sgemm_packed_b_tiles(size_t M, size_t N, size_t K, struct kn_mat A,
                                 const float *bp, kn_tile_fn fn, void *ctx)
{
    _Alignas(64) float ap[KN_MC * KN_KC];
    _Alignas(64) float tile[KN_MR * KN_NR];
    for (size_t ic = 0; ic < M; ic += KN_MC) {
        size_t mc = min_size(KN_MC, M - ic);
        pack_a(false, &A, ic, 0, mc, K, ap);
        for (size_t jr = 0; jr < N; jr += KN_NR) {
            size_t n = min_size(KN_NR, N - jr);
            for (size_t ir = 0; ir < mc; ir += KN_MR) {
                micro_kernel(K, ap + ir * K, bp + jr * K, tile);
                fn(ctx, tile, ic + ir, jr, min_size(KN_MR, mc - ir), n);
            }
        }
    }
}

void kn_sgemm_packed_b_tiles(size_t M, size_t N, size_t K, const float *A, size_t lda,
                             const float *bp, kn_tile_fn fn, void *ctx)
{
    assert(K <= KN_KC);
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        /* Every element is an empty sum. */
        _Alignas(64) float tile[KN_MR * KN_NR] = {0.0f};
        for (size_t j = 0; j < N; j += KN_NR)
            for (size_t i = 0; i < M; i += KN_MR)
                fn(ctx, tile, i, j, min_size(KN_MR, M - i), min_size(KN_NR, N - j));
        return;
    }
    sgemm_packed_b_tiles(M, N, K, kn_mat_dense(A, lda), bp, fn, ctx);
}

void kn_unpack_b(bool trans_b, size_t K, size_t N, const float *bp, float *B, size_t ldb)
{
    size_t np = padded_n(N);
    for (size_t pc = 0; pc < K; pc += KN_KC) {
        size_t kc = min_size(KN_KC, K - pc);
        for (size_t q = 0; q < N; q += KN_NR) {
            size_t cols = min_size(KN_NR, N - q);
            const float *panel = bp + pc * np + q * kc;
            for (size_t k = 0; k < kc; k++)
                for (size_t c = 0; c < cols; c++) {
                    /* op(B)[pc + k][q + c] */
                    float v = panel[k * KN_NR + c];
                    if (trans_b)
                        B[(q + c) * ldb + pc + k] = v;
                    else
                        B[(pc + k) * ldb + q + c] = v;
                }
        }
    }
}

/* Rows r0 .. r0 + mr of P += alpha A^T B, P (M x N) packed in bp as kn_pack_b
 * packs a K' = M by N matrix, A (K x M), B (K x N) packed in bk as
 * kn_pack_b(false, K, N, ...) packs it, K <= KC; r0 and mr multiples of MC
 * (mr may end at M), so no tile crosses a K' block of P. A tile of P is MR
 * consecutive rows of one panel: NR-float rows, one contiguous 1 KiB block.
 * op(A) = A^T is packed once per MC rows. Every element is summed as
 * sgemm_blocked sums it (one K block, then alpha * sum + 1 * P). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void add_packed_rows(size_t M, size_t N, size_t K, float alpha, struct kn_mat A,
                            const float *bk, float *bp, size_t r0, size_t mr)
{
    _Alignas(64) float ap[KN_MC * KN_KC];
    _Alignas(64) float tile[KN_MR * KN_NR];
    size_t np = padded_n(N);

    for (size_t ic = r0; ic < r0 + mr; ic += KN_MC) {
        size_t mc = min_size(KN_MC, r0 + mr - ic);
        pack_a(true, &A, ic, 0, mc, K, ap);
        for (size_t jr = 0; jr < N; jr += KN_NR) {
            size_t n = min_size(KN_NR, N - jr);
            for (size_t ir = 0; ir < mc; ir += KN_MR) {
                size_t m = min_size(KN_MR, mc - ir);
                size_t row = ic + ir, pc = row / KN_KC * KN_KC;
                size_t kc = min_size(KN_KC, M - pc);
                float *c = bp + pc * np + jr * kc + (row - pc) * KN_NR;
                prefetch_tile(1.0f, c, KN_NR, m, n);
                micro_kernel(K, ap + ir * K, bk + jr * K, tile);
                store_tile(tile, alpha, 1.0f, c, KN_NR, m, n);
            }
        }
    }
}

void kn_sgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta,
              float *C, size_t ldc)
{
    if (trivial_product(M, N, K, alpha, beta, C, ldc))
        return;
    sgemm_blocked(trans_a, trans_b, M, N, K, alpha, kn_mat_dense(A, lda),
                  kn_mat_dense(B, ldb), beta, C, ldc);
}

/* ---- multi-threaded sgemm ------------------------------------------------
 *
 * C is cut into chunks along one dimension: column ranges that start at
 * multiples of NR, or row ranges that start at multiples of MR. Each chunk is
 * an ordinary sgemm_blocked call on the sub-matrices (A, B and C offset to
 * the chunk). The threads (the caller's and the helpers) take chunks from a
 * shared counter until none is left, so every element of C has exactly one
 * writer; with more chunks than threads, a thread that the OS delays on a
 * busy machine simply takes fewer chunks.
 *
 * Why the result is bit-identical to kn_sgemm whoever computes a chunk and
 * however many threads there are: the K blocking (pc = 0, KC, 2 KC, ...) does
 * not depend on M or N, so every element gets the same partial sums in the
 * same order. Within a chunk, the tiles start at the chunk's origin; because
 * that origin is a multiple of NR (or MR), every tile covers exactly the same
 * elements of C as in the single-threaded call, with the same clipping at
 * the edges of C, so even the code path of the store (full or clipped tile)
 * is the same. Each lane of the micro-kernel computes its own element
 * independently of the other lanes.
 *
 * Which dimension: every column chunk packs all of op(A) (M x K) for its
 * columns, every row chunk all of op(B) (K x N); splitting the larger of M
 * and N duplicates the smaller operand. Chunks are at most NC columns (MC
 * rows): sgemm_blocked repacks op(A) for every NC columns anyway, so chunks
 * of NC columns add no packing over the single-threaded call.
 *
 * Two ways to get the helper threads. kn_sgemm_pool wakes the sleeping
 * workers of a kn_pool; kn_sgemm_mt starts threads for the call and joins
 * them before returning (no state between calls), which costs much more
 * here: besides pthread_create + join (about 20-50 us), a new thread's stack
 * is fresh memory (glibc returns the pages of an exited thread's stack to
 * the OS), so the ~400 KiB of packing buffers of sgemm_blocked cost about 100
 * page faults, about 200-250 us on this VM. A pool worker keeps its stack.
 * Hence two work thresholds, set from measurements on this 2-vCPU machine,
 * idle: threads per call break even at about 50 MFLOP (2 threads vs 1,
 * median: 50 MFLOP 0.97-1.01x, 67 MFLOP 1.04-1.38x, 100 MFLOP 1.23-1.33x).
 * The pool, when its workers slept on a condition variable between jobs,
 * broke even at about 10 MFLOP; now that they spin briefly first (see the
 * pool below), 1 MFLOP per thread pays: the report's 512-64-10 at batch 64
 * (4.2 MFLOP products) trains in 0.099 s per epoch (median of 20, 0.091
 * best) against 0.124 s at 6 MFLOP and 0.131 s with the sleeping pool, in
 * one session on this machine. */

/* Minimum work per thread (2 M N K / threads); below it fewer threads are
 * used, down to the caller's alone. */
#define KN_POOL_MIN_FLOPS_PER_THREAD 1.0e6
#define KN_MT_MIN_FLOPS_PER_THREAD 32.0e6
/* No more threads than this, the caller's included. */
#define KN_MT_MAX_THREADS 64
/* Stack of a helper thread: sgemm_blocked keeps about 400 KiB of packing
 * buffers on the stack; leave a wide margin (sanitizer builds need more). */
#define KN_MT_STACK ((size_t)4 << 20)

struct sgemm_plan {
    bool trans_a, trans_b;
    size_t M, N, K;
    float alpha, beta;
    struct kn_mat A, B;
    const float *bp;    /* op(B) packed (kn_sgemm_pool_packed_b; then B unused), or NULL */
    float *C;
    size_t ldc;
    bool split_cols;    /* chunks are column ranges (else row ranges) */
    size_t chunk;       /* columns (a multiple of NR) or rows (of MR) per chunk */
    size_t n_chunks;    /* ceil(N or M / chunk) */
    size_t threads;     /* 1 <= threads <= n_chunks */
    atomic_size_t next; /* the next chunk to take */
};

/* Chooses the split, the chunk size and the number of threads for p->M,
 * p->N, p->K (all >= 1): at most `threads` threads, at most one per chunk,
 * and at least min_flops each. */
static void plan_split(struct sgemm_plan *p, size_t threads, double min_flops)
{
    size_t M = p->M, N = p->N;
    p->split_cols = N >= M;
    size_t unit = p->split_cols ? KN_NR : KN_MR;
    size_t max_units = p->split_cols ? KN_NC / KN_NR : KN_MC / KN_MR;
    /* A packed op(B) is multiplied with no NC blocking (sgemm_packed_b packs
     * op(A) once per MC rows for all its columns), so its column chunks need
     * no cap; each chunk packs all of op(A), so fewer are cheaper: one per
     * thread cut the 3072-1024-512-10 step on 2 threads from 10.4-10.6 to
     * 10.3 ms (medians of 150 steps, side by side). */
    size_t dim = p->split_cols ? N : M;
    size_t units = dim / unit + (dim % unit != 0);
    if (p->bp && p->split_cols)
        max_units = units;

    double by_work = 2.0 * (double)M * (double)N * (double)p->K / min_flops;
    size_t t = threads < KN_MT_MAX_THREADS ? threads : KN_MT_MAX_THREADS;
    if (t > units)
        t = units;
    if ((double)t > by_work)
        t = (size_t)by_work; /* 0 <= by_work < t <= 64 */
    if (t < 1)
        t = 1;
    /* One chunk per thread, but none wider than NC columns (MC rows), except
     * for a packed op(B) (above). */
    size_t per = units / t + (units % t != 0);
    if (per > max_units)
        per = max_units;
    p->chunk = per * unit;
    p->n_chunks = dim / p->chunk + (dim % p->chunk != 0);
    p->threads = t < p->n_chunks ? t : p->n_chunks;
}

/* The common start of kn_sgemm_mt and kn_sgemm_pool(_packed_b), on a plan p
 * whose operands the caller filled in: completes the call and returns false
 * if it needs no threads (nothing to multiply, or too little work);
 * otherwise splits p for at most `threads` threads of at least min_flops
 * each and returns true. */
static bool plan_call(struct sgemm_plan *p, size_t threads, double min_flops)
{
    if (trivial_product(p->M, p->N, p->K, p->alpha, p->beta, p->C, p->ldc))
        return false;
    atomic_init(&p->next, 0);
    plan_split(p, threads, min_flops);
    if (p->threads == 1) {
        if (p->bp)
            sgemm_packed_b(p->trans_a, p->M, p->N, p->K, p->alpha, p->A, p->bp, 0, p->N,
                           p->beta, p->C, p->ldc);
        else
            sgemm_blocked(p->trans_a, p->trans_b, p->M, p->N, p->K, p->alpha, p->A, p->B,
                          p->beta, p->C, p->ldc);
        return false;
    }
    return true;
}

static size_t planned_threads(size_t threads, double min_flops, size_t M, size_t N, size_t K)
{
    if (M == 0 || N == 0 || K == 0)
        return 1;
    struct sgemm_plan p = {.M = M, .N = N, .K = K};
    plan_split(&p, threads, min_flops);
    return p.threads;
}

size_t kn_sgemm_mt_threads(size_t threads, size_t M, size_t N, size_t K)
{
    return planned_threads(threads, KN_MT_MIN_FLOPS_PER_THREAD, M, N, K);
}

/* Computes chunk c of C. */
static void run_chunk(const struct sgemm_plan *p, size_t c)
{
    size_t dim = p->split_cols ? p->N : p->M;
    size_t lo = c * p->chunk, n = min_size(p->chunk, dim - lo);
    if (p->bp && p->split_cols) {
        sgemm_packed_b(p->trans_a, p->M, n, p->K, p->alpha, p->A, p->bp, lo, p->N, p->beta,
                       p->C + lo, p->ldc);
    } else if (p->bp) {
        struct kn_mat A = p->trans_a ? mat_skip_cols(p->A, lo) : mat_skip_rows(p->A, lo);
        sgemm_packed_b(p->trans_a, n, p->N, p->K, p->alpha, A, p->bp, 0, p->N, p->beta,
                       p->C + lo * p->ldc, p->ldc);
    } else if (p->split_cols) {
        /* Columns lo..lo+n of op(B) and C. */
        struct kn_mat B = p->trans_b ? mat_skip_rows(p->B, lo) : mat_skip_cols(p->B, lo);
        sgemm_blocked(p->trans_a, p->trans_b, p->M, n, p->K, p->alpha, p->A, B, p->beta,
                      p->C + lo, p->ldc);
    } else {
        /* Rows lo..lo+n of op(A) and C. */
        struct kn_mat A = p->trans_a ? mat_skip_cols(p->A, lo) : mat_skip_rows(p->A, lo);
        sgemm_blocked(p->trans_a, p->trans_b, n, p->N, p->K, p->alpha, A, p->B, p->beta,
                      p->C + lo * p->ldc, p->ldc);
    }
}

/* Takes and computes chunks until none is left. */
static void run_chunks(struct sgemm_plan *p)
{
    size_t c;
    while ((c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->n_chunks)
        run_chunk(p, c);
}

/* Thread attributes with the helper stack size; false (use the defaults) if
 * they cannot be set up. */
static bool helper_attr(pthread_attr_t *attr)
{
    if (pthread_attr_init(attr) != 0)
        return false;
    if (pthread_attr_setstacksize(attr, KN_MT_STACK) != 0) {
        pthread_attr_destroy(attr);
        return false;
    }
    return true;
}

static void *chunks_main(void *arg)
{
    run_chunks(arg);
    return NULL;
}

void kn_sgemm_mt(size_t threads, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                 float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                 float beta, float *C, size_t ldc)
{
    kn_sgemm_mt_mat(threads, trans_a, trans_b, M, N, K, alpha, kn_mat_dense(A, lda),
                    kn_mat_dense(B, ldb), beta, C, ldc);
}

void kn_sgemm_mt_mat(size_t threads, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                     float alpha, struct kn_mat A, struct kn_mat B, float beta, float *C,
                     size_t ldc)
{
    struct sgemm_plan p = {.trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K,
                           .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C, .ldc = ldc};
    if (!plan_call(&p, threads, KN_MT_MIN_FLOPS_PER_THREAD))
        return;
    /* Helpers 1..threads-1; one that cannot be started is simply not used
     * (its chunks go to the others, the caller's thread at least). */
    pthread_t tids[KN_MT_MAX_THREADS];
    size_t started = 0;
    pthread_attr_t attr;
    bool have_attr = helper_attr(&attr);
    while (started + 1 < p.threads &&
           pthread_create(&tids[started], have_attr ? &attr : NULL, chunks_main, &p) == 0)
        started++;
    if (have_attr)
        pthread_attr_destroy(&attr);
    run_chunks(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}

/* ---- thread pool ---------------------------------------------------------
 *
 * A job is one kn_pool_for call (kn_sgemm_pool is one too). The caller posts
 * it to the workers that take part through each one's own mailbox (`job`,
 * then the generation counter `go`), runs tasks itself, and waits until the
 * job's `pending` count of workers reaches 0; the job lives on the caller's
 * stack, and a worker does not touch it after its decrement. Workers that do
 * not take part are never told about the job.
 *
 * Waiting spins first, then sleeps. A training step is a chain of small
 * products (tens of microseconds each at batch 64) with a little serial work
 * between them; waking a thread from a condition variable costs about as much
 * as one such product, so a worker that has just finished polls its mailbox
 * for about KN_POOL_SPIN pause instructions before it sleeps on its
 * condition variable, and the caller polls `pending` the same way before it
 * sleeps on `done`. Spinning is bounded, so an idle pool costs no CPU.
 *
 * No lost wake-ups: a sleeper sets `sleeping` and re-checks its condition
 * under `mu`, and whoever changes that condition does so before taking `mu`
 * to signal, so either the sleeper sees the change or it is already waiting
 * when the signal comes. */

/* Pause instructions a waiting thread spins for before it sleeps: about
 * 50-150 us on current x86-64 CPUs (a PAUSE is 10-140 cycles). */
#define KN_POOL_SPIN 4096

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

struct pool_job {
    void (*fn)(void *ctx, size_t task);
    void *ctx;
    size_t n_tasks;
    atomic_size_t next;    /* the next task to take */
    atomic_size_t pending; /* workers taking part that have not finished */
};

/* Takes and runs tasks until none is left. */
static void run_tasks(struct pool_job *job)
{
    size_t t;
    while ((t = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < job->n_tasks)
        job->fn(job->ctx, t);
}

struct kn_pool_worker {
    struct kn_pool *pool;
    struct pool_job *job;    /* the posted job, valid once `go` changes */
    atomic_ullong go;        /* incremented for every job posted to this worker */
    pthread_cond_t wake;     /* signalled when `go` changes or the pool stops */
    bool sleeping;           /* waiting on `wake` (guarded by pool->mu) */
};

struct kn_pool {
    size_t workers;                /* helper threads running, < KN_MT_MAX_THREADS */
    pthread_t tids[KN_MT_MAX_THREADS - 1];
    struct kn_pool_worker w[KN_MT_MAX_THREADS - 1];
    pthread_mutex_t call;          /* held for a whole job: one job at a time */
    pthread_mutex_t mu;            /* guards the sleeping flags and the waits */
    pthread_cond_t done;           /* signalled when a job's pending reaches 0 */
    bool caller_sleeping;          /* the caller waits on `done` (guarded by mu) */
    atomic_bool stop;
};

/* Waits until w->go differs from seen or the pool stops; returns w->go. */
static unsigned long long worker_wait(struct kn_pool_worker *w, unsigned long long seen)
{
    struct kn_pool *pool = w->pool;
    unsigned long long g;
    for (int spin = 0; spin < KN_POOL_SPIN; spin++) {
        g = atomic_load_explicit(&w->go, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed))
            return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->mu);
    w->sleeping = true;
    while ((g = atomic_load_explicit(&w->go, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&pool->stop, memory_order_relaxed))
        pthread_cond_wait(&w->wake, &pool->mu);
    w->sleeping = false;
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *pool_main(void *arg)
{
    struct kn_pool_worker *w = arg;
    struct kn_pool *pool = w->pool;
    unsigned long long seen = 0;
    for (;;) {
        seen = worker_wait(w, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_relaxed))
            break;
        struct pool_job *job = w->job;
        run_tasks(job);
        /* The last one out wakes the caller if it sleeps; job is not
         * touched after the decrement (it may be gone). */
        if (atomic_fetch_sub_explicit(&job->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->mu);
            if (pool->caller_sleeping)
                pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

/* Runs job on the caller's thread and the first `helpers` workers. */
static void pool_run(struct kn_pool *pool, struct pool_job *job, size_t helpers)
{
    pthread_mutex_lock(&pool->call);
    atomic_init(&job->pending, helpers);
    for (size_t i = 0; i < helpers; i++) {
        pool->w[i].job = job;
        atomic_fetch_add_explicit(&pool->w[i].go, 1, memory_order_release);
    }
    pthread_mutex_lock(&pool->mu);
    for (size_t i = 0; i < helpers; i++)
        if (pool->w[i].sleeping)
            pthread_cond_signal(&pool->w[i].wake);
    pthread_mutex_unlock(&pool->mu);
    run_tasks(job);
    bool finished = false;
    for (int spin = 0; spin < KN_POOL_SPIN && !finished; spin++) {
        finished = atomic_load_explicit(&job->pending, memory_order_acquire) == 0;
        if (!finished)
            cpu_relax();
    }
    if (!finished) {
        pthread_mutex_lock(&pool->mu);
        pool->caller_sleeping = true;
        while (atomic_load_explicit(&job->pending, memory_order_acquire) > 0)
            pthread_cond_wait(&pool->done, &pool->mu);
        pool->caller_sleeping = false;
        pthread_mutex_unlock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->call);
}

struct kn_pool *kn_pool_create(size_t threads)
{
    struct kn_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    if (pthread_mutex_init(&pool->call, NULL) != 0)
        goto fail_call;
    if (pthread_mutex_init(&pool->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_cond_init(&pool->done, NULL) != 0)
        goto fail_done;
    atomic_init(&pool->stop, false);
    size_t want = threads < KN_MT_MAX_THREADS ? threads : KN_MT_MAX_THREADS;
    want = want > 0 ? want - 1 : 0;
    pthread_attr_t attr;
    bool have_attr = want > 0 && helper_attr(&attr);
    /* A worker that cannot be started is simply not there. */
    while (pool->workers < want) {
        struct kn_pool_worker *w = &pool->w[pool->workers];
        w->pool = pool;
        atomic_init(&w->go, 0);
        if (pthread_cond_init(&w->wake, NULL) != 0)
            break;
        if (pthread_create(&pool->tids[pool->workers], have_attr ? &attr : NULL, pool_main,
                           w) != 0) {
            pthread_cond_destroy(&w->wake);
            break;
        }
        pool->workers++;
    }
    if (have_attr)
        pthread_attr_destroy(&attr);
    return pool;

fail_done:
    pthread_mutex_destroy(&pool->mu);
fail_mu:
    pthread_mutex_destroy(&pool->call);
fail_call:
    free(pool);
    return NULL;
}

void kn_pool_destroy(struct kn_pool *pool)
{
    if (!pool)
        return;
    atomic_store(&pool->stop, true);
    pthread_mutex_lock(&pool->mu);
    for (size_t i = 0; i < pool->workers; i++)
        pthread_cond_signal(&pool->w[i].wake);
    pthread_mutex_unlock(&pool->mu);
    for (size_t i = 0; i < pool->workers; i++) {
        pthread_join(pool->tids[i], NULL);
        pthread_cond_destroy(&pool->w[i].wake);
    }
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->call);
    free(pool);
}

size_t kn_pool_threads(const struct kn_pool *pool)
{
    return pool ? pool->workers + 1 : 1;
}

size_t kn_sgemm_pool_threads(const struct kn_pool *pool, size_t M, size_t N, size_t K)
{
    return planned_threads(kn_pool_threads(pool), KN_POOL_MIN_FLOPS_PER_THREAD, M, N, K);
}

static void plan_task(void *ctx, size_t task)
{
    run_chunk(ctx, task);
}

/* The chunks of a split plan on the pool's threads. */
static void pool_run_plan(struct kn_pool *pool, struct sgemm_plan *p)
{
    struct pool_job job = {.fn = plan_task, .ctx = p, .n_tasks = p->n_chunks};
    atomic_init(&job.next, 0);
    atomic_init(&job.pending, 0);
    pool_run(pool, &job, p->threads - 1);
}

void kn_sgemm_pool_mat(struct kn_pool *pool, bool trans_a, bool trans_b, size_t M, size_t N,
                       size_t K, float alpha, struct kn_mat A, struct kn_mat B, float beta,
                       float *C, size_t ldc)
{
    struct sgemm_plan p = {.trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K,
                           .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C, .ldc = ldc};
    if (plan_call(&p, kn_pool_threads(pool), KN_POOL_MIN_FLOPS_PER_THREAD))
        pool_run_plan(pool, &p);
}

void kn_sgemm_pool(struct kn_pool *pool, bool trans_a, bool trans_b, size_t M, size_t N,
                   size_t K, float alpha, const float *A, size_t lda, const float *B,
                   size_t ldb, float beta, float *C, size_t ldc)
{
    kn_sgemm_pool_mat(pool, trans_a, trans_b, M, N, K, alpha, kn_mat_dense(A, lda),
                      kn_mat_dense(B, ldb), beta, C, ldc);
}

void kn_sgemm_pool_packed_b(struct kn_pool *pool, bool trans_a, size_t M, size_t N, size_t K,
                            float alpha, struct kn_mat A, const float *bp, float beta, float *C,
                            size_t ldc)
{
    struct sgemm_plan p = {.trans_a = trans_a, .M = M, .N = N, .K = K, .alpha = alpha,
                           .beta = beta, .A = A, .bp = bp, .C = C, .ldc = ldc};
    if (plan_call(&p, kn_pool_threads(pool), KN_POOL_MIN_FLOPS_PER_THREAD))
        pool_run_plan(pool, &p);
}

struct add_packed_job {
    size_t M, N, K;
    float alpha;
    struct kn_mat A, B;
    float *bk; /* B packed */
    float *bp;
};

/* Task t: panel t (NR columns) of B into bk. */
static void pack_b_task(void *ctx, size_t t)
{
    const struct add_packed_job *j = ctx;
    size_t j0 = t * KN_NR;
    pack_b(false, &j->B, 0, j0, j->K, min_size(KN_NR, j->N - j0), j->bk + j0 * j->K);
}

/* Task t: rows t MC .. (t + 1) MC of P. */
static void add_packed_task(void *ctx, size_t t)
{
    const struct add_packed_job *j = ctx;
    size_t r0 = t * KN_MC;
    add_packed_rows(j->M, j->N, j->K, j->alpha, j->A, j->bk, j->bp, r0,
                    min_size(KN_MC, j->M - r0));
}

/* B is packed first, once for all rows of P (its rows are read by every
 * MC rows; in place, rows 4 KiB apart (1024 columns) all fall into the same
 * few L1 sets and the micro-kernel reads them from L2). */
void kn_sgemm_pool_add_packed(struct kn_pool *pool, size_t M, size_t N, size_t K, float alpha,
                              struct kn_mat A, struct kn_mat B, float *bp, float *scratch)
{
    assert(K <= KN_KC);
    if (M == 0 || N == 0 || K == 0 || alpha == 0.0f)
        return;
    struct add_packed_job job = {M, N, K, alpha, A, B, scratch, bp};
    size_t panels = N / KN_NR + (N % KN_NR != 0), tasks = M / KN_MC + (M % KN_MC != 0);
    /* Threads only with at least the pool's minimum of work each. */
    double by_work = 2.0 * (double)M * (double)N * (double)K / KN_POOL_MIN_FLOPS_PER_THREAD;
    if (by_work < 2.0 || tasks == 1) {
        for (size_t t = 0; t < panels; t++)
            pack_b_task(&job, t);
        for (size_t t = 0; t < tasks; t++)
            add_packed_task(&job, t);
        return;
    }
    kn_pool_for(pool, panels, pack_b_task, &job);
    kn_pool_for(pool, tasks, add_packed_task, &job);
}

void kn_pool_for(struct kn_pool *pool, size_t n_tasks, void (*fn)(void *ctx, size_t task),
                 void *ctx)
{
    size_t threads = kn_pool_threads(pool);
    if (threads > n_tasks)
        threads = n_tasks;
    if (threads <= 1) {
        for (size_t t = 0; t < n_tasks; t++)
            fn(ctx, t);
        return;
    }
    struct pool_job job = {.fn = fn, .ctx = ctx, .n_tasks = n_tasks};
    atomic_init(&job.next, 0);
    atomic_init(&job.pending, 0);
    pool_run(pool, &job, threads - 1);
}

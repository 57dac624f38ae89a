/* kernels: single-precision GEMM, a naive reference and a cache-blocked fast
 * version.
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
 * micro-kernel always computes a full tile; only the store is clipped.
 *
 * The micro-kernel is plain C: an MR x NR array of accumulators updated with
 * acc[i][j] += a[i] * b[j] over j, which the compiler vectorizes along j and
 * keeps in registers. The micro-kernel and the driver (packing, stores) are
 * each compiled several times with target_clones (AVX-512, AVX2 + FMA, baseline
 * x86-64) and the version for the running CPU is picked once, at load time,
 * through an ifunc resolver.
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

#include <stddef.h>

/* Micro-tile: MR rows x NR columns of C held in registers. With AVX-512 the
 * 8 x 32 tile is 16 zmm accumulators (of 32 registers). */
#define KN_MR 8
#define KN_NR 32
/* Cache blocks: a packed op(A) block is MC x KC (128 KiB), a packed op(B)
 * block is KC x NC (256 KiB). One B panel (KC x NR = 32 KiB) is reused
 * across all MR-row panels of the A block. MC is a multiple of MR, NC of NR. */
#define KN_KC 256
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

/* dst[k * ldd + r] = src[r * lds + k] for r < 8, k < kc: eight rows that are
 * contiguous in k become eight adjacent columns of a k-major panel. With k
 * outermost and the 8 rows unrolled the compiler builds one 8-wide vector
 * per k (about 4x faster than row-by-row scalar copies). */
static inline __attribute__((always_inline)) void transpose8(const float *src, size_t lds,
                                                             size_t kc, float *restrict dst,
                                                             size_t ldd)
{
    for (size_t k = 0; k < kc; k++) {
#pragma GCC unroll 8
        for (size_t r = 0; r < 8; r++)
            dst[k * ldd + r] = src[r * lds + k];
    }
}

/* Pack op(A)[i0:+mc, p0:+kc] as ceil(mc/MR) panels of kc x MR: panel q holds,
 * for each k, the MR values op(A)[i0 + q + r][p0 + k] (zero for rows past mc). */
static inline __attribute__((always_inline)) void pack_a(bool trans, const float *A,
                                                         size_t lda, size_t i0, size_t p0,
                                                         size_t mc, size_t kc,
                                                         float *restrict ap)
{
    for (size_t q = 0; q < mc; q += KN_MR) {
        size_t rows = min_size(KN_MR, mc - q);
        float *dst = ap + q * kc;
        if (rows < KN_MR) {
            /* Edge panel: zero padding, plain loops. */
            for (size_t k = 0; k < kc; k++)
                for (size_t r = 0; r < KN_MR; r++)
                    dst[k * KN_MR + r] =
                        r >= rows    ? 0.0f
                        : trans      ? A[(p0 + k) * lda + i0 + q + r]
                                     : A[(i0 + q + r) * lda + p0 + k];
        } else if (trans) {
            /* op(A)[i][k] = A[k][i]: MR contiguous floats per k. */
            for (size_t k = 0; k < kc; k++) {
                const float *src = A + (p0 + k) * lda + i0 + q;
                for (size_t r = 0; r < KN_MR; r++)
                    dst[k * KN_MR + r] = src[r];
            }
        } else {
            /* op(A)[i][k] = A[i][k]: rows are contiguous in k; transpose. */
            transpose8(A + (i0 + q) * lda + p0, lda, kc, dst, KN_MR);
        }
    }
}

/* Pack op(B)[p0:+kc, j0:+nc] as ceil(nc/NR) panels of kc x NR: panel q holds,
 * for each k, the NR values op(B)[p0 + k][j0 + q + c] (zero for columns past nc). */
static inline __attribute__((always_inline)) void pack_b(bool trans, const float *B,
                                                         size_t ldb, size_t p0, size_t j0,
                                                         size_t kc, size_t nc,
                                                         float *restrict bp)
{
    for (size_t q = 0; q < nc; q += KN_NR) {
        size_t cols = min_size(KN_NR, nc - q);
        float *dst = bp + q * kc;
        if (cols < KN_NR) {
            /* Edge panel: zero padding, plain loops. */
            for (size_t k = 0; k < kc; k++)
                for (size_t c = 0; c < KN_NR; c++)
                    dst[k * KN_NR + c] =
                        c >= cols    ? 0.0f
                        : trans      ? B[(j0 + q + c) * ldb + p0 + k]
                                     : B[(p0 + k) * ldb + j0 + q + c];
        } else if (!trans) {
            /* op(B)[k][j] = B[k][j]: NR contiguous floats per k. */
            for (size_t k = 0; k < kc; k++) {
                const float *src = B + (p0 + k) * ldb + j0 + q;
                for (size_t c = 0; c < KN_NR; c++)
                    dst[k * KN_NR + c] = src[c];
            }
        } else {
            /* op(B)[k][j] = B[j][k]: rows of B are contiguous in k; transpose
             * in groups of 8 columns. */
            for (size_t c = 0; c < KN_NR; c += 8)
                transpose8(B + (j0 + q + c) * ldb + p0, ldb, kc, dst + c, KN_NR);
        }
    }
}

/* The micro-kernel: tile (MR x NR, row-major) = ap_panel^T * bp_panel, i.e.
 * tile[i][j] = sum_k ap[k][i] * bp[k][j], summed in increasing k.
 *
 * It is its own (non-inlined) function so that it can be compiled for each
 * instruction set by target_clones and exempted from sanitizer
 * instrumentation, which would otherwise keep the accumulators out of
 * registers (50-70x slower under ASan/UBSan). That is safe because it only
 * reads the packed buffers (kc * MR and kc * NR floats, kc <= KC, inside the
 * fixed-size arrays of sgemm_blocked) and writes the local tile; every access
 * to the caller's A, B and C happens in the instrumented packing and store. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),
               optimize("fp-contract=fast"), noinline, no_sanitize("address", "undefined")))
static void micro_kernel(size_t kc, const float *restrict ap, const float *restrict bp,
                         float *restrict tile)
{
    float acc[KN_MR][KN_NR];
    for (size_t i = 0; i < KN_MR; i++)
        for (size_t j = 0; j < KN_NR; j++)
            acc[i][j] = 0.0f;
    for (size_t k = 0; k < kc; k++) {
        const float *a = ap + k * KN_MR;
        const float *b = bp + k * KN_NR;
        /* Unrolled over rows so that the NR-wide rows of acc (two zmm each
         * with AVX-512) stay in registers even at -O2. */
#pragma GCC unroll 8
        for (size_t i = 0; i < KN_MR; i++) {
            const float ai = a[i];
            for (size_t j = 0; j < KN_NR; j++)
                acc[i][j] += ai * b[j];
        }
    }
#pragma GCC unroll 8
    for (size_t i = 0; i < KN_MR; i++)
        for (size_t j = 0; j < KN_NR; j++)
            tile[i * KN_NR + j] = acc[i][j];
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

/* The blocked driver (see the top of the file); M, N, K >= 1, alpha != 0. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sgemm_blocked(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                          float alpha, const float *A, size_t lda, const float *B,
                          size_t ldb, float beta, float *C, size_t ldc)
{
    _Alignas(64) float ap[KN_MC * KN_KC];
    _Alignas(64) float bp[KN_KC * KN_NC];
    _Alignas(64) float tile[KN_MR * KN_NR];

    for (size_t jc = 0; jc < N; jc += KN_NC) {
        size_t nc = min_size(KN_NC, N - jc);
        for (size_t pc = 0; pc < K; pc += KN_KC) {
            size_t kc = min_size(KN_KC, K - pc);
            /* The first K block applies the caller's beta, later ones add. */
            float beta_k = pc == 0 ? beta : 1.0f;
            pack_b(trans_b, B, ldb, pc, jc, kc, nc, bp);
            for (size_t ic = 0; ic < M; ic += KN_MC) {
                size_t mc = min_size(KN_MC, M - ic);
                pack_a(trans_a, A, lda, ic, pc, mc, kc, ap);
                for (size_t jr = 0; jr < nc; jr += KN_NR) {
                    size_t n = min_size(KN_NR, nc - jr);
                    for (size_t ir = 0; ir < mc; ir += KN_MR) {
                        size_t m = min_size(KN_MR, mc - ir);
                        micro_kernel(kc, ap + ir * kc, bp + jr * kc, tile);
                        store_tile(tile, alpha, beta_k, C + (ic + ir) * ldc + jc + jr, ldc,
                                   m, n);
                    }
                }
            }
        }
    }
}

void kn_sgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta,
              float *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    /* Nothing to multiply: C = beta * C (BLAS semantics: A and B unread). */
    if (K == 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    sgemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

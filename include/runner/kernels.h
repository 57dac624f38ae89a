/* kernels: dense linear algebra for the MLP, row-major single precision.
 *
 * kn_sgemm computes C = alpha * op(A) * op(B) + beta * C with
 * op(X) = X or X^T, op(A) M x K, op(B) K x N, C M x N, leading dimensions in
 * elements. kn_sgemm_ref is the naive triple loop that the fast kernel is
 * tested against. kn_sgemm_mt and kn_sgemm_pool are kn_sgemm on several
 * threads, with the same result. Called by mlp and by the k-means feature
 * extraction. */
#ifndef RUNNER_KERNELS_H
#define RUNNER_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

void kn_sgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta,
              float *C, size_t ldc);

/* An operand as stored rows: row s is at base + s * ld, or, with a row
 * selection, at base + rows[s] * ld (rows has an entry for every stored row
 * the product reads; entries may repeat). A selection lets a product read a
 * training batch straight from the whole training matrix, without copying
 * the batch first. The stored rows are those of A or B as given, before
 * op(): the rows of op(A) when A is not transposed, its columns when it is. */
struct kn_mat {
    const float *base;
    size_t ld;
    const size_t *rows; /* NULL: the rows in order */
};

/* A contiguous row-major matrix with rows ld apart, as a kn_mat. */
static inline struct kn_mat kn_mat_dense(const float *base, size_t ld)
{
    return (struct kn_mat){base, ld, NULL};
}

/* Stored row s of m. */
static inline const float *kn_mat_row(const struct kn_mat *m, size_t s)
{
    return m->base + (m->rows ? m->rows[s] : s) * m->ld;
}

/* op(B) packed once for many products with the same op(B) (the k-means
 * centroids): kn_pack_b writes kn_packed_b_floats(K, N) floats to bp (64-byte
 * alignment helps), and kn_sgemm_packed_b(trans_a, M, N, K, alpha, A, lda,
 * bp, beta, C, ldc) is then bit-identical to kn_sgemm(trans_a, trans_b, M,
 * N, K, alpha, A, lda, B, ldb, beta, C, ldc), without packing op(B) again.
 * bp is only read, so several threads may share it. */
size_t kn_packed_b_floats(size_t K, size_t N);
void kn_pack_b(bool trans_b, size_t K, size_t N, const float *B, size_t ldb, float *bp);
void kn_sgemm_packed_b(bool trans_a, size_t M, size_t N, size_t K, float alpha,
                       const float *A, size_t lda, const float *bp, float beta, float *C,
                       size_t ldc);

/* The product A P (A: M x K row-major, P packed by kn_pack_b, K <=
 * KN_SGEMM_KC) handed over tile by tile instead of stored: fn(ctx, tile, i,
 * j, m, n) gets rows i .. i+m and columns j .. j+n of the product (m <=
 * KN_TILE_ROWS, n <= KN_TILE_LD), row r at tile + r * KN_TILE_LD, each
 * element the value kn_sgemm_packed_b(false, ..., alpha 1, beta 0) would
 * store, bit for bit. Tiles come column panel by column panel (j = 0, 32,
 * 64, ...), and within a panel by rows, so every row's tiles arrive in
 * increasing j. fn runs on the caller's thread while the kernel's own
 * buffers are live: it must not call back into the kernels. For work that
 * consumes a product as it is made (the k-means encoding's square roots run
 * beside the multiply-adds that way), without a pass over the stored
 * product. */
#define KN_TILE_ROWS 8
#define KN_TILE_LD 32
typedef void (*kn_tile_fn)(void *ctx, const float *tile, size_t i, size_t j, size_t m,
                           size_t n);
void kn_sgemm_packed_b_tiles(size_t M, size_t N, size_t K, const float *A, size_t lda,
                             const float *bp, kn_tile_fn fn, void *ctx);

/* kn_unpack_b: the inverse of kn_pack_b; writes op(B) (K x N) back into B
 * (row stride ldb) from bp, leaving B's other elements alone. */
void kn_unpack_b(bool trans_b, size_t K, size_t N, const float *bp, float *B, size_t ldb);

void kn_sgemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                  const float *A, size_t lda, const float *B, size_t ldb, float beta,
                  float *C, size_t ldc);

/* Multi-threaded kn_sgemm. C is split into column (or row) ranges aligned to
 * the micro-tile, each computed by one thread exactly as kn_sgemm computes
 * it, so the result is bit-identical to kn_sgemm for every number of
 * threads. Small products use fewer threads, down to the caller's alone. A
 * thread that cannot be started is not used (its share goes to the others),
 * which changes only the speed.
 *
 * kn_sgemm_mt uses up to `threads` threads (0 and 1: single-threaded): the
 * caller's and threads - 1 started for the call and joined before it
 * returns. Starting a thread costs about 0.25 ms here, so it splits only
 * products of at least 32 MFLOP per thread (2 M N K / threads). Reentrant.
 * Prefer a kn_pool for repeated products. */
void kn_sgemm_mt(size_t threads, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                 float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                 float beta, float *C, size_t ldc);

/* kn_sgemm_mt with operands given as kn_mat (row selections allowed);
 * bitwise the same as kn_sgemm_mt on copies of the selected rows. */
void kn_sgemm_mt_mat(size_t threads, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                     float alpha, struct kn_mat A, struct kn_mat B, float beta, float *C,
                     size_t ldc);

/* The number of threads kn_sgemm_mt(threads, ...) uses for an M x N x K
 * product with alpha != 0 (1 if M, N or K is 0). */
size_t kn_sgemm_mt_threads(size_t threads, size_t M, size_t N, size_t K);

/* A pool of sleeping worker threads for kn_sgemm_pool, much cheaper to wake
 * than threads are to start (see kernels.c). kn_pool_create(threads) starts
 * threads - 1 workers (the caller's thread is the other one; 0 and 1 start
 * none); workers that cannot be started are left out (kn_pool_threads says
 * how many threads the pool has, 1 for NULL). Returns NULL if out of memory.
 * kn_pool_destroy (NULL is fine) stops and joins the workers; no
 * kn_sgemm_pool call may be running on the pool. */
struct kn_pool;
struct kn_pool *kn_pool_create(size_t threads);
void kn_pool_destroy(struct kn_pool *pool);
size_t kn_pool_threads(const struct kn_pool *pool);

/* kn_sgemm on the pool's threads, bit-identical to kn_sgemm; products under
 * about 1 MFLOP per thread use fewer threads; pool NULL is kn_sgemm. Calls on
 * one pool from several threads at once are safe but run one after another.
 * kn_sgemm_pool_threads: the number of threads it uses for an M x N x K
 * product with alpha != 0. */
void kn_sgemm_pool(struct kn_pool *pool, bool trans_a, bool trans_b, size_t M, size_t N,
                   size_t K, float alpha, const float *A, size_t lda, const float *B,
                   size_t ldb, float beta, float *C, size_t ldc);
size_t kn_sgemm_pool_threads(const struct kn_pool *pool, size_t M, size_t N, size_t K);

/* kn_sgemm_pool with operands given as kn_mat (row selections allowed);
 * bitwise the same as kn_sgemm_pool on copies of the selected rows. */
void kn_sgemm_pool_mat(struct kn_pool *pool, bool trans_a, bool trans_b, size_t M, size_t N,
                       size_t K, float alpha, struct kn_mat A, struct kn_mat B, float beta,
                       float *C, size_t ldc);

/* A matrix kept packed between products (mlp keeps its first layer's
 * weights so while it trains; see mlp.h).
 *
 * kn_sgemm_pool_packed_b: kn_sgemm_packed_b on the pool's threads, with
 * op(A) given as a kn_mat; bitwise the same as kn_sgemm on the unpacked
 * op(B), for every number of threads.
 *
 * kn_sgemm_pool_add_packed: P += alpha A^T B, where P is an M x N matrix held
 * in bp the way kn_pack_b(false, M, N, P, ...) packs it, A is K x M and B is
 * K x N (row selections allowed), K <= KN_SGEMM_KC, and scratch has room
 * for kn_packed_b_floats(K, N) floats (B packed). Each element of P is
 * rounded as kn_sgemm(true, false, M, N, K, alpha, A, B, 1, P) rounds it
 * (bitwise the same), for every number of threads. */
void kn_sgemm_pool_packed_b(struct kn_pool *pool, bool trans_a, size_t M, size_t N, size_t K,
                            float alpha, struct kn_mat A, const float *bp, float beta, float *C,
                            size_t ldc);
void kn_sgemm_pool_add_packed(struct kn_pool *pool, size_t M, size_t N, size_t K, float alpha,
                              struct kn_mat A, struct kn_mat B, float *bp, float *scratch);

/* fn(ctx, t) for every t in [0, n_tasks), on the caller's thread and up to
 * n_tasks - 1 workers of the pool (pool NULL: the caller's thread alone, in
 * order). Tasks are taken from a shared counter, so the order and the thread
 * that runs a task vary; fn must give the same result whoever runs it (e.g.
 * every task writes its own part of the output). Returns when all are done. */
void kn_pool_for(struct kn_pool *pool, size_t n_tasks, void (*fn)(void *ctx, size_t task),
                 void *ctx);

/* The K block of kn_sgemm: a product with K <= KN_SGEMM_KC sums each
 * element of op(A) op(B) completely before it is combined with beta * C, so
 * C = alpha * (A B) + beta * C is rounded exactly as computing P = A B first
 * and then alpha * P + beta * C (used by mlp's fused SGD update). */
#define KN_SGEMM_KC 256

#endif

/* kernels: dense linear algebra for the MLP, row-major single precision.
 *
 * kn_sgemm computes C = alpha * op(A) * op(B) + beta * C with
 * op(X) = X or X^T, op(A) M x K, op(B) K x N, C M x N, leading dimensions in
 * elements. kn_sgemm_ref is the naive triple loop that the fast kernel is
 * tested against. kn_sgemm_mt is kn_sgemm on several threads, with the same
 * result. Called by mlp and by the k-means feature extraction. */
#ifndef RUNNER_KERNELS_H
#define RUNNER_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

void kn_sgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta,
              float *C, size_t ldc);

void kn_sgemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                  const float *A, size_t lda, const float *B, size_t ldb, float beta,
                  float *C, size_t ldc);

/* kn_sgemm on up to `threads` threads: the caller's and threads - 1 started
 * for the call and joined before it returns. C is split into column (or row)
 * ranges aligned to the micro-tile, each computed by one thread exactly as
 * kn_sgemm computes it, so the result is bit-identical to kn_sgemm for every
 * number of threads. Products under about 4 MFLOP per thread use fewer
 * threads, down to the caller's alone; if a thread cannot be started, its
 * share is computed by the others. threads 0 and 1 mean single-threaded.
 * Reentrant: several threads may call it at once. */
void kn_sgemm_mt(size_t threads, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                 float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                 float beta, float *C, size_t ldc);

/* The number of threads kn_sgemm_mt(threads, ...) uses for an M x N x K
 * product with alpha != 0 (1 if M, N or K is 0). */
size_t kn_sgemm_mt_threads(size_t threads, size_t M, size_t N, size_t K);

#endif

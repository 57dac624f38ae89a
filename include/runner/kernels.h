/* kernels: dense linear algebra for the MLP, row-major single precision.
 *
 * kn_sgemm computes C = alpha * op(A) * op(B) + beta * C with
 * op(X) = X or X^T, op(A) M x K, op(B) K x N, C M x N, leading dimensions in
 * elements. kn_sgemm_ref is the naive triple loop that the fast kernel is
 * tested against. Called by mlp (and later by feature extraction). */
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

#endif

/* kmeans_internal: helpers shared by the kmeans_*.c files (not a public API).
 *
 * km_parallel runs n_tasks numbered tasks on `workers` threads (the caller's
 * thread is worker 0). Tasks are handed out in index order from a shared
 * counter; which worker runs a task is not fixed, so a task must depend only
 * on its index and write only its own outputs, using scratch indexed by the
 * worker number. Then the result does not depend on the number of threads. */
#ifndef RUNNER_KMEANS_INTERNAL_H
#define RUNNER_KMEANS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "runner/err.h"
#include "runner/kmeans.h"

/* Run task `task` on worker `worker`; return how many progress units it did. */
typedef size_t (*km_task_fn)(void *ctx, size_t worker, size_t task);

/* Run all tasks. If progress is non-NULL it is called on the caller's thread
 * after each task that thread runs, and once at the end, with the units done
 * so far and total_units; a non-zero return stops handing out tasks and the
 * result is RN_ERR_INTERRUPTED. If a thread cannot be started the others do
 * its share. */
int km_parallel(size_t workers, size_t n_tasks, km_task_fn fn, void *ctx,
                kmeans_progress_fn progress, void *progress_ctx, size_t total_units,
                struct rn_err *err);

/* Worker threads to use: exec's count (0 or NULL exec = 1), at most n_tasks,
 * at least 1. */
size_t km_workers(const struct kmeans_exec *exec, size_t n_tasks);

/* z[i] <- sqrt(z[i]) for z[i] >= 0; returns the sum of the results,
 * accumulated in 4 interleaved float lanes (fixed order) and combined as
 * (l0 + l1) + (l2 + l3), then the tail. Same result with or without SSE2. */
float km_sqrt_sum(float *z, size_t n);
/* km_sqrt_sum of four rows at once: z[r] and sum[r] exactly as
 * sum[r] = km_sqrt_sum(z[r], n) (the four sums run side by side). */
void km_sqrt_sum4(float *const z[4], size_t n, float sum[4]);

/* The triangle encoding of four score rows in two passes instead of four, on
 * CPUs with AVX-512F (km_tri_fused() says whether this one has it; callers
 * use the plain passes otherwise):
 *   km_tri_dist_sqrt_sum4: z[r][j] = sqrt(max(0, xx[r] + cc[j] - 2 z[r][j]))
 *     and sum[r] = their sum, every value and sum bit for bit what the
 *     distance pass followed by km_sqrt_sum4 gives;
 *   km_tri_pool: pool[j] += (double)max(0, mu - z[j]), as the code pass
 *     followed by the pooling pass gives (z is not modified). */
bool km_tri_fused(void);
void km_tri_dist_sqrt_sum4(float *const z[4], const float xx[4], const float *cc, size_t n,
                           float sum[4]);
void km_tri_pool(const float *z, float mu, size_t n, double *pool);

/* km_tri_dist_sqrt_sum4 one product tile at a time (kn_sgemm_packed_b_tiles),
 * for rows whose scores are never stored: for the m x n tile t (row stride
 * ld) of columns j0 .. j0 + n of a k-column score row block,
 *   z[r][j0 + c] = sqrt(max(0, xx[r] + cc[j0 + c] - 2 t[r][c])) (z row
 *   stride ldz), the same value as the distance pass and the root give;
 *   lane[r] gets the roots of the columns below k - k % 4 added four at a
 *   time, in the order km_sqrt_sum adds them, given that every row's tiles
 *   come in increasing j0 (j0 a multiple of 16, n a multiple of 4 except
 *   in the row's last tile).
 * km_tri_tile_sum then gives, from the lanes and the last k % 4 roots,
 * exactly km_sqrt_sum's sum of the row. AVX-512 where the CPU has it. */
void km_tri_tile(const float *t, size_t ld, size_t m, size_t n, size_t j0, size_t k,
                 const float *xx, const float *cc, float *z, size_t ldz, float (*lane)[4]);
float km_tri_tile_sum(const float lane[4], const float *z, size_t k);

/* Sum of squares of x[0..n), in 8 float lanes, combined in double. */
float km_sum_sq(const float *x, size_t n);

/* Copy the p x p patch with top-left (r, c) of a planar 32 x 32 x 3 uint8
 * image into out (3 p^2 floats, channel-major, then row, then column). */
void km_extract_patch(const unsigned char *img, size_t p, size_t r, size_t c, float *out);

/* Allocation of count * size bytes with checked multiplication; NULL on
 * overflow or failure. */
void *km_alloc(size_t count, size_t size);

#endif

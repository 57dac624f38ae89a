/* kmeans_encode: images -> pooled triangle / soft-threshold features.
 *
 * Work unit (one task): a fixed run of images, enough for about ENC_ROWS
 * patch rows (one image at stride 1: 729 rows). For the task's R rows:
 *   P (R, dim)  patches, normalised, minus the ZCA mean
 *   X (R, dim)  = P W                      one kn_sgemm (whitening)
 *   S (R, K)    = X C^T  (triangle)        kn_sgemm_packed_b, C^T packed once
 *              or X D^T  (soft threshold, D the unit-length centroids)
 *                                          per call (the dominant cost)
 * (S one block of ENC_BLOCK_ROWS rows at a time), then per row the encoding,
 * summed into the row's quadrant in double, and each image's 4K sums written
 * to its output row as float (encode_rows, compiled per instruction set like
 * kn_sgemm; on AVX-512 CPUs the triangle code of four rows takes two fused
 * passes, km_tri_dist_sqrt_sum4 and km_tri_pool, with the same results). The
 * scratch of every worker is allocated once per call.
 *
 * The triangle encoding with patches of at most KN_SGEMM_KC values (6x6x3 =
 * 108) goes further: the product hands its tiles over as it makes them
 * (kn_sgemm_packed_b_tiles), and tri_tile turns each into distances, roots
 * and the rows' root sums right away, so the square roots (10 cycles per 16
 * floats, in a unit of their own) run beside the next tiles' multiply-adds
 * and the scores are never stored and read back; only the code and pooling
 * pass remains. Same values, same sums, bit for bit (test_kmeans,
 * test_kernels). About 3% of the K = 1600 encoding (1.51-1.64 -> 1.47-1.61
 * ms per image, side by side).
 *
 * Measured (K = 1600, stride 1, perf record on this 2-core AVX-512 machine):
 * about 70% of the time is in the distance product's micro-kernel, about 10%
 * in the encoding and pooling, the rest in packing, patch extraction,
 * normalisation and whitening. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans_internal.h"
#include "runner/cifar.h"
#include "runner/kernels.h"
#include "runner/kmeans.h"

/* Target patch rows per task (a whole number of images, at least one). */
#define ENC_ROWS 512
/* Patch rows whose scores are computed and encoded at a time: with K = 1600
 * the block's scores take 800 KiB, which stays in a core's L2 cache between
 * the product that writes them and the encoding that reads them (one image's
 * 729 x 1600 scores at once, 4.7 MB, did not). Together with centroids
 * that were not repacked from scratch for every block, this cut the user CPU
 * time of a whole K = 1600 run on 4000 images (fit, extraction, one short
 * epoch) by about 17% (21.7 s -> 18.0 s, two runs each, same features bit
 * for bit); packing them once per call took a little more off. */
#define ENC_BLOCK_ROWS 128

struct enc_ctx {
    const struct kmeans_model *m;
    const uint8_t *images;
    size_t n;         /* images */
    float *out;       /* (n, 4K) */
    size_t grid;      /* positions per side */
    size_t half;      /* first index of the bottom / right half */
    size_t npos;      /* grid^2 */
    size_t per_task;  /* images per task */
    size_t rows_max;  /* per_task * npos */
    /* Per-worker scratch, worker w at offset w * (size of one). */
    float *patches;   /* (rows_max, dim) */
    float *white;     /* (rows_max, dim) */
    float *scores;    /* (ENC_BLOCK_ROWS, K) */
    float *cp;        /* C^T (dim, K) packed by kn_pack_b once per call, shared */
    bool fused;       /* km_tri_fused(): the CPU has the fused triangle passes */
    float *xx;        /* (rows_max) */
    double *pool;     /* (4K) */
    float (*lanes)[4]; /* (ENC_BLOCK_ROWS) root-sum lanes of the block's rows */
    float *sums;      /* (ENC_BLOCK_ROWS) their root sums */
};

/* The per-row encodings. Each loop is a separate elementwise pass so that
 * the compiler vectorizes it (a conditional inside the double accumulation
 * would not be); elementwise float operations round the same at any vector
 * width, and -std=c11 forbids FMA contraction, so every clone below gives
 * bit-identical results. */
static inline void pool_add(double *pool, const float *s, size_t k)
{
    for (size_t j = 0; j < k; j++)
        pool[j] += s[j];
}

/* Triangle encoding, in three passes over a row s (k scores x.c_j):
 *   tri_dist:  s_j = max(0, xx + cc_j - 2 s_j), the squared distances;
 *   km_sqrt_sum(4): s_j = sqrt(s_j) = z_j, and their sum;
 *   tri_code:  f_j = max(0, mu - z_j) with mu the mean of z, pool_j += f_j. */
static inline void tri_dist(float *s, float xx, const float *cc, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        float v = xx + cc[j] - 2.0f * s[j];
        s[j] = v > 0.0f ? v : 0.0f;
    }
}

static inline void tri_code(float *s, float mu, size_t k, double *pool)
{
    for (size_t j = 0; j < k; j++) {
        float f = mu - s[j];
        s[j] = f > 0.0f ? f : 0.0f;
    }
    pool_add(pool, s, k);
}

/* Soft threshold: f_j = max(0, s_j - alpha), pool_j += f_j (s overwritten). */
static inline void soft_row(float *s, float alpha, size_t k, double *pool)
{
    for (size_t j = 0; j < k; j++) {
        float f = s[j] - alpha;
        s[j] = f > 0.0f ? f : 0.0f;
    }
    pool_add(pool, s, k);
}

/* Encode rows [row0, row0 + nr) of the task's patch rows, whose scores are
 * S (nr, k), into the image's quadrant sums `pool` (4k doubles); an image's
 * pool is cleared at its first row and written to its output row (as float)
 * after its last. Rows come in image order and, within an image, in grid
 * order, so every sum is accumulated in the same order however the rows are
 * cut into blocks. The square-root sums of the triangle encoding are a chain
 * of dependent additions per row; four rows at a time run four chains side by
 * side (km_tri_dist_sqrt_sum4), each summed exactly as km_sqrt_sum sums one
 * row.
 * Compiled for AVX-512, AVX2 and baseline x86-64 like kn_sgemm; the loader
 * picks one. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void encode_rows(const struct enc_ctx *e, size_t i0, size_t row0, size_t nr, float *S,
                        const float *xx, const float *sums, double *pool)
{
    const struct kmeans_model *m = e->m;
    size_t k = m->params.k;
    bool triangle = m->params.encoder == KMEANS_TRIANGLE;
    float alpha = (float)m->params.alpha;
    for (size_t t = 0; t < nr; t += 4) {
        size_t g = nr - t < 4 ? nr - t : 4;
        float mu[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        /* Full groups: distances, roots and sums of four rows in one call
         * (one pass with AVX-512); the code + pooling pass is fused with
         * AVX-512 only (km_tri_pool), otherwise tri_code vectorizes. */
        bool fused = triangle && g == 4 && e->fused;
        if (triangle && sums) {
            /* Roots and sums made with the product (tri_tile). */
            for (size_t u = 0; u < g; u++)
                mu[u] = sums[t + u];
        } else if (triangle && g == 4) {
            float *rows[4] = {S + t * k, S + (t + 1) * k, S + (t + 2) * k, S + (t + 3) * k};
            km_tri_dist_sqrt_sum4(rows, xx + row0 + t, m->centroid_sq, k, mu);
        } else if (triangle) {
            for (size_t u = 0; u < g; u++) {
                float *row = S + (t + u) * k;
                tri_dist(row, xx[row0 + t + u], m->centroid_sq, k);
                mu[u] = km_sqrt_sum(row, k);
            }
        }
        if (triangle)
            for (size_t u = 0; u < g; u++)
                mu[u] /= (float)k;
        for (size_t u = 0; u < g; u++) {
            size_t row = row0 + t + u, i = row / e->npos, pos = row % e->npos;
            size_t r = pos / e->grid, c = pos % e->grid;
            if (pos == 0)
                memset(pool, 0, 4 * k * sizeof *pool);
            size_t q = 2 * (r >= e->half) + (c >= e->half);
            if (fused)
                km_tri_pool(S + (t + u) * k, mu[u], k, pool + q * k);
            else if (triangle)
                tri_code(S + (t + u) * k, mu[u], k, pool + q * k);
            else
                soft_row(S + (t + u) * k, alpha, k, pool + q * k);
            if (pos + 1 == e->npos) {
                float *out = e->out + (i0 + i) * 4 * k;
                for (size_t j = 0; j < 4 * k; j++)
                    out[j] = (float)pool[j];
            }
        }
    }
}

/* What tri_tile needs: the block's rows' squared norms, the centroids'
 * squared norms, the block's score rows (k floats each) and their lanes. */
struct tri_tiles {
    const float *xx, *cc;
    float *S;
    size_t k;
    float (*lane)[4];
};

/* kn_tile_fn: the triangle distances, roots and lane sums of one tile. */
static void tri_tile(void *ctx, const float *tile, size_t i, size_t j, size_t m, size_t n)
{
    const struct tri_tiles *tt = ctx;
    km_tri_tile(tile, KN_TILE_LD, m, n, j, tt->k, tt->xx + i, tt->cc, tt->S + i * tt->k, tt->k,
                tt->lane + i);
}

static size_t encode_task(void *arg, size_t worker, size_t task)
{
    struct enc_ctx *e = arg;
    const struct kmeans_model *m = e->m;
    const struct kmeans_params *p = &m->params;
    size_t dim = m->dim, k = p->k, nfeat = 4 * k;
    size_t i0 = task * e->per_task;
    size_t ni = e->n - i0 < e->per_task ? e->n - i0 : e->per_task;
    size_t rows = ni * e->npos;
    float *P = e->patches + worker * e->rows_max * dim;
    float *X = e->white + worker * e->rows_max * dim;
    float *S = e->scores + worker * ENC_BLOCK_ROWS * k;
    float *xx = e->xx + worker * e->rows_max;
    double *pool = e->pool + worker * nfeat;
    float (*lane)[4] = e->lanes + worker * ENC_BLOCK_ROWS;
    float *sums = e->sums + worker * ENC_BLOCK_ROWS;
    bool triangle = p->encoder == KMEANS_TRIANGLE;

    for (size_t i = 0; i < ni; i++) {
        const uint8_t *img = e->images + (i0 + i) * (size_t)CIFAR_IMAGE;
        for (size_t r = 0; r < e->grid; r++)
            for (size_t c = 0; c < e->grid; c++) {
                float *row = P + (i * e->npos + r * e->grid + c) * dim;
                km_extract_patch(img, p->patch, r * p->stride, c * p->stride, row);
                kmeans_normalize_patch(row, dim, p->norm_eps);
                for (size_t t = 0; t < dim; t++)
                    row[t] -= m->zca_mean[t];
            }
    }
    /* X (rows, dim) = P (rows, dim) * W (dim, dim) */
    kn_sgemm(false, false, rows, dim, dim, 1.0f, P, dim, m->zca, dim, 0.0f, X, dim);
    if (triangle)
        for (size_t r = 0; r < rows; r++)
            xx[r] = km_sum_sq(X + r * dim, dim);
    /* Block by block of rows, so that the scores stay in the core's cache
     * between the product and the encoding: S (nr, k) = X[r0:+nr] C^T. Each
     * score is one dot product over dim, computed as in one product over all
     * rows (the K blocking of kn_sgemm does not depend on M). C^T was packed
     * once for the whole call (cp), so no block packs it again. */
    for (size_t r0 = 0; r0 < rows; r0 += ENC_BLOCK_ROWS) {
        size_t nr = rows - r0 < ENC_BLOCK_ROWS ? rows - r0 : ENC_BLOCK_ROWS;
        if (triangle && dim <= KN_SGEMM_KC) {
            /* The distances, roots and root sums tile by tile as the
             * product makes them (tri_tile), then the code and pooling. */
            memset(lane, 0, nr * sizeof *lane);
            struct tri_tiles tt = {xx + r0, m->centroid_sq, S, k, lane};
            kn_sgemm_packed_b_tiles(nr, k, dim, X + r0 * dim, dim, e->cp, tri_tile, &tt);
            for (size_t r = 0; r < nr; r++)
                sums[r] = km_tri_tile_sum(lane[r], S + r * k, k);
            encode_rows(e, i0, r0, nr, S, xx, sums, pool);
        } else {
            kn_sgemm_packed_b(false, nr, k, dim, 1.0f, X + r0 * dim, dim, e->cp, 0.0f, S, k);
            encode_rows(e, i0, r0, nr, S, xx, NULL, pool);
        }
    }
    return ni;
}

int kmeans_encode(const struct kmeans_model *model, const uint8_t *images, size_t n,
                  float *out, const struct kmeans_exec *exec, struct rn_err *err)
{
    if (!model || !model->block_)
        return rn_fail(err, RN_ERR_GENERIC, "k-means encode: the model is not fitted");
    int rc = kmeans_params_check(&model->params, err);
    if (rc != RN_OK)
        return rn_prefix(err, "k-means encode");
    if (n == 0)
        return RN_OK;
    if (!images || !out)
        return rn_fail(err, RN_ERR_GENERIC, "k-means encode: no images or no output");
    size_t out_n;
    if (rn_mul_size(n, kmeans_n_features(&model->params), &out_n))
        return rn_fail(err, RN_ERR_NOMEM, "k-means encode: %zu x %zu features overflow", n,
                       kmeans_n_features(&model->params));

    struct enc_ctx e;
    memset(&e, 0, sizeof e);
    e.m = model;
    e.images = images;
    e.n = n;
    e.out = out;
    e.fused = km_tri_fused();
    e.grid = kmeans_grid(&model->params);
    e.half = (e.grid + 1) / 2;
    e.npos = e.grid * e.grid;
    e.per_task = (ENC_ROWS + e.npos - 1) / e.npos;
    if (e.per_task > n)
        e.per_task = n;
    e.rows_max = e.per_task * e.npos;
    size_t tasks = (n - 1) / e.per_task + 1;
    size_t workers = km_workers(exec, tasks);

    size_t dim = model->dim, k = model->params.k;
    size_t pd, pk, a, c, d, f;
    if (rn_mul_size(e.rows_max, dim, &pd) || rn_mul_size(ENC_BLOCK_ROWS, k, &pk) ||
        rn_mul_size(pd, workers, &a) || rn_mul_size(pk, workers, &c) ||
        rn_mul_size(e.rows_max, workers, &d) || rn_mul_size(4 * k, workers, &f))
        return rn_fail(err, RN_ERR_NOMEM, "k-means encode: scratch size overflows");
    e.patches = km_alloc(a, sizeof(float));
    e.white = km_alloc(a, sizeof(float));
    e.scores = km_alloc(c, sizeof(float));
    e.xx = km_alloc(d, sizeof(float));
    e.pool = km_alloc(f, sizeof(double));
    e.lanes = km_alloc(ENC_BLOCK_ROWS * workers, sizeof *e.lanes);
    e.sums = km_alloc(ENC_BLOCK_ROWS * workers, sizeof(float));
    /* About the model's own size (dim x K, K rounded up to 32). */
    e.cp = km_alloc(kn_packed_b_floats(dim, k), sizeof(float));
    if (e.cp) {
        const float *C = model->params.encoder == KMEANS_TRIANGLE ? model->centroids
                                                                  : model->dict;
        kn_pack_b(true, dim, k, C, dim, e.cp); /* op(B) = C^T, C is (k, dim) */
    }
    if (!e.patches || !e.white || !e.scores || !e.xx || !e.pool || !e.lanes || !e.sums ||
        !e.cp)
        rc = rn_fail(err, RN_ERR_NOMEM,
                     "k-means encode: out of memory for the scratch of %zu threads", workers);
    else
        rc = km_parallel(workers, tasks, encode_task, &e, exec ? exec->progress : NULL,
                         exec ? exec->progress_ctx : NULL, n, err);
    free(e.patches);
    free(e.white);
    free(e.scores);
    free(e.xx);
    free(e.pool);
    free(e.lanes);
    free(e.sums);
    free(e.cp);
    if (rc != RN_OK)
        return rn_prefix(err, "k-means encode");
    return RN_OK;
}

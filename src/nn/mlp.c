/* mlp: forward, backward, softmax cross-entropy, SGD with momentum, init.
 *
 * Layout of params (grads and velocity are the same):
 *   W0 (sizes[1], sizes[0]) | b0 (sizes[1]) | W1 (sizes[2], sizes[1]) | b1 | ...
 * Shapes in comments are (rows, cols) of row-major matrices; B is the batch. */
#include "runner/mlp.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runner/kernels.h"

static float *alloc_floats(size_t n)
{
    return calloc(n, sizeof(float));
}

void mlp_free(struct mlp *m)
{
    if (!m)
        return;
    free(m->sizes);
    free(m->params);
    free(m->grads);
    free(m->velocity);
    free(m->W);
    free(m->b);
    free(m->dW);
    free(m->db);
    if (m->out)
        free(m->out[0]); /* all activations are one block, out[0] is its start */
    free(m->out);
    free(m->delta_a);
    free(m->delta_b);
    free(m->probs);
    free(m->exps);
    free(m->row_loss);
    free(m->row_hit);
    free(m->in_drop); /* one block with every hid_drop[l] */
    free(m->in_keep); /* one block with every hid_keep[l] */
    free(m->hid_drop);
    free(m->hid_keep);
    free(m->w0_packed);
    free(m->delta0_packed);
    kn_pool_destroy(m->pool);
    memset(m, 0, sizeof *m);
}

/* Whether plain SGD keeps layer 0's weights packed (mlp.h). Packed, the
 * forward product no longer re-arranges W[0] every batch and the update
 * writes contiguous tiles, but the update packs the batch's delta first (one
 * more pass on the threads) and the copy takes as much memory as W[0].
 * Measured on the benchmark's nets (epochs side by side): 3072-1024-512-10
 * 5.59 -> 4.37-4.51 s; 3072-64-10 0.324 -> 0.281 s and the report's
 * 512-64-10 0.066 -> 0.084 s (both before the micro-kernel fix of commit
 * 369c414; the latter's whole step takes about 80 us).
 * So only for a W[0] of at least 2^16 weights; smaller models get no copy. */
#define MLP_W0_PACKED_MIN ((size_t)1 << 16)

int mlp_create(struct mlp *m, const size_t *sizes, size_t n_sizes, enum cfg_activation act,
               size_t max_batch, struct rn_err *err)
{
    memset(m, 0, sizeof *m);
    if (n_sizes < 2)
        return rn_fail(err, RN_ERR_CONFIG, "mlp: need at least 2 layer sizes, got %zu",
                       n_sizes);
    for (size_t i = 0; i < n_sizes; i++)
        if (sizes[i] == 0)
            return rn_fail(err, RN_ERR_CONFIG, "mlp: layer size %zu is 0", i);
    if (max_batch == 0)
        return rn_fail(err, RN_ERR_CONFIG, "mlp: max_batch is 0");
    if (act != CFG_ACT_RELU && act != CFG_ACT_TANH && act != CFG_ACT_SIGMOID)
        return rn_fail(err, RN_ERR_CONFIG, "mlp: unknown activation %d", (int)act);

    size_t n_layers = n_sizes - 1;
    /* Count parameters, activation floats and the widest non-input layer
     * (the backward deltas never need the input width: there is no dX for
     * layer 0), with every product and sum checked. */
    size_t n_params = 0, n_act = 0, n_hid = 0, widest = 0;
    for (size_t l = 0; l < n_layers; l++) {
        size_t w, wb, a;
        if (rn_mul_size(sizes[l + 1], sizes[l], &w) || rn_add_size(w, sizes[l + 1], &wb) ||
            rn_add_size(n_params, wb, &n_params) || rn_mul_size(max_batch, sizes[l + 1], &a) ||
            rn_add_size(n_act, a, &n_act))
            return rn_fail(err, RN_ERR_NOMEM, "mlp: layer %zu (%zu -> %zu) size overflows", l,
                           sizes[l], sizes[l + 1]);
        if (sizes[l + 1] > widest)
            widest = sizes[l + 1];
        if (l + 1 < n_layers)
            n_hid += a; /* <= n_act, cannot overflow */
    }
    /* Dropout block: the input (max_batch, sizes[0]), then every hidden layer. */
    size_t n_in, n_drop, n_delta, n_probs, bytes; /* bytes: only checked, calloc redoes it */
    if (rn_mul_size(max_batch, sizes[0], &n_in) || rn_add_size(n_in, n_hid, &n_drop) ||
        rn_mul_size(n_drop, sizeof(float), &bytes) ||
        rn_mul_size(max_batch, widest, &n_delta) ||
        rn_mul_size(max_batch, sizes[n_layers], &n_probs) ||
        rn_mul_size(n_params, 3 * sizeof(float), &bytes) ||
        rn_mul_size(n_act, sizeof(float), &bytes) ||
        rn_mul_size(n_delta, 2 * sizeof(float), &bytes) ||
        rn_mul_size(n_probs, sizeof(double), &bytes) ||
        rn_mul_size(sizes[0], sizes[1] + 31, &bytes) || /* bound the packed W0 */
        rn_mul_size(max_batch, sizes[1] + 31, &bytes))   /* and delta */
        return rn_fail(err, RN_ERR_NOMEM, "mlp: buffer sizes overflow (max_batch %zu)",
                       max_batch);

    m->n_layers = n_layers;
    m->act = act;
    m->n_params = n_params;
    m->max_batch = max_batch;
    /* Every count is >= 1 here (sizes and max_batch are positive). */
    m->sizes = calloc(n_sizes, sizeof *m->sizes);
    m->params = alloc_floats(n_params);
    m->grads = alloc_floats(n_params);
    m->velocity = alloc_floats(n_params);
    m->W = calloc(n_layers, sizeof *m->W);
    m->b = calloc(n_layers, sizeof *m->b);
    m->dW = calloc(n_layers, sizeof *m->dW);
    m->db = calloc(n_layers, sizeof *m->db);
    m->out = calloc(n_layers, sizeof *m->out);
    float *act_block = alloc_floats(n_act);
    if (m->out)
        m->out[0] = act_block;
    m->delta_a = alloc_floats(n_delta);
    m->delta_b = alloc_floats(n_delta);
    m->probs = alloc_floats(n_probs);
    m->exps = calloc(n_probs, sizeof *m->exps);
    m->row_loss = calloc(max_batch, sizeof *m->row_loss);
    m->row_hit = calloc(max_batch, sizeof *m->row_hit);
    m->in_drop = alloc_floats(n_drop);
    m->in_keep = calloc(n_drop, sizeof *m->in_keep);
    m->hid_drop = calloc(n_layers, sizeof *m->hid_drop);
    m->hid_keep = calloc(n_layers, sizeof *m->hid_keep);
    const bool keep_packed = sizes[0] * sizes[1] >= MLP_W0_PACKED_MIN; /* no overflow: checked */
    if (keep_packed) {
        m->w0_packed = alloc_floats(kn_packed_b_floats(sizes[0], sizes[1]));
        m->delta0_packed = alloc_floats(kn_packed_b_floats(max_batch, sizes[1]));
    }
    if (!m->sizes || !m->params || !m->grads || !m->velocity || !m->W || !m->b || !m->dW ||
        !m->db || !m->out || !act_block || !m->delta_a || !m->delta_b || !m->probs ||
        !m->exps || !m->row_loss || !m->row_hit ||
        !m->in_drop || !m->in_keep || !m->hid_drop || !m->hid_keep ||
        (keep_packed && (!m->w0_packed || !m->delta0_packed))) {
        if (!m->out)
            free(act_block);
        mlp_free(m);
        return rn_fail(err, RN_ERR_NOMEM,
                       "mlp: out of memory for %zu parameters and %zu activations", n_params,
                       n_act);
    }
    memcpy(m->sizes, sizes, n_sizes * sizeof *m->sizes);
    m->threads = m->threads_used = 1;

    size_t off = 0, act_off = 0, drop_off = n_in;
    for (size_t l = 0; l < n_layers; l++) {
        size_t in = sizes[l], out = sizes[l + 1];
        m->W[l] = m->params + off;
        m->dW[l] = m->grads + off;
        off += out * in;
        m->b[l] = m->params + off;
        m->db[l] = m->grads + off;
        off += out;
        m->out[l] = act_block + act_off;
        act_off += max_batch * out;
        if (l + 1 < n_layers) { /* hidden: dropout views; the last stays NULL */
            m->hid_drop[l] = m->in_drop + drop_off;
            m->hid_keep[l] = m->in_keep + drop_off;
            drop_off += max_batch * out;
        }
    }
    return RN_OK;
}

void mlp_set_threads(struct mlp *m, size_t threads)
{
    kn_pool_destroy(m->pool);
    m->pool = NULL;
    m->threads = threads ? threads : 1;
    m->threads_used = m->threads;
    if (m->threads > 1)
        m->pool = kn_pool_create(m->threads); /* NULL: kn_sgemm_mt per product */
}

void mlp_use_threads(struct mlp *m, size_t used)
{
    m->threads_used = used > 1 ? m->threads : 1;
}

/* The pool to run on now: NULL while the model uses one thread. */
static struct kn_pool *pool_now(const struct mlp *m)
{
    return m->threads_used > 1 ? m->pool : NULL;
}

/* C (M, N) = alpha op(A) (M, K) x op(B) (K, N) + beta C on the model's
 * threads: its pool, else threads started per call (kn_sgemm_mt with 1
 * thread is kn_sgemm). */
static void matmul_ab(const struct mlp *m, bool trans_a, bool trans_b, size_t M, size_t N,
                      size_t K, float alpha, struct kn_mat A, struct kn_mat B, float beta,
                      float *C, size_t ldc)
{
    if (pool_now(m))
        kn_sgemm_pool_mat(m->pool, trans_a, trans_b, M, N, K, alpha, A, B, beta, C, ldc);
    else
        kn_sgemm_mt_mat(m->threads_used, trans_a, trans_b, M, N, K, alpha, A, B, beta, C, ldc);
}

/* C = op(A) x op(B). */
static void matmul(const struct mlp *m, bool trans_a, bool trans_b, size_t M, size_t N,
                   size_t K, struct kn_mat A, struct kn_mat B, float *C, size_t ldc)
{
    matmul_ab(m, trans_a, trans_b, M, N, K, 1.0f, A, B, 0.0f, C, ldc);
}

void mlp_init_params(struct mlp *m, struct rng *r)
{
    /* Draw order: layer 0's W row by row, then layer 1's W, ... */
    for (size_t l = 0; l < m->n_layers; l++) {
        size_t in = m->sizes[l], out = m->sizes[l + 1];
        float *W = m->W[l];
        if (m->act == CFG_ACT_RELU) {
            double std = sqrt(2.0 / (double)in);
            for (size_t i = 0; i < out * in; i++)
                W[i] = (float)(std * rng_normal(r));
        } else {
            double limit = sqrt(6.0 / (double)(in + out));
            for (size_t i = 0; i < out * in; i++)
                W[i] = (float)rng_range(r, -limit, limit);
        }
        memset(m->b[l], 0, out * sizeof(float));
    }
    memset(m->grads, 0, m->n_params * sizeof(float));
    memset(m->velocity, 0, m->n_params * sizeof(float));
    m->w0_state = MLP_W0_NONE;
}

void mlp_sync_params(struct mlp *m)
{
    if (m->w0_state == MLP_W0_AHEAD) {
        kn_unpack_b(true, m->sizes[0], m->sizes[1], m->w0_packed, m->W[0], m->sizes[0]);
        m->w0_state = MLP_W0_SAME;
    }
}

void mlp_params_changed(struct mlp *m)
{
    m->w0_state = MLP_W0_NONE;
}

/* z (B, n) += b, then the activation in place (hidden layers only). */
static void bias_act(float *z, const float *b, size_t B, size_t n, enum cfg_activation act,
                     int hidden)
{
    for (size_t i = 0; i < B; i++) {
        float *row = z + i * n;
        for (size_t j = 0; j < n; j++)
            row[j] += b[j];
        if (!hidden)
            continue;
        switch (act) {
        case CFG_ACT_RELU:
            for (size_t j = 0; j < n; j++)
                row[j] = row[j] > 0.0f ? row[j] : 0.0f;
            break;
        case CFG_ACT_TANH:
            for (size_t j = 0; j < n; j++)
                row[j] = tanhf(row[j]);
            break;
        case CFG_ACT_SIGMOID:
            /* expf(-z) -> inf for very negative z gives exactly 0, no NaN. */
            for (size_t j = 0; j < n; j++)
                row[j] = 1.0f / (1.0f + expf(-row[j]));
            break;
        }
    }
}

/* d (B, n) *= f'(z), computed from the activation's output y = f(z). */
static void act_backward(float *d, const float *y, size_t B, size_t n, enum cfg_activation act)
{
    size_t total = B * n;
    switch (act) {
    case CFG_ACT_RELU:
        for (size_t i = 0; i < total; i++)
            d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    case CFG_ACT_TANH:
        for (size_t i = 0; i < total; i++)
            d[i] *= 1.0f - y[i] * y[i];
        break;
    case CFG_ACT_SIGMOID:
        for (size_t i = 0; i < total; i++)
            d[i] *= y[i] * (1.0f - y[i]);
        break;
    }
}

/* Scale of the kept units for drop probability p: 1 / (1 - p), in float. */
static float keep_scale(float p)
{
    return (float)(1.0 / (1.0 - (double)p));
}

/* Inverted dropout forward on n elements: draws one rng_u64 per element, in
 * order; element i is dropped iff rng_uniform(r) < p. dst[i] = keep[i] ?
 * src[i] * scale : 0 (a select, so a dropped inf or NaN does not leak). */
static void dropout_forward(const float *src, float *dst, uint8_t *keep, size_t n, float p,
                            struct rng *r)
{
    float scale = keep_scale(p);
    for (size_t i = 0; i < n; i++) {
        uint8_t k = rng_uniform(r) >= (double)p;
        keep[i] = k;
        dst[i] = k ? src[i] * scale : 0.0f;
    }
}

/* d (n) is d loss / d(dropped output); turns it into d loss / d(input of the
 * dropout) with the mask and scale of the forward pass. */
static void dropout_backward(float *d, const uint8_t *keep, size_t n, float p)
{
    float scale = keep_scale(p);
    for (size_t i = 0; i < n; i++)
        d[i] = keep[i] ? d[i] * scale : 0.0f;
}

/* Forward of the batch x (B, sizes[0]) through layers 0 .. layers-1; with
 * p_hidden > 0 every hidden layer's output out[l] is dropped into
 * hid_drop[l], which feeds layer l+1 (masks drawn from r layer by layer,
 * row-major). p_hidden = 0: plain inference. Returns the input of layer
 * `layers` (the logits if layers = n_layers). */
static struct kn_mat forward(struct mlp *m, struct kn_mat x, size_t B, float p_hidden,
                             struct rng *r, size_t layers)
{
    assert(B <= m->max_batch);
    assert(layers <= m->n_layers);
    struct kn_mat in = x; /* (B, sizes[l]) */
    for (size_t l = 0; l < layers; l++) {
        size_t n_in = m->sizes[l], n_out = m->sizes[l + 1];
        int hidden = l + 1 < m->n_layers;
        float *z = m->out[l]; /* (B, n_out) */
        /* z = in W^T: (B, n_in) x (n_in, n_out); W is (n_out, n_in). */
        if (l == 0 && m->w0_state != MLP_W0_NONE)
            kn_sgemm_pool_packed_b(pool_now(m), false, B, n_out, n_in, 1.0f, in, m->w0_packed, 0.0f,
                                   z, n_out);
        else
            matmul(m, false, true, B, n_out, n_in, in, kn_mat_dense(m->W[l], n_in), z, n_out);
        bias_act(z, m->b[l], B, n_out, m->act, hidden);
        in = kn_mat_dense(z, n_out);
        if (hidden && p_hidden > 0.0f) {
            dropout_forward(z, m->hid_drop[l], m->hid_keep[l], B * n_out, p_hidden, r);
            in = kn_mat_dense(m->hid_drop[l], n_out);
        }
    }
    return in;
}

const float *mlp_forward(struct mlp *m, const float *x, size_t B)
{
    return forward(m, kn_mat_dense(x, m->sizes[0]), B, 0.0f, NULL, m->n_layers).base;
}

/* Softmax cross-entropy of one row of logits z (C) with its label: returns
 * the row's loss and sets *hit (argmax == label). With d non-NULL it also
 * writes d(mean loss over B rows)/dz into d (C); e (C doubles) then keeps
 * the exps between the two passes, or is NULL to compute them again (the
 * same values either way). */
static double xent_row(const float *z, size_t label, size_t C, size_t B, float *d, double *e,
                       bool *hit)
{
    assert(label < C);
    size_t best = 0;
    for (size_t j = 1; j < C; j++)
        if (z[j] > z[best])
            best = j;
    *hit = best == label;
    /* log-sum-exp around the max, in double: every exp(z_j - max) <= 1
     * and the max term is exactly 1, so sum is in [1, C]. The loss
     * log(sum) + (max - z_label) never subtracts two huge numbers that
     * should cancel, so it stays accurate for logits like +-1e30. */
    double mx = z[best];
    double sum = 0.0;
    for (size_t j = 0; j < C; j++) {
        double ej = exp((double)z[j] - mx);
        if (e)
            e[j] = ej;
        sum += ej;
    }
    if (d) {
        /* d(mean loss)/dz_j = (softmax_j - [j == label]) / B. */
        for (size_t j = 0; j < C; j++) {
            double p = (e ? e[j] : exp((double)z[j] - mx)) / sum;
            d[j] = (float)((p - (j == label ? 1.0 : 0.0)) / (double)B);
        }
    }
    return log(sum) + (mx - (double)z[label]);
}

double mlp_softmax_xent(const float *logits, const uint8_t *y, size_t B, size_t C,
                        float *dlogits, size_t *correct)
{
    double total = 0.0;
    size_t hits = 0;
    for (size_t i = 0; i < B; i++) {
        bool hit;
        total += xent_row(logits + i * C, y[i], C, B, dlogits ? dlogits + i * C : NULL, NULL,
                          &hit);
        hits += hit;
    }
    if (correct)
        *correct = hits;
    return B ? total / (double)B : 0.0;
}

/* Rows per task of the output layer's step (out_task); a multiple of the
 * micro-kernel's rows, so that a task's products tile the rows as the
 * whole batch's product would. */
#define OUT_TASK_ROWS ((size_t)16)
/* The output layer's step is split by rows only when its W is smaller than
 * this (every task packs all of W for its products). */
#define OUT_ROWS_MAX_WEIGHTS ((size_t)1 << 16)

/* The output layer's part of a training step that is independent row by
 * row: logits, softmax cross-entropy and the delta of the layer below. */
struct out_step {
    struct mlp *m;
    const float *in;   /* (B, n_in): the output layer's input */
    const uint8_t *y;  /* (B) labels */
    size_t B;
    float p_hidden;    /* dropout of the layer below (its mask in hid_keep) */
    float *prev;       /* (B, n_in): gets d loss / d z of the layer below */
};

/* Rows [16 t, 16 t + 16) of the batch (out_step): z = in W^T + b, the
 * loss, hit and dlogits (m->probs) of every row, then prev = dlogits W
 * through the dropout mask and f' of the layer below. Every element is
 * computed as in the whole batch's products. */
static void out_task(void *ctx, size_t t)
{
    const struct out_step *o = ctx;
    struct mlp *m = o->m;
    size_t L = m->n_layers, n_in = m->sizes[L - 1], C = m->sizes[L];
    size_t lo = t * OUT_TASK_ROWS;
    size_t n = o->B - lo < OUT_TASK_ROWS ? o->B - lo : OUT_TASK_ROWS;
    float *z = m->out[L - 1] + lo * C;
    kn_sgemm(false, true, n, C, n_in, 1.0f, o->in + lo * n_in, n_in, m->W[L - 1], n_in, 0.0f, z,
             C);
    bias_act(z, m->b[L - 1], n, C, m->act, 0);
    for (size_t i = lo; i < lo + n; i++) {
        bool hit;
        m->row_loss[i] = xent_row(m->out[L - 1] + i * C, o->y[i], C, o->B, m->probs + i * C,
                                  m->exps + i * C, &hit);
        m->row_hit[i] = hit;
    }
    float *prev = o->prev + lo * n_in;
    kn_sgemm(false, false, n, n_in, C, 1.0f, m->probs + lo * C, C, m->W[L - 1], n_in, 0.0f, prev,
             n_in);
    if (o->p_hidden > 0.0f)
        dropout_backward(prev, m->hid_keep[L - 2] + lo * n_in, n * n_in, o->p_hidden);
    act_backward(prev, m->out[L - 2] + lo * n_in, n, n_in, m->act);
}

/* Forward + backward, with dropout where p > 0 (mask order: input, then
 * hidden layers in order; see mlp.h). p_input = p_hidden = 0 is the plain
 * forward + backward and does not touch r. */
static double forward_backward(struct mlp *m, struct kn_mat x, const uint8_t *y, size_t B,
                               size_t *correct, float p_input, float p_hidden, struct rng *r,
                               const float *fused_lr)
{
    size_t L = m->n_layers;
    assert(B <= m->max_batch);
    /* Layer 0's weights: packed for plain SGD (fused_lr), else in W[0]. */
    const bool packed = fused_lr && m->w0_packed;
    if (packed && m->w0_state == MLP_W0_NONE) {
        kn_pack_b(true, m->sizes[0], m->sizes[1], m->W[0], m->sizes[0], m->w0_packed);
        m->w0_state = MLP_W0_SAME;
    } else if (!packed) {
        mlp_sync_params(m);
    }
    if (p_input > 0.0f) {
        /* x (B, sizes[0]) -> in_drop, row by row (the masks are drawn in the
         * same row-major order); the caller's x is left as it is. */
        size_t n0 = m->sizes[0];
        for (size_t i = 0; i < B; i++)
            dropout_forward(kn_mat_row(&x, i), m->in_drop + i * n0, m->in_keep + i * n0, n0,
                            p_input, r);
        x = kn_mat_dense(m->in_drop, n0);
    }
    float *delta = m->probs; /* (B, sizes[l+1]): d loss / d z of layer l */
    /* The delta of the output layer's input, if out_task computes it. */
    float *out_prev = NULL;
    double loss;
    if (L >= 2 && m->sizes[L] * m->sizes[L - 1] < OUT_ROWS_MAX_WEIGHTS) {
        /* The output layer's row-wise work on the threads, 16 rows a task;
         * then the loss summed in row order, as mlp_softmax_xent sums it. */
        struct kn_mat in = forward(m, x, B, p_hidden, r, L - 1);
        assert(!in.rows && in.ld == m->sizes[L - 1]);
        out_prev = m->delta_a;
        struct out_step o = {m, in.base, y, B, p_hidden, out_prev};
        kn_pool_for(pool_now(m), (B + OUT_TASK_ROWS - 1) / OUT_TASK_ROWS, out_task, &o);
        double total = 0.0;
        size_t hits = 0;
        for (size_t i = 0; i < B; i++) {
            total += m->row_loss[i];
            hits += m->row_hit[i];
        }
        loss = B ? total / (double)B : 0.0;
        if (correct)
            *correct = hits;
    } else {
        const float *logits = forward(m, x, B, p_hidden, r, L).base;
        /* dlogits (B, classes) go to the probs scratch. */
        loss = mlp_softmax_xent(logits, y, B, m->sizes[L], m->probs, correct);
    }

    for (size_t l = L; l-- > 0;) {
        size_t n_in = m->sizes[l], n_out = m->sizes[l + 1];
        /* The input of layer l as the forward pass used it, after dropout. */
        /* (B, n_in) */
        struct kn_mat in = l == 0            ? x
                           : p_hidden > 0.0f ? kn_mat_dense(m->hid_drop[l - 1], n_in)
                                             : kn_mat_dense(m->out[l - 1], n_in);

        /* db (n_out) = column sums of delta. */
        float *db = m->db[l];
        memset(db, 0, n_out * sizeof(float));
        for (size_t i = 0; i < B; i++)
            for (size_t j = 0; j < n_out; j++)
                db[j] += delta[i * n_out + j];

        /* delta_prev (B, n_in) = delta (B, n_out) x W (n_out, n_in), then
         * through layer l-1's dropout (same mask and scale), then times f'(z)
         * of layer l-1, from its stored output before dropout. Computed
         * before dW so that the fused update below may overwrite W (for
         * the output layer out_task may have done it already). */
        float *prev = delta == m->delta_a ? m->delta_b : m->delta_a;
        if (l + 1 == L && out_prev) {
            assert(prev == out_prev);
        } else if (l > 0) {
            matmul(m, false, false, B, n_in, n_out, kn_mat_dense(delta, n_out),
                   kn_mat_dense(m->W[l], n_in), prev, n_in);
            if (p_hidden > 0.0f)
                dropout_backward(prev, m->hid_keep[l - 1], B * n_in, p_hidden);
            act_backward(prev, m->out[l - 1], B, n_in, m->act);
        }
        if (fused_lr) {
            /* Plain SGD folded into the product: W = W - lr delta^T in, and
             * b = b - lr db; rounded as mlp_sgd_step rounds (see mlp_train_step). */
            const float lr = *fused_lr;
            if (l == 0 && packed) {
                /* W^T = W^T - lr in^T delta, in the packed copy. */
                kn_sgemm_pool_add_packed(pool_now(m), n_in, n_out, B, -lr, in,
                                         kn_mat_dense(delta, n_out), m->w0_packed,
                                         m->delta0_packed);
                m->w0_state = MLP_W0_AHEAD;
            } else {
                matmul_ab(m, true, false, n_out, n_in, B, -lr, kn_mat_dense(delta, n_out), in,
                          1.0f, m->W[l], n_in);
                if (l == 0)
                    m->w0_state = MLP_W0_NONE;
            }
            float *b = m->b[l];
            for (size_t j = 0; j < n_out; j++)
                b[j] -= lr * db[j];
        } else {
            /* dW (n_out, n_in) = delta^T (n_out, B) x in (B, n_in). */
            matmul(m, true, false, n_out, n_in, B, kn_mat_dense(delta, n_out), in, m->dW[l],
                   n_in);
        }
        if (l == 0)
            break;
        delta = prev;
    }
    return loss;
}

double mlp_forward_backward(struct mlp *m, const float *x, const uint8_t *y, size_t B,
                            size_t *correct)
{
    return forward_backward(m, kn_mat_dense(x, m->sizes[0]), y, B, correct, 0.0f, 0.0f, NULL,
                            NULL);
}

double mlp_forward_backward_dropout(struct mlp *m, const float *x, const uint8_t *y, size_t B,
                                    size_t *correct, float p_input, float p_hidden,
                                    struct rng *r)
{
    assert(p_input >= 0.0f && p_input < 1.0f);
    assert(p_hidden >= 0.0f && p_hidden < 1.0f);
    assert(r || (p_input == 0.0f && p_hidden == 0.0f));
    return forward_backward(m, kn_mat_dense(x, m->sizes[0]), y, B, correct, p_input, p_hidden,
                            r, NULL);
}

/* Elements per task of the threaded SGD step, and the least number of
 * parameters for which it uses the pool at all. */
#define SGD_CHUNK ((size_t)1 << 16)
#define SGD_MIN_THREADED ((size_t)1 << 18)

struct sgd_job {
    struct mlp *m;
    float lr, momentum, weight_decay;
};

/* v = momentum v + (g + decay p); p -= lr v on [lo, hi) of the arena. */
static void sgd_range(float *restrict p, const float *restrict g, float *restrict v, size_t n,
                      float lr, float momentum, float decay)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = momentum * v[i] + (g[i] + decay * p[i]);
        p[i] -= lr * v[i];
    }
}

/* Task t: arena elements [t SGD_CHUNK, (t+1) SGD_CHUNK), split at the layer
 * boundaries into weights (decayed) and biases (not decayed). Every element
 * is updated by exactly one task with the same formula, so the result does
 * not depend on the threads. */
static void sgd_task(void *ctx, size_t t)
{
    const struct sgd_job *j = ctx;
    struct mlp *m = j->m;
    size_t lo = t * SGD_CHUNK, hi = lo + SGD_CHUNK < m->n_params ? lo + SGD_CHUNK : m->n_params;
    for (size_t l = 0; l < m->n_layers && lo < hi; l++) {
        size_t w0 = (size_t)(m->W[l] - m->params), b0 = (size_t)(m->b[l] - m->params);
        size_t b1 = b0 + m->sizes[l + 1];
        /* Weights [w0, b0), then biases [b0, b1). */
        const size_t edges[3] = {w0, b0, b1};
        for (size_t part = 0; part < 2; part++) {
            size_t a = lo > edges[part] ? lo : edges[part];
            size_t z = hi < edges[part + 1] ? hi : edges[part + 1];
            if (a < z)
                sgd_range(m->params + a, m->grads + a, m->velocity + a, z - a, j->lr,
                          j->momentum, part == 0 ? j->weight_decay : 0.0f);
        }
    }
}

void mlp_sgd_step(struct mlp *m, float lr, float momentum, float weight_decay)
{
    mlp_sync_params(m);
    m->w0_state = MLP_W0_NONE; /* W[0] changes below */
    struct sgd_job job = {m, lr, momentum, weight_decay};
    size_t tasks = m->n_params / SGD_CHUNK + (m->n_params % SGD_CHUNK != 0);
    if (pool_now(m) && m->n_params >= SGD_MIN_THREADED) {
        kn_pool_for(m->pool, tasks, sgd_task, &job);
    } else {
        for (size_t t = 0; t < tasks; t++)
            sgd_task(&job, t);
    }
}

double mlp_train_step_rows(struct mlp *m, const float *x, size_t ld, const size_t *rows,
                           const uint8_t *y, size_t B, size_t *correct, float p_input,
                           float p_hidden, struct rng *r, float lr, float momentum,
                           float weight_decay)
{
    assert(p_input >= 0.0f && p_input < 1.0f);
    assert(p_hidden >= 0.0f && p_hidden < 1.0f);
    assert(r || (p_input == 0.0f && p_hidden == 0.0f));
    assert(ld >= m->sizes[0]);
    const struct kn_mat xm = {x, ld, rows};
    /* Plain SGD (no momentum, no decay): v = 0 v + (g + 0 p) is g, so the
     * update is p = p - lr g, which the weight-gradient product computes in
     * place (alpha = -lr, beta = 1) with the same two roundings as long as
     * the product sums each element in one K block (B <= KN_SGEMM_KC). This
     * skips writing the gradient and the separate pass over all parameters;
     * the velocity is not touched (it stays what it was, unused). */
    if (momentum == 0.0f && weight_decay == 0.0f && B <= KN_SGEMM_KC)
        return forward_backward(m, xm, y, B, correct, p_input, p_hidden, r, &lr);
    double loss = forward_backward(m, xm, y, B, correct, p_input, p_hidden, r, NULL);
    mlp_sgd_step(m, lr, momentum, weight_decay);
    return loss;
}

double mlp_train_step(struct mlp *m, const float *x, const uint8_t *y, size_t B,
                      size_t *correct, float p_input, float p_hidden, struct rng *r, float lr,
                      float momentum, float weight_decay)
{
    return mlp_train_step_rows(m, x, m->sizes[0], NULL, y, B, correct, p_input, p_hidden, r, lr,
                               momentum, weight_decay);
}

void mlp_evaluate(struct mlp *m, const float *x, const uint8_t *y, size_t n, double *loss,
                  double *accuracy)
{
    size_t n_in = m->sizes[0], C = m->sizes[m->n_layers];
    double loss_sum = 0.0;
    size_t hits = 0;
    for (size_t start = 0; start < n; start += m->max_batch) {
        size_t B = n - start < m->max_batch ? n - start : m->max_batch;
        const float *logits = mlp_forward(m, x + start * n_in, B);
        size_t c = 0;
        loss_sum += mlp_softmax_xent(logits, y + start, B, C, NULL, &c) * (double)B;
        hits += c;
    }
    if (loss)
        *loss = n ? loss_sum / (double)n : 0.0;
    if (accuracy)
        *accuracy = n ? (double)hits / (double)n : 0.0;
}

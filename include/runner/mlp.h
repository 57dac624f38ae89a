/* mlp: a multilayer perceptron of any depth, its loss, and its SGD step.
 *
 * Layer l (0-based, l < n_layers) maps sizes[l] -> sizes[l+1]:
 *   z = x W^T + b,  W is (sizes[l+1], sizes[l]) row-major, b is (sizes[l+1]);
 * hidden layers apply the activation; the last layer's output are logits,
 * followed by softmax + cross-entropy (log-sum-exp, stable for huge logits).
 * All parameters live in one allocation `params` (layer by layer: W then b),
 * with `grads` and `velocity` of the same layout. Activations are allocated
 * once for max_batch rows and reused. Training may apply inverted dropout to
 * the input and to every hidden layer's output (off by default); inference
 * (mlp_forward, mlp_evaluate) never does. The matrix products may run on
 * several threads (mlp_set_threads) with bit-identical results. Called by
 * train. */
#ifndef RUNNER_MLP_H
#define RUNNER_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "runner/config.h"
#include "runner/err.h"
#include "runner/rng.h"

struct kn_pool;

struct mlp {
    size_t n_layers;             /* weight layers = number of sizes - 1 */
    size_t *sizes;               /* n_layers + 1 entries */
    enum cfg_activation act;
    size_t n_params;
    float *params, *grads, *velocity; /* n_params each */
    float **W, **b, **dW, **db;  /* per-layer views into params / grads */
    size_t max_batch;
    size_t threads;              /* threads of every matrix product, 1 after
                                  * mlp_create; see mlp_set_threads */
    size_t threads_used;         /* of them, in use now (mlp_use_threads) */
    struct kn_pool *pool;        /* their workers if threads > 1 (owned), or NULL */
    /* out[l], l = 0..n_layers-1: (max_batch, sizes[l+1]) output of layer l
     * after its activation (the last one holds the logits). */
    float **out;
    float *delta_a, *delta_b;    /* (max_batch, max size) backward scratch */
    float *probs;                /* (max_batch, classes) softmax scratch */
    double *exps;                /* (max_batch, classes) softmax scratch */
    double *row_loss;            /* (max_batch) loss of every row of a batch */
    bool *row_hit;               /* (max_batch) argmax == label, every row */
    /* Dropout scratch, written only by mlp_forward_backward_dropout (always
     * allocated, so a training step never allocates). *_drop hold the values
     * after dropout (0 or value * (float)(1 / (1-p))); *_keep the masks (1 = kept). */
    float *in_drop;              /* (max_batch, sizes[0]); owns the hid_drop block */
    uint8_t *in_keep;            /* (max_batch, sizes[0]); owns the hid_keep block */
    float **hid_drop;            /* [l], l < n_layers-1: (max_batch, sizes[l+1]) out[l]
                                  * after dropout; [n_layers-1] is NULL */
    uint8_t **hid_keep;          /* [l]: mask for hid_drop[l], same shape */
    /* Layer 0's W^T, packed for the matrix kernels (kn_pack_b), kept while
     * plain SGD trains (mlp_train_step) so that neither the forward pass
     * nor the fused update re-arranges W[0] every batch; NULL for a W[0] of
     * fewer than 2^16 weights (mlp.c: MLP_W0_PACKED_MIN), which is always
     * updated in place. It takes as much memory as W[0]. w0_state says how
     * it relates to W[0]: */
    float *w0_packed;
    float *delta0_packed;        /* scratch: layer 0's delta packed for the update */
    enum { MLP_W0_NONE, /* not in use, or out of date: W[0] holds the weights */
           MLP_W0_SAME, /* the same values as W[0] */
           MLP_W0_AHEAD /* newer than W[0] (mlp_sync_params brings W[0] up) */
    } w0_state;
};

int mlp_create(struct mlp *m, const size_t *sizes, size_t n_sizes, enum cfg_activation act,
               size_t max_batch, struct rn_err *err);
void mlp_free(struct mlp *m);

/* Runs the matrix products of forward, backward and evaluate on up to
 * `threads` threads (0 counts as 1): the caller's and threads - 1 workers
 * of a kn_pool that m owns (started here, stopped by the next call or by
 * mlp_free; if the pool cannot be made, threads are started per product).
 * Results are bit-identical for every number of threads; only the speed
 * changes. The SGD update of large models runs on them too, and so does a
 * training step's row-wise work of an output layer under 2^16 weights
 * (logits, softmax, the delta of the layer below); the rest (bias and
 * activation of hidden layers, dropout masks, bias gradients) stays on the
 * caller's thread. Not to be called while another thread uses m. */
void mlp_set_threads(struct mlp *m, size_t threads);

/* Runs the work on `used` of the model's threads from now on: 1 or all of
 * them (used >= threads; 0 counts as 1), without stopping or starting any
 * (a worker left idle sleeps). mlp_set_threads uses all. Only the speed
 * changes; the training loop's tuner (tuner.h) switches between the two. */
void mlp_use_threads(struct mlp *m, size_t used);

/* Plain SGD steps (mlp_train_step with momentum = weight_decay = 0) update
 * layer 0's weights in the packed copy m->w0_packed only, so W[0] (and
 * params) may lag behind until mlp_sync_params copies them back. Every
 * function declared here reads the current weights whatever the state; code
 * that reads m->params, m->W or m->velocity itself (checkpoints, checks)
 * calls mlp_sync_params first, and code that writes params itself calls
 * mlp_params_changed afterwards. */
void mlp_sync_params(struct mlp *m);
void mlp_params_changed(struct mlp *m);

/* He-normal weights for ReLU, Xavier/Glorot-uniform for tanh and sigmoid;
 * zero biases; zero velocity. */
void mlp_init_params(struct mlp *m, struct rng *r);

/* Forward B <= max_batch rows of x (B, sizes[0]); returns the logits
 * (B, classes), valid until the next call. */
const float *mlp_forward(struct mlp *m, const float *x, size_t B);

/* Mean softmax cross-entropy over the rows; if dlogits is non-NULL it gets
 * d(mean loss)/d(logits). *correct (if non-NULL) counts argmax hits. */
double mlp_softmax_xent(const float *logits, const uint8_t *y, size_t B, size_t C,
                        float *dlogits, size_t *correct);

/* Forward + backward on one batch: grads are overwritten (not accumulated
 * across calls) with d(mean loss)/d(params). Returns the mean loss. */
double mlp_forward_backward(struct mlp *m, const float *x, const uint8_t *y, size_t B,
                            size_t *correct);

/* mlp_forward_backward with inverted dropout, for training. p_input and
 * p_hidden are drop probabilities in [0, 1). With p_input > 0 every element of
 * x (B, sizes[0]) is dropped with probability p_input, the rest scaled by
 * s = (float)(1 / (1 - p)); the result goes to m->in_drop (x is not modified).
 * With p_hidden > 0 the same is done to the output (after the activation) of
 * every hidden layer, i.e. all layers but the last, before it feeds the next
 * layer; backward multiplies the gradient by the same mask and scale.
 *
 * Masks come from r, one rng_u64 per element: element i is dropped iff
 * rng_uniform(r) < p. Draw order: the input mask (B, sizes[0]) row-major if
 * p_input > 0, then the mask of hidden layer 0, 1, ..., n_layers-2, each
 * (B, sizes[l+1]) row-major, if p_hidden > 0. So a call with p_input > 0
 * draws B * sizes[0] numbers plus, with p_hidden > 0, B * (sizes[1] + ... +
 * sizes[n_layers-1]); a net without hidden layers draws none for p_hidden.
 * With both p equal to 0 this is exactly mlp_forward_backward (bitwise) and r
 * is not used (it may then be NULL). */
double mlp_forward_backward_dropout(struct mlp *m, const float *x, const uint8_t *y, size_t B,
                                    size_t *correct, float p_input, float p_hidden,
                                    struct rng *r);

/* v = momentum * v + (g + weight_decay * W);  p -= lr * v.
 * Weight decay applies to weights only, not biases. Large models use the
 * model's threads (each element has one writer: same result for any count). */
void mlp_sgd_step(struct mlp *m, float lr, float momentum, float weight_decay);

/* One training step: the result (params, loss, *correct, velocity where it is
 * used) is bitwise that of mlp_forward_backward_dropout followed by
 * mlp_sgd_step(lr, momentum, weight_decay). With momentum = weight_decay = 0
 * and B <= KN_SGEMM_KC the update is folded into the weight-gradient product
 * (no gradient buffer, no extra pass over the parameters); then the weight
 * gradients in grads are not computed and velocity is left as it was. The
 * update happens even if the loss is non-finite (the caller stops then). */
double mlp_train_step(struct mlp *m, const float *x, const uint8_t *y, size_t B,
                      size_t *correct, float p_input, float p_hidden, struct rng *r, float lr,
                      float momentum, float weight_decay);

/* mlp_train_step on the batch whose row i is x + rows[i] * ld (ld >= sizes[0];
 * rows NULL: row i at x + i * ld), read in place rather than copied into a
 * batch buffer first (y is the batch's own B labels). Bitwise the same as
 * mlp_train_step on a copy of those rows. */
double mlp_train_step_rows(struct mlp *m, const float *x, size_t ld, const size_t *rows,
                           const uint8_t *y, size_t B, size_t *correct, float p_input,
                           float p_hidden, struct rng *r, float lr, float momentum,
                           float weight_decay);

/* Mean loss and accuracy over n rows, in chunks of max_batch. */
void mlp_evaluate(struct mlp *m, const float *x, const uint8_t *y, size_t n, double *loss,
                  double *accuracy);

#endif

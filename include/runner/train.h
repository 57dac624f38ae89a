/* train: the epoch loop — shuffled mini-batches, SGD, per-epoch metrics,
 * divergence detection. It knows nothing about files or databases: each
 * finished epoch is handed to a callback (the CLI records it, and saves a
 * checkpoint of the model and of the train state below). A run continues
 * from such a checkpoint with bit-identical results (train_run_state).
 * Called by the CLI. */
#ifndef RUNNER_TRAIN_H
#define RUNNER_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runner/config.h"
#include "runner/err.h"
#include "runner/mlp.h"
#include "runner/results.h"
#include "runner/rng.h"

/* A feature matrix with its labels. */
struct train_split {
    const float *x;        /* n x dim */
    const uint8_t *y;      /* n */
    size_t n, dim;
};

typedef int (*train_epoch_fn)(void *ctx, const struct epoch_metrics *m, struct rn_err *err);

/* Progress inside an epoch, after each mini-batch: the running means of the
 * epoch so far. For display only; nothing in training reads it back. */
struct train_progress {
    size_t epoch, epochs;    /* 1-based epoch of cfg->epochs */
    size_t batch, batches;   /* mini-batches done in this epoch (1..batches) */
    double loss, acc;        /* mean train loss and accuracy (fraction) so far */
};

typedef void (*train_batch_fn)(void *ctx, const struct train_progress *p);

/* What train_run_hooks calls: on_epoch after each epoch (required), on_batch
 * after each mini-batch (optional, NULL for none); both get ctx. */
struct train_hooks {
    train_epoch_fn on_epoch;
    train_batch_fn on_batch;
    void *ctx;
};

struct train_outcome {
    enum run_status status;  /* RUN_COMPLETED or RUN_DIVERGED */
    size_t epochs_done;      /* epochs fully recorded */
    size_t diverged_epoch;   /* 1-based epoch in which the loss became non-finite */
    size_t batches;          /* mini-batches run by this call; of them: */
    size_t batches_one_thread; /* on one of m's several threads (tuner.h), */
    size_t batches_one_probing; /* of those, to time one thread (the tuner's
                                 * probes; the rest because it measured faster) */
};

/* Train m (already initialised) for cfg->epochs epochs on `train`, evaluating
 * on `test` (and on `val` if non-NULL) after each epoch. Train loss and
 * accuracy are the means over the epoch's mini-batches, each batch measured
 * before its update. The learning rate of each epoch comes from the
 * schedule (cfg_lr_at) and is recorded with it. Dropout (if configured) is
 * active while training, so the train metrics are measured with it; test and
 * validation passes never use it. The shuffle order comes from rng_init(seed,
 * RNG_STREAM_SHUFFLE), dropout masks from (seed, RNG_STREAM_DROPOUT). A non-finite loss stops training with RUN_DIVERGED
 * (the callback is not called for that epoch). A callback error stops
 * training and is returned. */
int train_run(const struct cfg_training *cfg, uint64_t seed, struct mlp *m,
              const struct train_split *train, const struct train_split *val,
              const struct train_split *test, train_epoch_fn on_epoch, void *ctx,
              struct train_outcome *out, struct rn_err *err);

/* train_run with per-batch progress: identical results, plus
 * hooks->on_batch (if non-NULL) after every mini-batch. */
int train_run_hooks(const struct cfg_training *cfg, uint64_t seed, struct mlp *m,
                    const struct train_split *train, const struct train_split *val,
                    const struct train_split *test, const struct train_hooks *hooks,
                    struct train_outcome *out, struct rn_err *err);

/* Everything besides the model that the next epoch depends on: the RNG
 * streams (positions after the last completed epoch) and the batch order,
 * which each epoch shuffles further in place. With the model's params and
 * velocity (the only state that survives a step: grads are overwritten) it
 * is a complete checkpoint. */
struct train_state {
    size_t epoch;             /* epochs completed; the next one is epoch + 1 */
    struct rng shuffle;       /* RNG_STREAM_SHUFFLE */
    struct rng dropout;       /* RNG_STREAM_DROPOUT */
    size_t n;                 /* training rows */
    size_t *perm;             /* n: current batch order (owned) */
};

/* The state before epoch 1: fresh streams for seed, identity order. */
int train_state_init(struct train_state *st, uint64_t seed, size_t n, struct rn_err *err);
void train_state_free(struct train_state *st);

/* train_run from a state: trains epochs st->epoch + 1 .. cfg->epochs and
 * keeps st up to date, so that when on_epoch is called for epoch k, st
 * (which the callbacks may reach through hooks->ctx) holds the state after epoch k
 * (st->epoch == k). train_run is train_state_init + this. out->epochs_done
 * counts all completed epochs, those before st->epoch included. Results are
 * bit-identical to an uninterrupted run when st and m's params and velocity
 * are those saved after epoch st->epoch. */
int train_run_state(const struct cfg_training *cfg, struct mlp *m,
                    const struct train_split *train, const struct train_split *val,
                    const struct train_split *test, struct train_state *st,
                    const struct train_hooks *hooks, struct train_outcome *out,
                    struct rn_err *err);

#endif

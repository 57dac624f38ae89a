/* train: the epoch loop. See include/runner/train.h. */
#include "runner/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runner/clock.h"
#include "runner/rng.h"
#include "runner/tuner.h"

static int params_finite(const struct mlp *m)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            return 0;
    return 1;
}

int train_state_init(struct train_state *st, uint64_t seed, size_t n, struct rn_err *err)
{
    memset(st, 0, sizeof *st);
    size_t bytes;
    if (rn_mul_size(n ? n : 1, sizeof *st->perm, &bytes))
        return rn_fail(err, RN_ERR_NOMEM, "train: %zu rows overflow the batch order", n);
    st->perm = malloc(bytes);
    if (!st->perm)
        return rn_fail(err, RN_ERR_NOMEM, "train: out of memory for the batch order");
    for (size_t i = 0; i < n; i++)
        st->perm[i] = i;
    st->n = n;
    rng_init(&st->shuffle, seed, RNG_STREAM_SHUFFLE);
    rng_init(&st->dropout, seed, RNG_STREAM_DROPOUT);
    return RN_OK;
}

void train_state_free(struct train_state *st)
{
    if (!st)
        return;
    free(st->perm);
    memset(st, 0, sizeof *st);
}

int train_run(const struct cfg_training *cfg, uint64_t seed, struct mlp *m,
              const struct train_split *train, const struct train_split *val,
              const struct train_split *test, train_epoch_fn on_epoch, void *ctx,
              struct train_outcome *out, struct rn_err *err)
{
    struct train_hooks hooks = {on_epoch, NULL, ctx};
    return train_run_hooks(cfg, seed, m, train, val, test, &hooks, out, err);
}

int train_run_hooks(const struct cfg_training *cfg, uint64_t seed, struct mlp *m,
                    const struct train_split *train, const struct train_split *val,
                    const struct train_split *test, const struct train_hooks *hooks,
                    struct train_outcome *out, struct rn_err *err)
{
    struct train_state st;
    memset(out, 0, sizeof *out);
    int rc = train_state_init(&st, seed, train->n, err);
    if (rc == RN_OK)
        rc = train_run_state(cfg, m, train, val, test, &st, hooks, out, err);
    train_state_free(&st);
    return rc;
}

int train_run_state(const struct cfg_training *cfg, struct mlp *m,
                    const struct train_split *train, const struct train_split *val,
                    const struct train_split *test, struct train_state *st,
                    const struct train_hooks *hooks, struct train_outcome *out,
                    struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    out->status = RUN_RUNNING;
    const size_t n = train->n, dim = train->dim, bs = cfg->batch_size;
    if (n == 0 || bs == 0 || bs > m->max_batch || dim != m->sizes[0])
        return rn_fail(err, RN_ERR_GENERIC,
                       "train: inconsistent sizes (n %zu, batch %zu, max batch %zu, dim %zu, "
                       "input %zu)",
                       n, bs, m->max_batch, dim, m->sizes[0]);
    if (st->n != n || !st->perm || st->epoch > cfg->epochs)
        return rn_fail(err, RN_ERR_GENERIC,
                       "train: state for %zu rows after epoch %zu does not fit %zu rows and "
                       "%zu epochs",
                       st->n, st->epoch, n, cfg->epochs);

    uint8_t *yb = malloc(bs);
    if (!yb)
        return rn_fail(err, RN_ERR_NOMEM, "train: out of memory for the batch labels");
    size_t *idx = st->perm;
    out->epochs_done = st->epoch;

    const float p_in = (float)cfg->dropout_input, p_hid = (float)cfg->dropout_hidden;
    /* All of m's threads or one, whichever the batches measure faster
     * (tuner.h); results are the same either way. */
    struct tuner tune;
    tuner_init(&tune, m->threads);
    int rc = RN_OK;
    for (size_t epoch = st->epoch + 1; epoch <= cfg->epochs; epoch++) {
        double t0 = clock_seconds();
        const double lr_epoch = cfg_lr_at(cfg, epoch);
        const float lr = (float)lr_epoch;
        if (cfg->shuffle)
            rng_shuffle(&st->shuffle, idx, n);
        double loss_sum = 0.0;
        size_t correct = 0;
        int diverged = 0;
        for (size_t start = 0; start < n; start += bs) {
            size_t B = n - start < bs ? n - start : bs;
            /* The batch is rows idx[start .. start + B) of the training set;
             * the products read them in place (no copy of the batch, which
             * waited on memory about as long as the forward pass computed),
             * only the labels are gathered. */
            for (size_t r = 0; r < B; r++)
                yb[r] = train->y[idx[start + r]];
            size_t batch_correct = 0;
            const size_t used = tuner_threads(&tune);
            mlp_use_threads(m, used);
            out->batches++;
            if (used == 1 && m->threads > 1) {
                out->batches_one_thread++;
                out->batches_one_probing += tuner_probing(&tune);
            }
            const double tb = clock_seconds();
            /* Forward, backward and the SGD update (fused for plain SGD). */
            double loss = mlp_train_step_rows(m, train->x, dim, idx + start, yb, B,
                                              &batch_correct, p_in, p_hid, &st->dropout, lr,
                                              (float)cfg->momentum, (float)cfg->weight_decay);
            tuner_record(&tune, B, clock_seconds() - tb);
            if (!isfinite(loss)) {
                diverged = 1;
                break;
            }
            loss_sum += loss * (double)B;
            correct += batch_correct;
            if (hooks->on_batch) {
                const size_t seen = start + B;
                struct train_progress tp = {epoch, cfg->epochs, start / bs + 1,
                                            (n + bs - 1) / bs, loss_sum / (double)seen,
                                            (double)correct / (double)seen};
                hooks->on_batch(hooks->ctx, &tp);
            }
        }

        /* Plain SGD left layer 0's newest weights packed: back into params
         * for the checks and the checkpoint of the epoch. */
        mlp_sync_params(m);
        /* The mini-batch loop alone; the evaluation below is in em.seconds. */
        const double train_seconds = clock_seconds() - t0;
        struct epoch_metrics em = {0};
        if (!diverged) {
            em.epoch = epoch;
            em.train_loss = loss_sum / (double)n;
            em.train_acc = (double)correct / (double)n;
            mlp_evaluate(m, test->x, test->y, test->n, &em.test_loss, &em.test_acc);
            if (val) {
                em.has_val = true;
                mlp_evaluate(m, val->x, val->y, val->n, &em.val_loss, &em.val_acc);
            }
            em.lr = lr_epoch;
            if (!isfinite(em.test_loss) || (em.has_val && !isfinite(em.val_loss)) ||
                !params_finite(m))
                diverged = 1;
        }
        if (diverged) {
            out->status = RUN_DIVERGED;
            out->diverged_epoch = epoch;
            break;
        }
        em.seconds = clock_seconds() - t0;
        em.train_seconds = train_seconds;
        st->epoch = epoch;
        rc = hooks->on_epoch(hooks->ctx, &em, err);
        if (rc != RN_OK)
            break;
        out->epochs_done = epoch;
    }
    if (rc == RN_OK && out->status == RUN_RUNNING)
        out->status = RUN_COMPLETED;
    mlp_use_threads(m, m->threads); /* the tuner's choice ends with the loop */
    free(yb);
    return rc;
}

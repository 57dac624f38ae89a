/* test_checkpoint: checkpoint round trip (in memory and on disk, with the
 * .prev file kept), and that every kind of damage is detected with a clear
 * error and leaves the target model and state untouched: flipped bytes
 * anywhere, truncation, wrong layer sizes, wrong row count, another config
 * hash or seed, a batch order that is not a permutation. Also that training
 * continued from a checkpoint matches uninterrupted training bit for bit. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "runner/checkpoint.h"
#include "runner/fsutil.h"
#include "runner/mlp.h"
#include "runner/rng.h"
#include "runner/train.h"

static const char HASH_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char HASH_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* A model with random params and velocity, and a state some epochs in. */
static void make(struct mlp *m, struct train_state *st, const size_t *sizes, size_t n_sizes,
                 size_t rows, uint64_t seed)
{
    struct rn_err err = {0};
    CHECK(mlp_create(m, sizes, n_sizes, CFG_ACT_RELU, 4, &err) == RN_OK);
    struct rng r;
    rng_init(&r, seed, 99);
    mlp_init_params(m, &r);
    for (size_t i = 0; i < m->n_params; i++)
        m->velocity[i] = (float)rng_normal(&r);
    CHECK(train_state_init(st, seed, rows, &err) == RN_OK);
    for (int k = 0; k < 3; k++) {
        rng_shuffle(&st->shuffle, st->perm, rows);
        rng_u64(&st->dropout);
    }
    st->epoch = 3;
}

static int same_model(const struct mlp *a, const struct mlp *b)
{
    return a->n_params == b->n_params &&
           memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0 &&
           memcmp(a->velocity, b->velocity, a->n_params * sizeof(float)) == 0;
}

static int same_state(const struct train_state *a, const struct train_state *b)
{
    return a->epoch == b->epoch && a->n == b->n &&
           memcmp(&a->shuffle, &b->shuffle, sizeof a->shuffle) == 0 &&
           memcmp(&a->dropout, &b->dropout, sizeof a->dropout) == 0 &&
           memcmp(a->perm, b->perm, a->n * sizeof *a->perm) == 0;
}

static void test_round_trip(void)
{
    const size_t sizes[] = {5, 4, 3};
    struct mlp a, b;
    struct train_state sa, sb;
    make(&a, &sa, sizes, 3, 10, 1);
    make(&b, &sb, sizes, 3, 10, 2);
    CHECK(!same_model(&a, &b));
    unsigned char *buf;
    size_t len;
    struct rn_err err = {0};
    CHECK(ckpt_encode(&a, &sa, HASH_A, 42, &buf, &len, &err) == RN_OK);
    CHECK_MSG(ckpt_decode(buf, len, "mem", &b, &sb, HASH_A, 42, &err) == RN_OK, "%s", err.msg);
    CHECK(same_model(&a, &b));
    CHECK(same_state(&sa, &sb));
    free(buf);
    mlp_free(&a);
    mlp_free(&b);
    train_state_free(&sa);
    train_state_free(&sb);
}

/* Decoding buf into (m, st) must fail with RN_ERR_DATA, a message containing
 * `what`, and leave m and st as they were. */
static void expect_reject(const unsigned char *buf, size_t len, const size_t *sizes,
                          size_t n_sizes, size_t rows, const char *hash, uint64_t seed,
                          const char *what)
{
    struct mlp m, keep;
    struct train_state st, keep_st;
    make(&m, &st, sizes, n_sizes, rows, 7);
    make(&keep, &keep_st, sizes, n_sizes, rows, 7);
    struct rn_err err = {0};
    int rc = ckpt_decode(buf, len, "ckpt.bin", &m, &st, hash, seed, &err);
    CHECK_MSG(rc == RN_ERR_DATA, "%s: rc %d", what, rc);
    CHECK_STR_CONTAINS(err.msg, what);
    CHECK_STR_CONTAINS(err.msg, "ckpt.bin");
    CHECK(same_model(&m, &keep));
    CHECK(same_state(&st, &keep_st));
    mlp_free(&m);
    mlp_free(&keep);
    train_state_free(&st);
    train_state_free(&keep_st);
}

static void test_damage(void)
{
    const size_t sizes[] = {5, 4, 3};
    struct mlp a;
    struct train_state sa;
    make(&a, &sa, sizes, 3, 10, 1);
    unsigned char *buf;
    size_t len;
    struct rn_err err = {0};
    CHECK(ckpt_encode(&a, &sa, HASH_A, 42, &buf, &len, &err) == RN_OK);
    unsigned char *dam = malloc(len);

    /* Every single flipped byte is caught. */
    size_t caught = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(dam, buf, len);
        dam[i] ^= 0x10;
        struct mlp m;
        struct train_state st;
        make(&m, &st, sizes, 3, 10, 7);
        caught += ckpt_decode(dam, len, "x", &m, &st, HASH_A, 42, &err) == RN_ERR_DATA;
        mlp_free(&m);
        train_state_free(&st);
    }
    CHECK_MSG(caught == len, "%zu of %zu flipped bytes caught", caught, len);
    memcpy(dam, buf, len);
    dam[0] ^= 1;
    expect_reject(dam, len, sizes, 3, 10, HASH_A, 42, "bad magic");
    memcpy(dam, buf, len);
    dam[8] ^= 1;
    expect_reject(dam, len, sizes, 3, 10, HASH_A, 42, "format version");
    memcpy(dam, buf, len);
    dam[len / 2] ^= 1;
    expect_reject(dam, len, sizes, 3, 10, HASH_A, 42, "checksum");
    dam[len / 2] ^= 1;
    dam[len - 1] ^= 1;
    expect_reject(dam, len, sizes, 3, 10, HASH_A, 42, "checksum");

    /* Truncation. */
    expect_reject(buf, len - 1, sizes, 3, 10, HASH_A, 42, "checksum");
    expect_reject(buf, len / 2, sizes, 3, 10, HASH_A, 42, "checksum");
    expect_reject(buf, 20, sizes, 3, 10, HASH_A, 42, "truncated");
    expect_reject(buf, 0, sizes, 3, 10, HASH_A, 42, "bad magic");

    /* Intact file, wrong model / data / run. */
    const size_t other[] = {5, 4, 2}, deeper[] = {5, 4, 4, 3};
    expect_reject(buf, len, other, 3, 10, HASH_A, 42, "layer 2 has size 3");
    expect_reject(buf, len, deeper, 4, 10, HASH_A, 42, "3 layer sizes, the model has 4");
    expect_reject(buf, len, sizes, 3, 11, HASH_A, 42, "10 training rows, the data has 11");
    expect_reject(buf, len, sizes, 3, 10, HASH_B, 42, "another configuration");
    expect_reject(buf, len, sizes, 3, 10, HASH_A, 43, "seed 42");

    /* A valid checksum over a batch order that is not a permutation. */
    sa.perm[1] = sa.perm[0];
    unsigned char *bad;
    size_t bad_len;
    CHECK(ckpt_encode(&a, &sa, HASH_A, 42, &bad, &bad_len, &err) == RN_OK);
    expect_reject(bad, bad_len, sizes, 3, 10, HASH_A, 42, "not a permutation");
    free(bad);

    free(dam);
    free(buf);
    mlp_free(&a);
    train_state_free(&sa);
}

static void test_files(void)
{
    char dir[] = "/tmp/test_checkpoint.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128], prev[140];
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    snprintf(prev, sizeof prev, "%s.prev", path);
    const size_t sizes[] = {6, 5, 3};
    struct mlp a, b;
    struct train_state sa, sb;
    make(&a, &sa, sizes, 3, 9, 1);
    make(&b, &sb, sizes, 3, 9, 2);
    struct rn_err err = {0};
    CHECK_MSG(ckpt_save(path, &a, &sa, HASH_A, 5, &err) == RN_OK, "%s", err.msg);
    CHECK(access(prev, F_OK) != 0); /* nothing to keep yet */
    sa.epoch = 4;
    a.params[0] += 1.0f;
    CHECK(ckpt_save(path, &a, &sa, HASH_A, 5, &err) == RN_OK);
    size_t e = 0;
    CHECK(ckpt_peek_epoch(path, &e, &err) == RN_OK && e == 4);
    CHECK(ckpt_peek_epoch(prev, &e, &err) == RN_OK && e == 3);
    CHECK_MSG(ckpt_load(path, &b, &sb, HASH_A, 5, &err) == RN_OK, "%s", err.msg);
    CHECK(same_model(&a, &b));
    CHECK(same_state(&sa, &sb));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.ckpt", dir);
    CHECK(ckpt_load(missing, &b, &sb, HASH_A, 5, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "none.ckpt");
    /* Truncated on disk. */
    char *data;
    size_t len;
    CHECK(fs_read_all(path, &data, &len, RN_ERR_DATA, &err) == RN_OK);
    CHECK(fs_write_atomic(path, data, len - 100, &err) == RN_OK);
    CHECK(ckpt_peek_epoch(path, &e, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "checksum");
    free(data);
    remove(path);
    remove(prev);
    rmdir(dir);
    mlp_free(&a);
    mlp_free(&b);
    train_state_free(&sa);
    train_state_free(&sb);
}

/* ---- continued training is bit-identical ------------------------------- */

struct snap {
    unsigned char *buf[8];
    size_t len[8];
    double loss[8];
    const struct mlp *m;
    const struct train_state *st;
};

static int on_epoch(void *ctx, const struct epoch_metrics *em, struct rn_err *err)
{
    struct snap *s = ctx;
    s->loss[em->epoch] = em->train_loss + em->test_loss;
    return ckpt_encode(s->m, s->st, HASH_A, 11, &s->buf[em->epoch], &s->len[em->epoch], err);
}

/* Training continued from the checkpoint after epoch 2 gives the same
 * epochs and checkpoints as uninterrupted training: with momentum and
 * dropout on a small net, and with plain SGD on a first layer large enough
 * to be kept packed (mlp.h), whose checkpoints need the epoch's sync. */
static void test_continue_with(size_t D, size_t hidden, double momentum)
{
    enum { N = 40, EPOCHS = 5 };
    float *x = malloc(N * D * sizeof(float));
    uint8_t y[N];
    struct rng r;
    rng_init(&r, 3, 1);
    for (size_t i = 0; i < N; i++) {
        y[i] = (uint8_t)(i % 3);
        for (size_t j = 0; j < D; j++)
            x[i * D + j] = (float)rng_normal(&r) + (j == y[i] ? 2.0f : 0.0f);
    }
    struct train_split tr = {x, y, N, D};
    struct cfg_training cfg = {0};
    cfg.epochs = EPOCHS;
    cfg.batch_size = 8;
    cfg.learning_rate = 0.05;
    cfg.momentum = momentum;
    cfg.dropout_hidden = 0.2;
    cfg.dropout_input = 0.1;
    cfg.shuffle = true;
    const size_t sizes[] = {D, hidden, 3};
    struct rn_err err = {0};

    struct mlp a;
    struct train_state sa;
    CHECK(mlp_create(&a, sizes, 3, CFG_ACT_RELU, 8, &err) == RN_OK);
    rng_init(&r, 11, RNG_STREAM_INIT);
    mlp_init_params(&a, &r);
    CHECK(train_state_init(&sa, 11, N, &err) == RN_OK);
    struct snap full = {0};
    full.m = &a;
    full.st = &sa;
    struct train_outcome out;
    struct train_hooks ha = {on_epoch, NULL, &full};
    CHECK(train_run_state(&cfg, &a, &tr, NULL, &tr, &sa, &ha, &out, &err) == RN_OK);
    CHECK(out.status == RUN_COMPLETED && out.epochs_done == EPOCHS);

    /* Continue from the checkpoint after epoch 2, on 2 threads. */
    struct mlp b;
    struct train_state sb;
    CHECK(mlp_create(&b, sizes, 3, CFG_ACT_RELU, 8, &err) == RN_OK);
    mlp_set_threads(&b, 2);
    CHECK(train_state_init(&sb, 11, N, &err) == RN_OK);
    CHECK(ckpt_decode(full.buf[2], full.len[2], "e2", &b, &sb, HASH_A, 11, &err) == RN_OK);
    CHECK(sb.epoch == 2);
    struct snap cont = {0};
    cont.m = &b;
    cont.st = &sb;
    struct train_hooks hb = {on_epoch, NULL, &cont};
    CHECK(train_run_state(&cfg, &b, &tr, NULL, &tr, &sb, &hb, &out, &err) == RN_OK);
    CHECK(out.status == RUN_COMPLETED && out.epochs_done == EPOCHS);
    CHECK(out.batches_one_probing <= out.batches_one_thread &&
          out.batches_one_thread <= out.batches);
    /* Whatever the tuner chose last, the loop gives the model back with all
     * its threads in use (here: no epoch left to run, one thread set). */
    mlp_use_threads(&b, 1);
    CHECK(train_run_state(&cfg, &b, &tr, NULL, &tr, &sb, &hb, &out, &err) == RN_OK);
    CHECK(out.epochs_done == EPOCHS && out.batches == 0);
    CHECK(b.threads == 2 && b.threads_used == 2);
    CHECK(cont.buf[1] == NULL && cont.buf[2] == NULL);
    for (size_t e = 3; e <= EPOCHS; e++) {
        CHECK_MSG(memcmp(&cont.loss[e], &full.loss[e], sizeof(double)) == 0, "epoch %zu", e);
        CHECK_MSG(cont.len[e] == full.len[e] &&
                      memcmp(cont.buf[e], full.buf[e], full.len[e]) == 0,
                  "checkpoint after epoch %zu differs", e);
    }
    if (momentum == 0.0) {
        /* One more plain step leaves the packed weights ahead of params: a
         * checkpoint then is refused until they are synced. */
        size_t rows[8] = {0, 1, 2, 3, 4, 5, 6, 7}, c;
        mlp_train_step_rows(&b, x, D, rows, y, 8, &c, 0.0f, 0.0f, NULL, 0.05f, 0.0f, 0.0f);
        CHECK(b.w0_state == MLP_W0_AHEAD);
        unsigned char *buf = NULL;
        size_t len = 0;
        CHECK(ckpt_encode(&b, &sb, HASH_A, 11, &buf, &len, &err) != RN_OK);
        CHECK_STR_CONTAINS(err.msg, "mlp_sync_params");
        mlp_sync_params(&b);
        CHECK(ckpt_encode(&b, &sb, HASH_A, 11, &buf, &len, &err) == RN_OK);
        free(buf);
    }
    for (size_t e = 0; e < 8; e++) {
        free(full.buf[e]);
        free(cont.buf[e]);
    }
    free(x);
    mlp_free(&a);
    mlp_free(&b);
    train_state_free(&sa);
    train_state_free(&sb);
}

static void test_continue(void)
{
    test_continue_with(6, 7, 0.9);
    test_continue_with(1100, 64, 0.0); /* 70400 weights in layer 0: packed */
}

int main(void)
{
    test_round_trip();
    test_damage();
    test_files();
    test_continue();
    return check_exit("test_checkpoint");
}

/* runner run: the pipeline, in the order data flows:
 * config -> data -> (hold-out split) -> augment -> features -> mlp -> train
 * -> results. Everything that can be checked is checked before the first
 * byte is written, so a bad experiment leaves no trace. */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "runner/augment.h"
#include "runner/checkpoint.h"
#include "runner/cifar.h"
#include "runner/clock.h"
#include "runner/config.h"
#include "runner/feature_sets.h"
#include "runner/hash.h"
#include "runner/fsutil.h"
#include "runner/mlp.h"
#include "runner/npy.h"
#include "runner/results.h"
#include "runner/rng.h"
#include "runner/train.h"

#define EVAL_BATCH 500   /* rows per evaluation chunk */
#define MAX_DATA_FILES 8  /* CIFAR-10: 6 batch files; npy: up to 6 files */

struct epoch_sink {
    struct store *store;
    struct runlog *log;
    int64_t run_id;
    size_t epochs;
    struct progress *progress;
    /* Checkpoint after every epoch, before its rows commit (NULL: none). */
    const char *ckpt_path;
    const struct mlp *model;
    const struct train_state *state;
    const char *config_hash;
    uint64_t seed;
};

/* SIGINT/SIGTERM: the one piece of global mutable state in the runner. A
 * signal handler can reach nothing but a static object, and a volatile
 * sig_atomic_t is the only kind it may write. The handler only records the
 * signal; the run checks it at safe points (after an epoch is recorded, in
 * the feature stage's progress callback, between stages) and stops there
 * with RN_ERR_INTERRUPTED, recording the run as interrupted. SA_RESETHAND
 * restores the default action, so a second signal ends the process at once. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* RN_OK, or RN_ERR_INTERRUPTED with a message once a stop signal came. */
static int check_stop(const char *when, struct rn_err *err)
{
    int sig = stop_signal;
    if (!sig)
        return RN_OK;
    return rn_fail(err, RN_ERR_INTERRUPTED, "interrupted by %s %s",
                   sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal", when);
}

/* Run names may hold anything; file names get [A-Za-z0-9._-] only. */
static void safe_file_part(const char *name, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; name[i] && j + 1 < cap && j < 80; i++) {
        unsigned char c = (unsigned char)name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        out[j++] = ok ? (char)c : '_';
    }
    if (j == 0 && cap > 1)
        out[j++] = 'x';
    out[j] = '\0';
}

static int record_epoch(void *ctx, const struct epoch_metrics *m, struct rn_err *err)
{
    struct epoch_sink *s = ctx;
    int rc = RN_OK;
    if (s->ckpt_path)
        rc = ckpt_save(s->ckpt_path, s->model, s->state, s->config_hash, s->seed, err);
    if (rc == RN_OK)
        rc = runlog_add_epoch(s->log, m, err);
    if (rc == RN_OK)
        rc = store_run_epoch(s->store, s->run_id, m, err);
    if (rc == RN_OK)
        progress_epoch(s->progress, m, s->epochs);
    if (rc == RN_OK && stop_signal) {
        char when[96];
        snprintf(when, sizeof when, "after epoch %zu of %zu (every finished epoch is recorded)",
                 m->epoch, s->epochs);
        rc = check_stop(when, err);
    }
    return rc;
}

static void batch_progress(void *ctx, const struct train_progress *tp)
{
    struct epoch_sink *s = ctx;
    progress_batch(s->progress, tp);
}

/* Copy the images/labels listed in idx[0..n) of src into dst. */
static int select_images(const struct cifar_set *src, const size_t *idx, size_t n,
                         struct cifar_set *dst, struct rn_err *err)
{
    dst->images = malloc(n * CIFAR_IMAGE);
    dst->labels = malloc(n ? n : 1);
    if (!dst->images || !dst->labels) {
        cifar_free(dst);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory selecting %zu images", n);
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(dst->images + i * CIFAR_IMAGE, src->images + idx[i] * CIFAR_IMAGE, CIFAR_IMAGE);
        dst->labels[i] = src->labels[idx[i]];
    }
    dst->n = n;
    return RN_OK;
}

/* Hold out cfg->data.validation training images, chosen by the split
 * stream; the rest stay in their original order. */
static int split_validation(const struct experiment *cfg, struct cifar_set *train,
                            struct cifar_set *val, struct rn_err *err)
{
    size_t v = cfg->data.validation, n = train->n;
    if (v == 0)
        return RN_OK;
    size_t *val_idx = malloc(v * sizeof *val_idx);
    size_t *train_idx = malloc((n - v ? n - v : 1) * sizeof *train_idx);
    if (!val_idx || !train_idx || rng_holdout(cfg->seed, n, v, val_idx, train_idx) != 0) {
        free(val_idx);
        free(train_idx);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for the validation split");
    }
    struct cifar_set t = {0};
    int rc = select_images(train, val_idx, v, val, err);
    if (rc == RN_OK)
        rc = select_images(train, train_idx, n - v, &t, err);
    if (rc == RN_OK) {
        cifar_free(train);
        *train = t;
    } else {
        cifar_free(val);
    }
    free(train_idx);
    free(val_idx);
    return rc;
}

static cJSON *data_files_json(const struct cifar_file *files, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "path", files[i].path) ||
            !cJSON_AddStringToObject(o, "sha256", files[i].sha256)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* a followed by b, malloc'd (NULL when out of memory). */
static char *str_concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *d = malloc(na + nb + 1);
    if (d) {
        memcpy(d, a, na);
        memcpy(d + na, b, nb + 1);
    }
    return d;
}

/* Replace an owned string in the config with a copy of value. */
static int override_str(char **slot, const char *value, struct rn_err *err)
{
    char *d = dup_str(value);
    if (!d)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    free(*slot);
    *slot = d;
    return RN_OK;
}

static size_t online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

/* The feature stage's progress callback: a SIGINT/SIGTERM stops the stage
 * (fset_from_images then fails with RN_ERR_INTERRUPTED); otherwise the
 * progress display. */
static int feature_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    if (stop_signal)
        return 1;
    return progress_feature(ctx, stage, done, total);
}

/* The user's .npy files, with their digests, for the run's identity. */
static int npy_identity(const struct experiment *cfg, struct cifar_file *files, size_t *n,
                        struct rn_err *err)
{
    const struct cfg_npy *np = &cfg->features.npy;
    const char *paths[6] = {np->train, np->train_labels, np->test, np->test_labels,
                            cfg->augment.enabled ? np->augmented : NULL,
                            cfg->augment.enabled ? np->augmented_labels : NULL};
    *n = 0;
    for (size_t i = 0; i < 6; i++) {
        if (!paths[i] || !paths[i][0])
            continue;
        struct cifar_file *f = &files[*n];
        f->path = dup_str(paths[i]);
        if (!f->path)
            return rn_fail(err, RN_ERR_NOMEM, "out of memory");
        (*n)++;
        int rc = sha256_file_hex(paths[i], f->sha256, err);
        if (rc != RN_OK)
            return rc;
    }
    return RN_OK;
}

int cmd_run(const struct run_options *opt)
{
    struct rn_err err = {0};
    struct experiment cfg;
    struct cifar_set train = {0}, test = {0}, val = {0}, augmented = {0};
    struct cifar_file files[MAX_DATA_FILES];
    struct fset fs = {0};
    size_t n_files = 0;
    struct mlp model = {0};
    struct store *store = NULL;
    struct runlog log = {0};
    cJSON *config_json = NULL, *data_json = NULL, *overrides_json = NULL;
    char *db_dir = NULL, *json_path = NULL, *ckpt_path = NULL;
    struct train_state tstate = {0};
    const struct resume_info *resume = opt->resume;
    bool run_started = false;
    int64_t run_id = 0;
    struct progress prog;
    progress_init(&prog, stderr, opt->quiet);
    /* wall_seconds covers the whole command: reading the data, features,
     * training and evaluation. */
    const double t_start = clock_seconds();
    memset(files, 0, sizeof files);

    install_stop_handlers();

    /* A resumed run is rebuilt from its recorded resolved config. */
    int rc = resume ? cfg_load_string(resume->config_json, strlen(resume->config_json),
                                      "recorded config", &cfg, &err)
                    : cfg_load_file_ex(opt->config_path, opt->overrides, opt->n_overrides, &cfg,
                                       &err);
    if (rc != RN_OK) {
        cli_error("%s", err.msg);
        return rc;
    }
    if (cfg.n_sweep && !opt->sweep_id) {
        cli_error("%s:%zu:%zu: sweep: the file declares a sweep; run it with runner -m %s",
                  opt->config_path, cfg.sweep[0].line, cfg.sweep[0].column, opt->config_path);
        cfg_free(&cfg);
        return RN_ERR_USAGE;
    }
    if (opt->db_path)
        rc = override_str(&cfg.output.database, opt->db_path, &err);
    if (rc == RN_OK && opt->results_dir)
        rc = override_str(&cfg.output.dir, opt->results_dir, &err);
    if (rc != RN_OK)
        goto done;

    /* ---- data ---------------------------------------------------------- */
    const bool npy = cfg.features.kind == CFG_FEAT_NPY;
    /* --threads beats the file's `threads`; 0 in both means all CPUs. */
    const size_t threads = opt->threads  ? opt->threads
                           : cfg.threads ? cfg.threads
                                         : online_cpus();
    if (!npy) {
        if (!opt->quiet)
            fprintf(stderr, "runner: %s: loading CIFAR-10 from %s\n", cfg.name, cfg.data.dir);
        rc = cifar_load_train(cfg.data.dir, &train, files, &err);
        if (rc == RN_OK)
            rc = cifar_load_test(cfg.data.dir, &test, &files[CIFAR_TRAIN_FILES], &err);
        if (rc != RN_OK)
            goto done;
        n_files = CIFAR_TRAIN_FILES + 1;
        cifar_truncate(&train, cfg.data.train_limit);
        cifar_truncate(&test, cfg.data.test_limit);
        if (cfg.data.validation >= train.n) {
            rc = cfg_fail_at(&cfg, "data.validation", &err,
                             "hold-out of %zu images leaves no training data (%zu images)",
                             cfg.data.validation, train.n);
            goto done;
        }
        rc = split_validation(&cfg, &train, &val, &err);
        if (rc != RN_OK)
            goto done;
    } else {
        if (!opt->quiet)
            fprintf(stderr, "runner: %s: reading features from %s\n", cfg.name,
                    cfg.features.npy.train);
        rc = fset_from_npy(&cfg, &fs, &err);
        if (rc == RN_OK)
            rc = npy_identity(&cfg, files, &n_files, &err);
        if (rc != RN_OK)
            goto done;
        if (cfg.model.layers[0] != fs.train.cols) {
            rc = cfg_fail_at(&cfg, "model.layers[0]", &err,
                             "expected %zu (the number of columns in %s), got %zu",
                             fs.train.cols, cfg.features.npy.train, cfg.model.layers[0]);
            goto done;
        }
    }
    size_t n_train_orig = npy ? fs.n_train_orig : train.n;
    if (cfg.training.batch_size > n_train_orig) {
        rc = cfg_fail_at(&cfg, "training.batch_size", &err,
                         "batch size %zu is larger than the %zu training %s",
                         cfg.training.batch_size, n_train_orig, npy ? "rows" : "images");
        goto done;
    }

    /* ---- output: opened before the long work, so a bad path fails fast -- */
    rc = check_stop("while reading the data", &err);
    if (rc == RN_OK)
        rc = fs_mkdirs(cfg.output.dir, &err);
    if (rc != RN_OK)
        goto done;
    db_dir = fs_dirname(cfg.output.database);
    if (!db_dir) {
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = fs_mkdirs(db_dir, &err);
    if (rc == RN_OK)
        rc = store_open(cfg.output.database, &store, &err);
    if (rc != RN_OK)
        goto done;
    /* Runs left `running` by a killed process become `interrupted`. */
    rc = cli_mark_stale(store, cfg.output.database, opt->quiet, &err);
    if (rc != RN_OK)
        goto done;
    /* ---- a run that already completed is not run again (--force) ------- */
    if (!opt->force && !resume) {
        char same_hash[65];
        int64_t done_id = 0;
        cfg_hash(&cfg, same_hash);
        cJSON *files_now = data_files_json(files, n_files);
        rc = files_now ? store_find_completed(store, same_hash, files_now, &done_id, &err)
                       : rn_fail(&err, RN_ERR_NOMEM, "out of memory");
        cJSON_Delete(files_now);
        if (rc != RN_OK)
            goto done;
        if (done_id > 0) {
            if (opt->report_fd > 0)
                dprintf(opt->report_fd, "skipped %lld\n", (long long)done_id);
            if (!opt->quiet)
                fprintf(stderr, "runner: %s: skipped: completed as run %lld (--force runs it "
                                "again)\n",
                        cfg.name, (long long)done_id);
            goto done;
        }
    }

    if (!npy) {
        /* ---- augmentation: originals + copies, from the augment stream -- */
        const struct cifar_set *train_final = &train, *train_orig = &train;
        struct cifar_set orig_view = {0};
        if (cfg.augment.enabled) {
            struct rng ar;
            rng_init(&ar, cfg.seed, RNG_STREAM_AUGMENT);
            rc = aug_expand(&cfg.augment, &ar, &train, &augmented, &err);
            if (rc != RN_OK)
                goto done;
            train_final = &augmented;
            /* The expanded set begins with the originals, so they are read
             * from there (a view, owning nothing) and the separate copy is
             * freed: one copy of the original images less at the peak
             * (147 MiB for 50k). */
            orig_view = (struct cifar_set){train.n, augmented.images, augmented.labels};
            train_orig = &orig_view;
            cifar_free(&train);
        }
        /* ---- features -------------------------------------------------- */
        struct fset_images imgs = {train_orig, train_final, &val, &test, files, n_files};
        struct fset_cache cache;
        progress_features_begin(&prog);
        rc = fset_from_images(&cfg, &imgs, threads, feature_progress, &prog, &fs, &cache, &err);
        progress_clear(&prog);
        if (rc == RN_ERR_INTERRUPTED && stop_signal)
            rc = check_stop("in the feature stage (nothing was recorded)", &err);
        if (rc != RN_OK)
            goto done;
        if (!opt->quiet && cache.used) {
            if (cache.note[0])
                fprintf(stderr, "runner: feature cache: %s\n", cache.note);
            fprintf(stderr, "runner: feature cache %s: %s\n", cache.hit ? "hit" : "miss (stored)",
                    cache.path);
        }
        /* The images are no longer needed: the feature sets own copies of
         * the labels. */
        cifar_free(&augmented);
        cifar_free(&train);
        cifar_free(&val);
        cifar_free(&test);
    }
    struct train_split s_train = {fs.train.data, fs.train_y, fs.train.rows, fs.train.cols};
    struct train_split s_test = {fs.test.data, fs.test_y, fs.test.rows, fs.test.cols};
    struct train_split s_val = {fs.val.data, fs.val_y, fs.val.rows, fs.val.cols};

    /* ---- model ----------------------------------------------------------- */
    size_t max_batch = cfg.training.batch_size > EVAL_BATCH ? cfg.training.batch_size
                                                            : EVAL_BATCH;
    rc = mlp_create(&model, cfg.model.layers, cfg.model.n_layers, cfg.model.activation,
                    max_batch, &err);
    if (rc != RN_OK)
        goto done;
    mlp_set_threads(&model, threads);
    struct rng ir;
    rng_init(&ir, cfg.seed, RNG_STREAM_INIT);
    mlp_init_params(&model, &ir);

    /* ---- results: from here on the run is recorded ---------------------- */
    char uid[64], started[32], host[256] = "unknown", hash[65], fname[96];
    clock_unique_id("", uid);
    clock_utc_iso(started);
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    cfg_hash(&cfg, hash);
    config_json = cfg_to_json(&cfg);
    data_json = data_files_json(files, n_files);
    overrides_json = cfg.n_overrides
                         ? cJSON_CreateStringArray((const char *const *)cfg.overrides,
                                                   (int)cfg.n_overrides)
                         : NULL;
    safe_file_part(cfg.name, fname, sizeof fname);
    size_t plen = strlen(cfg.output.dir) + strlen(fname) + strlen(uid) + 16;
    json_path = malloc(plen);
    if (!config_json || !data_json || !json_path || (cfg.n_overrides && !overrides_json)) {
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(json_path, plen, "%s/%s-%s.json", cfg.output.dir, fname, uid);
    if (resume) {
        free(json_path);
        json_path = dup_str(resume->json_path);
        snprintf(uid, sizeof uid, "%s", resume->uid);
    }
    ckpt_path = json_path ? cli_checkpoint_path(json_path) : NULL;
    rc = train_state_init(&tstate, cfg.seed, s_train.n, &err);
    if (rc != RN_OK)
        goto done;
    if (!json_path || !ckpt_path) {
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    struct run_identity id = {
        .uid = uid,
        .name = cfg.name,
        .config_hash = hash,
        .seed = cfg.seed,
        .started_at = started,
        .host = host,
        .version = RUNNER_VERSION,
        .config_path = opt->config_path,
        .epochs_planned = cfg.training.epochs,
        .config = config_json,
        .data_files = data_json,
        .sweep_id = opt->sweep_id,
        .overrides = overrides_json,
    };
    rc = check_stop("before training (nothing was recorded)", &err);
    if (rc != RN_OK)
        goto done;
    if (resume) {
        /* Same config and data as recorded, the checkpoint of the last
         * recorded epoch, then the run row and JSON file are taken over. */
        run_id = resume->run_id;
        rc = resume_check_identity(resume, &cfg, data_json, &err);
        if (rc == RN_OK)
            rc = resume_load_state(resume, &model, &tstate, &err);
        if (rc == RN_OK)
            rc = store_run_resume(store, run_id, resume->epochs_done, host, (int64_t)getpid(),
                                  &err);
        if (rc != RN_OK)
            goto done;
        run_started = true;
        rc = runlog_reopen(&log, json_path, resume->uid, resume->epochs_done, &err);
    } else {
        rc = store_run_begin(store, &id, json_path, &run_id, &err);
        if (rc != RN_OK)
            goto done;
        run_started = true;
        if (opt->report_fd > 0)
            dprintf(opt->report_fd, "run %lld\n", (long long)run_id);
        rc = runlog_create(&log, json_path, &id, run_id, &err);
    }
    if (rc == RN_OK)
        rc = store_run_set_process(store, run_id, (int64_t)getpid(), ckpt_path, &err);
    if (rc != RN_OK)
        goto done;
    if (!opt->quiet)
        fprintf(stderr,
                "runner: run %lld (%s): %zu training rows x %zu features, %zu test rows, "
                "%zu thread%s\n",
                (long long)run_id, uid, s_train.n, s_train.dim, s_test.n, threads,
                threads == 1 ? "" : "s");

    struct epoch_sink sink = {store, &log, run_id, cfg.training.epochs, &prog,
                              ckpt_path, &model, &tstate, hash, cfg.seed};
    /* The per-batch line is only for a terminal; elsewhere no callback. */
    struct train_hooks hooks = {record_epoch, prog.tty ? batch_progress : NULL, &sink};
    struct train_outcome outcome;
    progress_train_begin(&prog);
    rc = train_run_state(&cfg.training, &model, &s_train, fs.val.rows ? &s_val : NULL, &s_test,
                         &tstate, &hooks, &outcome, &err);
    progress_clear(&prog);
    if (rc != RN_OK)
        goto done;

    char finished[32];
    clock_utc_iso(finished);
    double wall = clock_seconds() - t_start;
    char message[160] = "";
    if (outcome.status == RUN_DIVERGED)
        snprintf(message, sizeof message,
                 "diverged: loss or parameters became non-finite in epoch %zu",
                 outcome.diverged_epoch);
    const char *msg = message[0] ? message : NULL;
    rc = runlog_finish(&log, outcome.status, finished, wall, outcome.diverged_epoch, msg, &err);
    if (rc == RN_OK)
        rc = store_run_end(store, run_id, outcome.status, finished, wall,
                           outcome.diverged_epoch, msg, &err);
    if (rc != RN_OK)
        goto done;
    run_started = false;
    {
        /* A finished run is not resumed: its checkpoints go (best effort; a
         * checkpoint left behind is only disk space). */
        char *prev = str_concat(ckpt_path, ".prev");
        if (prev)
            remove(prev);
        free(prev);
        remove(ckpt_path);
        struct rn_err ignored = {0};
        store_run_set_process(store, run_id, (int64_t)getpid(), NULL, &ignored);
    }
    if (outcome.status == RUN_DIVERGED) {
        cli_error("%s: run %lld %s (recorded in %s)", cfg.name, (long long)run_id, message,
                  cfg.output.database);
        rc = RN_ERR_DIVERGED;
    } else if (!opt->quiet) {
        fprintf(stderr, "runner: run %lld (%s) completed in %.1fs; %s, %s\n",
                (long long)run_id, cfg.name, wall, json_path, cfg.output.database);
        if (outcome.batches_one_thread > 0)
            fprintf(stderr,
                    "runner: %zu of %zu training steps ran on one thread: %zu to time it, %zu "
                    "because it measured faster than %zu then\n",
                    outcome.batches_one_thread, outcome.batches, outcome.batches_one_probing,
                    outcome.batches_one_thread - outcome.batches_one_probing, threads);
    }

done:
    progress_clear(&prog);
    if (rc != RN_OK && rc != RN_ERR_DIVERGED)
        cli_error("%s", err.msg);
    if (run_started) {
        /* Best effort: the run stopped on an error after it was recorded. */
        char stopped[32];
        struct rn_err ignored = {0};
        enum run_status st = rc == RN_ERR_INTERRUPTED ? RUN_INTERRUPTED : RUN_FAILED;
        double ran = clock_seconds() - t_start;
        clock_utc_iso(stopped);
        if (log.doc)
            runlog_finish(&log, st, stopped, ran, 0, err.msg, &ignored);
        store_run_end(store, run_id, st, stopped, ran, 0, err.msg, &ignored);
    }
    runlog_free(&log);
    store_close(store);
    cJSON_Delete(config_json);
    cJSON_Delete(data_json);
    cJSON_Delete(overrides_json);
    free(db_dir);
    free(json_path);
    free(ckpt_path);
    train_state_free(&tstate);
    mlp_free(&model);
    fset_free(&fs);
    cifar_free(&train);
    cifar_free(&test);
    cifar_free(&val);
    cifar_free(&augmented);
    for (size_t i = 0; i < MAX_DATA_FILES; i++)
        cifar_file_free(&files[i]);
    cfg_free(&cfg);
    return rc;
}

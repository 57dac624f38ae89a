/* results: the record of a run, two ways.
 *
 *  - JSON: one file per run (resolved config, identity, epochs array),
 *    rewritten atomically (temp + fsync + rename) after every epoch;
 *  - SQLite: schema schemas/results.sql (compiled in), versioned with
 *    PRAGMA user_version, WAL mode, busy timeout, one transaction per epoch.
 *    Tables: runs, params (flattened resolved config, typed values), epochs.
 *
 * Every statement uses bound parameters. Knows nothing above it; called by
 * the CLI (and by train through struct epoch_metrics). */
#ifndef RUNNER_RESULTS_H
#define RUNNER_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runner/err.h"

#define STORE_SCHEMA_VERSION 2

enum run_status {
    RUN_RUNNING = 0,
    RUN_COMPLETED = 1,
    RUN_FAILED = 2,
    RUN_DIVERGED = 3,
    RUN_INTERRUPTED = 4
};

/* "running", "completed", "failed", "diverged", "interrupted" */
const char *run_status_name(enum run_status s);

struct epoch_metrics {
    size_t epoch;               /* 1-based */
    double train_loss, train_acc;  /* means over the epoch's mini-batches */
    double test_loss, test_acc;    /* full pass over the test set */
    bool has_val;
    double val_loss, val_acc;      /* full pass over the hold-out (if has_val) */
    double lr;
    double seconds;             /* wall time of the epoch (training + evaluation) */
};

/* Who a run is. Strings are borrowed; cJSON values are borrowed too. */
struct run_identity {
    const char *uid;            /* unique text id, also in the JSON file name */
    const char *name;
    const char *config_hash;    /* hex SHA-256, see cfg_hash */
    uint64_t seed;
    const char *started_at;     /* ISO 8601 UTC */
    const char *host;
    const char *version;        /* runner version */
    const char *config_path;    /* experiment file as given */
    size_t epochs_planned;
    const cJSON *config;        /* resolved config (cfg_to_json) */
    const cJSON *data_files;    /* array of {"path":..., "sha256":...} */
    const char *sweep_id;       /* the sweep the run belongs to, or NULL */
    const cJSON *overrides;     /* array of "key=value" strings, or NULL (none) */
};

/* ---- SQLite store ---------------------------------------------------- */

struct store;

/* Open or create the database (parent directory must exist), apply the
 * schema if the file is new, refuse (RN_ERR_OUTPUT) a file that is not
 * SQLite, not a runner database, or from a newer schema version. */
int store_open(const char *path, struct store **out, struct rn_err *err);
void store_close(struct store *s);

/* Insert the run (status running) and its params; *run_id gets the row id. */
int store_run_begin(struct store *s, const struct run_identity *id, const char *json_path,
                    int64_t *run_id, struct rn_err *err);
/* One transaction: insert the epoch row and update the run's epochs_done,
 * final metrics and best test accuracy (with its epoch). */
int store_run_epoch(struct store *s, int64_t run_id, const struct epoch_metrics *m,
                    struct rn_err *err);
/* Set the final status, finished_at, wall time, and (for diverged runs) the
 * epoch it diverged in (0 = none) and an error message (may be NULL). */
int store_run_end(struct store *s, int64_t run_id, enum run_status status,
                  const char *finished_at, double wall_seconds, size_t diverged_epoch,
                  const char *message, struct rn_err *err);

/* Record a sweep (runner -m): its id, creation time, experiment file, spec
 * (JSON text: the swept keys and values) and number of runs. Recording an
 * id that exists fills in what it lacks (a run of the sweep may have
 * created the row first) and keeps the rest. */
int store_sweep_begin(struct store *s, const char *sweep_id, const char *created_at,
                      const char *config_path, const char *spec_json, size_t n_runs,
                      struct rn_err *err);

/* The newest `completed` run with this config hash whose data files have the
 * same SHA-256 digests in the same order as `data_files` (an array of
 * {"path", "sha256"}; paths may differ). *run_id = its id, or 0 if none. */
int store_find_completed(struct store *s, const char *config_hash, const cJSON *data_files,
                         int64_t *run_id, struct rn_err *err);

/* Flatten a JSON object into dotted keys ("training.learning_rate"); arrays
 * become their JSON text ("[3072,64,10]"). Calls fn for every leaf; used for
 * the params table. */
typedef int (*store_leaf_fn)(void *ctx, const char *key, const cJSON *leaf);
int store_flatten(const cJSON *obj, store_leaf_fn fn, void *ctx);

/* ---- JSON run file ---------------------------------------------------- */

struct runlog {
    char *path;                 /* the JSON file */
    cJSON *doc;                 /* whole document, rewritten on every update */
};

/* Create the document (status running, empty epochs) and write it. */
int runlog_create(struct runlog *log, const char *path, const struct run_identity *id,
                  int64_t run_id, struct rn_err *err);
/* Append an epoch and rewrite the file atomically. */
int runlog_add_epoch(struct runlog *log, const struct epoch_metrics *m, struct rn_err *err);
/* Set status, finished_at, wall_seconds, diverged_epoch (0 = none), message
 * (may be NULL) and rewrite. */
int runlog_finish(struct runlog *log, enum run_status status, const char *finished_at,
                  double wall_seconds, size_t diverged_epoch, const char *message,
                  struct rn_err *err);
void runlog_free(struct runlog *log);

#endif

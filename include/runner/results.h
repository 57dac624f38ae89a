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

#define STORE_SCHEMA_VERSION 3

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
    double train_seconds;       /* of that, the mini-batch loop alone (shuffle, labels,
                                   forward, backward, update); NaN if unknown */
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

/* ---- process, stale runs, resume, merge (store.c) ----------------------- */

/* Record the process that runs run_id (on the run's host) and where its
 * checkpoint is written (may be NULL). */
int store_run_set_process(struct store *s, int64_t run_id, int64_t pid,
                          const char *checkpoint_path, struct rn_err *err);

/* A run on another host counts as gone when it has sent no heartbeat (one
 * per epoch) for this long. */
#define STORE_STALE_REMOTE_SECONDS (12 * 3600)

/* Mark every run whose status is `running` but whose process is gone as
 * `interrupted`, in one transaction, with the message "process N on HOST is
 * gone" (or "no heartbeat from HOST for N s"). A run on this_host is gone
 * when kill(pid, 0) reports no such process, or when the process now holding
 * that pid started after the run's last heartbeat (the pid was reused). A
 * run on another host (or without a pid) is gone when its heartbeat is
 * older than remote_stale_seconds. *n_marked (may be NULL) gets the count.
 * After the transaction commits, fn (may be NULL) is called for each marked
 * run with its JSON path (may be NULL) and the message, e.g. to update the
 * run's JSON file (runlog_mark_interrupted). */
typedef void (*store_stale_fn)(void *ctx, int64_t run_id, const char *json_path,
                               const char *message);
int store_mark_stale(struct store *s, const char *this_host, double remote_stale_seconds,
                     store_stale_fn fn, void *ctx, size_t *n_marked, struct rn_err *err);

/* A run as recorded; strings are owned (free with store_run_info_free) and
 * NULL where the column is NULL. */
struct store_run_info {
    int64_t id;
    char *uid, *name, *status, *host, *config_json, *config_hash, *data_files, *json_path,
        *checkpoint_path, *message;
    uint64_t seed;
    size_t epochs_done, epochs_planned;
    int64_t pid; /* 0 if unknown */
};

/* Find a run by uid, id (all digits) or name (the newest run with that
 * name), in that order of preference. RN_ERR_USAGE if there is none. */
int store_find_run(struct store *s, const char *which, struct store_run_info *info,
                   struct rn_err *err);
void store_run_info_free(struct store_run_info *info);

/* Take over an interrupted or failed run for resuming: status back to
 * running, this host and pid, finished_at, wall_seconds and message
 * cleared, heartbeat now. Only if its status is still interrupted or failed
 * and it still has epochs_done epochs (so two resumers cannot both win). */
int store_run_resume(struct store *s, int64_t run_id, size_t epochs_done, const char *host,
                     int64_t pid, struct rn_err *err);

/* Check that path is a runner database this runner can read (schema
 * version 1..STORE_SCHEMA_VERSION, passes PRAGMA quick_check) without
 * writing to it. RN_ERR_DATA naming the file otherwise. */
int store_check_shard(const char *path, struct rn_err *err);

struct store_merge_stats {
    size_t added;     /* runs new to the output */
    size_t updated;   /* runs replaced by the shard's version (more epochs, or finished) */
    size_t unchanged; /* runs already there, as far as or further along */
    size_t sweeps;    /* sweep rows added, or filled in (see store_merge) */
};

/* Merge the runs (with their params and epochs) and sweeps of the runner
 * database at shard_path into s, in one transaction: runs are matched by
 * uid; a new run is added with an id of s's own; a run already present is
 * replaced by the shard's version only if that one has more epochs, or as
 * many and a later status (running < interrupted < failed < diverged,
 * completed). Sweep rows are added, or a minimal one (as a Slurm task's
 * shard has) filled in from a fuller one. So merging is idempotent and the
 * order of overlapping shards does not matter. On any error s is left as
 * it was. */
int store_merge(struct store *s, const char *shard_path, struct store_merge_stats *stats,
                struct rn_err *err);

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

/* Reopen the JSON file of a run being resumed: check it is this run's (uid),
 * keep its first keep_epochs epochs (an epoch written to the file but not
 * committed to the database is dropped; it is recomputed identically), set
 * status running and clear finished_at, wall_seconds and message, and
 * rewrite it. RN_ERR_OUTPUT if the file is missing, not a run log, another
 * run's, or has fewer than keep_epochs epochs. */
int runlog_reopen(struct runlog *log, const char *path, const char *uid, size_t keep_epochs,
                  struct rn_err *err);

/* Set the run file at path to interrupted with message, if it still says
 * running (its process died; see store_mark_stale). Rewritten atomically;
 * a file that says anything else is left as it is. */
int runlog_mark_interrupted(const char *path, const char *message, struct rn_err *err);

#endif

/* query: read-only access to a runner results database, for the commands
 * that look at recorded runs (list, compare, plot, report).
 *
 * The database is opened with SQLITE_OPEN_READONLY, so nothing a command does
 * can change it, and only the tables (runs, params, epochs) are queried, never
 * the views, so databases made before the views existed work too. Every
 * statement binds its values. Called by the CLI; knows about results.h only
 * for the schema version.
 *
 * Errors: RN_ERR_OUTPUT for a missing, unreadable, non-SQLite, non-runner or
 * newer database (the message starts with the file name); RN_ERR_USAGE for a
 * run spec that names no run, or a run without epochs where they are needed;
 * RN_ERR_NOMEM. */
#ifndef RUNNER_QUERY_H
#define RUNNER_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runner/err.h"

struct query_db;

/* A value as SQLite stored it (params keep their type, see results.sql). */
enum query_type { QV_NULL = 0, QV_INT, QV_REAL, QV_TEXT };
struct query_value {
    enum query_type type;
    int64_t i;   /* QV_INT */
    double d;    /* QV_REAL */
    char *s;     /* QV_TEXT (owned) */
};

struct query_param {
    char *key;                  /* dotted config key, owned */
    struct query_value value;
};

/* One row of the runs table (the columns the commands use), and optionally
 * its params sorted by key. Metrics that are NULL in the database are NaN;
 * counts that are NULL are 0. Strings are owned; NULL when NULL. */
struct query_run {
    int64_t id;
    char *uid, *name, *status, *started_at, *finished_at;
    size_t epochs_planned, epochs_done;
    double final_train_loss, final_train_acc, final_test_loss, final_test_acc;
    double best_test_acc;
    size_t best_epoch;          /* 0 = none */
    double wall_seconds;
    struct query_param *params;
    size_t n_params;
};

/* One row of the epochs table; NULL metrics are NaN. */
struct query_epoch {
    size_t epoch;
    double train_loss, train_acc, test_loss, test_acc, val_loss, val_acc, lr, seconds;
};

/* Open `path` read-only and check it is a runner database of a schema version
 * this runner reads (1..STORE_SCHEMA_VERSION). Messages:
 * "PATH: no such database", "PATH: not an SQLite database",
 * "PATH: not a runner results database",
 * "PATH: database schema version N is newer than this runner supports (M)". */
int query_open(const char *path, struct query_db **out, struct rn_err *err);
void query_close(struct query_db *q);
const char *query_path(const struct query_db *q);

/* A run spec is a run id (decimal digits, naming an existing run) or a run
 * name, meaning the newest run (highest id) with that name. Digits that are
 * no run's id are tried as a name. Unknown: RN_ERR_USAGE,
 * "PATH: no run with id or name \"SPEC\"". */
int query_resolve(struct query_db *q, const char *spec, int64_t *id, struct rn_err *err);

/* Load one run; with_params also loads its params (sorted by key). */
int query_load_run(struct query_db *q, int64_t id, bool with_params, struct query_run *out,
                   struct rn_err *err);
void query_run_free(struct query_run *r);

/* The run's epochs in order (*n may be 0; *out is then NULL). */
int query_load_epochs(struct query_db *q, int64_t id, struct query_epoch **out, size_t *n,
                      struct rn_err *err);

/* Runs without params, newest (highest id) first. name_glob (SQLite GLOB:
 * case-sensitive, * ? [...]) and status filter when non-NULL. */
struct query_filter {
    const char *name_glob;
    const char *status;
};
int query_list(struct query_db *q, const struct query_filter *f, struct query_run **out,
               size_t *n, struct rn_err *err);
void query_runs_free(struct query_run *runs, size_t n);

/* The default pair for compare/plot/report, among runs with at least one
 * recorded epoch: ids[0] = the newest original run (param
 * augmentation.enabled = 0); ids[1] = the newest augmented run (= 1) whose
 * params equal the original's apart from query_param_is_incidental keys and
 * augmentation.*, or, if no augmented run matches, simply the newest augmented
 * run. RN_ERR_USAGE when there is no original or no augmented run. */
int query_default_pair(struct query_db *q, int64_t ids[2], struct rn_err *err);

/* Keys that name or place a run without changing its result: name,
 * output.*, features.cache, features.cache_dir, threads (also left out of the
 * config hash and of the views' "same config"). compare does not show them
 * as differences. */
bool query_param_is_incidental(const char *key);

/* The value as text: integers in decimal, reals in the shortest form that
 * reads back to the same double, text as is, NULL as "null". Writes at most
 * cap bytes (NUL included) and returns buf; text longer than that is cut. */
const char *query_value_text(const struct query_value *v, char *buf, size_t cap);
/* Equal as SQLite's IS compares them: NULL equals NULL, numbers compare by
 * value (integer 2 equals real 2.0), text byte by byte, numbers never equal
 * text. */
bool query_value_equal(const struct query_value *a, const struct query_value *b);

/* Shortest "%.*g" (15..17 digits) that reads back as d; "nan", "inf",
 * "-inf" for non-finite values. Returns buf. */
const char *query_format_real(double d, char *buf, size_t cap);

#endif

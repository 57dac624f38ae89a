/* store: the SQLite half of results.h — open/identify/create the database,
 * and record a run's start, each epoch and its end, one transaction each.
 * Every statement binds its values; nothing is pasted into SQL text. */
#include "runner/results.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <sys/types.h>
#include <unistd.h>

/* schemas/results.sql, compiled in by CMake (generated/results_sql.c). */
extern const char store_schema_sql[];

/* PRAGMA application_id of a runner database: 0x52554E52, "RUNR". Must match
 * schemas/results.sql. */
#define STORE_APPLICATION_ID 1381322322

/* A long training epoch holds no lock; other writers (a sweep's parallel runs)
 * hold it only for one short transaction, so waiting 10 s means trouble. */
#define STORE_BUSY_TIMEOUT_MS 10000

#define STORE_NOW "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

struct store {
    sqlite3 *db;
    char *path; /* for messages */
};

/* ---- small helpers ------------------------------------------------------ */

static int db_fail(const struct store *s, struct rn_err *err, const char *what)
{
    return rn_fail(err, RN_ERR_OUTPUT, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* Run SQL without results (BEGIN, COMMIT, PRAGMA x = y, the schema). */
static int exec_sql(struct store *s, const char *sql, const char *what, struct rn_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rn_fail(err, RN_ERR_OUTPUT, "%s: %s: %s", s->path, what,
                msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return RN_ERR_OUTPUT;
    }
    return RN_OK;
}

/* Undo the open transaction, if any (some errors already rolled it back).
 * The caller has already recorded the error that made this necessary. */
static void rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* IMMEDIATE takes the write lock up front, so the busy timeout applies here
 * and a later write in the transaction cannot fail with SQLITE_BUSY. */
static int begin(struct store *s, struct rn_err *err)
{
    return exec_sql(s, "BEGIN IMMEDIATE", "cannot start a transaction", err);
}

static int commit(struct store *s, struct rn_err *err)
{
    if (exec_sql(s, "COMMIT", "cannot commit", err) != RN_OK) {
        rollback(s);
        return RN_ERR_OUTPUT;
    }
    return RN_OK;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st, struct rn_err *err)
{
    *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(s, err, "cannot prepare statement");
    return RN_OK;
}

/* Step a statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what, struct rn_err *err)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_fail(s, err, what);
    return RN_OK;
}

/* Single integer result of a query such as "PRAGMA user_version". On failure
 * returns the SQLite result code and leaves err to the caller. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_ERROR; /* no row: not expected for these queries */
    }
    sqlite3_finalize(st);
    return rc;
}

/* The binders below return SQLite result codes (SQLITE_OK on success). */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* NaN would be stored as NULL anyway; say so explicitly. ±Inf stay REAL. */
static int bind_real(sqlite3_stmt *st, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

static int bind_size(sqlite3_stmt *st, int i, size_t v)
{
    if (v > (size_t)INT64_MAX)
        return SQLITE_RANGE;
    return sqlite3_bind_int64(st, i, (int64_t)v);
}

/* ---- open ------------------------------------------------------------- */

enum db_kind { DB_FRESH, DB_RUNNER, DB_OLDER, DB_NEWER, DB_FOREIGN };

/* What is this file? Reads the header fields and the schema table only, in
 * ONE statement, so from one snapshot: outside a transaction, separate
 * statements could straddle another runner's commit of a new schema and see
 * its user_version without its application_id (a "foreign" file). */
static int identify(struct store *s, enum db_kind *kind, int64_t *version, struct rn_err *err)
{
    int64_t app_id = 0, uv = 0, n_objects = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT (SELECT application_id FROM pragma_application_id()),"
                                " (SELECT user_version FROM pragma_user_version()),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            app_id = sqlite3_column_int64(st, 0);
            uv = sqlite3_column_int64(st, 1);
            n_objects = sqlite3_column_int64(st, 2);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_ERROR;
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_NOTADB)
        return rn_fail(err, RN_ERR_OUTPUT, "%s: not an SQLite database", s->path);
    if (rc != SQLITE_OK)
        return db_fail(s, err, "cannot read database");
    *version = uv;
    if (app_id != 0 && app_id != STORE_APPLICATION_ID)
        *kind = DB_FOREIGN; /* another application's file */
    else if (uv > STORE_SCHEMA_VERSION)
        *kind = DB_NEWER;
    else if (uv == STORE_SCHEMA_VERSION && app_id == STORE_APPLICATION_ID)
        *kind = DB_RUNNER;
    else if (uv >= 1 && app_id == STORE_APPLICATION_ID)
        *kind = DB_OLDER;
    else if (uv == 0 && app_id == 0 && n_objects == 0)
        *kind = DB_FRESH;
    else
        *kind = DB_FOREIGN;
    return RN_OK;
}

static int kind_error(const struct store *s, enum db_kind kind, int64_t version,
                      struct rn_err *err)
{
    if (kind == DB_NEWER)
        return rn_fail(err, RN_ERR_OUTPUT,
                       "%s: database schema version %lld is newer than this runner "
                       "supports (%d)",
                       s->path, (long long)version, STORE_SCHEMA_VERSION);
    return rn_fail(err, RN_ERR_OUTPUT, "%s: not a runner results database", s->path);
}

/* Upgrades of older runner databases, in order: migrations[v - 1] takes a
 * version-v database to version v + 1. Each runs inside the same write
 * transaction as the version check, so a failed or concurrent upgrade leaves
 * the file as it was. Columns are only ever added, never dropped. */
static const char *const migrations[] = {
    /* 1 -> 2: sweeps, and per-run sweep id, overrides, pid, checkpoint. */
    "CREATE TABLE sweeps (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, config_path TEXT,"
    " spec TEXT, n_runs INTEGER);"
    "ALTER TABLE runs ADD COLUMN sweep_id TEXT REFERENCES sweeps (id);"
    "ALTER TABLE runs ADD COLUMN overrides TEXT;"
    "ALTER TABLE runs ADD COLUMN pid INTEGER;"
    "ALTER TABLE runs ADD COLUMN checkpoint_path TEXT;"
    "CREATE INDEX runs_sweep ON runs (sweep_id);"
    "PRAGMA user_version = 2;",
    /* 2 -> 3: the mini-batch loop's share of an epoch's wall time. */
    "ALTER TABLE epochs ADD COLUMN train_seconds REAL;"
    "PRAGMA user_version = 3;",
};

static int migrate(struct store *s, int64_t from, struct rn_err *err)
{
    _Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION - 1,
                   "one migration per schema version step");
    for (int64_t v = from; v < STORE_SCHEMA_VERSION; v++) {
        char what[96];
        snprintf(what, sizeof what, "cannot upgrade the database from schema version %lld",
                 (long long)v);
        if (exec_sql(s, migrations[v - 1], what, err) != RN_OK)
            return RN_ERR_OUTPUT;
    }
    return RN_OK;
}

/* Create the schema in a fresh file, or upgrade an older runner database.
 * Two runners may start on the same file at once: the check is repeated
 * under the write lock, so only one of them creates or upgrades the schema
 * and the other finds a current runner database. */
static int create_schema(struct store *s, struct rn_err *err)
{
    if (begin(s, err) != RN_OK)
        return RN_ERR_OUTPUT;
    enum db_kind kind;
    int64_t version = 0;
    if (identify(s, &kind, &version, err) != RN_OK) {
        rollback(s);
        return RN_ERR_OUTPUT;
    }
    if (kind == DB_FRESH) {
        if (exec_sql(s, store_schema_sql, "cannot create schema", err) != RN_OK) {
            rollback(s);
            return RN_ERR_OUTPUT;
        }
        int64_t uv = -1;
        if (query_int(s->db, "PRAGMA user_version", &uv) != SQLITE_OK ||
            uv != STORE_SCHEMA_VERSION) {
            rollback(s);
            return rn_fail(err, RN_ERR_GENERIC,
                           "%s: compiled-in schema sets user_version %lld, expected %d",
                           s->path, (long long)uv, STORE_SCHEMA_VERSION);
        }
    } else if (kind == DB_OLDER) {
        if (migrate(s, version, err) != RN_OK) {
            rollback(s);
            return RN_ERR_OUTPUT;
        }
    } else if (kind != DB_RUNNER) {
        rollback(s);
        return kind_error(s, kind, version, err);
    }
    return commit(s, err);
}

/* An existing runner database of this version may predate the views: add the
 * missing ones (the part of the compiled-in schema after the "-- @views"
 * marker, all CREATE VIEW IF NOT EXISTS). One write transaction that changes
 * nothing when they are all there; rows are never touched. */
static int ensure_views(struct store *s, struct rn_err *err)
{
    static const char marker[] = "\n-- @views\n";
    const char *views = strstr(store_schema_sql, marker);
    if (!views)
        return rn_fail(err, RN_ERR_GENERIC, "%s: compiled-in schema has no views section",
                       s->path);
    if (begin(s, err) != RN_OK)
        return RN_ERR_OUTPUT;
    if (exec_sql(s, views + 1, "cannot create views", err) != RN_OK) {
        rollback(s);
        return RN_ERR_OUTPUT;
    }
    return commit(s, err);
}

/* PRAGMA journal_mode = WAL. Switching a file's mode needs an exclusive
 * lock and SQLite reports SQLITE_BUSY at once, without the busy handler,
 * when another runner holds the file (two runs starting on one new
 * database): retry for up to 5 s like the busy timeout would. */
static int set_wal(struct store *s, struct rn_err *err)
{
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return RN_OK;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 100)
            return db_fail(s, err, "cannot set journal mode");
        sqlite3_sleep(50);
    }
}

int store_open(const char *path, struct store **out, struct rn_err *err)
{
    *out = NULL;
    struct store *s = calloc(1, sizeof *s);
    char *p = s ? strdup(path) : NULL;
    if (!p) {
        free(s);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    }
    s->path = p;
    int code = RN_OK;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        code = s->db ? db_fail(s, err, "cannot open database")
                     : rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    } else if (sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        code = db_fail(s, err, "cannot set busy timeout");
    } else {
        code = exec_sql(s, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", err);
    }

    /* Identify the file before anything writes to it: a file that is not
     * ours must be left byte-identical. */
    enum db_kind kind = DB_FOREIGN;
    int64_t version = 0;
    if (code == RN_OK)
        code = identify(s, &kind, &version, err);
    if (code == RN_OK && kind != DB_FRESH && kind != DB_RUNNER && kind != DB_OLDER)
        code = kind_error(s, kind, version, err);

    /* WAL: a reader (report, sqlite3 CLI) never blocks the training writer.
     * The mode is persistent; where WAL is unavailable (no shared memory, e.g.
     * some network filesystems) SQLite keeps the rollback journal, which is
     * slower under contention but still correct, so that is not an error.
     * synchronous = FULL: a commit is durable once store_run_epoch returns,
     * like the JSON file that is fsync'd every epoch. NORMAL would save one
     * fsync per commit, but there is one commit per epoch, seconds apart, so
     * the cost is negligible, and a power cut cannot lose recorded epochs. */
    if (code == RN_OK)
        code = set_wal(s, err);
    if (code == RN_OK)
        code = exec_sql(s, "PRAGMA synchronous = FULL", "cannot set synchronous mode", err);
    if (code == RN_OK && (kind == DB_FRESH || kind == DB_OLDER))
        code = create_schema(s, err); /* creates or upgrades, under the write lock */
    if (code == RN_OK && kind != DB_FRESH)
        code = ensure_views(s, err); /* an upgraded or existing database */
    if (code != RN_OK) {
        store_close(s);
        return code;
    }
    *out = s;
    return RN_OK;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    /* All statements are finalized before every return, so close succeeds;
     * the last connection checkpoints the WAL into the main file. */
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* ---- flatten ------------------------------------------------------------ */

static int flatten_rec(const cJSON *obj, char **key, size_t *cap, size_t len,
                       store_leaf_fn fn, void *ctx)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *name = it->string ? it->string : "";
        size_t nlen = strlen(name), need;
        /* key so far + '.' + name + NUL */
        if (rn_add_size(len, nlen, &need) || rn_add_size(need, 2, &need))
            return RN_ERR_NOMEM;
        if (need > *cap) {
            size_t ncap = need > SIZE_MAX / 2 ? need : need * 2;
            char *nk = realloc(*key, ncap);
            if (!nk)
                return RN_ERR_NOMEM;
            *key = nk;
            *cap = ncap;
        }
        size_t at = len;
        if (len > 0)
            (*key)[at++] = '.';
        memcpy(*key + at, name, nlen + 1);
        int rc = cJSON_IsObject(it) ? flatten_rec(it, key, cap, at + nlen, fn, ctx)
                                    : fn(ctx, *key, it);
        if (rc != 0)
            return rc;
        (*key)[len] = '\0';
    }
    return RN_OK;
}

/* Leaves are everything but objects (arrays included); an empty object has
 * no leaves. Returns the first non-zero value fn returns, RN_ERR_NOMEM, or
 * RN_ERR_GENERIC if obj is not an object. NULL has no leaves. */
int store_flatten(const cJSON *obj, store_leaf_fn fn, void *ctx)
{
    if (!obj)
        return RN_OK;
    if (!cJSON_IsObject(obj))
        return RN_ERR_GENERIC;
    size_t cap = 128;
    char *key = malloc(cap);
    if (!key)
        return RN_ERR_NOMEM;
    key[0] = '\0';
    int rc = flatten_rec(obj, &key, &cap, 0, fn, ctx);
    free(key);
    return rc;
}

/* ---- recording a run ---------------------------------------------------- */

struct param_ctx {
    struct store *s;
    sqlite3_stmt *st;
    int64_t run_id;
    struct rn_err *err;
};

/* Bind a config leaf with the type it has: integral numbers that a double
 * holds exactly as INTEGER, other numbers as REAL, booleans as 0/1, strings
 * as TEXT, arrays as their JSON text. */
static int bind_leaf(sqlite3_stmt *st, int i, const cJSON *leaf, char **owned)
{
    *owned = NULL;
    if (cJSON_IsBool(leaf))
        return sqlite3_bind_int(st, i, cJSON_IsTrue(leaf) ? 1 : 0);
    if (cJSON_IsNumber(leaf)) {
        double v = leaf->valuedouble;
        if (isfinite(v) && v == floor(v) && fabs(v) <= 9007199254740992.0)
            return sqlite3_bind_int64(st, i, (int64_t)v);
        return bind_real(st, i, v);
    }
    if (cJSON_IsString(leaf))
        return bind_text(st, i, leaf->valuestring);
    if (cJSON_IsRaw(leaf))
        return bind_text(st, i, leaf->valuestring);
    if (cJSON_IsNull(leaf))
        return sqlite3_bind_null(st, i);
    *owned = cJSON_PrintUnformatted(leaf); /* array */
    if (!*owned)
        return SQLITE_NOMEM;
    return sqlite3_bind_text(st, i, *owned, -1, SQLITE_STATIC);
}

static int insert_param(void *vctx, const char *key, const cJSON *leaf)
{
    struct param_ctx *c = vctx;
    char *owned = NULL;
    int rc = sqlite3_reset(c->st);
    if (rc == SQLITE_OK)
        rc = sqlite3_clear_bindings(c->st);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(c->st, 1, c->run_id);
    if (rc == SQLITE_OK)
        rc = bind_text(c->st, 2, key);
    if (rc == SQLITE_OK)
        rc = bind_leaf(c->st, 3, leaf, &owned);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(c->st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    int code = RN_OK;
    if (rc != SQLITE_OK) {
        char what[300];
        snprintf(what, sizeof what, "cannot record param \"%.200s\"", key);
        code = db_fail(c->s, c->err, what);
    }
    /* The statement may still reference owned: unbind before freeing. */
    sqlite3_reset(c->st);
    sqlite3_clear_bindings(c->st);
    cJSON_free(owned);
    return code;
}

static const char SQL_INSERT_RUN[] =
    "INSERT INTO runs (uid, name, status, config_hash, seed, config_path, config_json,"
    " data_files, host, runner_version, started_at, heartbeat_at, epochs_planned,"
    " epochs_done, json_path, sweep_id, overrides)"
    " VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, " STORE_NOW ", ?11, 0, ?12,"
    " ?13, ?14)";

/* A run of a sweep whose row is not in this database (a Slurm task's shard)
 * creates a minimal one, so runs.sweep_id always points at a row. */
static const char SQL_ENSURE_SWEEP[] =
    "INSERT OR IGNORE INTO sweeps (id, created_at, config_path) VALUES (?1, ?2, ?3)";

int store_run_begin(struct store *s, const struct run_identity *id, const char *json_path,
                    int64_t *run_id, struct rn_err *err)
{
    *run_id = 0;
    char *config_json = id->config ? cJSON_PrintUnformatted(id->config) : NULL;
    char *files_json = id->data_files ? cJSON_PrintUnformatted(id->data_files) : NULL;
    if ((id->config && !config_json) || (id->data_files && !files_json)) {
        cJSON_free(config_json);
        cJSON_free(files_json);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
    }
    char *overrides_json = id->overrides ? cJSON_PrintUnformatted(id->overrides) : NULL;
    if (id->overrides && !overrides_json) {
        cJSON_free(config_json);
        cJSON_free(files_json);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
    }
    sqlite3_stmt *st = NULL;
    int code = begin(s, err);
    if (code == RN_OK && id->sweep_id) {
        code = prepare(s, SQL_ENSURE_SWEEP, &st, err);
        if (code == RN_OK) {
            int rc = bind_text(st, 1, id->sweep_id);
            if (rc == SQLITE_OK)
                rc = bind_text(st, 2, id->started_at);
            if (rc == SQLITE_OK)
                rc = bind_text(st, 3, id->config_path);
            code = rc != SQLITE_OK ? db_fail(s, err, "cannot bind sweep")
                                   : step_done(s, st, "cannot record sweep", err);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (code == RN_OK)
        code = prepare(s, SQL_INSERT_RUN, &st, err);
    if (code == RN_OK) {
        /* Seeds above INT64_MAX keep their bits as a negative integer. */
        int rc = bind_text(st, 1, id->uid);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, id->name);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, id->config_hash);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 4, (int64_t)id->seed);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 5, id->config_path);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 6, config_json);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 7, files_json);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 8, id->host);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 9, id->version);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 10, id->started_at);
        if (rc == SQLITE_OK)
            rc = bind_size(st, 11, id->epochs_planned);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 12, json_path);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 13, id->sweep_id);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 14, overrides_json);
        if (rc != SQLITE_OK)
            code = db_fail(s, err, "cannot bind run");
        else
            code = step_done(s, st, "cannot record run", err);
    }
    int64_t new_id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    st = NULL;
    cJSON_free(config_json);
    cJSON_free(files_json);
    cJSON_free(overrides_json);

    if (code == RN_OK)
        code = prepare(s, "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)", &st,
                       err);
    if (code == RN_OK) {
        struct param_ctx ctx = {s, st, new_id, err};
        code = store_flatten(id->config, insert_param, &ctx);
        if (code == RN_ERR_NOMEM)
            rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
        else if (code == RN_ERR_GENERIC)
            rn_fail(err, RN_ERR_GENERIC, "%s: resolved config is not a JSON object", s->path);
    }
    sqlite3_finalize(st);
    if (code == RN_OK)
        code = commit(s, err);
    else
        rollback(s);
    if (code == RN_OK)
        *run_id = new_id;
    return code;
}

static const char SQL_INSERT_EPOCH[] =
    "INSERT INTO epochs (run_id, epoch, train_loss, train_acc, test_loss, test_acc,"
    " val_loss, val_acc, lr, seconds, train_seconds, recorded_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, " STORE_NOW ")";

/* SET expressions all see the row as it was before the update, so both CASEs
 * test the old best: the first epoch reaching the maximum keeps it. */
static const char SQL_UPDATE_RUN_EPOCH[] =
    "UPDATE runs SET epochs_done = ?2,"
    " final_train_loss = ?3, final_train_acc = ?4, final_test_loss = ?5,"
    " final_test_acc = ?6, final_val_loss = ?7, final_val_acc = ?8,"
    " best_epoch = CASE WHEN best_test_acc IS NULL OR ?6 > best_test_acc"
    "   THEN ?2 ELSE best_epoch END,"
    " best_test_acc = CASE WHEN best_test_acc IS NULL OR ?6 > best_test_acc"
    "   THEN ?6 ELSE best_test_acc END,"
    " heartbeat_at = " STORE_NOW " WHERE id = ?1";

/* Bind ?1..?8 shared by both epoch statements (run, epoch, metrics). */
static int bind_epoch_common(sqlite3_stmt *st, int64_t run_id, const struct epoch_metrics *m)
{
    int rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK)
        rc = bind_size(st, 2, m->epoch);
    if (rc == SQLITE_OK)
        rc = bind_real(st, 3, m->train_loss);
    if (rc == SQLITE_OK)
        rc = bind_real(st, 4, m->train_acc);
    if (rc == SQLITE_OK)
        rc = bind_real(st, 5, m->test_loss);
    if (rc == SQLITE_OK)
        rc = bind_real(st, 6, m->test_acc);
    if (rc == SQLITE_OK)
        rc = m->has_val ? bind_real(st, 7, m->val_loss) : sqlite3_bind_null(st, 7);
    if (rc == SQLITE_OK)
        rc = m->has_val ? bind_real(st, 8, m->val_acc) : sqlite3_bind_null(st, 8);
    return rc;
}

int store_run_epoch(struct store *s, int64_t run_id, const struct epoch_metrics *m,
                    struct rn_err *err)
{
    sqlite3_stmt *ins = NULL, *upd = NULL;
    int code = begin(s, err);
    if (code == RN_OK)
        code = prepare(s, SQL_INSERT_EPOCH, &ins, err);
    if (code == RN_OK)
        code = prepare(s, SQL_UPDATE_RUN_EPOCH, &upd, err);
    if (code == RN_OK) {
        int rc = bind_epoch_common(ins, run_id, m);
        if (rc == SQLITE_OK)
            rc = bind_real(ins, 9, m->lr);
        if (rc == SQLITE_OK)
            rc = bind_real(ins, 10, m->seconds);
        if (rc == SQLITE_OK)
            rc = bind_real(ins, 11, m->train_seconds);
        if (rc != SQLITE_OK)
            code = db_fail(s, err, "cannot bind epoch");
    }
    if (code == RN_OK)
        code = step_done(s, ins, "cannot record epoch", err);
    if (code == RN_OK && bind_epoch_common(upd, run_id, m) != SQLITE_OK)
        code = db_fail(s, err, "cannot bind epoch");
    if (code == RN_OK)
        code = step_done(s, upd, "cannot update run after epoch", err);
    if (code == RN_OK && sqlite3_changes(s->db) != 1)
        code = rn_fail(err, RN_ERR_OUTPUT, "%s: run %lld not found", s->path,
                       (long long)run_id);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    if (code == RN_OK)
        return commit(s, err);
    rollback(s);
    return code;
}

static const char SQL_END_RUN[] =
    "UPDATE runs SET status = ?2, finished_at = ?3, wall_seconds = ?4,"
    " diverged_epoch = ?5, message = ?6, heartbeat_at = " STORE_NOW " WHERE id = ?1";

int store_run_end(struct store *s, int64_t run_id, enum run_status status,
                  const char *finished_at, double wall_seconds, size_t diverged_epoch,
                  const char *message, struct rn_err *err)
{
    if ((unsigned)status > (unsigned)RUN_INTERRUPTED)
        return rn_fail(err, RN_ERR_GENERIC, "%s: invalid run status %d", s->path, (int)status);
    sqlite3_stmt *st = NULL;
    int code = begin(s, err);
    if (code == RN_OK)
        code = prepare(s, SQL_END_RUN, &st, err);
    if (code == RN_OK) {
        int rc = sqlite3_bind_int64(st, 1, run_id);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, run_status_name(status));
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, finished_at);
        if (rc == SQLITE_OK)
            rc = bind_real(st, 4, wall_seconds);
        if (rc == SQLITE_OK)
            rc = diverged_epoch ? bind_size(st, 5, diverged_epoch) : sqlite3_bind_null(st, 5);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 6, message);
        if (rc != SQLITE_OK)
            code = db_fail(s, err, "cannot bind run end");
    }
    if (code == RN_OK)
        code = step_done(s, st, "cannot record end of run", err);
    if (code == RN_OK && sqlite3_changes(s->db) != 1)
        code = rn_fail(err, RN_ERR_OUTPUT, "%s: run %lld not found", s->path,
                       (long long)run_id);
    sqlite3_finalize(st);
    if (code == RN_OK)
        return commit(s, err);
    rollback(s);
    return code;
}

/* ---- sweeps and completed runs --------------------------------------------- */

static const char SQL_SWEEP_BEGIN[] =
    "INSERT INTO sweeps (id, created_at, config_path, spec, n_runs)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (id) DO UPDATE SET config_path = coalesce(config_path, excluded.config_path),"
    " spec = coalesce(spec, excluded.spec), n_runs = coalesce(n_runs, excluded.n_runs)";

int store_sweep_begin(struct store *s, const char *sweep_id, const char *created_at,
                      const char *config_path, const char *spec_json, size_t n_runs,
                      struct rn_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = begin(s, err);
    if (code == RN_OK)
        code = prepare(s, SQL_SWEEP_BEGIN, &st, err);
    if (code == RN_OK) {
        int rc = bind_text(st, 1, sweep_id);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, created_at);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, config_path);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 4, spec_json);
        if (rc == SQLITE_OK)
            rc = bind_size(st, 5, n_runs);
        code = rc != SQLITE_OK ? db_fail(s, err, "cannot bind sweep")
                               : step_done(s, st, "cannot record sweep", err);
    }
    sqlite3_finalize(st);
    if (code == RN_OK)
        return commit(s, err);
    rollback(s);
    return code;
}

/* Do two data_files arrays list the same digests in the same order? */
static bool same_digests(const cJSON *a, const cJSON *b)
{
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
        return false;
    for (const cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next) {
        const char *hx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "sha256"));
        const char *hy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "sha256"));
        if (!hx || !hy || strcmp(hx, hy) != 0)
            return false;
    }
    return true;
}

int store_find_completed(struct store *s, const char *config_hash, const cJSON *data_files,
                         int64_t *run_id, struct rn_err *err)
{
    *run_id = 0;
    sqlite3_stmt *st = NULL;
    int code = prepare(s,
                       "SELECT id, data_files FROM runs WHERE config_hash = ?1"
                       " AND status = 'completed' ORDER BY id DESC",
                       &st, err);
    if (code == RN_OK && bind_text(st, 1, config_hash) != SQLITE_OK)
        code = db_fail(s, err, "cannot bind config hash");
    while (code == RN_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            code = db_fail(s, err, "cannot look for completed runs");
            break;
        }
        const char *files = (const char *)sqlite3_column_text(st, 1);
        cJSON *j = files ? cJSON_Parse(files) : NULL;
        bool same = same_digests(j, data_files);
        cJSON_Delete(j);
        if (same) {
            *run_id = sqlite3_column_int64(st, 0);
            break;
        }
    }
    sqlite3_finalize(st);
    return code;
}

/* ---- process, stale runs, resume ---------------------------------------- */

int store_run_set_process(struct store *s, int64_t run_id, int64_t pid,
                          const char *checkpoint_path, struct rn_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = begin(s, err);
    if (code == RN_OK)
        code = prepare(s, "UPDATE runs SET pid = ?2, checkpoint_path = ?3 WHERE id = ?1", &st,
                       err);
    if (code == RN_OK) {
        int rc = sqlite3_bind_int64(st, 1, run_id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, pid);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, checkpoint_path);
        code = rc == SQLITE_OK ? step_done(s, st, "cannot record the run's process", err)
                               : db_fail(s, err, "cannot bind the run's process");
    }
    if (code == RN_OK && sqlite3_changes(s->db) != 1)
        code = rn_fail(err, RN_ERR_OUTPUT, "%s: run %lld not found", s->path,
                       (long long)run_id);
    sqlite3_finalize(st);
    if (code == RN_OK)
        return commit(s, err);
    rollback(s);
    return code;
}

/* Seconds since the epoch at which process pid started, from /proc (Linux);
 * -1 if unknown. */
static int64_t proc_start_time(int64_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 2 (comm) is in parentheses and may contain spaces: start after
     * the last ')'. Then fields 3.. follow; starttime is field 22. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    unsigned long long start_ticks = 0;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (field == 22) {
            char *end;
            start_ticks = strtoull(p, &end, 10);
            if (end == p)
                return -1;
            break;
        }
        while (*p && *p != ' ')
            p++;
    }
    f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    long long btime = -1;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    long tck = sysconf(_SC_CLK_TCK);
    if (btime < 0 || tck <= 0)
        return -1;
    return (int64_t)btime + (int64_t)(start_ticks / (unsigned long long)tck);
}

/* Is the process of a run on this host gone? heartbeat is the run's last
 * heartbeat in seconds since the epoch (-1 if unknown). */
static bool local_process_gone(int64_t pid, int64_t heartbeat)
{
    if (pid <= 0 || pid > INT32_MAX)
        return false; /* not a pid we can check */
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    /* The pid exists (EPERM: another user's). A process that started after
     * the run's last heartbeat cannot be the one that sent it; 5 s of slack
     * for the clocks' rounding. */
    int64_t started = proc_start_time(pid);
    return started >= 0 && heartbeat >= 0 && started > heartbeat + 5;
}

static const char SQL_STALE_CANDIDATES[] =
    "SELECT id, host, pid, CAST(strftime('%s', heartbeat_at) AS INTEGER),"
    " CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', heartbeat_at) AS INTEGER),"
    " json_path FROM runs WHERE status = 'running'";

static const char SQL_MARK_STALE[] =
    "UPDATE runs SET status = 'interrupted', message = ?2, finished_at = heartbeat_at"
    " WHERE id = ?1 AND status = 'running'";

/* The runs marked in one store_mark_stale call, for its callback. */
struct stale_list {
    size_t n, cap;
    int64_t *ids;
    char **paths, **msgs;
};

static void stale_list_free(struct stale_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->msgs[i]);
    }
    free(l->ids);
    free(l->paths);
    free(l->msgs);
}

static int stale_list_add(struct stale_list *l, int64_t id, const char *path, const char *msg)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        int64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (ids)
            l->ids = ids;
        char **paths = ids ? realloc(l->paths, cap * sizeof *paths) : NULL;
        if (paths)
            l->paths = paths;
        char **msgs = paths ? realloc(l->msgs, cap * sizeof *msgs) : NULL;
        if (!msgs)
            return 0;
        l->msgs = msgs;
        l->cap = cap;
    }
    char *p = path ? strdup(path) : NULL, *m = strdup(msg);
    if ((path && !p) || !m) {
        free(p);
        free(m);
        return 0;
    }
    l->ids[l->n] = id;
    l->paths[l->n] = p;
    l->msgs[l->n] = m;
    l->n++;
    return 1;
}

int store_mark_stale(struct store *s, const char *this_host, double remote_stale_seconds,
                     store_stale_fn fn, void *ctx, size_t *n_marked, struct rn_err *err)
{
    if (n_marked)
        *n_marked = 0;
    sqlite3_stmt *sel = NULL, *upd = NULL;
    struct stale_list marked = {0};
    int code = begin(s, err);
    if (code == RN_OK)
        code = prepare(s, SQL_STALE_CANDIDATES, &sel, err);
    if (code == RN_OK)
        code = prepare(s, SQL_MARK_STALE, &upd, err);
    while (code == RN_OK) {
        int rc = sqlite3_step(sel);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            code = db_fail(s, err, "cannot read running runs");
            break;
        }
        int64_t id = sqlite3_column_int64(sel, 0);
        const char *host = (const char *)sqlite3_column_text(sel, 1);
        bool has_pid = sqlite3_column_type(sel, 2) != SQLITE_NULL;
        int64_t pid = sqlite3_column_int64(sel, 2);
        bool has_hb = sqlite3_column_type(sel, 3) != SQLITE_NULL;
        int64_t hb = has_hb ? sqlite3_column_int64(sel, 3) : -1;
        int64_t age = sqlite3_column_int64(sel, 4);
        const char *json_path = (const char *)sqlite3_column_text(sel, 5);
        char msg[512];
        bool gone = false;
        if (host && this_host && strcmp(host, this_host) == 0 && has_pid) {
            gone = local_process_gone(pid, hb);
            snprintf(msg, sizeof msg, "process %lld on %s is gone", (long long)pid, host);
        } else if (has_hb && (double)age > remote_stale_seconds) {
            gone = true;
            snprintf(msg, sizeof msg, "no heartbeat from %s for %lld s", host ? host : "?",
                     (long long)age);
        }
        if (!gone)
            continue;
        rc = sqlite3_reset(upd);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(upd, 1, id);
        if (rc == SQLITE_OK)
            rc = bind_text(upd, 2, msg);
        if (rc != SQLITE_OK)
            code = db_fail(s, err, "cannot bind stale run");
        else
            code = step_done(s, upd, "cannot mark a stale run interrupted", err);
        if (code == RN_OK && sqlite3_changes(s->db) == 1 &&
            !stale_list_add(&marked, id, json_path, msg))
            code = rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (code == RN_OK)
        code = commit(s, err);
    else
        rollback(s);
    if (code == RN_OK) {
        if (n_marked)
            *n_marked = marked.n;
        for (size_t i = 0; fn && i < marked.n; i++)
            fn(ctx, marked.ids[i], marked.paths[i], marked.msgs[i]);
    }
    stale_list_free(&marked);
    return code;
}

static char *col_dup(sqlite3_stmt *st, int i, bool *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *d = strdup((const char *)t);
    if (!d)
        *oom = true;
    return d;
}

void store_run_info_free(struct store_run_info *info)
{
    if (!info)
        return;
    free(info->uid);
    free(info->name);
    free(info->status);
    free(info->host);
    free(info->config_json);
    free(info->config_hash);
    free(info->data_files);
    free(info->json_path);
    free(info->checkpoint_path);
    free(info->message);
    memset(info, 0, sizeof *info);
}

static const char SQL_FIND_RUN[] =
    "SELECT id, uid, name, status, host, config_json, config_hash, data_files, json_path,"
    " checkpoint_path, message, seed, epochs_done, epochs_planned, pid FROM runs"
    " WHERE (?1 IS NOT NULL AND id = ?1) OR uid = ?2 OR name = ?2"
    " ORDER BY (uid = ?2) DESC, (id IS ?1) DESC, id DESC LIMIT 1";

int store_find_run(struct store *s, const char *which, struct store_run_info *info,
                   struct rn_err *err)
{
    memset(info, 0, sizeof *info);
    bool digits = which[0] != '\0';
    for (const char *p = which; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    sqlite3_stmt *st = NULL;
    int code = prepare(s, SQL_FIND_RUN, &st, err);
    if (code != RN_OK)
        return code;
    int rc = SQLITE_OK;
    if (digits && strlen(which) <= 18)
        rc = sqlite3_bind_int64(st, 1, strtoll(which, NULL, 10));
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, which);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, err, "cannot bind run lookup");
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return rn_fail(err, RN_ERR_USAGE, "%s: no run with id, uid or name '%s'", s->path,
                       which);
    }
    if (rc != SQLITE_ROW) {
        code = db_fail(s, err, "cannot look up run");
        sqlite3_finalize(st);
        return code;
    }
    bool oom = false;
    info->id = sqlite3_column_int64(st, 0);
    info->uid = col_dup(st, 1, &oom);
    info->name = col_dup(st, 2, &oom);
    info->status = col_dup(st, 3, &oom);
    info->host = col_dup(st, 4, &oom);
    info->config_json = col_dup(st, 5, &oom);
    info->config_hash = col_dup(st, 6, &oom);
    info->data_files = col_dup(st, 7, &oom);
    info->json_path = col_dup(st, 8, &oom);
    info->checkpoint_path = col_dup(st, 9, &oom);
    info->message = col_dup(st, 10, &oom);
    info->seed = (uint64_t)sqlite3_column_int64(st, 11);
    int64_t done = sqlite3_column_int64(st, 12), planned = sqlite3_column_int64(st, 13);
    info->epochs_done = done > 0 ? (size_t)done : 0;
    info->epochs_planned = planned > 0 ? (size_t)planned : 0;
    info->pid = sqlite3_column_int64(st, 14);
    sqlite3_finalize(st);
    if (oom) {
        store_run_info_free(info);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
    }
    return RN_OK;
}

static const char SQL_RESUME_RUN[] =
    "UPDATE runs SET status = 'running', host = ?3, pid = ?4, finished_at = NULL,"
    " wall_seconds = NULL, message = NULL, heartbeat_at = " STORE_NOW
    " WHERE id = ?1 AND epochs_done = ?2 AND status IN ('interrupted', 'failed')";

int store_run_resume(struct store *s, int64_t run_id, size_t epochs_done, const char *host,
                     int64_t pid, struct rn_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = begin(s, err);
    if (code == RN_OK)
        code = prepare(s, SQL_RESUME_RUN, &st, err);
    if (code == RN_OK) {
        int rc = sqlite3_bind_int64(st, 1, run_id);
        if (rc == SQLITE_OK)
            rc = bind_size(st, 2, epochs_done);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, host);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 4, pid);
        code = rc == SQLITE_OK ? step_done(s, st, "cannot mark the run running", err)
                               : db_fail(s, err, "cannot bind run resume");
    }
    if (code == RN_OK && sqlite3_changes(s->db) != 1)
        code = rn_fail(err, RN_ERR_OUTPUT,
                       "%s: run %lld changed while resuming it (is another runner resuming "
                       "it?)",
                       s->path, (long long)run_id);
    sqlite3_finalize(st);
    if (code == RN_OK)
        return commit(s, err);
    rollback(s);
    return code;
}

/* ---- merge -------------------------------------------------------------- */

int store_check_shard(const char *path, struct rn_err *err)
{
    struct store tmp = {NULL, (char *)path};
    if (sqlite3_open_v2(path, &tmp.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int code = tmp.db ? rn_fail(err, RN_ERR_DATA, "%s: cannot open: %s", path,
                                    sqlite3_errmsg(tmp.db))
                          : rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
        sqlite3_close(tmp.db);
        return code;
    }
    sqlite3_busy_timeout(tmp.db, STORE_BUSY_TIMEOUT_MS);
    enum db_kind kind = DB_FOREIGN;
    int64_t version = 0;
    int code = identify(&tmp, &kind, &version, err);
    if (code == RN_OK && kind != DB_RUNNER && kind != DB_OLDER)
        code = kind == DB_NEWER ? kind_error(&tmp, kind, version, err)
                                : rn_fail(err, RN_ERR_DATA, "%s: not a runner results database",
                                          path);
    if (code == RN_OK) {
        sqlite3_stmt *st = NULL;
        const unsigned char *res = NULL;
        if (sqlite3_prepare_v2(tmp.db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            res = sqlite3_column_text(st, 0);
        if (!res || strcmp((const char *)res, "ok") != 0)
            code = rn_fail(err, RN_ERR_DATA, "%s: database is damaged (quick_check: %s)", path,
                           res ? (const char *)res : sqlite3_errmsg(tmp.db));
        sqlite3_finalize(st);
    }
    sqlite3_close(tmp.db);
    if (code != RN_OK)
        err->code = RN_ERR_DATA; /* the shard is input, not output */
    return code == RN_OK ? RN_OK : RN_ERR_DATA;
}

/* Quoted, comma-separated names of the columns of main.<table> that
 * shard.<table> has too, except `skip` (may be NULL). Names come from our own
 * schema (main), so the SQL built from them holds no outside text. */
static int common_columns(struct store *s, const char *table, const char *skip, char **out,
                          struct rn_err *err)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int code = prepare(s,
                       "SELECT m.name FROM pragma_table_info(?1, 'main') AS m"
                       " WHERE m.name IN (SELECT name FROM pragma_table_info(?1, 'shard'))"
                       " ORDER BY m.cid",
                       &st, err);
    if (code != RN_OK)
        return code;
    if (bind_text(st, 1, table) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, err, "cannot bind table name");
    }
    size_t cap = 64, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        sqlite3_finalize(st);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
    }
    buf[0] = '\0';
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name || (skip && strcmp(name, skip) == 0))
            continue;
        /* Our column names are plain identifiers: no quote to escape. */
        if (strchr(name, '"')) {
            code = rn_fail(err, RN_ERR_GENERIC, "%s: unexpected column name", s->path);
            break;
        }
        size_t need = len + strlen(name) + 4;
        if (need > cap) {
            cap = need * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                code = rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
                break;
            }
            buf = nb;
        }
        len += (size_t)sprintf(buf + len, "%s\"%s\"", len ? "," : "", name);
    }
    if (code == RN_OK && rc != SQLITE_DONE)
        code = db_fail(s, err, "cannot read table columns");
    sqlite3_finalize(st);
    if (code == RN_OK && len == 0)
        code = rn_fail(err, RN_ERR_DATA, "%s: shard table %s has no known columns", s->path,
                       table);
    if (code != RN_OK) {
        free(buf);
        return code;
    }
    *out = buf;
    return RN_OK;
}

/* Order of statuses for merging: a later one wins at equal epochs. */
static int status_rank(const char *st)
{
    if (!st)
        return 0;
    if (strcmp(st, "interrupted") == 0)
        return 1;
    if (strcmp(st, "failed") == 0)
        return 2;
    if (strcmp(st, "completed") == 0 || strcmp(st, "diverged") == 0)
        return 3;
    return 0; /* running */
}

/* malloc'd printf (SQL text made only of our own column names). */
static char *sql_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sql_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

struct merge_sql {
    sqlite3_stmt *shard_runs, *find, *insert_run, *update_run, *del_params, *del_epochs,
        *copy_params, *copy_epochs;
};

static void merge_sql_free(struct merge_sql *q)
{
    sqlite3_finalize(q->shard_runs);
    sqlite3_finalize(q->find);
    sqlite3_finalize(q->insert_run);
    sqlite3_finalize(q->update_run);
    sqlite3_finalize(q->del_params);
    sqlite3_finalize(q->del_epochs);
    sqlite3_finalize(q->copy_params);
    sqlite3_finalize(q->copy_epochs);
}

static int merge_prepare(struct store *s, struct merge_sql *q, struct rn_err *err)
{
    char *run_cols = NULL, *ep_cols = NULL;
    int code = common_columns(s, "runs", "id", &run_cols, err);
    if (code == RN_OK)
        code = common_columns(s, "epochs", "run_id", &ep_cols, err);
    char *ins = NULL, *upd = NULL, *cep = NULL;
    if (code == RN_OK) {
        ins = sql_fmt("INSERT INTO main.runs (%s) SELECT %s FROM shard.runs WHERE uid = ?1",
                      run_cols, run_cols);
        upd = sql_fmt("UPDATE main.runs SET (%s) = (SELECT %s FROM shard.runs WHERE uid = ?1)"
                      " WHERE id = ?2",
                      run_cols, run_cols);
        cep = sql_fmt("INSERT INTO main.epochs (run_id, %s) SELECT ?2, %s FROM shard.epochs"
                      " WHERE run_id = ?1 ORDER BY epoch",
                      ep_cols, ep_cols);
        if (!ins || !upd || !cep)
            code = rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", s->path);
    }
    if (code == RN_OK)
        code = prepare(s,
                       "SELECT id, uid, epochs_done, status FROM shard.runs ORDER BY id",
                       &q->shard_runs, err);
    if (code == RN_OK)
        code = prepare(s, "SELECT id, epochs_done, status FROM main.runs WHERE uid = ?1",
                       &q->find, err);
    if (code == RN_OK)
        code = prepare(s, ins, &q->insert_run, err);
    if (code == RN_OK)
        code = prepare(s, upd, &q->update_run, err);
    if (code == RN_OK)
        code = prepare(s, "DELETE FROM main.params WHERE run_id = ?1", &q->del_params, err);
    if (code == RN_OK)
        code = prepare(s, "DELETE FROM main.epochs WHERE run_id = ?1", &q->del_epochs, err);
    if (code == RN_OK)
        code = prepare(s,
                       "INSERT INTO main.params (run_id, key, value) SELECT ?2, key, value"
                       " FROM shard.params WHERE run_id = ?1",
                       &q->copy_params, err);
    if (code == RN_OK)
        code = prepare(s, cep, &q->copy_epochs, err);
    free(run_cols);
    free(ep_cols);
    free(ins);
    free(upd);
    free(cep);
    return code;
}

/* Run a prepared statement with up to two integer/text parameters. */
static int run_stmt(struct store *s, sqlite3_stmt *st, const char *text1, int64_t i1,
                    int64_t i2, const char *what, struct rn_err *err)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int rc = text1 ? bind_text(st, 1, text1) : sqlite3_bind_int64(st, 1, i1);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 2)
        rc = sqlite3_bind_int64(st, 2, i2);
    if (rc != SQLITE_OK)
        return db_fail(s, err, what);
    int code = step_done(s, st, what, err);
    sqlite3_reset(st);
    return code;
}

static int merge_runs(struct store *s, struct merge_sql *q, struct store_merge_stats *stats,
                      struct rn_err *err)
{
    int code = RN_OK;
    for (;;) {
        int rc = sqlite3_step(q->shard_runs);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return db_fail(s, err, "cannot read the shard's runs");
        int64_t shard_id = sqlite3_column_int64(q->shard_runs, 0);
        const char *uid = (const char *)sqlite3_column_text(q->shard_runs, 1);
        int64_t sh_epochs = sqlite3_column_int64(q->shard_runs, 2);
        int sh_rank = status_rank((const char *)sqlite3_column_text(q->shard_runs, 3));
        if (!uid)
            return rn_fail(err, RN_ERR_DATA, "%s: shard run %lld has no uid", s->path,
                           (long long)shard_id);
        sqlite3_reset(q->find);
        if (bind_text(q->find, 1, uid) != SQLITE_OK)
            return db_fail(s, err, "cannot bind uid");
        rc = sqlite3_step(q->find);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(s, err, "cannot look up run");
        int64_t out_id = 0;
        if (rc == SQLITE_ROW) {
            out_id = sqlite3_column_int64(q->find, 0);
            int64_t out_epochs = sqlite3_column_int64(q->find, 1);
            int out_rank = status_rank((const char *)sqlite3_column_text(q->find, 2));
            sqlite3_reset(q->find);
            bool newer = sh_epochs > out_epochs || (sh_epochs == out_epochs && sh_rank > out_rank);
            if (!newer) {
                stats->unchanged++;
                continue;
            }
            code = run_stmt(s, q->update_run, uid, 0, out_id, "cannot update run", err);
            if (code == RN_OK)
                code = run_stmt(s, q->del_params, NULL, out_id, 0, "cannot replace params", err);
            if (code == RN_OK)
                code = run_stmt(s, q->del_epochs, NULL, out_id, 0, "cannot replace epochs", err);
            if (code == RN_OK)
                stats->updated++;
        } else {
            sqlite3_reset(q->find);
            code = run_stmt(s, q->insert_run, uid, 0, 0, "cannot add run", err);
            out_id = sqlite3_last_insert_rowid(s->db);
            if (code == RN_OK)
                stats->added++;
        }
        if (code == RN_OK)
            code = run_stmt(s, q->copy_params, NULL, shard_id, out_id, "cannot copy params", err);
        if (code == RN_OK)
            code = run_stmt(s, q->copy_epochs, NULL, shard_id, out_id, "cannot copy epochs", err);
        if (code != RN_OK)
            return code;
    }
    return RN_OK;
}

int store_merge(struct store *s, const char *shard_path, struct store_merge_stats *stats,
                struct rn_err *err)
{
    memset(stats, 0, sizeof *stats);
    int code = store_check_shard(shard_path, err);
    if (code != RN_OK)
        return code;
    sqlite3_stmt *st = NULL;
    code = prepare(s, "ATTACH DATABASE ?1 AS shard", &st, err);
    if (code == RN_OK) {
        if (bind_text(st, 1, shard_path) != SQLITE_OK)
            code = db_fail(s, err, "cannot bind shard path");
        else
            code = step_done(s, st, "cannot attach shard", err);
    }
    sqlite3_finalize(st);
    if (code != RN_OK)
        return rn_prefix(err, "%s", shard_path);

    struct merge_sql q = {0};
    struct store_merge_stats got = {0};
    code = begin(s, err);
    int64_t has_sweeps = 0;
    if (code == RN_OK &&
        query_int(s->db,
                  "SELECT count(*) FROM shard.sqlite_master WHERE type = 'table' AND"
                  " name = 'sweeps'",
                  &has_sweeps) != SQLITE_OK)
        code = db_fail(s, err, "cannot read the shard's tables");
    if (code == RN_OK && has_sweeps) {
        /* A sweep's row may come in several versions: a Slurm task's shard
         * has a minimal one (id, created_at, config_path), the emitted
         * sweep.db the full one. Missing fields are filled in and the
         * earliest created_at kept, so the order of shards does not matter. */
        code = exec_sql(s,
                        "INSERT INTO main.sweeps (id, created_at, config_path, spec, n_runs)"
                        " SELECT id, created_at, config_path, spec, n_runs FROM shard.sweeps"
                        " WHERE true ON CONFLICT (id) DO UPDATE SET"
                        " created_at = min(created_at, excluded.created_at),"
                        " config_path = coalesce(config_path, excluded.config_path),"
                        " spec = coalesce(spec, excluded.spec),"
                        " n_runs = coalesce(n_runs, excluded.n_runs)"
                        " WHERE excluded.created_at < sweeps.created_at"
                        " OR (sweeps.config_path IS NULL AND excluded.config_path IS NOT NULL)"
                        " OR (sweeps.spec IS NULL AND excluded.spec IS NOT NULL)"
                        " OR (sweeps.n_runs IS NULL AND excluded.n_runs IS NOT NULL)",
                        "cannot copy sweeps", err);
        if (code == RN_OK)
            got.sweeps = (size_t)sqlite3_changes(s->db);
    }
    if (code == RN_OK)
        code = merge_prepare(s, &q, err);
    if (code == RN_OK)
        code = merge_runs(s, &q, &got, err);
    merge_sql_free(&q);
    if (code == RN_OK)
        code = commit(s, err);
    else
        rollback(s);
    /* Detach even after an error; it cannot fail outside a transaction. */
    sqlite3_exec(s->db, "DETACH DATABASE shard", NULL, NULL, NULL);
    if (code != RN_OK)
        return rn_prefix(err, "merging %s", shard_path);
    *stats = got;
    return RN_OK;
}

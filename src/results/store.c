/* store: the SQLite half of results.h — open/identify/create the database,
 * and record a run's start, each epoch and its end, one transaction each.
 * Every statement binds its values; nothing is pasted into SQL text. */
#include "runner/results.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

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

enum db_kind { DB_FRESH, DB_RUNNER, DB_NEWER, DB_FOREIGN };

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

/* Create the schema in a fresh file. Two runners may start on the same new
 * file at once: the check is repeated under the write lock, so only one of
 * them applies the schema and the other finds a runner database. */
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
    } else if (kind != DB_RUNNER) {
        rollback(s);
        return kind_error(s, kind, version, err);
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
    if (code == RN_OK && kind != DB_FRESH && kind != DB_RUNNER)
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
    if (code == RN_OK && kind == DB_FRESH)
        code = create_schema(s, err);
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
    " epochs_done, json_path)"
    " VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, " STORE_NOW ", ?11, 0, ?12)";

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
    sqlite3_stmt *st = NULL;
    int code = begin(s, err);
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
    " val_loss, val_acc, lr, seconds, recorded_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, " STORE_NOW ")";

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

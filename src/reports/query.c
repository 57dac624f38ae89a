/* query: read-only access to a runner results database (see query.h).
 * Opens with SQLITE_OPEN_READONLY, reads only the tables, binds every value. */
#include "runner/query.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "runner/results.h"

/* PRAGMA application_id of a runner database ("RUNR"), as in results.sql. */
#define QUERY_APPLICATION_ID 1381322322
/* A reader of a WAL database is never blocked; a rollback-journal database
 * (WAL unavailable) can be locked by a writer for one short transaction. */
#define QUERY_BUSY_TIMEOUT_MS 5000

struct query_db {
    sqlite3 *db;
    char *path;
};

const char *query_path(const struct query_db *q)
{
    return q->path;
}

static int db_fail(const struct query_db *q, struct rn_err *err, const char *what)
{
    return rn_fail(err, RN_ERR_OUTPUT, "%s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

static int nomem(const struct query_db *q, struct rn_err *err)
{
    return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", q->path);
}

static int prepare(struct query_db *q, const char *sql, sqlite3_stmt **st, struct rn_err *err)
{
    *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(q, err, "cannot query database");
    return RN_OK;
}

/* ---- open ------------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_ERROR;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int query_open(const char *path, struct query_db **out, struct rn_err *err)
{
    *out = NULL;
    /* SQLite's own message for a missing file is "unable to open database
     * file"; say what is wrong instead. */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            return rn_fail(err, RN_ERR_OUTPUT, "%s: no such database", path);
        return rn_fail(err, RN_ERR_OUTPUT, "%s: cannot open database: %s", path,
                       strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        return rn_fail(err, RN_ERR_OUTPUT, "%s: is a directory, not a database", path);

    struct query_db *q = calloc(1, sizeof *q);
    char *p = q ? strdup(path) : NULL;
    if (!p) {
        free(q);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    }
    q->path = p;
    int code = RN_OK;
    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        code = q->db ? db_fail(q, err, "cannot open database") : nomem(q, err);
    } else if (sqlite3_busy_timeout(q->db, QUERY_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        code = db_fail(q, err, "cannot set busy timeout");
    }
    int64_t app_id = 0, version = 0;
    if (code == RN_OK) {
        int rc = pragma_int(q->db, "PRAGMA application_id", &app_id);
        if (rc == SQLITE_OK)
            rc = pragma_int(q->db, "PRAGMA user_version", &version);
        if (rc == SQLITE_NOTADB)
            code = rn_fail(err, RN_ERR_OUTPUT, "%s: not an SQLite database", path);
        else if (rc != SQLITE_OK)
            code = db_fail(q, err, "cannot read database");
    }
    if (code == RN_OK) {
        if (app_id != QUERY_APPLICATION_ID || version < 1)
            code = rn_fail(err, RN_ERR_OUTPUT, "%s: not a runner results database", path);
        else if (version > STORE_SCHEMA_VERSION)
            code = rn_fail(err, RN_ERR_OUTPUT,
                           "%s: database schema version %lld is newer than this runner "
                           "supports (%d)",
                           path, (long long)version, STORE_SCHEMA_VERSION);
    }
    if (code != RN_OK) {
        query_close(q);
        return code;
    }
    *out = q;
    return RN_OK;
}

void query_close(struct query_db *q)
{
    if (!q)
        return;
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

/* ---- values --------------------------------------------------------------- */

const char *query_format_real(double d, char *buf, size_t cap)
{
    if (isnan(d)) {
        snprintf(buf, cap, "nan");
        return buf;
    }
    if (isinf(d)) {
        snprintf(buf, cap, d > 0 ? "inf" : "-inf");
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

const char *query_value_text(const struct query_value *v, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    switch (v->type) {
    case QV_INT:
        snprintf(buf, cap, "%lld", (long long)v->i);
        break;
    case QV_REAL:
        query_format_real(v->d, buf, cap);
        break;
    case QV_TEXT:
        snprintf(buf, cap, "%s", v->s ? v->s : "");
        break;
    default:
        snprintf(buf, cap, "null");
        break;
    }
    return buf;
}

bool query_value_equal(const struct query_value *a, const struct query_value *b)
{
    bool an = a->type == QV_INT || a->type == QV_REAL;
    bool bn = b->type == QV_INT || b->type == QV_REAL;
    if (an && bn) {
        if (a->type == QV_INT && b->type == QV_INT)
            return a->i == b->i;
        double x = a->type == QV_INT ? (double)a->i : a->d;
        double y = b->type == QV_INT ? (double)b->i : b->d;
        return x == y;
    }
    if (a->type != b->type)
        return false;
    if (a->type == QV_TEXT)
        return strcmp(a->s ? a->s : "", b->s ? b->s : "") == 0;
    return true; /* both NULL */
}

bool query_param_is_incidental(const char *key)
{
    return strcmp(key, "name") == 0 || strncmp(key, "output.", 7) == 0 ||
           strcmp(key, "features.cache") == 0 || strcmp(key, "features.cache_dir") == 0 ||
           strcmp(key, "threads") == 0;
}

/* Column i of the current row as a value; text is copied. Returns false on
 * allocation failure. */
static bool column_value(sqlite3_stmt *st, int i, struct query_value *v)
{
    memset(v, 0, sizeof *v);
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        v->type = QV_INT;
        v->i = sqlite3_column_int64(st, i);
        return true;
    case SQLITE_FLOAT:
        v->type = QV_REAL;
        v->d = sqlite3_column_double(st, i);
        return true;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
        const unsigned char *t = sqlite3_column_text(st, i);
        v->type = QV_TEXT;
        v->s = strdup(t ? (const char *)t : "");
        return v->s != NULL;
    }
    default:
        v->type = QV_NULL;
        return true;
    }
}

static double column_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static size_t column_size(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    int64_t v = sqlite3_column_int64(st, i);
    return v > 0 ? (size_t)v : 0;
}

/* Copy a text column; *ok becomes false on allocation failure. */
static char *column_str(sqlite3_stmt *st, int i, bool *ok)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *s = strdup((const char *)t);
    if (!s)
        *ok = false;
    return s;
}

/* ---- runs --------------------------------------------------------------- */

#define RUN_COLUMNS                                                                    \
    "id, uid, name, status, started_at, finished_at, epochs_planned, epochs_done,"     \
    " final_train_loss, final_train_acc, final_test_loss, final_test_acc,"             \
    " best_test_acc, best_epoch, wall_seconds"

/* Fill r from a row selected with RUN_COLUMNS. */
static bool read_run_row(sqlite3_stmt *st, struct query_run *r)
{
    bool ok = true;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->uid = column_str(st, 1, &ok);
    r->name = column_str(st, 2, &ok);
    r->status = column_str(st, 3, &ok);
    r->started_at = column_str(st, 4, &ok);
    r->finished_at = column_str(st, 5, &ok);
    r->epochs_planned = column_size(st, 6);
    r->epochs_done = column_size(st, 7);
    r->final_train_loss = column_real(st, 8);
    r->final_train_acc = column_real(st, 9);
    r->final_test_loss = column_real(st, 10);
    r->final_test_acc = column_real(st, 11);
    r->best_test_acc = column_real(st, 12);
    r->best_epoch = column_size(st, 13);
    r->wall_seconds = column_real(st, 14);
    return ok;
}

static void free_params(struct query_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value.s);
    }
    free(p);
}

void query_run_free(struct query_run *r)
{
    if (!r)
        return;
    free(r->uid);
    free(r->name);
    free(r->status);
    free(r->started_at);
    free(r->finished_at);
    free_params(r->params, r->n_params);
    memset(r, 0, sizeof *r);
}

void query_runs_free(struct query_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        query_run_free(&runs[i]);
    free(runs);
}

static int load_params(struct query_db *q, int64_t id, struct query_param **out, size_t *n,
                       struct rn_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int code = prepare(q, "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key", &st,
                       err);
    if (code != RN_OK)
        return code;
    struct query_param *p = NULL;
    size_t len = 0, cap = 0;
    int rc = sqlite3_bind_int64(st, 1, id);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct query_param *np = realloc(p, ncap * sizeof *np);
            if (!np) {
                code = nomem(q, err);
                break;
            }
            p = np;
            cap = ncap;
        }
        struct query_param *e = &p[len];
        const unsigned char *k = sqlite3_column_text(st, 0);
        e->key = strdup(k ? (const char *)k : "");
        bool ok = e->key != NULL && column_value(st, 1, &e->value);
        if (!ok) {
            free(e->key);
            code = nomem(q, err);
            break;
        }
        len++;
        rc = SQLITE_OK;
    }
    if (code == RN_OK && rc != SQLITE_DONE)
        code = db_fail(q, err, "cannot read params");
    sqlite3_finalize(st);
    if (code != RN_OK) {
        free_params(p, len);
        return code;
    }
    *out = p;
    *n = len;
    return RN_OK;
}

int query_load_run(struct query_db *q, int64_t id, bool with_params, struct query_run *out,
                   struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    int code = prepare(q, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1", &st, err);
    if (code != RN_OK)
        return code;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (!read_run_row(st, out))
            code = nomem(q, err);
    } else if (rc == SQLITE_DONE) {
        code = rn_fail(err, RN_ERR_USAGE, "%s: no run with id %lld", q->path, (long long)id);
    } else {
        code = db_fail(q, err, "cannot read run");
    }
    sqlite3_finalize(st);
    if (code == RN_OK && with_params)
        code = load_params(q, id, &out->params, &out->n_params, err);
    if (code != RN_OK)
        query_run_free(out);
    return code;
}

/* Does a run with this id exist? -1 on a database error. */
static int run_exists(struct query_db *q, int64_t id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, "SELECT 1 FROM runs WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int query_resolve(struct query_db *q, const char *spec, int64_t *id, struct rn_err *err)
{
    *id = 0;
    /* All digits, at most 18 of them (fits int64): try it as an id. */
    size_t len = strlen(spec);
    bool digits = len > 0 && len <= 18;
    for (size_t i = 0; digits && i < len; i++)
        digits = spec[i] >= '0' && spec[i] <= '9';
    if (digits) {
        int64_t v = (int64_t)strtoll(spec, NULL, 10);
        int e = run_exists(q, v);
        if (e < 0)
            return db_fail(q, err, "cannot read runs");
        if (e == 1) {
            *id = v;
            return RN_OK;
        }
    }
    sqlite3_stmt *st = NULL;
    int code = prepare(q, "SELECT max(id) FROM runs WHERE name = ?1", &st, err);
    if (code != RN_OK)
        return code;
    int rc = sqlite3_bind_text(st, 1, spec, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *id = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_ROW)
        code = rn_fail(err, RN_ERR_USAGE, "%s: no run with id or name \"%s\"", q->path, spec);
    else
        code = db_fail(q, err, "cannot read runs");
    sqlite3_finalize(st);
    return code;
}

int query_load_epochs(struct query_db *q, int64_t id, struct query_epoch **out, size_t *n,
                      struct rn_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int code = prepare(q,
                       "SELECT epoch, train_loss, train_acc, test_loss, test_acc, val_loss,"
                       " val_acc, lr, seconds FROM epochs WHERE run_id = ?1 ORDER BY epoch",
                       &st, err);
    if (code != RN_OK)
        return code;
    struct query_epoch *e = NULL;
    size_t len = 0, cap = 0;
    int rc = sqlite3_bind_int64(st, 1, id);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct query_epoch *ne = realloc(e, ncap * sizeof *ne);
            if (!ne) {
                code = nomem(q, err);
                break;
            }
            e = ne;
            cap = ncap;
        }
        struct query_epoch *x = &e[len++];
        x->epoch = column_size(st, 0);
        x->train_loss = column_real(st, 1);
        x->train_acc = column_real(st, 2);
        x->test_loss = column_real(st, 3);
        x->test_acc = column_real(st, 4);
        x->val_loss = column_real(st, 5);
        x->val_acc = column_real(st, 6);
        x->lr = column_real(st, 7);
        x->seconds = column_real(st, 8);
        rc = SQLITE_OK;
    }
    if (code == RN_OK && rc != SQLITE_DONE)
        code = db_fail(q, err, "cannot read epochs");
    sqlite3_finalize(st);
    if (code != RN_OK) {
        free(e);
        return code;
    }
    *out = e;
    *n = len;
    return RN_OK;
}

int query_list(struct query_db *q, const struct query_filter *f, struct query_run **out,
               size_t *n, struct rn_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int code = prepare(q,
                       "SELECT " RUN_COLUMNS " FROM runs"
                       " WHERE (?1 IS NULL OR name GLOB ?1) AND (?2 IS NULL OR status = ?2)"
                       " ORDER BY id DESC",
                       &st, err);
    if (code != RN_OK)
        return code;
    const char *glob = f ? f->name_glob : NULL, *status = f ? f->status : NULL;
    int rc = glob ? sqlite3_bind_text(st, 1, glob, -1, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st, 1);
    if (rc == SQLITE_OK)
        rc = status ? sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT)
                    : sqlite3_bind_null(st, 2);
    struct query_run *runs = NULL;
    size_t len = 0, cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct query_run *nr = realloc(runs, ncap * sizeof *nr);
            if (!nr) {
                code = nomem(q, err);
                break;
            }
            runs = nr;
            cap = ncap;
        }
        bool ok = read_run_row(st, &runs[len]);
        len++; /* freed with the rest even when incomplete */
        if (!ok) {
            code = nomem(q, err);
            break;
        }
        rc = SQLITE_OK;
    }
    if (code == RN_OK && rc != SQLITE_DONE)
        code = db_fail(q, err, "cannot list runs");
    sqlite3_finalize(st);
    if (code != RN_OK) {
        query_runs_free(runs, len);
        return code;
    }
    *out = runs;
    *n = len;
    return RN_OK;
}

/* ---- the default pair ------------------------------------------------------ */

/* Ids of the runs with augmentation.enabled = flag and at least one epoch,
 * newest first. */
static int runs_with_flag(struct query_db *q, int flag, int64_t **ids, size_t *n,
                          struct rn_err *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int code = prepare(q,
                       "SELECT r.id FROM runs r"
                       " JOIN params p ON p.run_id = r.id AND p.key = 'augmentation.enabled'"
                       " WHERE p.value = ?1"
                       "   AND EXISTS (SELECT 1 FROM epochs e WHERE e.run_id = r.id)"
                       " ORDER BY r.id DESC",
                       &st, err);
    if (code != RN_OK)
        return code;
    int64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc = sqlite3_bind_int(st, 1, flag);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                code = nomem(q, err);
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[len++] = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    if (code == RN_OK && rc != SQLITE_DONE)
        code = db_fail(q, err, "cannot read runs");
    sqlite3_finalize(st);
    if (code != RN_OK) {
        free(v);
        return code;
    }
    *ids = v;
    *n = len;
    return RN_OK;
}

/* Does this key take part in the original/augmented match? */
static bool pair_key(const char *key)
{
    return !query_param_is_incidental(key) && strncmp(key, "augmentation.", 13) != 0;
}

/* Equal params (both sorted by key) apart from the keys pair_key skips. */
static bool same_config(const struct query_run *a, const struct query_run *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->n_params && !pair_key(a->params[i].key))
            i++;
        while (j < b->n_params && !pair_key(b->params[j].key))
            j++;
        if (i == a->n_params || j == b->n_params)
            return i == a->n_params && j == b->n_params;
        if (strcmp(a->params[i].key, b->params[j].key) != 0 ||
            !query_value_equal(&a->params[i].value, &b->params[j].value))
            return false;
        i++;
        j++;
    }
}

int query_default_pair(struct query_db *q, int64_t ids[2], struct rn_err *err)
{
    ids[0] = ids[1] = 0;
    int64_t *orig = NULL, *aug = NULL;
    size_t n_orig = 0, n_aug = 0;
    int code = runs_with_flag(q, 0, &orig, &n_orig, err);
    if (code == RN_OK)
        code = runs_with_flag(q, 1, &aug, &n_aug, err);
    if (code == RN_OK && (n_orig == 0 || n_aug == 0))
        code = rn_fail(err, RN_ERR_USAGE,
                       "%s: no %s run with recorded epochs for the default pair; name the "
                       "runs to use",
                       q->path, n_orig == 0 ? "original (augmentation.enabled = 0)"
                                            : "augmented (augmentation.enabled = 1)");
    struct query_run o;
    memset(&o, 0, sizeof o);
    if (code == RN_OK)
        code = query_load_run(q, orig[0], true, &o, err);
    if (code == RN_OK) {
        ids[0] = orig[0];
        ids[1] = aug[0];
        for (size_t i = 0; i < n_aug && code == RN_OK; i++) {
            struct query_run a;
            code = query_load_run(q, aug[i], true, &a, err);
            if (code != RN_OK)
                break;
            bool match = same_config(&o, &a);
            query_run_free(&a);
            if (match) {
                ids[1] = aug[i];
                break;
            }
        }
    }
    query_run_free(&o);
    free(orig);
    free(aug);
    if (code != RN_OK)
        ids[0] = ids[1] = 0;
    return code;
}

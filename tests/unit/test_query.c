/* test_query: the read-only query module (opening and refusing databases,
 * run specs, loading runs, params and epochs, listing with filters, the
 * default original/augmented pair) and the compare/list tables in every
 * format (alignment, RFC 4180 quoting, JSON, markdown and HTML escaping). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"
#include "known_runs.h"
#include "runner/compare.h"
#include "runner/fsutil.h"
#include "runner/query.h"
#include "runner/results.h"

static char g_dir[64];

static char *path_in(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

static char *read_bytes(const char *path, size_t *len)
{
    char *buf = NULL;
    struct rn_err err = {0};
    if (fs_read_all(path, &buf, len, RN_ERR_GENERIC, &err) != RN_OK)
        return NULL;
    return buf;
}

static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "raw_sql %s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_close(db);
}

/* A database holding the given runs (ids 1..n). */
static void make_db(const char *path, const struct known_run *runs, size_t n)
{
    struct store *s = NULL;
    struct rn_err err = {0};
    if (store_open(path, &s, &err) != RN_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        kr_add(s, &runs[i], i);
    store_close(s);
}

static const struct known_run FIX[] = {
    /* 1 */ {"orig", 1, 0, 0.01, 0, 180, "a", RUN_COMPLETED, 3, {0.5, 0.7, 0.7},
             {1.5, 1.0, 1.2}, 10},
    /* 2 */ {"aug", 1, 1, 0.01, 0, 15, "b", RUN_COMPLETED, 3, {0.55, 0.7, 0.75},
             {1.4, 1.0, 0.9}, 20},
    /* 3 */ {"aug", 1, 1, 0.1, 0, 15, "b", RUN_COMPLETED, 2, {0.3, 0.4}, {2.0, 1.9}, 5},
    /* 4 */ {"77", 2, 0, 0.01, 0, 180, "a", RUN_FAILED, 1, {0.2}, {2.2}, 1},
    /* 5 */ {"1", 3, 0, 0.01, 0, 180, "a", RUN_RUNNING, 0, {0}, {0}, 0},
};
#define N_FIX (sizeof FIX / sizeof FIX[0])

static void check_open_fails(const char *path, int code, const char *expect)
{
    struct query_db *q = (struct query_db *)&code; /* must be reset to NULL */
    struct rn_err err = {0};
    CHECK(query_open(path, &q, &err) == code);
    CHECK(q == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, expect);
}

static void test_open(void)
{
    check_open_fails(path_in("missing.db"), RN_ERR_OUTPUT, ": no such database");
    check_open_fails(g_dir, RN_ERR_OUTPUT, "is a directory");

    const char *text = path_in("text.db");
    FILE *f = fopen(text, "wb");
    for (int i = 0; f && i < 100; i++)
        fprintf(f, "not a database, line %d\n", i);
    CHECK(f && fclose(f) == 0);
    size_t len0 = 0, len1 = 0;
    char *before = read_bytes(text, &len0);
    check_open_fails(text, RN_ERR_OUTPUT, "not an SQLite database");
    char *after = read_bytes(text, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    free(before);
    free(after);

    const char *empty = path_in("empty.db");
    f = fopen(empty, "wb");
    CHECK(f && fclose(f) == 0);
    check_open_fails(empty, RN_ERR_OUTPUT, "not a runner results database");
    struct stat st;
    CHECK(stat(empty, &st) == 0 && st.st_size == 0);

    const char *foreign = path_in("foreign.db");
    raw_sql(foreign, "CREATE TABLE runs (x); PRAGMA user_version = 1");
    check_open_fails(foreign, RN_ERR_OUTPUT, "not a runner results database");
    const char *other_app = path_in("other_app.db");
    raw_sql(other_app, "PRAGMA application_id = 7; PRAGMA user_version = 1");
    check_open_fails(other_app, RN_ERR_OUTPUT, "not a runner results database");
    const char *no_version = path_in("no_version.db");
    raw_sql(no_version, "PRAGMA application_id = 1381322322");
    check_open_fails(no_version, RN_ERR_OUTPUT, "not a runner results database");

    const char *newer = path_in("newer.db");
    make_db(newer, FIX, 1);
    raw_sql(newer, "PRAGMA user_version = 99");
    char msg[128];
    snprintf(msg, sizeof msg, "database schema version 99 is newer than this runner supports (%d)",
             STORE_SCHEMA_VERSION);
    check_open_fails(newer, RN_ERR_OUTPUT, msg);
}

static void test_resolve_and_load(const char *db_path)
{
    struct query_db *q = NULL;
    struct rn_err err = {0};
    CHECK_MSG(query_open(db_path, &q, &err) == RN_OK, "%s", err.msg);
    if (!q)
        return;
    CHECK(strcmp(query_path(q), db_path) == 0);
    int64_t id = -1;
    CHECK(query_resolve(q, "2", &id, &err) == RN_OK && id == 2);
    CHECK(query_resolve(q, "aug", &id, &err) == RN_OK && id == 3);   /* newest "aug" */
    CHECK(query_resolve(q, "orig", &id, &err) == RN_OK && id == 1);
    CHECK(query_resolve(q, "77", &id, &err) == RN_OK && id == 4);    /* no run 77: a name */
    CHECK(query_resolve(q, "1", &id, &err) == RN_OK && id == 1);     /* an id first */
    CHECK(query_resolve(q, "0004", &id, &err) == RN_OK && id == 4);
    err = (struct rn_err){0};
    CHECK(query_resolve(q, "nope", &id, &err) == RN_ERR_USAGE && id == 0);
    CHECK_STR_CONTAINS(err.msg, "no run with id or name \"nope\"");
    CHECK_STR_CONTAINS(err.msg, db_path);
    CHECK(query_resolve(q, "99", &id, &err) == RN_ERR_USAGE);
    CHECK(query_resolve(q, "", &id, &err) == RN_ERR_USAGE);
    CHECK(query_resolve(q, "x' OR '1'='1", &id, &err) == RN_ERR_USAGE);

    struct query_run r;
    CHECK(query_load_run(q, 1, true, &r, &err) == RN_OK);
    CHECK(r.id == 1 && strcmp(r.name, "orig") == 0 && strcmp(r.status, "completed") == 0);
    CHECK(strcmp(r.uid, "uid-0") == 0);
    CHECK(r.epochs_planned == 3 && r.epochs_done == 3);
    CHECK(r.final_test_acc == 0.7 && r.final_test_loss == 1.2);
    CHECK(r.final_train_loss == 0.6 && r.final_train_acc == 0.7 + 0.1);
    CHECK(r.best_test_acc == 0.7 && r.best_epoch == 2);
    CHECK(r.wall_seconds == 10);
    CHECK(strcmp(r.started_at, "2024-05-01T12:00:00Z") == 0);
    CHECK(strcmp(r.finished_at, "2024-05-01T13:00:00Z") == 0);
    CHECK(r.n_params == 15);
    for (size_t i = 1; i < r.n_params; i++)
        CHECK(strcmp(r.params[i - 1].key, r.params[i].key) < 0);
    int seen = 0;
    for (size_t i = 0; i < r.n_params; i++) {
        const struct query_param *p = &r.params[i];
        char buf[64];
        if (strcmp(p->key, "training.learning_rate") == 0) {
            CHECK(p->value.type == QV_REAL && p->value.d == 0.01);
            CHECK(strcmp(query_value_text(&p->value, buf, sizeof buf), "0.01") == 0);
            seen++;
        } else if (strcmp(p->key, "seed") == 0) {
            CHECK(p->value.type == QV_INT && p->value.i == 1);
            seen++;
        } else if (strcmp(p->key, "model.layers") == 0) {
            CHECK(p->value.type == QV_TEXT && strcmp(p->value.s, "[3072,64,10]") == 0);
            seen++;
        } else if (strcmp(p->key, "features.npy.train") == 0) {
            CHECK(p->value.type == QV_NULL);
            CHECK(strcmp(query_value_text(&p->value, buf, sizeof buf), "null") == 0);
            seen++;
        } else if (strcmp(p->key, "augmentation.enabled") == 0) {
            CHECK(p->value.type == QV_INT && p->value.i == 0);
            seen++;
        }
    }
    CHECK(seen == 5);
    query_run_free(&r);

    /* Without params; a running run has NULL metrics (NaN) and no end. */
    CHECK(query_load_run(q, 5, false, &r, &err) == RN_OK);
    CHECK(r.n_params == 0 && r.params == NULL);
    CHECK(strcmp(r.status, "running") == 0 && r.finished_at == NULL);
    CHECK(isnan(r.final_test_acc) && isnan(r.best_test_acc) && r.best_epoch == 0);
    CHECK(isnan(r.wall_seconds) && r.epochs_done == 0);
    query_run_free(&r);
    CHECK(query_load_run(q, 42, true, &r, &err) == RN_ERR_USAGE);

    struct query_epoch *e = NULL;
    size_t n = 0;
    CHECK(query_load_epochs(q, 2, &e, &n, &err) == RN_OK && n == 3);
    for (size_t i = 0; e && i < n; i++) {
        CHECK(e[i].epoch == i + 1);
        CHECK(e[i].test_acc == FIX[1].test_acc[i] && e[i].test_loss == FIX[1].test_loss[i]);
        CHECK(e[i].train_loss == FIX[1].test_loss[i] / 2);
        CHECK(e[i].train_acc == FIX[1].test_acc[i] + 0.1);
        CHECK(isnan(e[i].val_acc) && isnan(e[i].val_loss));
        CHECK(e[i].lr == 0.01 && e[i].seconds == 1);
    }
    free(e);
    CHECK(query_load_epochs(q, 5, &e, &n, &err) == RN_OK && n == 0 && e == NULL);
    query_close(q);
}

static void test_list(const char *db_path)
{
    struct query_db *q = NULL;
    struct rn_err err = {0};
    CHECK(query_open(db_path, &q, &err) == RN_OK);
    if (!q)
        return;
    struct query_run *runs = NULL;
    size_t n = 0;
    CHECK(query_list(q, NULL, &runs, &n, &err) == RN_OK && n == N_FIX);
    for (size_t i = 0; runs && i < n; i++) {
        CHECK(runs[i].id == (int64_t)(N_FIX - i)); /* newest first */
        CHECK(runs[i].n_params == 0);
    }
    query_runs_free(runs, n);

    struct query_filter f = {.name_glob = "a*"};
    CHECK(query_list(q, &f, &runs, &n, &err) == RN_OK && n == 2);
    CHECK(runs && runs[0].id == 3 && runs[1].id == 2);
    query_runs_free(runs, n);
    f = (struct query_filter){.name_glob = "[0-9]*"};
    CHECK(query_list(q, &f, &runs, &n, &err) == RN_OK && n == 2);
    query_runs_free(runs, n);
    f = (struct query_filter){.name_glob = "ORIG"}; /* GLOB is case-sensitive */
    CHECK(query_list(q, &f, &runs, &n, &err) == RN_OK && n == 0 && runs == NULL);
    query_runs_free(runs, n);
    f = (struct query_filter){.status = "completed"};
    CHECK(query_list(q, &f, &runs, &n, &err) == RN_OK && n == 3);
    query_runs_free(runs, n);
    f = (struct query_filter){.name_glob = "*", .status = "failed"};
    CHECK(query_list(q, &f, &runs, &n, &err) == RN_OK && n == 1);
    CHECK(runs && runs[0].id == 4 && strcmp(runs[0].name, "77") == 0);
    query_runs_free(runs, n);
    query_close(q);
}

/* The commands never write: the file's bytes stay the same. */
static void test_read_only(const char *db_path)
{
    size_t len0 = 0, len1 = 0;
    char *before = read_bytes(db_path, &len0);
    struct query_db *q = NULL;
    struct rn_err err = {0};
    CHECK(query_open(db_path, &q, &err) == RN_OK);
    int64_t pair[2];
    CHECK(q && query_default_pair(q, pair, &err) == RN_OK);
    struct query_run *runs = NULL;
    size_t n = 0;
    CHECK(q && query_list(q, NULL, &runs, &n, &err) == RN_OK);
    query_runs_free(runs, n);
    query_close(q);
    char *after = read_bytes(db_path, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    free(before);
    free(after);
}

static void check_pair(const char *db_path, int64_t a, int64_t b)
{
    struct query_db *q = NULL;
    struct rn_err err = {0};
    CHECK(query_open(db_path, &q, &err) == RN_OK);
    int64_t ids[2] = {-1, -1};
    CHECK_MSG(q && query_default_pair(q, ids, &err) == RN_OK, "%s", err.msg);
    CHECK_MSG(ids[0] == a && ids[1] == b, "%s: pair (%lld, %lld), expected (%lld, %lld)",
              db_path, (long long)ids[0], (long long)ids[1], (long long)a, (long long)b);
    query_close(q);
}

static void test_default_pair(const char *fix_path)
{
    /* FIX: the newest original with epochs is 4 ("77", failed, seed 2); no
     * augmented run has seed 2, so the newest augmented run, 3. */
    check_pair(fix_path, 4, 3);

    static const struct known_run r2[] = {
        {"orig", 1, 0, 0.01, 0, 180, "a", RUN_COMPLETED, 1, {0.5}, {1.5}, 1},
        {"aug", 1, 1, 0.01, 0, 180, "a", RUN_COMPLETED, 1, {0.5}, {1.5}, 1},
        {"aug-lr", 1, 1, 0.5, 0, 180, "a", RUN_COMPLETED, 1, {0.5}, {1.5}, 1},
        {"orig-s9", 9, 0, 0.01, 0, 180, "a", RUN_COMPLETED, 1, {0.5}, {1.5}, 1},
        {"orig-new", 1, 0, 0.01, 0, 180, "a", RUN_RUNNING, 0, {0}, {0}, 0},
        {"aug-new", 9, 1, 0.01, 0, 180, "a", RUN_RUNNING, 0, {0}, {0}, 0},
    };
    /* Original 1: augmented 3 is newer but has another lr; 2 matches. */
    const char *p1 = path_in("pair1.db");
    make_db(p1, r2, 3);
    check_pair(p1, 1, 2);
    /* No augmented run matches the newest original 4 (other seed): the newest
     * augmented run with epochs, 3. Runs 5 and 6 have no epochs and do not
     * count (6 would match 4). */
    const char *p2 = path_in("pair2.db");
    make_db(p2, r2, 6);
    check_pair(p2, 4, 3);

    /* Only originals: an error that says what is missing. */
    const char *p3 = path_in("pair3.db");
    make_db(p3, r2, 1);
    struct query_db *q = NULL;
    struct rn_err err = {0};
    CHECK(query_open(p3, &q, &err) == RN_OK);
    int64_t ids[2] = {-1, -1};
    CHECK(q && query_default_pair(q, ids, &err) == RN_ERR_USAGE);
    CHECK(ids[0] == 0 && ids[1] == 0);
    CHECK_STR_CONTAINS(err.msg, "no augmented (augmentation.enabled = 1) run");
    query_close(q);
    /* An empty database: no original. */
    const char *p4 = path_in("pair4.db");
    make_db(p4, r2, 0);
    q = NULL;
    CHECK(query_open(p4, &q, &err) == RN_OK);
    CHECK(q && query_default_pair(q, ids, &err) == RN_ERR_USAGE);
    CHECK_STR_CONTAINS(err.msg, "no original (augmentation.enabled = 0) run");
    query_close(q);
}

static void test_values(void)
{
    char buf[64];
    CHECK(strcmp(query_format_real(0.1, buf, sizeof buf), "0.1") == 0);
    CHECK(strcmp(query_format_real(1.0 / 3.0, buf, sizeof buf), "0.3333333333333333") == 0);
    CHECK(strtod(query_format_real(0.1 + 0.2, buf, sizeof buf), NULL) == 0.1 + 0.2);
    CHECK(strcmp(query_format_real(NAN, buf, sizeof buf), "nan") == 0);
    CHECK(strcmp(query_format_real(-INFINITY, buf, sizeof buf), "-inf") == 0);
    struct query_value i2 = {.type = QV_INT, .i = 2}, r2 = {.type = QV_REAL, .d = 2.0};
    struct query_value r25 = {.type = QV_REAL, .d = 2.5}, t2 = {.type = QV_TEXT, .s = "2"};
    struct query_value n1 = {.type = QV_NULL}, n2 = {.type = QV_NULL};
    CHECK(query_value_equal(&i2, &r2));
    CHECK(!query_value_equal(&r2, &r25));
    CHECK(!query_value_equal(&i2, &t2));
    CHECK(query_value_equal(&n1, &n2));
    CHECK(!query_value_equal(&n1, &i2));
    CHECK(query_param_is_incidental("name") && query_param_is_incidental("output.dir"));
    CHECK(query_param_is_incidental("features.cache_dir"));
    CHECK(query_param_is_incidental("features.cache"));
    CHECK(query_param_is_incidental("threads") && !query_param_is_incidental("threadsx"));
    CHECK(!query_param_is_incidental("features.kind") && !query_param_is_incidental("seed"));
    CHECK(!query_param_is_incidental("outputs") && !query_param_is_incidental("names"));
}

/* ---- tables ------------------------------------------------------------- */

/* Render a table into a malloc'd string. */
static char *render(const struct rtab *t, enum rtab_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct rn_err err = {0};
    int rc = f ? rtab_write(t, fmt, f, "memory", &err) : RN_ERR_NOMEM;
    if (f)
        fclose(f);
    CHECK_MSG(rc == RN_OK, "%s", err.msg);
    return buf;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == c;
    return n;
}

static struct query_param P(const char *key, enum query_type type, int64_t i, double d,
                            const char *s)
{
    struct query_param p = {.key = (char *)key};
    p.value.type = type;
    p.value.i = i;
    p.value.d = d;
    p.value.s = (char *)s;
    return p;
}

static void test_compare_table(void)
{
    /* Params sorted by key, as query_load_run returns them. */
    struct query_param pa[] = {
        P("augmentation.enabled", QV_INT, 0, 0, NULL),
        P("features.cache_dir", QV_TEXT, 0, 0, "c1"),
        P("model.layers", QV_TEXT, 0, 0, "[3072,64,10]"),
        P("name", QV_TEXT, 0, 0, "a"),
        P("only.in.a", QV_INT, 5, 0, NULL),
        P("output.dir", QV_TEXT, 0, 0, "r1"),
        P("training.learning_rate", QV_REAL, 0, 0.01, NULL),
    };
    struct query_param pb[] = {
        P("augmentation.enabled", QV_INT, 1, 0, NULL),
        P("features.cache_dir", QV_TEXT, 0, 0, "c2"),
        P("model.layers", QV_TEXT, 0, 0, "[3072,64,10]"),
        P("name", QV_TEXT, 0, 0, "b, \"the\" one"),
        P("output.dir", QV_TEXT, 0, 0, "r2"),
        P("training.learning_rate", QV_INT, 0, 0, NULL),
    };
    pb[5].value.type = QV_REAL;
    pb[5].value.d = 0.01; /* same lr */
    struct query_run ra = {.id = 1, .name = "a", .status = "completed", .wall_seconds = 12.34,
                           .params = pa, .n_params = 7};
    struct query_run rb = {.id = 2, .name = "b, \"the\" one", .status = "running",
                           .wall_seconds = NAN, .params = pb, .n_params = 6};
    struct query_epoch ea[] = {
        {1, 2.0, 0.30, 2.1, 0.25, NAN, NAN, 0.01, 1},
        {2, 1.0, 0.50, 1.5, 0.40, NAN, NAN, 0.01, 1},
        {3, 0.5, 0.70, 1.6, 0.40, NAN, NAN, 0.01, 1},
    };
    struct query_epoch eb[] = {
        {1, 1.9, 0.35, 2.0, 0.33, NAN, NAN, 0.01, 1},
        {2, 0.9, 0.55, 1.4, 0.5, NAN, NAN, 0.01, 1},
    };
    struct compare_input in[] = {{&ra, ea, 3}, {&rb, eb, 2}};
    struct rtab t;
    struct rn_err err = {0};
    CHECK_MSG(compare_build(in, 2, &t, &err) == RN_OK, "%s", err.msg);
    /* 11 fixed columns + augmentation.enabled + only.in.a; name, output.dir,
     * features.cache_dir, and equal model.layers and lr are left out. */
    CHECK(t.n_cols == 13 && t.n_rows == 2);
    if (t.n_cols == 13) {
        CHECK(strcmp(t.cols[11].key, "augmentation.enabled") == 0 && t.cols[11].param);
        CHECK(strcmp(t.cols[12].key, "only.in.a") == 0);
    }

    char *csv = render(&t, RTAB_CSV);
    CHECK_STR_CONTAINS(csv, "id,name,status,epochs,train_loss,train_acc,test_loss,test_acc,"
                            "best_test_acc,best_epoch,wall_seconds,augmentation.enabled,"
                            "only.in.a\n");
    /* Final epoch 3; best 0.40 first reached at epoch 2. */
    CHECK_STR_CONTAINS(csv, "\n1,a,completed,3,0.5,0.7,1.6,0.4,0.4,2,12.34,0,5\n");
    CHECK_STR_CONTAINS(csv, "\n2,\"b, \"\"the\"\" one\",running,2,0.9,0.55,1.4,0.5,0.5,2,,1,\n");
    CHECK(count_char(csv, '\n') == 3);
    free(csv);

    char *json = render(&t, RTAB_JSON);
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    CHECK(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 2);
    cJSON *r1 = cJSON_GetArrayItem(doc, 1);
    CHECK(r1 && strcmp(cJSON_GetObjectItem(r1, "name")->valuestring, "b, \"the\" one") == 0);
    CHECK(r1 && cJSON_IsNull(cJSON_GetObjectItem(r1, "wall_seconds")));
    CHECK(r1 && cJSON_GetObjectItem(r1, "test_acc")->valuedouble == 0.5);
    cJSON *params = r1 ? cJSON_GetObjectItem(r1, "params") : NULL;
    CHECK(cJSON_IsObject(params));
    CHECK(params && cJSON_GetObjectItem(params, "augmentation.enabled")->valuedouble == 1);
    CHECK(params && cJSON_IsNull(cJSON_GetObjectItem(params, "only.in.a")));
    CHECK(r1 && !cJSON_GetObjectItem(r1, "augmentation.enabled"));
    cJSON_Delete(doc);
    free(json);

    char *text = render(&t, RTAB_TEXT);
    /* header, rule, 2 rows; all lines the same width up to the last column,
     * numbers right-aligned, percentages and 4-decimal losses. */
    CHECK(count_char(text, '\n') == 4);
    CHECK_STR_CONTAINS(text, "run  name");
    CHECK_STR_CONTAINS(text, "0.5000");
    CHECK_STR_CONTAINS(text, "70.00%");
    CHECK_STR_CONTAINS(text, "12.3 s");
    CHECK_STR_CONTAINS(text, "b, \"the\" one");
    /* the wall time of the running run is "-", right-aligned under the header */
    const char *l3 = text ? strchr(strchr(strchr(text, '\n') + 1, '\n') + 1, '\n') + 1 : NULL;
    const char *wall_hdr = text ? strstr(text, "wall time") : NULL;
    if (l3 && wall_hdr) {
        size_t col_end = (size_t)(wall_hdr - text) + strlen("wall time") - 1;
        CHECK(l3[col_end] == '-');
        CHECK(text[col_end + 1] == ' ');
    }
    free(text);

    char *md = render(&t, RTAB_MARKDOWN);
    CHECK_STR_CONTAINS(md, "| run | name | status |");
    CHECK_STR_CONTAINS(md, "|---:|---|---|---:|");
    CHECK_STR_CONTAINS(md, "| 2 | b, \"the\" one | running | 2 |");
    free(md);
    rtab_free(&t);

    /* A run without epochs cannot be compared. */
    struct compare_input none[] = {{&ra, ea, 3}, {&rb, NULL, 0}};
    err = (struct rn_err){0};
    CHECK(compare_build(none, 2, &t, &err) == RN_ERR_USAGE);
    CHECK_STR_CONTAINS(err.msg, "run 2 (b, \"the\" one): no epochs recorded yet");
    /* One run: no differing params. */
    CHECK(compare_build(in, 1, &t, &err) == RN_OK && t.n_cols == 11 && t.n_rows == 1);
    rtab_free(&t);
}

static void test_list_table(void)
{
    struct query_run runs[] = {
        {.id = 12, .name = "x|y<z>&'q'", .status = "completed", .epochs_planned = 120,
         .epochs_done = 120, .final_test_acc = 0.4661, .best_test_acc = 0.4978, .best_epoch = 30,
         .started_at = "2024-05-01T12:00:00Z", .finished_at = "2024-05-01T13:00:00Z"},
        {.id = 3, .name = "line\nbreak,\xc3\xa9t\xc3\xa9", .status = "running", .epochs_planned = 0,
         .epochs_done = 0, .final_test_acc = NAN, .best_test_acc = NAN,
         .started_at = "2024-05-01T11:00:00Z"},
    };
    struct rtab t;
    struct rn_err err = {0};
    CHECK(list_build(runs, 2, &t, &err) == RN_OK);

    char *text = render(&t, RTAB_TEXT);
    CHECK_STR_CONTAINS(text, "id  name");
    CHECK_STR_CONTAINS(text, "120/120");
    CHECK_STR_CONTAINS(text, "0/?");
    CHECK_STR_CONTAINS(text, "46.61%");
    CHECK_STR_CONTAINS(text, "line?break,\xc3\xa9t\xc3\xa9"); /* control characters shown as ? */
    CHECK(count_char(text, '\n') == 4);
    /* The "started" column starts at the same display column on every line. */
    if (text) {
        const char *line = text;
        long col = -1;
        for (int i = 0; i < 4; i++) {
            const char *nl = strchr(line, '\n');
            const char *at = strstr(line, i == 0 ? "started" : i == 1 ? "----" : "2024-");
            if (i == 1) { /* the rule: last run of dashes */
                const char *last = NULL;
                for (const char *p = line; p < nl; p++)
                    if (*p == '-' && (p == line || p[-1] == ' '))
                        last = p;
                at = last;
            }
            long c = 0;
            for (const char *p = line; at && p < at; p++)
                c += ((unsigned char)*p & 0xC0) != 0x80;
            if (col < 0)
                col = c;
            CHECK_MSG(at && c == col, "line %d: column %ld, expected %ld", i, c, col);
            line = nl + 1;
        }
    }
    free(text);

    char *csv = render(&t, RTAB_CSV);
    CHECK_STR_CONTAINS(csv, "id,name,status,epochs_done,epochs_planned,final_test_acc,"
                            "best_test_acc,best_epoch,started_at,finished_at\n");
    CHECK_STR_CONTAINS(csv, "\n12,x|y<z>&'q',completed,120,120,0.4661,0.4978,30,"
                            "2024-05-01T12:00:00Z,2024-05-01T13:00:00Z\n");
    CHECK_STR_CONTAINS(csv, "\n3,\"line\nbreak,\xc3\xa9t\xc3\xa9\",running,0,,,,,"
                            "2024-05-01T11:00:00Z,\n");
    free(csv);

    char *json = render(&t, RTAB_JSON);
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    CHECK(cJSON_GetArraySize(doc) == 2);
    cJSON *r0 = cJSON_GetArrayItem(doc, 0), *r1 = cJSON_GetArrayItem(doc, 1);
    CHECK(r0 && strcmp(cJSON_GetObjectItem(r0, "name")->valuestring, "x|y<z>&'q'") == 0);
    CHECK(r0 && cJSON_GetObjectItem(r0, "best_epoch")->valuedouble == 30);
    CHECK(r0 && !cJSON_GetObjectItem(r0, "params") && !cJSON_GetObjectItem(r0, "epochs"));
    CHECK(r1 && strcmp(cJSON_GetObjectItem(r1, "name")->valuestring,
                       "line\nbreak,\xc3\xa9t\xc3\xa9") == 0);
    CHECK(r1 && cJSON_IsNull(cJSON_GetObjectItem(r1, "final_test_acc")));
    CHECK(r1 && cJSON_IsNull(cJSON_GetObjectItem(r1, "epochs_planned")));
    cJSON_Delete(doc);
    free(json);

    char *md = render(&t, RTAB_MARKDOWN);
    CHECK_STR_CONTAINS(md, "| 12 | x\\|y&lt;z&gt;&amp;'q' | completed |");
    free(md);

    char *html = NULL;
    CHECK(rtab_html(&t, &html, &err) == RN_OK);
    CHECK(html && strncmp(html, "<table", 6) == 0);
    CHECK_STR_CONTAINS(html, "<th>id</th><th>name</th>");
    CHECK_STR_CONTAINS(html, "<td>x|y&lt;z&gt;&amp;&#39;q&#39;</td>");
    CHECK(html && !strstr(html, "<z>"));
    CHECK_STR_CONTAINS(html, "<td class=\"num\">46.61%</td>");
    free(html);
    rtab_free(&t);

    /* No runs: just the header. */
    CHECK(list_build(runs, 0, &t, &err) == RN_OK);
    char *empty = render(&t, RTAB_CSV);
    CHECK(count_char(empty, '\n') == 1);
    free(empty);
    empty = render(&t, RTAB_JSON);
    CHECK(empty && strncmp(empty, "[]", 2) == 0);
    free(empty);
    rtab_free(&t);

    /* json and csv keep every bit of a stored double */
    struct query_run exact = {.id = 9007199254740993LL, .name = "x", .status = "completed",
                              .final_test_acc = 0.1 + 0.2, .best_test_acc = 1.0 / 3.0};
    CHECK(list_build(&exact, 1, &t, &err) == RN_OK);
    char *js = render(&t, RTAB_JSON);
    doc = js ? cJSON_Parse(js) : NULL;
    cJSON *x = cJSON_GetArrayItem(doc, 0);
    CHECK(x && cJSON_GetObjectItem(x, "final_test_acc")->valuedouble == 0.1 + 0.2);
    CHECK(x && cJSON_GetObjectItem(x, "best_test_acc")->valuedouble == 1.0 / 3.0);
    CHECK_STR_CONTAINS(js, "9007199254740993"); /* ids beyond 2^53 printed exactly */
    cJSON_Delete(doc);
    free(js);
    csv = render(&t, RTAB_CSV);
    CHECK_STR_CONTAINS(csv, "\n9007199254740993,x,completed,0,,0.30000000000000004,"
                            "0.3333333333333333,");
    free(csv);
    rtab_free(&t);

    enum rtab_format fmt;
    CHECK(rtab_parse_format("markdown", &fmt) && fmt == RTAB_MARKDOWN);
    CHECK(rtab_parse_format("csv", &fmt) && fmt == RTAB_CSV);
    CHECK(!rtab_parse_format("CSV", &fmt) && !rtab_parse_format("", &fmt));
}

int main(void)
{
    strcpy(g_dir, "/tmp/test_query.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *fix = path_in("fix.db");
    make_db(fix, FIX, N_FIX);
    test_values();
    test_open();
    test_resolve_and_load(fix);
    test_list(fix);
    test_default_pair(fix);
    test_read_only(fix);
    test_compare_table();
    test_list_table();

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return check_exit("test_query");
}

/* test_store: the SQLite results store — schema, run/epoch/end rows, typed
 * params, verbatim strings, refusing files that are not ours, and
 * transactions that leave nothing behind when a statement fails. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "runner/fsutil.h"
#include "runner/results.h"

static const char NASTY[] = "it's \"quoted\"; DROP TABLE runs; -- comment";

/* ---- helpers ------------------------------------------------------------ */

static char g_dir[64];

static void make_dir(void)
{
    strcpy(g_dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_dir(void)
{
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "raw_open %s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static sqlite3_stmt *g_st;

/* Close a test connection; fails the test if a statement was left open. */
static void raw_close(sqlite3 *db)
{
    sqlite3_finalize(g_st);
    g_st = NULL;
    CHECK(sqlite3_close(db) == SQLITE_OK);
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "raw_exec %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

/* First column of the first row of sql, with optional ?1 = run id and ?2 =
 * text; the statement stays prepared (in g_st) until the next call. */

static int q_row(sqlite3 *db, const char *sql, int64_t id, const char *text)
{
    sqlite3_finalize(g_st);
    g_st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &g_st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
        return 0;
    }
    if (sqlite3_bind_parameter_count(g_st) >= 1)
        sqlite3_bind_int64(g_st, 1, id);
    if (sqlite3_bind_parameter_count(g_st) >= 2)
        sqlite3_bind_text(g_st, 2, text, -1, SQLITE_TRANSIENT);
    return sqlite3_step(g_st) == SQLITE_ROW;
}

static int64_t q_int(sqlite3 *db, const char *sql, int64_t id, const char *text)
{
    return q_row(db, sql, id, text) ? sqlite3_column_int64(g_st, 0) : -999;
}

static double q_dbl(sqlite3 *db, const char *sql, int64_t id, const char *text)
{
    return q_row(db, sql, id, text) ? sqlite3_column_double(g_st, 0) : -999.0;
}

static int q_type(sqlite3 *db, const char *sql, int64_t id, const char *text)
{
    return q_row(db, sql, id, text) ? sqlite3_column_type(g_st, 0) : -1;
}

/* Text result, or "(null)" / "(no row)". Valid until the next query. */
static const char *q_text(sqlite3 *db, const char *sql, int64_t id, const char *text)
{
    if (!q_row(db, sql, id, text))
        return "(no row)";
    const unsigned char *t = sqlite3_column_text(g_st, 0);
    return t ? (const char *)t : "(null)";
}

static int same_bytes(const char *path, const char *data, size_t len)
{
    char *buf = NULL;
    size_t n = 0;
    struct rn_err err = {0};
    if (fs_read_all(path, &buf, &n, RN_ERR_GENERIC, &err) != RN_OK)
        return 0;
    int same = n == len && memcmp(buf, data, len) == 0;
    free(buf);
    return same;
}

static char *read_file(const char *path, size_t *len)
{
    char *buf = NULL;
    struct rn_err err = {0};
    if (fs_read_all(path, &buf, len, RN_ERR_GENERIC, &err) != RN_OK)
        return NULL;
    return buf;
}

/* A resolved config shaped like cfg_to_json's. */
static cJSON *make_config(double lr, const char *name)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddNumberToObject(c, "seed", 42);
    cJSON *data = cJSON_AddObjectToObject(c, "data");
    cJSON_AddStringToObject(data, "dir", "/data/cifar");
    cJSON_AddNumberToObject(data, "validation", 0);
    cJSON *model = cJSON_AddObjectToObject(c, "model");
    int layers[] = {3072, 64, 10};
    cJSON_AddItemToObject(model, "layers", cJSON_CreateIntArray(layers, 3));
    cJSON_AddStringToObject(model, "activation", "relu");
    cJSON *tr = cJSON_AddObjectToObject(c, "training");
    cJSON_AddNumberToObject(tr, "epochs", 4);
    cJSON_AddNumberToObject(tr, "learning_rate", lr);
    cJSON_AddNumberToObject(tr, "momentum", 0.9);
    cJSON_AddBoolToObject(tr, "shuffle", 1);
    cJSON *aug = cJSON_AddObjectToObject(c, "augmentation");
    cJSON_AddBoolToObject(aug, "enabled", 0);
    cJSON *rot = cJSON_AddObjectToObject(aug, "rotation");
    cJSON_AddBoolToObject(rot, "enabled", 1);
    cJSON_AddNumberToObject(rot, "max_degrees", 15.5);
    cJSON_AddObjectToObject(c, "empty");
    return c;
}

static cJSON *make_files(void)
{
    cJSON *a = cJSON_CreateArray();
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", "/data/cifar/data_batch_1.bin");
    cJSON_AddStringToObject(f, "sha256", "00ff");
    cJSON_AddItemToArray(a, f);
    return a;
}

static struct run_identity make_id(const char *uid, const char *name, const cJSON *config,
                                   const cJSON *files)
{
    struct run_identity id = {
        .uid = uid,
        .name = name,
        .config_hash = "abc123",
        .seed = 42,
        .started_at = "2024-05-01T12:00:00Z",
        .host = "testhost",
        .version = "0.1.0",
        .config_path = "experiments/it's; -- x.yaml",
        .epochs_planned = 4,
        .config = config,
        .data_files = files,
    };
    return id;
}

static struct epoch_metrics metrics(size_t epoch, double test_acc)
{
    struct epoch_metrics m = {
        .epoch = epoch,
        .train_loss = 2.0 / (double)epoch,
        .train_acc = 0.1 * (double)epoch,
        .test_loss = 2.5 / (double)epoch,
        .test_acc = test_acc,
        .has_val = false,
        .lr = 0.01,
        .seconds = 1.5,
        .train_seconds = 1.25,
    };
    return m;
}

/* ---- tests -------------------------------------------------------------- */

static void test_fresh_schema(void)
{
    char db_path[256];
    path_in(db_path, sizeof db_path, "fresh.db");
    struct store *s = NULL;
    struct rn_err err = {0};
    CHECK_MSG(store_open(db_path, &s, &err) == RN_OK, "%s", err.msg);
    CHECK(s != NULL);
    sqlite3 *db = raw_open(db_path);
    CHECK(q_int(db, "PRAGMA user_version", 0, NULL) == STORE_SCHEMA_VERSION);
    CHECK(q_int(db, "PRAGMA application_id", 0, NULL) == 0x52554E52);
    CHECK(strcmp(q_text(db, "PRAGMA journal_mode", 0, NULL), "wal") == 0);
    const char *tables[] = {"runs", "params", "epochs"};
    for (size_t i = 0; i < 3; i++)
        CHECK_MSG(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                            "name = ?2 AND ?1 = ?1",
                        0, tables[i]) == 1,
                  "table %s", tables[i]);
    CHECK(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                    "('runs_name', 'runs_config_hash')",
                0, NULL) == 2);
    raw_close(db);
    store_close(s);

    /* An empty (0-byte) file is a new database too. */
    char empty[256];
    path_in(empty, sizeof empty, "empty.db");
    FILE *f = fopen(empty, "wb");
    CHECK(f && fclose(f) == 0);
    s = NULL;
    CHECK_MSG(store_open(empty, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);
    db = raw_open(empty);
    CHECK(q_int(db, "PRAGMA user_version", 0, NULL) == STORE_SCHEMA_VERSION);
    raw_close(db);
}

static void test_run_lifecycle(void)
{
    char db_path[256];
    path_in(db_path, sizeof db_path, "life.db");
    struct store *s = NULL;
    struct rn_err err = {0};
    CHECK_MSG(store_open(db_path, &s, &err) == RN_OK, "%s", err.msg);
    if (!s)
        return;
    cJSON *config = make_config(0.01, NASTY);
    cJSON *files = make_files();
    struct run_identity id = make_id("uid-1", NASTY, config, files);
    int64_t run = 0;
    CHECK_MSG(store_run_begin(s, &id, "/out/run's; --.json", &run, &err) == RN_OK, "%s",
              err.msg);
    CHECK(run > 0);

    sqlite3 *db = raw_open(db_path);
    CHECK(strcmp(q_text(db, "SELECT name FROM runs WHERE id = ?1", run, NULL), NASTY) == 0);
    CHECK(strcmp(q_text(db, "SELECT status FROM runs WHERE id = ?1", run, NULL),
                 "running") == 0);
    CHECK(strcmp(q_text(db, "SELECT uid FROM runs WHERE id = ?1", run, NULL), "uid-1") == 0);
    CHECK(strcmp(q_text(db, "SELECT config_path FROM runs WHERE id = ?1", run, NULL),
                 "experiments/it's; -- x.yaml") == 0);
    CHECK(strcmp(q_text(db, "SELECT json_path FROM runs WHERE id = ?1", run, NULL),
                 "/out/run's; --.json") == 0);
    CHECK(q_int(db, "SELECT seed FROM runs WHERE id = ?1", run, NULL) == 42);
    CHECK(q_int(db, "SELECT epochs_planned FROM runs WHERE id = ?1", run, NULL) == 4);
    CHECK(q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", run, NULL) == 0);
    CHECK(q_type(db, "SELECT finished_at FROM runs WHERE id = ?1", run, NULL) == SQLITE_NULL);
    CHECK(q_type(db, "SELECT heartbeat_at FROM runs WHERE id = ?1", run, NULL) == SQLITE_TEXT);
    CHECK(q_type(db, "SELECT best_test_acc FROM runs WHERE id = ?1", run, NULL) == SQLITE_NULL);
    /* config_json and data_files are the JSON given. */
    const char *cj = q_text(db, "SELECT config_json FROM runs WHERE id = ?1", run, NULL);
    cJSON *back = cJSON_Parse(cj);
    CHECK(back && cJSON_Compare(back, config, 1));
    cJSON_Delete(back);
    CHECK(q_int(db, "SELECT json_array_length(data_files) FROM runs WHERE id = ?1", run,
                NULL) == 1);

    /* Typed params. */
    CHECK(q_type(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                 "training.learning_rate") == SQLITE_FLOAT);
    CHECK_NEAR(q_dbl(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                     "training.learning_rate"),
               0.01, 0);
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1 AND key = "
                    "'training.learning_rate' AND value < 0.05",
                run, NULL) == 1);
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1 AND key = "
                    "'training.learning_rate' AND value > 0.05",
                run, NULL) == 0);
    CHECK(q_type(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                 "training.epochs") == SQLITE_INTEGER);
    CHECK(q_int(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                "training.epochs") == 4);
    CHECK(q_type(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                 "training.shuffle") == SQLITE_INTEGER);
    CHECK(q_int(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                "training.shuffle") == 1);
    CHECK(q_int(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                "augmentation.enabled") == 0);
    CHECK(q_type(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                 "augmentation.rotation.max_degrees") == SQLITE_FLOAT);
    CHECK(q_int(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                "augmentation.rotation.enabled") == 1);
    CHECK(strcmp(q_text(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                        "model.layers"),
                 "[3072,64,10]") == 0);
    CHECK(q_int(db, "SELECT json_array_length(value) FROM params WHERE run_id = ?1 AND "
                    "key = ?2",
                run, "model.layers") == 3);
    CHECK(q_type(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                 "model.activation") == SQLITE_TEXT);
    CHECK(strcmp(q_text(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", run,
                        "name"),
                 NASTY) == 0);
    /* 13 leaves; the empty object has none. */
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1", run, NULL) == 13);

    /* Epochs: best is the first epoch reaching the maximum. */
    double accs[] = {0.30, 0.45, 0.45, 0.40};
    int64_t best_after[] = {1, 2, 2, 2};
    for (size_t e = 1; e <= 4; e++) {
        struct epoch_metrics m = metrics(e, accs[e - 1]);
        CHECK_MSG(store_run_epoch(s, run, &m, &err) == RN_OK, "%s", err.msg);
        CHECK(q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", run, NULL) ==
              (int64_t)e);
        CHECK(q_int(db, "SELECT best_epoch FROM runs WHERE id = ?1", run, NULL) ==
              best_after[e - 1]);
    }
    CHECK_NEAR(q_dbl(db, "SELECT best_test_acc FROM runs WHERE id = ?1", run, NULL), 0.45, 0);
    CHECK_NEAR(q_dbl(db, "SELECT final_test_acc FROM runs WHERE id = ?1", run, NULL), 0.40,
               0);
    CHECK_NEAR(q_dbl(db, "SELECT final_train_loss FROM runs WHERE id = ?1", run, NULL),
               2.0 / 4.0, 0);
    CHECK_NEAR(q_dbl(db, "SELECT final_train_acc FROM runs WHERE id = ?1", run, NULL), 0.4,
               1e-15);
    CHECK_NEAR(q_dbl(db, "SELECT final_test_loss FROM runs WHERE id = ?1", run, NULL),
               2.5 / 4.0, 0);
    CHECK(q_type(db, "SELECT final_val_acc FROM runs WHERE id = ?1", run, NULL) ==
          SQLITE_NULL);
    CHECK(q_int(db, "SELECT count(*) FROM epochs WHERE run_id = ?1", run, NULL) == 4);
    CHECK_NEAR(q_dbl(db, "SELECT test_acc FROM epochs WHERE run_id = ?1 AND epoch = 2", run,
                     NULL),
               0.45, 0);
    CHECK_NEAR(q_dbl(db, "SELECT lr FROM epochs WHERE run_id = ?1 AND epoch = 3", run, NULL),
               0.01, 0);
    CHECK_NEAR(q_dbl(db, "SELECT seconds FROM epochs WHERE run_id = ?1 AND epoch = 3", run,
                     NULL),
               1.5, 0);
    CHECK_NEAR(q_dbl(db, "SELECT train_seconds FROM epochs WHERE run_id = ?1 AND epoch = 3",
                     run, NULL),
               1.25, 0);
    CHECK(q_type(db, "SELECT val_loss FROM epochs WHERE run_id = ?1 AND epoch = 1", run,
                 NULL) == SQLITE_NULL);
    CHECK(q_type(db, "SELECT recorded_at FROM epochs WHERE run_id = ?1 AND epoch = 1", run,
                 NULL) == SQLITE_TEXT);

    CHECK_MSG(store_run_end(s, run, RUN_COMPLETED, "2024-05-01T12:10:00Z", 600.25, 0, NULL,
                            &err) == RN_OK,
              "%s", err.msg);
    CHECK(strcmp(q_text(db, "SELECT status FROM runs WHERE id = ?1", run, NULL),
                 "completed") == 0);
    CHECK(strcmp(q_text(db, "SELECT finished_at FROM runs WHERE id = ?1", run, NULL),
                 "2024-05-01T12:10:00Z") == 0);
    CHECK_NEAR(q_dbl(db, "SELECT wall_seconds FROM runs WHERE id = ?1", run, NULL), 600.25, 0);
    CHECK(q_type(db, "SELECT diverged_epoch FROM runs WHERE id = ?1", run, NULL) ==
          SQLITE_NULL);
    CHECK(q_type(db, "SELECT message FROM runs WHERE id = ?1", run, NULL) == SQLITE_NULL);

    /* A second run, with a hold-out set, that diverges. */
    cJSON *config2 = make_config(0.1, "aug");
    struct run_identity id2 = make_id("uid-2", "aug", config2, NULL);
    id2.seed = UINT64_MAX; /* kept bit for bit as a negative integer */
    int64_t run2 = 0;
    CHECK_MSG(store_run_begin(s, &id2, NULL, &run2, &err) == RN_OK, "%s", err.msg);
    CHECK(run2 > run);
    CHECK(q_int(db, "SELECT seed FROM runs WHERE id = ?1", run2, NULL) == -1);
    CHECK(q_type(db, "SELECT data_files FROM runs WHERE id = ?1", run2, NULL) == SQLITE_NULL);
    struct epoch_metrics m = metrics(1, 0.2);
    m.has_val = true;
    m.val_loss = 1.75;
    m.val_acc = 0.25;
    CHECK_MSG(store_run_epoch(s, run2, &m, &err) == RN_OK, "%s", err.msg);
    CHECK_NEAR(q_dbl(db, "SELECT val_acc FROM epochs WHERE run_id = ?1", run2, NULL), 0.25, 0);
    CHECK_NEAR(q_dbl(db, "SELECT final_val_loss FROM runs WHERE id = ?1", run2, NULL), 1.75,
               0);
    /* NaN test accuracy is stored as NULL and does not become the best. */
    m = metrics(2, NAN);
    CHECK_MSG(store_run_epoch(s, run2, &m, &err) == RN_OK, "%s", err.msg);
    CHECK(q_type(db, "SELECT test_acc FROM epochs WHERE run_id = ?1 AND epoch = 2", run2,
                 NULL) == SQLITE_NULL);
    CHECK(q_int(db, "SELECT best_epoch FROM runs WHERE id = ?1", run2, NULL) == 1);
    CHECK_MSG(store_run_end(s, run2, RUN_DIVERGED, "2024-05-01T12:11:00Z", 3.0, 3, NASTY,
                            &err) == RN_OK,
              "%s", err.msg);
    CHECK(strcmp(q_text(db, "SELECT status FROM runs WHERE id = ?1", run2, NULL),
                 "diverged") == 0);
    CHECK(q_int(db, "SELECT diverged_epoch FROM runs WHERE id = ?1", run2, NULL) == 3);
    CHECK(strcmp(q_text(db, "SELECT message FROM runs WHERE id = ?1", run2, NULL), NASTY) ==
          0);

    /* The params filter over runs. */
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE key = 'training.learning_rate' AND "
                    "value < 0.05 AND ?1 = ?1",
                0, NULL) == 1);
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE key = 'training.learning_rate' AND "
                    "value >= 0.05 AND ?1 = ?1",
                0, NULL) == 1);

    /* Nothing was dropped by the nasty strings. */
    CHECK(q_int(db, "SELECT count(*) FROM runs WHERE ?1 = ?1", 0, NULL) == 2);

    /* Unknown run ids and statuses are errors. */
    m = metrics(1, 0.1);
    err = (struct rn_err){0};
    CHECK(store_run_epoch(s, 9999, &m, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, db_path);
    CHECK(store_run_end(s, 9999, RUN_FAILED, "x", 1, 0, NULL, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, "not found");
    CHECK(store_run_end(s, run, (enum run_status)17, "x", 1, 0, NULL, &err) != RN_OK);

    raw_close(db);
    store_close(s);
    cJSON_Delete(config);
    cJSON_Delete(config2);
    cJSON_Delete(files);
}

static void test_reopen(void)
{
    char db_path[256];
    path_in(db_path, sizeof db_path, "reopen.db");
    struct rn_err err = {0};
    cJSON *config = make_config(0.01, "a");
    struct run_identity id = make_id("uid-r1", "a", config, NULL);
    int64_t r1 = 0, r2 = 0;

    struct store *s = NULL;
    CHECK_MSG(store_open(db_path, &s, &err) == RN_OK, "%s", err.msg);
    CHECK(s && store_run_begin(s, &id, NULL, &r1, &err) == RN_OK);
    struct epoch_metrics m = metrics(1, 0.3);
    CHECK(s && store_run_epoch(s, r1, &m, &err) == RN_OK);
    store_close(s);

    s = NULL;
    CHECK_MSG(store_open(db_path, &s, &err) == RN_OK, "%s", err.msg);
    if (!s)
        goto out;
    /* A duplicate uid fails and leaves no params behind (one transaction). */
    int64_t dup = 123;
    err = (struct rn_err){0};
    CHECK(store_run_begin(s, &id, NULL, &dup, &err) == RN_ERR_OUTPUT);
    CHECK(dup == 0);
    CHECK_STR_CONTAINS(err.msg, db_path);
    CHECK_STR_CONTAINS(err.msg, "UNIQUE");
    id.uid = "uid-r2";
    CHECK_MSG(store_run_begin(s, &id, NULL, &r2, &err) == RN_OK, "%s", err.msg);
    CHECK(r2 > r1);

    /* Two connections to one file (a sweep): both write. */
    struct store *s2 = NULL;
    CHECK_MSG(store_open(db_path, &s2, &err) == RN_OK, "%s", err.msg);
    if (s2) {
        CHECK(store_run_epoch(s2, r2, &m, &err) == RN_OK);
        m = metrics(2, 0.5);
        CHECK(store_run_epoch(s, r1, &m, &err) == RN_OK);
        store_close(s2);
    }
    store_close(s);

    sqlite3 *db = raw_open(db_path);
    CHECK(q_int(db, "SELECT count(*) FROM runs WHERE ?1 = ?1", 0, NULL) == 2);
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1", r1, NULL) ==
          q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1", r2, NULL));
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE ?1 = ?1", 0, NULL) == 26);
    CHECK(q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", r1, NULL) == 2);
    CHECK(q_int(db, "SELECT best_epoch FROM runs WHERE id = ?1", r1, NULL) == 2);
    CHECK(q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", r2, NULL) == 1);
    /* ON DELETE CASCADE with foreign keys on. */
    raw_exec(db, "PRAGMA foreign_keys = ON");
    q_int(db, "DELETE FROM runs WHERE id = ?1 RETURNING id", r1, NULL);
    sqlite3_finalize(g_st);
    g_st = NULL;
    CHECK(q_int(db, "SELECT count(*) FROM epochs WHERE run_id = ?1", r1, NULL) == 0);
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1", r1, NULL) == 0);
    raw_close(db);
out:
    cJSON_Delete(config);
}

/* Refused files are left exactly as they were, and no side files appear. */
static void check_refused(const char *path, const char *expect)
{
    size_t len = 0;
    char *before = read_file(path, &len);
    CHECK(before != NULL);
    struct store *s = (struct store *)&len; /* must be reset to NULL */
    struct rn_err err = {0};
    CHECK(store_open(path, &s, &err) == RN_ERR_OUTPUT);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, expect);
    CHECK(before && same_bytes(path, before, len));
    char side[300];
    const char *suffix[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", path, suffix[i]);
        CHECK_MSG(!file_exists(side), "%s exists", side);
    }
    free(before);
}

static void test_refuse(void)
{
    char p[256];
    /* Not SQLite at all (short and long). */
    path_in(p, sizeof p, "text.db");
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 200; i++)
            fprintf(f, "line %d: this is not a database\n", i);
        CHECK(fclose(f) == 0);
    }
    check_refused(p, "not an SQLite database");
    path_in(p, sizeof p, "short.db");
    f = fopen(p, "wb");
    CHECK(f && fputs("hello", f) >= 0 && fclose(f) == 0);
    check_refused(p, "not an SQLite database");

    /* A runner database from a newer version. */
    path_in(p, sizeof p, "newer.db");
    struct store *s = NULL;
    struct rn_err err = {0};
    CHECK(store_open(p, &s, &err) == RN_OK);
    store_close(s);
    sqlite3 *db = raw_open(p);
    raw_exec(db, "PRAGMA user_version = 4");
    raw_close(db);
    check_refused(p, "database schema version 4 is newer than this runner supports (3)");
    /* ... also when only the version says so. */
    path_in(p, sizeof p, "newer2.db");
    db = raw_open(p);
    raw_exec(db, "PRAGMA user_version = 7");
    raw_close(db);
    check_refused(p, "database schema version 7 is newer than this runner supports (3)");

    /* Someone else's SQLite database. */
    path_in(p, sizeof p, "foreign.db");
    db = raw_open(p);
    raw_exec(db, "CREATE TABLE runs (x TEXT); INSERT INTO runs VALUES ('theirs')");
    raw_close(db);
    check_refused(p, "not a runner results database");
    path_in(p, sizeof p, "foreign_app.db");
    db = raw_open(p);
    raw_exec(db, "PRAGMA application_id = 1234; PRAGMA user_version = 1; "
                 "CREATE TABLE runs (x TEXT)");
    raw_close(db);
    check_refused(p, "not a runner results database");
    path_in(p, sizeof p, "foreign_v1.db");
    db = raw_open(p);
    raw_exec(db, "PRAGMA user_version = 1");
    raw_close(db);
    check_refused(p, "not a runner results database");

    /* The parent directory must exist. */
    path_in(p, sizeof p, "no/such/dir/r.db");
    s = NULL;
    err = (struct rn_err){0};
    CHECK(store_open(p, &s, &err) == RN_ERR_OUTPUT);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err.msg, p);
}

static void test_no_partial_epoch(void)
{
    char db_path[256];
    path_in(db_path, sizeof db_path, "partial.db");
    struct rn_err err = {0};
    struct store *s = NULL;
    CHECK_MSG(store_open(db_path, &s, &err) == RN_OK, "%s", err.msg);
    if (!s)
        return;
    cJSON *config = make_config(0.01, "p");
    struct run_identity id = make_id("uid-p", "p", config, NULL);
    int64_t run = 0;
    CHECK(store_run_begin(s, &id, NULL, &run, &err) == RN_OK);
    struct epoch_metrics m = metrics(1, 0.3);
    CHECK(store_run_epoch(s, run, &m, &err) == RN_OK);

    /* Make the run update (the second statement) fail after the epoch insert. */
    sqlite3 *db = raw_open(db_path);
    CHECK(raw_exec(db, "CREATE TRIGGER boom BEFORE UPDATE OF epochs_done ON runs "
                       "WHEN NEW.epochs_done = 2 BEGIN SELECT RAISE(ABORT, 'boom'); END") ==
          SQLITE_OK);
    m = metrics(2, 0.9);
    err = (struct rn_err){0};
    CHECK(store_run_epoch(s, run, &m, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, "boom");
    CHECK_STR_CONTAINS(err.msg, db_path);
    CHECK(q_int(db, "SELECT count(*) FROM epochs WHERE run_id = ?1", run, NULL) == 1);
    CHECK(q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", run, NULL) == 1);
    CHECK(q_int(db, "SELECT best_epoch FROM runs WHERE id = ?1", run, NULL) == 1);

    /* A duplicate epoch fails in the first statement. */
    m = metrics(1, 0.9);
    CHECK(store_run_epoch(s, run, &m, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, "UNIQUE");
    CHECK_NEAR(q_dbl(db, "SELECT final_test_acc FROM runs WHERE id = ?1", run, NULL), 0.3, 0);

    /* No transaction was left open: the next epoch commits and is visible. */
    sqlite3_finalize(g_st);
    g_st = NULL;
    CHECK(raw_exec(db, "DROP TRIGGER boom") == SQLITE_OK);
    m = metrics(2, 0.9);
    CHECK_MSG(store_run_epoch(s, run, &m, &err) == RN_OK, "%s", err.msg);
    CHECK(q_int(db, "SELECT count(*) FROM epochs WHERE run_id = ?1", run, NULL) == 2);
    CHECK(q_int(db, "SELECT best_epoch FROM runs WHERE id = ?1", run, NULL) == 2);

    /* A failing param insert rolls back the run row too. */
    sqlite3_finalize(g_st);
    g_st = NULL;
    CHECK(raw_exec(db, "CREATE TRIGGER boom2 BEFORE INSERT ON params WHEN NEW.key = "
                       "'training.momentum' BEGIN SELECT RAISE(ABORT, 'boom2'); END") ==
          SQLITE_OK);
    id.uid = "uid-p2";
    int64_t run2 = 77;
    CHECK(store_run_begin(s, &id, NULL, &run2, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, "training.momentum");
    CHECK(run2 == 0);
    CHECK(q_int(db, "SELECT count(*) FROM runs WHERE uid = ?2 AND ?1 = ?1", 0, "uid-p2") == 0);
    CHECK(q_int(db, "SELECT count(*) FROM params WHERE run_id <> ?1", run, NULL) == 0);
    raw_close(db);
    store_close(s);
    cJSON_Delete(config);
}

struct leaves {
    char keys[16][64];
    int types[16];
    int n, stop_at;
};

static int collect(void *ctx, const char *key, const cJSON *leaf)
{
    struct leaves *l = ctx;
    if (l->n == l->stop_at)
        return 42;
    snprintf(l->keys[l->n], sizeof l->keys[0], "%s", key);
    l->types[l->n] = leaf->type & 0xFF;
    l->n++;
    return 0;
}

static void test_flatten(void)
{
    cJSON *o = cJSON_Parse("{\"a\":1,\"b\":{\"c\":[1,2],\"d\":{\"e\":\"x\"},\"f\":{}},"
                           "\"g\":null,\"h\":true}");
    struct leaves l = {.stop_at = -1};
    CHECK(store_flatten(o, collect, &l) == 0);
    CHECK(l.n == 5);
    const char *want[] = {"a", "b.c", "b.d.e", "g", "h"};
    for (int i = 0; i < 5 && i < l.n; i++)
        CHECK_MSG(strcmp(l.keys[i], want[i]) == 0, "%s != %s", l.keys[i], want[i]);
    CHECK(l.types[1] == cJSON_Array);
    l = (struct leaves){.stop_at = 2};
    CHECK(store_flatten(o, collect, &l) == 42);
    CHECK(l.n == 2);
    l = (struct leaves){.stop_at = -1};
    CHECK(store_flatten(NULL, collect, &l) == 0 && l.n == 0);
    cJSON *arr = cJSON_CreateArray();
    CHECK(store_flatten(arr, collect, &l) != 0 && l.n == 0);
    cJSON_Delete(arr);
    cJSON_Delete(o);
}

/* Every table's columns (name and declared type, in order) and every index
 * and view name, as one text, to compare an upgraded database with a fresh one. */
static const char SQL_SHAPE[] =
    "SELECT group_concat(x, ' ') FROM ("
    " SELECT m.type || ':' || m.name || '(' ||"
    "  coalesce((SELECT group_concat(c.name || ' ' || c.type, ',') FROM"
    "   (SELECT name, type FROM pragma_table_info(m.name) ORDER BY name) AS c), '') || ')' AS x"
    " FROM sqlite_master AS m WHERE m.name NOT LIKE 'sqlite_%' ORDER BY m.type, m.name)";

/* A version-1 database (made with the frozen v1 schema) is upgraded in
 * place on open, through every later version: its rows are kept, the new
 * columns are NULL in them, and the result has the shape of a fresh database
 * (the same tables, columns, indexes and views). */
static void test_upgrade_v1(void)
{
    const char *src = getenv("RUNNER_SOURCE_DIR");
    CHECK(src != NULL);
    if (!src)
        return;
    char sql_path[1024], p[256];
    snprintf(sql_path, sizeof sql_path, "%s/tests/data/results-v1.sql", src);
    char *v1 = NULL;
    size_t len = 0;
    struct rn_err err = {0};
    CHECK_MSG(fs_read_all(sql_path, &v1, &len, RN_ERR_DATA, &err) == RN_OK, "%s", err.msg);
    if (!v1)
        return;
    path_in(p, sizeof p, "v1.db");
    sqlite3 *db = raw_open(p);
    CHECK(raw_exec(db, v1) == SQLITE_OK);
    CHECK(raw_exec(db, "INSERT INTO runs (uid, name, status, started_at, epochs_done) "
                       "VALUES ('old-1', 'kept', 'completed', '2026-01-01T00:00:00Z', 3)") ==
          SQLITE_OK);
    CHECK(raw_exec(db, "INSERT INTO epochs (run_id, epoch, test_acc, seconds, recorded_at) "
                       "SELECT id, 1, 0.5, 2.0, '2026-01-01T00:00:00Z' FROM runs") == SQLITE_OK);
    CHECK(q_int(db, "PRAGMA user_version", 0, NULL) == 1);
    raw_close(db);
    free(v1);

    struct store *s = NULL;
    CHECK_MSG(store_open(p, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);
    db = raw_open(p);
    CHECK(q_int(db, "PRAGMA user_version", 0, NULL) == STORE_SCHEMA_VERSION);
    CHECK(q_int(db, "SELECT count(*) FROM sweeps", 0, NULL) == 0);
    CHECK(strcmp(q_text(db, "SELECT name FROM runs WHERE uid = 'old-1'", 0, NULL), "kept") == 0);
    CHECK(q_int(db, "SELECT epochs_done FROM runs WHERE uid = 'old-1'", 0, NULL) == 3);
    CHECK(q_type(db, "SELECT sweep_id FROM runs WHERE uid = 'old-1'", 0, NULL) == SQLITE_NULL);
    CHECK(q_int(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN "
                    "('sweep_id', 'overrides', 'pid', 'checkpoint_path')", 0, NULL) == 4);
    CHECK(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'view'", 0, NULL) == 4);
    CHECK(q_int(db, "SELECT count(*) FROM run_summary WHERE name = 'kept'", 0, NULL) == 1);
    CHECK_NEAR(q_dbl(db, "SELECT seconds FROM epochs WHERE epoch = 1", 0, NULL), 2.0, 0);
    CHECK(q_type(db, "SELECT train_seconds FROM epochs WHERE epoch = 1", 0, NULL) ==
          SQLITE_NULL);
    CHECK(strcmp(q_text(db, "PRAGMA integrity_check", 0, NULL), "ok") == 0);
    char *upgraded = strdup(q_text(db, SQL_SHAPE, 0, NULL));
    raw_close(db);

    char fresh_path[256];
    path_in(fresh_path, sizeof fresh_path, "fresh_shape.db");
    s = NULL;
    CHECK_MSG(store_open(fresh_path, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);
    db = raw_open(fresh_path);
    const char *fresh = q_text(db, SQL_SHAPE, 0, NULL);
    CHECK_MSG(upgraded && strcmp(upgraded, fresh) == 0, "upgraded:\n%s\nfresh:\n%s",
              upgraded ? upgraded : "(null)", fresh);
    free(upgraded);
    raw_close(db);
    /* Opening again is a no-op. */
    s = NULL;
    CHECK_MSG(store_open(p, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);
}

int main(void)
{
    make_dir();
    test_fresh_schema();
    test_run_lifecycle();
    test_reopen();
    test_refuse();
    test_upgrade_v1();
    test_no_partial_epoch();
    test_flatten();
    sqlite3_finalize(g_st);
    remove_dir();
    return check_exit("test_store");
}

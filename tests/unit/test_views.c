/* test_views: the SQL views of schemas/results.sql on a database with known
 * rows (run_summary, learning_curves, augmentation_pairs, seed_summary), and
 * that the runner adds missing views to an existing database without
 * touching its rows. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "known_runs.h"
#include "runner/results.h"

static char g_dir[64];
static char g_db[128];

/* The fixture. Run ids are 1..8 in this order. */
static const struct known_run RUNS[] = {
    /* 1: original, seed 1 */
    {"orig", 1, 0, 0.01, 0, 180, "a", RUN_COMPLETED, 3, {0.5, 0.7, 0.6}, {1.5, 1.0, 1.2}, 10},
    /* 2: its augmented twin: other name, rotation, output and cache dirs */
    {"aug", 1, 1, 0.01, 0, 15, "b", RUN_COMPLETED, 3, {0.55, 0.7, 0.75}, {1.4, 1.0, 0.9}, 20},
    /* 3: original with another learning rate */
    {"orig-lr", 1, 0, 0.1, 0, 180, "a", RUN_COMPLETED, 3, {0.4, 0.5, 0.45}, {2.0, 1.8, 1.9}, 11},
    /* 4: augmented, same lr as 3 but another batch size: no twin of 3 */
    {"aug-bs", 1, 1, 0.1, 32, 180, "a", RUN_COMPLETED, 3, {0.3, 0.35, 0.4}, {2.2, 2.1, 2.0}, 12},
    /* 5, 6: run 1 with seeds 2 and 3 (6 under another name) */
    {"orig", 2, 0, 0.01, 0, 180, "a", RUN_COMPLETED, 3, {0.5, 0.6, 0.64}, {1.5, 1.3, 1.25}, 13},
    {"orig-s3", 3, 0, 0.01, 0, 180, "c", RUN_COMPLETED, 3, {0.6, 0.7, 0.68}, {1.3, 1.1, 1.15}, 14},
    /* 7: seed 4, still running after one epoch: not in seed_summary */
    {"orig", 4, 0, 0.01, 0, 180, "a", RUN_RUNNING, 1, {0.9}, {0.5}, 0},
    /* 8: augmented twin of 1, running, no epoch yet */
    {"aug2", 1, 1, 0.01, 0, 90, "a", RUN_RUNNING, 0, {0}, {0}, 0},
};
#define N_RUNS (sizeof RUNS / sizeof RUNS[0])

static sqlite3_stmt *g_st;

static sqlite3 *ro_open(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", g_db);
        exit(1);
    }
    return db;
}

/* Prepare sql into g_st (finalizing the previous one); false on error. */
static int q(sqlite3 *db, const char *sql)
{
    sqlite3_finalize(g_st);
    g_st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &g_st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
        return 0;
    }
    return 1;
}

static int row(void)
{
    return g_st && sqlite3_step(g_st) == SQLITE_ROW;
}

static double dbl(int i)
{
    return sqlite3_column_type(g_st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(g_st, i);
}

static int64_t integer(int i)
{
    return sqlite3_column_int64(g_st, i);
}

static int is_null(int i)
{
    return sqlite3_column_type(g_st, i) == SQLITE_NULL;
}

static const char *text(int i)
{
    const unsigned char *t = sqlite3_column_text(g_st, i);
    return t ? (const char *)t : "(null)";
}

static int64_t count(sqlite3 *db, const char *sql)
{
    int64_t n = -1;
    if (q(db, sql) && row())
        n = integer(0);
    return n;
}

static void build(void)
{
    struct store *s = NULL;
    struct rn_err err = {0};
    if (store_open(g_db, &s, &err) != RN_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    for (size_t i = 0; i < N_RUNS; i++)
        CHECK(kr_add(s, &RUNS[i], i) == (int64_t)i + 1);
    store_close(s);
}

static void test_run_summary(sqlite3 *db)
{
    CHECK(count(db, "SELECT count(*) FROM run_summary") == (int64_t)N_RUNS);
    CHECK(q(db, "SELECT run_id, name, status, learning_rate, epochs, batch_size, layers,"
                " augmented, seed, features, epochs_done, final_train_loss, final_train_acc,"
                " final_test_loss, final_test_acc, best_test_acc, best_epoch, wall_seconds,"
                " started_at, typeof(learning_rate), typeof(layers)"
                " FROM run_summary WHERE run_id = 1"));
    CHECK(row());
    CHECK(integer(0) == 1);
    CHECK(strcmp(text(1), "orig") == 0);
    CHECK(strcmp(text(2), "completed") == 0);
    CHECK(dbl(3) == 0.01);
    CHECK(integer(4) == 3);
    CHECK(integer(5) == 64);
    CHECK(strcmp(text(6), "[3072,64,10]") == 0);
    CHECK(integer(7) == 0);
    CHECK(integer(8) == 1);
    CHECK(strcmp(text(9), "raw") == 0);
    CHECK(integer(10) == 3);
    CHECK(dbl(11) == 1.2 / 2);
    CHECK(dbl(12) == 0.6 + 0.1);
    CHECK(dbl(13) == 1.2);
    CHECK(dbl(14) == 0.6);
    CHECK(dbl(15) == 0.7);
    CHECK(integer(16) == 2);
    CHECK(dbl(17) == 10);
    CHECK(strcmp(text(18), "2024-05-01T12:00:00Z") == 0);
    CHECK(strcmp(text(19), "real") == 0);
    CHECK(strcmp(text(20), "text") == 0);

    /* The batch size column follows the params; a run without epochs has
     * NULL metrics. */
    CHECK(q(db, "SELECT batch_size, augmented, seed FROM run_summary WHERE run_id = 4"));
    CHECK(row() && integer(0) == 32 && integer(1) == 1 && integer(2) == 1);
    CHECK(q(db, "SELECT status, epochs_done, final_test_acc, best_test_acc, best_epoch,"
                " wall_seconds FROM run_summary WHERE run_id = 8"));
    CHECK(row());
    CHECK(strcmp(text(0), "running") == 0);
    CHECK(integer(1) == 0);
    CHECK(is_null(2) && is_null(3) && is_null(4) && is_null(5));
}

static void test_learning_curves(sqlite3 *db)
{
    CHECK(count(db, "SELECT count(*) FROM learning_curves") == 6 * 3 + 1);
    CHECK(q(db, "SELECT run_id, name, epoch, train_loss, train_acc, test_loss, test_acc,"
                " val_loss, val_acc, lr FROM learning_curves WHERE run_id = 2 ORDER BY epoch"));
    for (int e = 0; e < 3; e++) {
        CHECK(row());
        CHECK(integer(0) == 2);
        CHECK(strcmp(text(1), "aug") == 0);
        CHECK(integer(2) == e + 1);
        CHECK(dbl(3) == RUNS[1].test_loss[e] / 2);
        CHECK(dbl(4) == RUNS[1].test_acc[e] + 0.1);
        CHECK(dbl(5) == RUNS[1].test_loss[e]);
        CHECK(dbl(6) == RUNS[1].test_acc[e]);
        CHECK(is_null(7) && is_null(8));
        CHECK(dbl(9) == 0.01);
    }
    CHECK(!row());
}

static void test_augmentation_pairs(sqlite3 *db)
{
    /* 1 pairs with 2 and with 8 (augmentation.*, name, output.*, cache dir
     * differ); 3 and 4 differ in batch size; 5, 6, 7 have other seeds. */
    CHECK(count(db, "SELECT count(*) FROM augmentation_pairs") == 2);
    CHECK(q(db, "SELECT orig_run_id, orig_name, orig_status, aug_run_id, aug_name, aug_status,"
                " orig_test_acc, aug_test_acc, test_acc_diff, orig_test_loss, aug_test_loss,"
                " test_loss_diff FROM augmentation_pairs ORDER BY orig_run_id, aug_run_id"));
    CHECK(row());
    CHECK(integer(0) == 1 && strcmp(text(1), "orig") == 0 && strcmp(text(2), "completed") == 0);
    CHECK(integer(3) == 2 && strcmp(text(4), "aug") == 0 && strcmp(text(5), "completed") == 0);
    CHECK(dbl(6) == 0.6);
    CHECK(dbl(7) == 0.75);
    CHECK(dbl(8) == 0.75 - 0.6);
    CHECK(dbl(9) == 1.2);
    CHECK(dbl(10) == 0.9);
    CHECK(dbl(11) == 0.9 - 1.2);
    CHECK(row());
    CHECK(integer(0) == 1 && integer(3) == 8);
    CHECK(strcmp(text(5), "running") == 0);
    CHECK(dbl(6) == 0.6 && is_null(7) && is_null(8) && is_null(11));
    CHECK(!row());
}

static void test_seed_summary(sqlite3 *db)
{
    /* Completed runs only: {1, 5, 6} (seeds 1, 2, 3), {2}, {3}, {4}. */
    CHECK(count(db, "SELECT count(*) FROM seed_summary") == 4);
    CHECK(q(db, "SELECT group_id, name, augmented, runs, seeds, mean_test_acc, std_test_acc,"
                " min_test_acc, max_test_acc, mean_best_test_acc FROM seed_summary"
                " ORDER BY group_id"));
    CHECK(row());
    CHECK(integer(0) == 1);
    CHECK_MSG(strcmp(text(1), "orig-s3") == 0, "name %s", text(1)); /* newest member */
    CHECK(integer(2) == 0);
    CHECK(integer(3) == 3);
    CHECK(integer(4) == 3);
    CHECK_NEAR(dbl(5), (0.6 + 0.64 + 0.68) / 3, 1e-12);
    CHECK_NEAR(dbl(6), 0.04, 1e-12); /* sample std: sqrt((0.04^2 + 0 + 0.04^2) / 2) */
    CHECK(dbl(7) == 0.6);
    CHECK(dbl(8) == 0.68);
    CHECK_NEAR(dbl(9), (0.7 + 0.64 + 0.7) / 3, 1e-12);
    int64_t groups[] = {2, 3, 4};
    for (size_t i = 0; i < 3; i++) {
        CHECK(row());
        CHECK(integer(0) == groups[i]);
        CHECK(strcmp(text(1), RUNS[groups[i] - 1].name) == 0);
        CHECK(integer(3) == 1);
        CHECK(dbl(5) == RUNS[groups[i] - 1].test_acc[2]);
        CHECK(is_null(6)); /* no deviation for one run */
    }
    CHECK(!row());
}

/* Every row of the three tables as text, to compare before and after. */
static char *dump(sqlite3 *db)
{
    static const char *const sql[] = {
        "SELECT quote(id) || quote(uid) || quote(name) || quote(status) || quote(final_test_acc)"
        " || quote(best_epoch) || quote(wall_seconds) || quote(heartbeat_at) FROM runs ORDER BY id",
        "SELECT quote(run_id) || quote(key) || quote(value) FROM params ORDER BY run_id, key",
        "SELECT quote(run_id) || quote(epoch) || quote(test_acc) || quote(recorded_at)"
        " FROM epochs ORDER BY run_id, epoch",
    };
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    for (size_t i = 0; out && i < 3; i++) {
        if (!q(db, sql[i]))
            continue;
        while (row()) {
            const char *t = text(0);
            size_t n = strlen(t);
            if (len + n + 2 >= cap) {
                char *no = realloc(out, cap * 2);
                if (!no) {
                    free(out);
                    return NULL;
                }
                out = no;
                cap *= 2;
            }
            memcpy(out + len, t, n);
            len += n;
            out[len++] = '\n';
            out[len] = '\0';
        }
    }
    return out;
}

/* A database of this version made before the views existed gets them when
 * the runner opens it for writing; its rows stay as they were. */
static void test_views_added(void)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "DROP VIEW run_summary; DROP VIEW learning_curves;"
                       " DROP VIEW augmentation_pairs; DROP VIEW seed_summary;",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'view'") == 0);
    char *before = dump(db);
    sqlite3_finalize(g_st);
    g_st = NULL;
    sqlite3_close(db);

    struct store *s = NULL;
    struct rn_err err = {0};
    CHECK_MSG(store_open(g_db, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);

    db = ro_open();
    CHECK(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name IN"
                    " ('run_summary', 'learning_curves', 'augmentation_pairs',"
                    " 'seed_summary')") == 4);
    char *after = dump(db);
    CHECK(before && after && strcmp(before, after) == 0);
    CHECK(count(db, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
    /* and they answer as on a new database */
    test_augmentation_pairs(db);
    free(before);
    free(after);

    /* A user's own view of the same name is left alone. */
    sqlite3_finalize(g_st);
    g_st = NULL;
    sqlite3_close(db);
    CHECK(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "DROP VIEW seed_summary; CREATE VIEW seed_summary AS SELECT 42 AS x",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    CHECK_MSG(store_open(g_db, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);
    db = ro_open();
    CHECK(count(db, "SELECT x FROM seed_summary") == 42);
    sqlite3_finalize(g_st);
    g_st = NULL;
    sqlite3_close(db);
}

/* The pairing signature: text that would collide if params were simply
 * joined with separators does not pair; insertion order does not matter; an
 * integral real equals the integer (as IS says); NULL equals NULL; integer 2
 * differs from text '2'. */
static void test_signature(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/sig.db", g_dir);
    struct store *s = NULL;
    struct rn_err err = {0};
    CHECK_MSG(store_open(path, &s, &err) == RN_OK, "%s", err.msg);
    store_close(s);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    const char *sql =
        "INSERT INTO runs (id, uid, name, started_at) VALUES"
        " (1, 'u1', 'o1', 't'), (2, 'u2', 'a2', 't'), (3, 'u3', 'o3', 't'),"
        " (4, 'u4', 'a4', 't'), (5, 'u5', 'o5', 't'), (6, 'u6', 'a6', 't');"
        /* 1 and 2: k1 = "x,k2=y" against k1 = x, k2 = y */
        "INSERT INTO params VALUES (1, 'augmentation.enabled', 0),"
        " (1, 'k1', 'x,k2=y');"
        "INSERT INTO params VALUES (2, 'k2', 'y'), (2, 'k1', 'x'),"
        " (2, 'augmentation.enabled', 1);"
        /* 3 and 4: the same params inserted in another order, 2 vs 2.0, NULLs */
        "INSERT INTO params VALUES (3, 'a', 2), (3, 'b', NULL), (3, 'c', 'z'),"
        " (3, 'augmentation.enabled', 0), (3, 'name', 'o3');"
        "INSERT INTO params VALUES (4, 'name', 'a4'), (4, 'augmentation.enabled', 1),"
        " (4, 'c', 'z'), (4, 'b', NULL), (4, 'a', 2.0);"
        /* 5 and 6: integer 2 vs text '2' */
        "INSERT INTO params VALUES (5, 'augmentation.enabled', 0), (5, 'a', 2);"
        "INSERT INTO params VALUES (6, 'augmentation.enabled', 1), (6, 'a', '2');";
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(q(db, "SELECT orig_run_id, aug_run_id FROM augmentation_pairs"));
    CHECK(row() && integer(0) == 3 && integer(1) == 4);
    CHECK(!row());
    sqlite3_finalize(g_st);
    g_st = NULL;
    sqlite3_close(db);
}

int main(void)
{
    strcpy(g_dir, "/tmp/test_views.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_db, sizeof g_db, "%s/views.db", g_dir);
    build();
    sqlite3 *db = ro_open();
    test_run_summary(db);
    test_learning_curves(db);
    test_augmentation_pairs(db);
    test_seed_summary(db);
    sqlite3_finalize(g_st);
    g_st = NULL;
    sqlite3_close(db);
    test_views_added();
    test_signature();

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return check_exit("test_views");
}

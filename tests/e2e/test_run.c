/* End to end: runner on the small generated dataset. Checks learning, the
 * JSON record, the SQLite rows, determinism, the validation hold-out,
 * divergence, and that config/data errors write nothing. */
#include "e2e.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"

static const char *runner_bin, *data_dir;
static char *tmp;

/* An experiment file in tmp. data_extra and train_extra are lines added to
 * the data and training sections; extra is appended at the end. */
static char *write_config(const char *file, const char *name, const char *data_extra,
                          const char *train_extra, const char *extra)
{
    char *path = e2e_fmt("%s/%s", tmp, file);
    char *text = e2e_fmt("name: %s\n"
                         "seed: 7\n"
                         "data:\n"
                         "  dir: %s\n"
                         "  train_limit: 2000\n"
                         "  test_limit: 1000\n"
                         "%s"
                         "model:\n"
                         "  layers: [3072, 32, 10]\n"
                         "training:\n"
                         "  epochs: 3\n"
                         "  batch_size: 32\n"
                         "%s"
                         "output:\n"
                         "  dir: %s/results\n"
                         "  database: %s/results/results.db\n"
                         "%s",
                         name, data_dir, data_extra, train_extra, tmp, tmp, extra);
    e2e_write(path, text);
    free(text);
    return path;
}

static int run_runner(const char *config, const char *errfile)
{
    char *argv[] = {(char *)runner_bin, (char *)config, "--quiet", "--force", NULL};
    return e2e_run(argv, NULL, errfile);
}

static sqlite3 *open_db(void)
{
    char *path = e2e_fmt("%s/results/results.db", tmp);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    free(path);
    return db;
}

static double query_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bad query %s: %s\n", sql, sqlite3_errmsg(db));
        return v;
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void test_original_run(void)
{
    char *cfg = write_config("orig.yaml", "orig", "", "  learning_rate: 0.01\n", "");
    char *errf = e2e_fmt("%s/orig.err", tmp);
    int rc = run_runner(cfg, errf);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, e2e_read(errf));

    sqlite3 *db = open_db();
    CHECK(query_double(db, "SELECT count(*) FROM runs") == 1);
    char *status = query_text(db, "SELECT status FROM runs WHERE name='orig'");
    CHECK(status && strcmp(status, "completed") == 0);
    free(status);
    CHECK(query_double(db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id=e.run_id "
                           "WHERE r.name='orig'") == 3);
    double acc = query_double(db, "SELECT test_acc FROM epochs WHERE epoch=3");
    CHECK_MSG(acc > 0.6, "final test accuracy %.3f, chance is 0.1", acc);
    CHECK(query_double(db, "SELECT final_test_acc FROM runs WHERE name='orig'") == acc);
    /* Typed params: a numeric comparison works on the learning rate. */
    CHECK(query_double(db, "SELECT count(*) FROM params WHERE key='training.learning_rate' "
                           "AND value < 0.05") == 1);
    CHECK(query_double(db, "SELECT value FROM params WHERE key='training.epochs'") == 3);
    CHECK(query_double(db, "SELECT test_loss FROM epochs WHERE epoch=3") <
          query_double(db, "SELECT test_loss FROM epochs WHERE epoch=1") + 1e-9);
    /* Every epoch has its mini-batch loop time, a part of its whole time. */
    CHECK(query_double(db, "SELECT count(*) FROM epochs WHERE train_seconds > 0 "
                           "AND train_seconds <= seconds") == 3);

    /* The JSON record mirrors the database. */
    char *jpath = query_text(db, "SELECT json_path FROM runs WHERE name='orig'");
    char *text = jpath ? e2e_read(jpath) : NULL;
    CHECK_MSG(text != NULL, "JSON file %s", jpath ? jpath : "(none)");
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    CHECK(doc != NULL);
    if (doc) {
        cJSON *epochs = cJSON_GetObjectItem(doc, "epochs");
        CHECK(cJSON_GetArraySize(epochs) == 3);
        cJSON *last = cJSON_GetArrayItem(epochs, 2);
        CHECK(last && cJSON_GetObjectItem(last, "test_acc")->valuedouble == acc);
        CHECK(strcmp(cJSON_GetObjectItem(doc, "status")->valuestring, "completed") == 0);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "data_files")) == 6);
        cJSON *conf = cJSON_GetObjectItem(doc, "config");
        CHECK(conf && cJSON_GetObjectItem(conf, "training"));
        cJSON *hash = cJSON_GetObjectItem(doc, "config_hash");
        CHECK(hash && cJSON_IsString(hash) && strlen(hash->valuestring) == 64);
    }
    cJSON_Delete(doc);
    free(text);
    free(jpath);
    sqlite3_close(db);
    free(cfg);
    free(errf);
}

/* The same config twice: identical metrics, epoch by epoch. */
static void test_determinism(void)
{
    char *cfg = write_config("orig.yaml", "orig", "", "  learning_rate: 0.01\n", "");
    int rc = run_runner(cfg, NULL);
    CHECK(rc == 0);
    sqlite3 *db = open_db();
    CHECK(query_double(db,
                       "SELECT count(*) FROM epochs a JOIN epochs b ON a.epoch=b.epoch "
                       "WHERE a.run_id=1 AND b.run_id=2 AND a.train_loss=b.train_loss "
                       "AND a.train_acc=b.train_acc AND a.test_loss=b.test_loss "
                       "AND a.test_acc=b.test_acc") == 3);
    char *h1 = query_text(db, "SELECT config_hash FROM runs WHERE id=1");
    char *h2 = query_text(db, "SELECT config_hash FROM runs WHERE id=2");
    CHECK(h1 && h2 && strcmp(h1, h2) == 0);
    free(h1);
    free(h2);
    sqlite3_close(db);
    free(cfg);
}

/* Augmentation doubles the training rows, still learns, and a hold-out is
 * reported as validation metrics. */
static void test_augmented_with_validation(void)
{
    char *cfg = write_config("aug.yaml", "aug", "  validation: 200\n", "",
                             "augmentation:\n  enabled: true\n");
    char *errf = e2e_fmt("%s/aug.err", tmp);
    int rc = run_runner(cfg, errf);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, e2e_read(errf));
    sqlite3 *db = open_db();
    double acc = query_double(db, "SELECT final_test_acc FROM runs WHERE name='aug'");
    CHECK_MSG(acc > 0.5, "augmented final test accuracy %.3f", acc);
    CHECK(query_double(db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id=e.run_id "
                           "WHERE r.name='aug' AND val_acc IS NOT NULL") == 3);
    CHECK(query_double(db, "SELECT value FROM params p JOIN runs r ON r.id=p.run_id "
                           "WHERE r.name='aug' AND key='augmentation.enabled'") == 1);
    sqlite3_close(db);
    free(errf);
    free(cfg);
}

/* A config error: exit 3, file:line:col and key path, nothing written. */
static void test_config_error_writes_nothing(void)
{
    char *dir = e2e_fmt("%s/bad", tmp);
    mkdir(dir, 0755);
    char *path = e2e_fmt("%s/bad.yaml", dir);
    char *text = e2e_fmt("name: bad\ndata:\n  dir: %s\nmodel:\n  layers: [3072, 32, 10]\n"
                         "training:\n  learning_rate: -1\noutput:\n  dir: %s/out\n"
                         "  database: %s/out/r.db\n",
                         data_dir, dir, dir);
    e2e_write(path, text);
    char *errf = e2e_fmt("%s/bad.err", tmp);
    int rc = run_runner(path, errf);
    CHECK(rc == 3);
    char *msg = e2e_read(errf);
    CHECK_STR_CONTAINS(msg, "bad.yaml:7:");
    CHECK_STR_CONTAINS(msg, "training.learning_rate");
    char *out = e2e_fmt("%s/out", dir);
    CHECK(!e2e_exists(out));
    free(msg);

    /* batch size larger than the data is reported against its key */
    free(text);
    text = e2e_fmt("name: bad\ndata:\n  dir: %s\n  train_limit: 100\nmodel:\n"
                   "  layers: [3072, 32, 10]\ntraining:\n  batch_size: 500\noutput:\n"
                   "  dir: %s/out\n  database: %s/out/r.db\n",
                   data_dir, dir, dir);
    e2e_write(path, text);
    rc = run_runner(path, errf);
    CHECK(rc == 3);
    msg = e2e_read(errf);
    CHECK_STR_CONTAINS(msg, "bad.yaml:8:");
    CHECK_STR_CONTAINS(msg, "training.batch_size");
    CHECK(!e2e_exists(out));
    free(msg);

    /* missing data directory: exit 4, names the file, nothing written */
    free(text);
    text = e2e_fmt("name: bad\ndata:\n  dir: %s/nowhere\nmodel:\n  layers: [3072, 32, 10]\n"
                   "output:\n  dir: %s/out\n  database: %s/out/r.db\n",
                   dir, dir, dir);
    e2e_write(path, text);
    rc = run_runner(path, errf);
    CHECK(rc == 4);
    msg = e2e_read(errf);
    CHECK_STR_CONTAINS(msg, "nowhere/data_batch_1.bin");
    CHECK(!e2e_exists(out));
    free(msg);

    /* validate: ok for the shipped experiments, error for the bad file */
    char *src = e2e_fmt("%s/experiments/raw-original.yaml", e2e_env("RUNNER_SOURCE_DIR"));
    char *src2 = e2e_fmt("%s/experiments/report-augmented.yaml", e2e_env("RUNNER_SOURCE_DIR"));
    char *argv[] = {(char *)runner_bin, "validate", src, src2, NULL};
    CHECK(e2e_run(argv, NULL, NULL) == 0);
    char *argv2[] = {(char *)runner_bin, "validate", path, NULL};
    CHECK(e2e_run(argv2, NULL, NULL) == 0); /* the last file is valid YAML; data is not checked */
    free(src);
    free(src2);
    free(out);
    free(errf);
    free(text);
    free(path);
    free(dir);
}

/* A learning rate that blows up: recorded as diverged, exit 6. */
static void test_divergence(void)
{
    char *cfg = write_config("div.yaml", "div", "",
                             "  learning_rate: 10\n  momentum: 0.99\n", "");
    char *errf = e2e_fmt("%s/div.err", tmp);
    int rc = run_runner(cfg, errf);
    char *msg = e2e_read(errf);
    CHECK_MSG(rc == 6, "exit %d: %s", rc, msg);
    CHECK_STR_CONTAINS(msg, "diverged");
    sqlite3 *db = open_db();
    char *status = query_text(db, "SELECT status FROM runs WHERE name='div'");
    CHECK(status && strcmp(status, "diverged") == 0);
    CHECK(query_double(db, "SELECT diverged_epoch FROM runs WHERE name='div'") >= 1);
    /* nothing non-finite reached the database */
    CHECK(query_double(db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id=e.run_id "
                           "WHERE r.name='div' AND (train_loss IS NULL OR test_loss IS NULL "
                           "OR abs(train_loss) > 1e300 OR abs(test_loss) > 1e300)") == 0);
    sqlite3_close(db);
    free(status);
    free(msg);
    free(errf);
    free(cfg);
}

/* The thread count never changes the numbers: 1 and 2 threads give
 * bit-identical metrics on a net large enough for the threaded kernels. */
static void test_threads_identical(void)
{
    char *cfg = e2e_fmt("%s/threads.yaml", tmp);
    char *text = e2e_fmt("name: threads\nseed: 5\n"
                         "data: {dir: %s, train_limit: 1024, test_limit: 500}\n"
                         "model: {layers: [3072, 256, 10]}\n"
                         "training: {epochs: 2, batch_size: 128, learning_rate: 0.01, "
                         "momentum: 0.9, dropout_hidden: 0.2, lr_schedule: cosine, "
                         "lr_min: 0.001}\n"
                         "output: {dir: %s/results, database: %s/results/results.db}\n",
                         data_dir, tmp, tmp);
    e2e_write(cfg, text);
    char *argv1[] = {(char *)runner_bin, cfg, "--quiet", "--force", "--threads", "1", NULL};
    char *argv2[] = {(char *)runner_bin, cfg, "--quiet", "--force", "--threads", "2", NULL};
    CHECK(e2e_run(argv1, NULL, NULL) == 0);
    CHECK(e2e_run(argv2, NULL, NULL) == 0);
    sqlite3 *db = open_db();
    CHECK(query_double(db,
                       "SELECT count(*) FROM epochs a JOIN epochs b ON a.epoch=b.epoch "
                       "WHERE a.run_id=(SELECT min(id) FROM runs WHERE name='threads') "
                       "AND b.run_id=(SELECT max(id) FROM runs WHERE name='threads') "
                       "AND a.run_id != b.run_id AND a.train_loss=b.train_loss "
                       "AND a.train_acc=b.train_acc AND a.test_loss=b.test_loss "
                       "AND a.test_acc=b.test_acc") == 2);
    /* the schedule's rate is recorded per epoch: cosine from 0.01 to 0.001 */
    CHECK_NEAR(query_double(db, "SELECT lr FROM epochs WHERE epoch=1 AND run_id="
                                "(SELECT max(id) FROM runs WHERE name='threads')"),
               0.01, 1e-12);
    CHECK_NEAR(query_double(db, "SELECT lr FROM epochs WHERE epoch=2 AND run_id="
                                "(SELECT max(id) FROM runs WHERE name='threads')"),
               0.0055, 1e-9);
    sqlite3_close(db);
    /* Plain SGD, where layer 0's weights are kept packed (mlp.h). */
    char *cfg_p = e2e_fmt("%s/threads_plain.yaml", tmp);
    char *text_p = e2e_fmt("name: threads_plain\nseed: 5\n"
                           "data: {dir: %s, train_limit: 1024, test_limit: 500}\n"
                           "model: {layers: [3072, 256, 10]}\n"
                           "training: {epochs: 2, batch_size: 100, learning_rate: 0.01, "
                           "dropout_hidden: 0.2}\n"
                           "output: {dir: %s/results, database: %s/results/results.db}\n",
                           data_dir, tmp, tmp);
    e2e_write(cfg_p, text_p);
    char *argp1[] = {(char *)runner_bin, cfg_p, "--quiet", "--force", "--threads", "1", NULL};
    char *argp2[] = {(char *)runner_bin, cfg_p, "--quiet", "--force", "--threads", "2", NULL};
    CHECK(e2e_run(argp1, NULL, NULL) == 0);
    CHECK(e2e_run(argp2, NULL, NULL) == 0);
    db = open_db();
    CHECK(query_double(db,
                       "SELECT count(*) FROM epochs a JOIN epochs b ON a.epoch=b.epoch "
                       "WHERE a.run_id=(SELECT min(id) FROM runs WHERE name='threads_plain') "
                       "AND b.run_id=(SELECT max(id) FROM runs WHERE name='threads_plain') "
                       "AND a.run_id != b.run_id AND a.train_loss=b.train_loss "
                       "AND a.train_acc=b.train_acc AND a.test_loss=b.test_loss "
                       "AND a.test_acc=b.test_acc") == 2);
    sqlite3_close(db);
    free(cfg_p);
    free(text_p);
    char *bad[] = {(char *)runner_bin, cfg, "--threads", "0", NULL};
    CHECK(e2e_run(bad, NULL, NULL) == 2);

    /* The file's `threads` is used unless --threads overrides it, and it is
     * not part of the run's identity. */
    char *cfg3 = e2e_fmt("%s/threads3.yaml", tmp);
    char *text3 = e2e_fmt("%sthreads: 3\n", text);
    e2e_write(cfg3, text3);
    char *errf = e2e_fmt("%s/threads3.err", tmp);
    char *argv3[] = {(char *)runner_bin, cfg3, "--force", NULL};
    CHECK(e2e_run(argv3, NULL, errf) == 0);
    char *log = e2e_read(errf);
    CHECK_STR_CONTAINS(log ? log : "", ", 3 threads\n");
    free(log);
    char *argv4[] = {(char *)runner_bin, cfg3, "--force", "--threads", "1", NULL};
    CHECK(e2e_run(argv4, NULL, errf) == 0);
    log = e2e_read(errf);
    CHECK_STR_CONTAINS(log ? log : "", ", 1 thread\n");
    free(log);
    db = open_db();
    CHECK(query_double(db, "SELECT count(DISTINCT config_hash) FROM runs WHERE name='threads'") ==
          1);
    CHECK(query_double(db, "SELECT count(*) FROM runs WHERE name='threads'") == 4);
    CHECK(query_double(db,
                       "SELECT count(DISTINCT test_loss || '/' || train_loss) FROM epochs "
                       "JOIN runs ON runs.id = epochs.run_id "
                       "WHERE runs.name='threads' AND epoch = 2") == 1);
    sqlite3_close(db);
    free(errf);
    free(text3);
    free(cfg3);
    free(text);
    free(cfg);
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    data_dir = e2e_env("RUNNER_TESTDATA");
    tmp = e2e_tmpdir();
    test_original_run();
    test_determinism();
    test_augmented_with_validation();
    test_config_error_writes_nothing();
    test_divergence();
    test_threads_identical();
    int rc = check_exit("e2e_run");
    if (rc == 0)
        e2e_rmrf(tmp);
    else
        fprintf(stderr, "kept %s for inspection\n", tmp);
    return rc;
}

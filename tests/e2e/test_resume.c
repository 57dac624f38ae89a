/* End to end: kill -9 a run after some epochs, see it detected as
 * interrupted, `runner resume` it, and compare every epoch's metrics with an
 * uninterrupted run bit for bit (SQL = on doubles), on the CIFAR fixture
 * (raw features, validation split, momentum, dropout) and on .npy features.
 * Also: resume refuses a
 * completed run, a run whose data files changed and a run without a valid
 * checkpoint of its last recorded epoch; stale-run detection for live, dead, reused and remote pids. */
#include "e2e.h"
#include "e2e_npy.h"

#include <signal.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"
#include "runner/checkpoint.h"
#include "runner/results.h"
#include "runner/rng.h"

static const char *runner_bin, *data_dir;
static char *tmp;

static char *write_config(const char *name, const char *dir, int epochs)
{
    char *path = e2e_fmt("%s/%s.yaml", tmp, name);
    char *text = e2e_fmt("name: %s\n"
                         "seed: 11\n"
                         "data:\n"
                         "  dir: %s\n"
                         "  train_limit: 2000\n"
                         "  test_limit: 500\n"
                         "  validation: 300\n"
                         "model:\n"
                         "  layers: [3072, 16, 10]\n"
                         "training:\n"
                         "  epochs: %d\n"
                         "  batch_size: 50\n"
                         "  learning_rate: 0.01\n"
                         "  momentum: 0.9\n"
                         "  dropout_hidden: 0.2\n"
                         "output:\n"
                         "  dir: %s/results\n"
                         "  database: %s/results/unused.db\n",
                         name, dir, epochs, tmp, tmp);
    e2e_write(path, text);
    free(text);
    return path;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static double q_double(sqlite3 *db, const char *sql)
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

static char *q_text(sqlite3 *db, const char *sql)
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

/* epochs_done of the only run in db, or -1 before it exists. */
static int epochs_done(const char *db_path)
{
    if (!e2e_exists(db_path))
        return -1;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 1000);
    double v = q_double(db, "SELECT max(epochs_done) FROM runs");
    sqlite3_close(db);
    return isnan(v) ? -1 : (int)v;
}

/* Start `runner CONFIG --db DB --threads 1 --quiet`, wait until the database
 * records at least `after` epochs, SIGKILL it. Returns its pid; the run must
 * not have finished by then (checked by the caller via epochs_done). */
static pid_t run_and_kill(const char *config, const char *db, int after)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(runner_bin, runner_bin, config, "--db", db, "--threads", "1", "--quiet",
              (char *)NULL);
        _exit(127);
    }
    struct timespec nap = {0, 5 * 1000 * 1000};
    for (int i = 0; i < 12000 && epochs_done(db) < after; i++) /* 60 s at most */
        nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return pid;
}

static int resume(const char *which, const char *db, const char *threads, const char *errf)
{
    char *argv[] = {(char *)runner_bin, "resume", (char *)which, "--db", (char *)db,
                    "--threads", (char *)threads, "--quiet", NULL};
    return e2e_run(argv, NULL, errf);
}

static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f)
        return;
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x55, f);
    fclose(f);
}

static void test_kill_and_resume(void)
{
    char *cfg = write_config("kr", data_dir, 10);
    char *full_db = e2e_fmt("%s/results/full.db", tmp);
    char *db = e2e_fmt("%s/results/killed.db", tmp);
    char *errf = e2e_fmt("%s/kr.err", tmp);

    /* The uninterrupted reference, on 2 threads. */
    char *argv[] = {(char *)runner_bin, cfg, "--db", full_db, "--threads", "2", "--quiet", NULL};
    int rc = e2e_run(argv, NULL, errf);
    CHECK_MSG(rc == 0, "reference run: exit %d: %s", rc, e2e_read(errf));

    pid_t pid = run_and_kill(cfg, db, 3);
    int done = epochs_done(db);
    CHECK_MSG(done >= 3 && done < 10, "killed after %d epochs", done);
    sqlite3 *d = open_db(db);
    char *status = q_text(d, "SELECT status FROM runs");
    CHECK(status && strcmp(status, "running") == 0); /* nobody has looked yet */
    free(status);
    sqlite3_close(d);

    /* Opening the database for writing finds the dead process. */
    char host[256] = "";
    gethostname(host, sizeof host);
    struct store *s = NULL;
    struct rn_err err = {0};
    size_t marked = 0;
    CHECK(store_open(db, &s, &err) == RN_OK);
    CHECK_MSG(store_mark_stale(s, host, STORE_STALE_REMOTE_SECONDS, NULL, NULL, &marked, &err) == RN_OK,
              "%s", err.msg);
    store_close(s);
    CHECK(marked == 1);
    d = open_db(db);
    status = q_text(d, "SELECT status FROM runs");
    CHECK(status && strcmp(status, "interrupted") == 0);
    free(status);
    char *msg = q_text(d, "SELECT message FROM runs");
    char *expect = e2e_fmt("process %d on %s is gone", (int)pid, host);
    CHECK_STR_CONTAINS(msg, expect);
    free(expect);
    free(msg);
    char *ckpt = q_text(d, "SELECT checkpoint_path FROM runs");
    CHECK(ckpt && e2e_exists(ckpt));
    sqlite3_close(d);

    /* Resume on 1 thread (the reference used 2): identical metrics. */
    rc = resume("kr", db, "1", errf);
    CHECK_MSG(rc == 0, "resume: exit %d: %s", rc, e2e_read(errf));
    d = open_db(db);
    CHECK(q_double(d, "SELECT count(*) FROM runs") == 1);
    status = q_text(d, "SELECT status FROM runs");
    CHECK(status && strcmp(status, "completed") == 0);
    free(status);
    CHECK(q_double(d, "SELECT epochs_done FROM runs") == 10);
    CHECK(q_double(d, "SELECT count(*) FROM epochs") == 10);
    char *attach = e2e_fmt("ATTACH '%s' AS f", full_db);
    CHECK(sqlite3_exec(d, attach, NULL, NULL, NULL) == SQLITE_OK);
    free(attach);
    double same = q_double(d, "SELECT count(*) FROM epochs a JOIN f.epochs b USING (epoch)"
                              " WHERE a.train_loss = b.train_loss AND a.train_acc = b.train_acc"
                              " AND a.test_loss = b.test_loss AND a.test_acc = b.test_acc"
                              " AND a.val_loss = b.val_loss AND a.val_acc = b.val_acc"
                              " AND a.lr = b.lr");
    CHECK_MSG(same == 10, "%g of 10 epochs bit-identical", same);
    CHECK(q_double(d, "SELECT count(*) FROM runs a JOIN f.runs b ON"
                      " a.final_test_acc = b.final_test_acc AND a.best_epoch = b.best_epoch"
                      " AND a.best_test_acc = b.best_test_acc AND a.config_hash = b.config_hash")
          == 1);
    /* The same JSON file, now with all 10 epochs, completed. */
    char *jpath = q_text(d, "SELECT json_path FROM runs");
    char *text = jpath ? e2e_read(jpath) : NULL;
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    CHECK(doc != NULL);
    if (doc) {
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "epochs")) == 10);
        CHECK(strcmp(cJSON_GetObjectItem(doc, "status")->valuestring, "completed") == 0);
        cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "epochs"), 9);
        CHECK(e && cJSON_GetObjectItem(e, "test_acc")->valuedouble ==
                       q_double(d, "SELECT test_acc FROM f.epochs WHERE epoch = 10"));
    }
    cJSON_Delete(doc);
    free(text);
    free(jpath);
    /* A finished run's checkpoints are removed. */
    CHECK(ckpt && !e2e_exists(ckpt));
    CHECK(q_text(d, "SELECT checkpoint_path FROM runs") == NULL);
    sqlite3_close(d);

    /* A completed run is not resumed. */
    rc = resume("kr", db, "1", errf);
    CHECK(rc == 2);
    char *m = e2e_read(errf);
    CHECK_STR_CONTAINS(m, "is completed");
    free(m);
    d = open_db(db);
    CHECK(q_double(d, "SELECT count(*) FROM epochs") == 10);
    sqlite3_close(d);
    rc = resume("no-such-run", db, "1", errf);
    CHECK(rc == 2);
    m = e2e_read(errf);
    CHECK_STR_CONTAINS(m, "no run with id, uid or name 'no-such-run'");
    free(m);

    free(ckpt);
    free(cfg);
    free(full_db);
    free(db);
    free(errf);
}

/* Small .npy features in tmp/npy: train (n_train, 64), test (500, 64). */
static void write_npy(size_t n_train)
{
    char *dir = e2e_fmt("%s/npy", tmp);
    mkdir(dir, 0755);
    e2e_write_npy_set(dir, "train", n_train, 64, 17, 0, 6, 1.0f);
    e2e_write_npy_set(dir, "test", 500, 64, 17, 1, 6, 1.0f);
    free(dir);
}

static char *write_npy_config(const char *name, int epochs)
{
    char *path = e2e_fmt("%s/%s.yaml", tmp, name);
    char *text = e2e_fmt("name: %s\n"
                         "seed: 5\n"
                         "features:\n"
                         "  kind: npy\n"
                         "  npy: {train: %s/npy/train.npy, train_labels: %s/npy/train_labels.npy,\n"
                         "        test: %s/npy/test.npy, test_labels: %s/npy/test_labels.npy}\n"
                         "model:\n"
                         "  layers: [64, 32, 10]\n"
                         "training:\n"
                         "  epochs: %d\n"
                         "  batch_size: 50\n"
                         "  learning_rate: 0.02\n"
                         "  momentum: 0.9\n"
                         "  dropout_input: 0.1\n"
                         "  dropout_hidden: 0.2\n"
                         "output:\n"
                         "  dir: %s/results\n"
                         "  database: %s/results/unused.db\n",
                         name, tmp, tmp, tmp, tmp, epochs, tmp, tmp);
    e2e_write(path, text);
    free(text);
    return path;
}

/* On .npy features: resume refuses changed data and a run without a valid
 * checkpoint of its last recorded epoch, leaving it interrupted; with both
 * put right it resumes, bit-identical to an uninterrupted run. */
static void test_refusals(void)
{
    enum { EPOCHS = 30 };
    write_npy(3000);
    char *cfg = write_npy_config("ref", EPOCHS);
    char *full_db = e2e_fmt("%s/results/npy-full.db", tmp);
    char *db = e2e_fmt("%s/results/refuse.db", tmp);
    char *errf = e2e_fmt("%s/ref.err", tmp);
    char *argv[] = {(char *)runner_bin, cfg, "--db", full_db, "--quiet", NULL};
    int rc = e2e_run(argv, NULL, errf);
    CHECK_MSG(rc == 0, "npy reference run: exit %d", rc);
    run_and_kill(cfg, db, 3);
    int done = epochs_done(db);
    CHECK_MSG(done >= 3 && done < EPOCHS, "killed after %d epochs", done);

    char *test_npy = e2e_fmt("%s/npy/test.npy", tmp);
    flip_byte(test_npy, 1000); /* a feature value, past the header */
    rc = resume("ref", db, "1", errf);
    CHECK_MSG(rc == 4, "changed data: exit %d", rc);
    char *m = e2e_read(errf);
    CHECK_STR_CONTAINS(m, "test.npy: data file changed");
    free(m);
    flip_byte(test_npy, 1000);

    sqlite3 *d = open_db(db);
    char *status = q_text(d, "SELECT status FROM runs");
    CHECK(status && strcmp(status, "interrupted") == 0);
    free(status);
    char *ckpt = q_text(d, "SELECT checkpoint_path FROM runs");
    char *jpath = q_text(d, "SELECT json_path FROM runs");
    sqlite3_close(d);
    /* The runner that found the dead process marked the JSON file too. */
    char *jtext = jpath ? e2e_read(jpath) : NULL;
    cJSON *doc = jtext ? cJSON_Parse(jtext) : NULL;
    CHECK(doc != NULL);
    if (doc) {
        CHECK(strcmp(cJSON_GetObjectItem(doc, "status")->valuestring, "interrupted") == 0);
        CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "message")), "is gone");
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "epochs")) >= done);
    }
    cJSON_Delete(doc);
    free(jtext);

    /* The checkpoint of the last recorded epoch damaged, the other one gone
     * (which file holds that epoch depends on where the kill landed). */
    char *files[2] = {ckpt, e2e_fmt("%s.prev", ckpt)};
    int holder = -1;
    for (int i = 0; i < 2; i++) {
        size_t e = 0;
        struct rn_err err = {0};
        if (e2e_exists(files[i]) && ckpt_peek_epoch(files[i], &e, &err) == RN_OK &&
            e == (size_t)done)
            holder = i;
    }
    CHECK(holder >= 0);
    if (holder >= 0) {
        char *other = files[1 - holder];
        char *moved = e2e_fmt("%s.moved", other);
        int had_other = rename(other, moved) == 0;
        flip_byte(files[holder], 200);
        rc = resume("ref", db, "1", errf);
        CHECK_MSG(rc == 4, "damaged/missing checkpoint: exit %d", rc);
        m = e2e_read(errf);
        CHECK_STR_CONTAINS(m, "no checkpoint of epoch");
        CHECK_STR_CONTAINS(m, "checksum mismatch");
        CHECK_STR_CONTAINS(m, ": missing");
        free(m);
        flip_byte(files[holder], 200);
        if (had_other)
            CHECK(rename(moved, other) == 0);
        free(moved);
    }

    d = open_db(db);
    CHECK(q_double(d, "SELECT epochs_done FROM runs") == done);
    status = q_text(d, "SELECT status FROM runs");
    CHECK(status && strcmp(status, "interrupted") == 0);
    free(status);
    sqlite3_close(d);
    rc = resume("1", db, "2", errf);
    CHECK_MSG(rc == 0, "resume by id: exit %d", rc);
    d = open_db(db);
    CHECK(q_double(d, "SELECT count(*) FROM epochs") == EPOCHS);
    status = q_text(d, "SELECT status FROM runs");
    CHECK(status && strcmp(status, "completed") == 0);
    free(status);
    char *attach = e2e_fmt("ATTACH '%s' AS f", full_db);
    CHECK(sqlite3_exec(d, attach, NULL, NULL, NULL) == SQLITE_OK);
    free(attach);
    double same = q_double(d, "SELECT count(*) FROM epochs a JOIN f.epochs b USING (epoch)"
                              " WHERE a.train_loss = b.train_loss AND a.train_acc = b.train_acc"
                              " AND a.test_loss = b.test_loss AND a.test_acc = b.test_acc");
    CHECK_MSG(same == EPOCHS, "%g of %d epochs bit-identical", same, EPOCHS);
    sqlite3_close(d);
    /* Marking a finished run's file interrupted leaves it as it is. */
    char *before = e2e_read(jpath);
    struct rn_err err = {0};
    CHECK(runlog_mark_interrupted(jpath, "process 1 on x is gone", &err) == RN_OK);
    char *after = e2e_read(jpath);
    CHECK(before && after && strcmp(before, after) == 0);
    CHECK_STR_CONTAINS(after, "\"completed\"");
    free(before);
    free(after);
    free(jpath);

    free(ckpt);
    free(files[1]);
    free(test_npy);
    free(cfg);
    free(full_db);
    free(db);
    free(errf);
}

/* Stale detection on hand-made rows: a live pid stays running; a dead pid,
 * a reused pid (a process started after the heartbeat) and a silent remote
 * host become interrupted; a fresh remote heartbeat stays running. */
static void test_stale_rules(void)
{
    char *db = e2e_fmt("%s/results/stale.db", tmp);
    struct store *s = NULL;
    struct rn_err err = {0};
    CHECK(store_open(db, &s, &err) == RN_OK);
    store_close(s);
    char host[256] = "";
    gethostname(host, sizeof host);

    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    pid_t young = fork(); /* alive, but started after the heartbeat below */
    if (young == 0) {
        pause();
        _exit(0);
    }

    sqlite3 *d = NULL;
    CHECK(sqlite3_open(db, &d) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(d,
                             "INSERT INTO runs (uid, name, status, host, pid, started_at,"
                             " heartbeat_at) VALUES (?1, ?1, 'running', ?2, ?3, "
                             "'2020-01-01T00:00:00Z', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?4))",
                             -1, &st, NULL) == SQLITE_OK);
    struct {
        const char *uid, *host;
        long long pid;
        const char *age;
    } rows[] = {
        {"live", host, (long long)getpid(), "+0 seconds"},
        {"dead", host, (long long)dead, "+0 seconds"},
        {"reused", host, (long long)young, "-1 hours"},
        {"remote-old", "elsewhere.example", 1, "-13 hours"},
        {"remote-new", "elsewhere.example", 1, "-1 hours"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, rows[i].uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rows[i].host, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, rows[i].pid);
        sqlite3_bind_text(st, 4, rows[i].age, -1, SQLITE_STATIC);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
    }
    sqlite3_finalize(st);
    sqlite3_close(d);

    size_t marked = 0;
    CHECK(store_open(db, &s, &err) == RN_OK);
    CHECK_MSG(store_mark_stale(s, host, STORE_STALE_REMOTE_SECONDS, NULL, NULL, &marked, &err) == RN_OK,
              "%s", err.msg);
    store_close(s);
    kill(young, SIGKILL);
    waitpid(young, NULL, 0);
    CHECK(marked == 3);
    d = open_db(db);
    char *live = q_text(d, "SELECT status FROM runs WHERE uid = 'live'");
    char *gone = q_text(d, "SELECT group_concat(uid, ',') FROM (SELECT uid FROM runs"
                           " WHERE status = 'interrupted' ORDER BY uid)");
    char *rnew = q_text(d, "SELECT status FROM runs WHERE uid = 'remote-new'");
    char *rmsg = q_text(d, "SELECT message FROM runs WHERE uid = 'remote-old'");
    CHECK(live && strcmp(live, "running") == 0);
    CHECK_MSG(gone && strcmp(gone, "dead,remote-old,reused") == 0, "%s", gone ? gone : "-");
    CHECK(rnew && strcmp(rnew, "running") == 0);
    CHECK_STR_CONTAINS(rmsg, "no heartbeat from elsewhere.example");
    free(live);
    free(gone);
    free(rnew);
    free(rmsg);
    sqlite3_close(d);
    free(db);
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    data_dir = e2e_env("RUNNER_TESTDATA");
    tmp = e2e_tmpdir();
    char *res = e2e_fmt("%s/results", tmp);
    mkdir(res, 0755);
    free(res);
    test_stale_rules();
    test_kill_and_resume();
    test_refusals();
    int rc = check_exit("test_resume");
    if (rc == 0)
        e2e_rmrf(tmp);
    else
        fprintf(stderr, "test_resume: files kept in %s\n", tmp);
    return rc;
}

/* End to end: faults during a run.
 *
 *  - SIGINT and SIGTERM after the first recorded epoch: exit 8, the run is
 *    recorded as interrupted in the database and the JSON file, and every
 *    finished epoch is there (1..k, no gaps, epochs_done = k).
 *  - SIGINT during data loading or the k-means feature stage (a run whose
 *    features alone would take minutes): exit 8 within seconds, and no run
 *    is recorded.
 *  - A second SIGINT while the first is being honoured ends the process at
 *    once (default action), and the database is still consistent.
 *  - SIGKILL at random moments, 24 times in one results directory: after
 *    each, PRAGMA integrity_check is ok, every run's epochs are 1..k with
 *    epochs_done = k, every JSON file in the directory parses and has k or
 *    k+1 epochs (it is written just before the database commit), and a
 *    final normal run in the same place succeeds.
 *  - Two runs with the same name started at the same moment both land:
 *    two rows, two distinct JSON files, both complete.
 *
 * The runs read small .npy feature files (features.kind npy) written here,
 * so they start in milliseconds and every epoch is short: most of a run's
 * time is its per-epoch writes (JSON rewrite + fsync, SQLite commit), which
 * is where a kill is most likely to land. */
#include "e2e.h"
#include "e2e_npy.h"

#include <signal.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"
#include "runner/rng.h"

#define KILL_TRIALS 24

static const char *runner_bin;
static char *tmp;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n rows of dim features, learnable: class c is shifted on features c*2.. */
static void write_set(const char *name, size_t n, size_t dim, uint64_t seed)
{
    e2e_write_npy_set(tmp, name, n, dim, seed, 7, 2, 1.0f);
}

/* An experiment on the .npy files, recording into tmp/<out>. */
static char *config(const char *file, const char *name, const char *layers, size_t epochs,
                    const char *out)
{
    char *path = e2e_fmt("%s/%s", tmp, file);
    char *text = e2e_fmt("name: \"%s\"\n"
                         "features:\n"
                         "  kind: npy\n"
                         "  npy: {train: %s/train.npy, train_labels: %s/train_labels.npy,\n"
                         "        test: %s/test.npy, test_labels: %s/test_labels.npy}\n"
                         "model: {layers: %s}\n"
                         "training: {epochs: %zu, batch_size: 20, learning_rate: 0.05}\n"
                         "output: {dir: %s/%s, database: %s/%s/r.db}\n",
                         name, tmp, tmp, tmp, tmp, layers, epochs, tmp, out, tmp, out);
    e2e_write(path, text);
    free(text);
    return path;
}

static pid_t spawn(const char *cfg, const char *errfile, const char *threads)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_WRONLY);
        if (fd < 0 || nul < 0)
            _exit(127);
        dup2(nul, 1);
        dup2(fd, 2);
        execl(runner_bin, runner_bin, "run", cfg, "--force", "--threads", threads, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Exit code, or 128 + signal. */
static int wait_for(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static sqlite3 *open_ro(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long long q_int(sqlite3 *db, const char *sql, long long id)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *q_text(sqlite3 *db, const char *sql, long long id)
{
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* Epochs recorded for the newest run, or -1 while there is no database or
 * no run yet. */
static long long recorded_epochs(const char *dbpath)
{
    if (!e2e_exists(dbpath))
        return -1;
    sqlite3 *db = open_ro(dbpath);
    if (!db)
        return -1;
    long long n = q_int(db, "SELECT count(*) FROM epochs WHERE run_id = (SELECT max(id) FROM runs)", 0);
    if (q_int(db, "SELECT count(*) FROM runs", 0) <= 0)
        n = -1;
    sqlite3_close(db);
    return n;
}

static long long run_count(const char *dbpath)
{
    if (!e2e_exists(dbpath))
        return 0;
    sqlite3 *db = open_ro(dbpath);
    if (!db)
        return 0;
    long long n = q_int(db, "SELECT count(*) FROM runs", 0);
    sqlite3_close(db);
    return n < 0 ? 0 : n;
}

/* Wait until the newest run has at least `k` epochs (or timeout). */
static int wait_epochs(const char *dbpath, long long k, double timeout)
{
    double t0 = now_s();
    while (now_s() - t0 < timeout) {
        if (recorded_epochs(dbpath) >= k)
            return 1;
        sleep_ms(20);
    }
    return 0;
}

static cJSON *load_json(const char *path)
{
    char *text = e2e_read(path);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    return doc;
}

/* Every run in the database: epochs 1..k without gaps, epochs_done = k; its
 * JSON file (if any) parses and has k or k+1 epochs; returns the number of
 * runs, or -1 after reporting a failure. */
static int check_consistent(const char *dbpath, const char *label)
{
    sqlite3 *db = open_ro(dbpath);
    CHECK_MSG(db != NULL, "%s: cannot open %s", label, dbpath);
    if (!db)
        return -1;
    char *ic = q_text(db, "PRAGMA integrity_check", 0);
    CHECK_MSG(ic && strcmp(ic, "ok") == 0, "%s: integrity_check: %s", label, ic ? ic : "(null)");
    free(ic);
    /* Killed after the file was made but before the schema was committed:
     * an empty database, which the next run takes as new. */
    if (q_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'", 0) == 0) {
        long long objects = q_int(db, "SELECT count(*) FROM sqlite_master", 0);
        CHECK_MSG(objects == 0, "%s: no runs table but %lld schema objects", label, objects);
        sqlite3_close(db);
        return objects == 0 ? 0 : -1;
    }
    int bad = 0;
    long long runs = q_int(db, "SELECT count(*) FROM runs", 0);
    long long max_id = q_int(db, "SELECT coalesce(max(id), 0) FROM runs", 0);
    for (long long id = 1; id <= max_id; id++) {
        long long k = q_int(db, "SELECT count(*) FROM epochs WHERE run_id = ?", id);
        long long top = q_int(db, "SELECT coalesce(max(epoch), 0) FROM epochs WHERE run_id = ?", id);
        long long low = q_int(db, "SELECT coalesce(min(epoch), 1) FROM epochs WHERE run_id = ?", id);
        long long done = q_int(db, "SELECT epochs_done FROM runs WHERE id = ?", id);
        if (k != top || low != 1 || done != k) {
            CHECK_MSG(0, "%s: run %lld: %lld epochs, max %lld, min %lld, epochs_done %lld",
                      label, id, k, top, low, done);
            bad = 1;
        }
        char *jp = q_text(db, "SELECT json_path FROM runs WHERE id = ?", id);
        if (jp && e2e_exists(jp)) {
            cJSON *doc = load_json(jp);
            int n = doc ? cJSON_GetArraySize(cJSON_GetObjectItem(doc, "epochs")) : -1;
            if (!doc || n < k || n > k + 1) {
                CHECK_MSG(0, "%s: run %lld: JSON %s %s, %d epochs against %lld in the database",
                          label, id, jp, doc ? "parses" : "does not parse", n, k);
                bad = 1;
            }
            cJSON_Delete(doc);
        } else if (k > 0) {
            CHECK_MSG(0, "%s: run %lld has %lld epochs but no JSON file", label, id, k);
            bad = 1;
        }
        free(jp);
    }
    sqlite3_close(db);
    return bad ? -1 : (int)runs;
}

/* Every *.json in dir parses; returns how many there are; counts other
 * files (temporary files left by a kill) in *others. */
static int check_json_dir(const char *dir, int *others)
{
    DIR *d = opendir(dir);
    int n = 0;
    *others = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t len = strlen(nm);
        if (nm[0] == '.' && (len == 1 || (len == 2 && nm[1] == '.')))
            continue;
        if (len > 5 && strcmp(nm + len - 5, ".json") == 0) {
            char *p = e2e_fmt("%s/%s", dir, nm);
            cJSON *doc = load_json(p);
            CHECK_MSG(doc != NULL, "%s does not parse", p);
            cJSON_Delete(doc);
            free(p);
            n++;
        } else if (strncmp(nm, "r.db", 4) != 0) {
            (*others)++;
        }
    }
    closedir(d);
    return n;
}

/* SIGINT or SIGTERM after the first recorded epoch. */
static void test_stop_signal(int sig, const char *out)
{
    char *file = e2e_fmt("%s.yaml", out);
    char *cfg = config(file, out, "[32, 64, 10]", 100000, out);
    free(file);
    char *errf = e2e_fmt("%s/%s.err", tmp, out);
    char *dbpath = e2e_fmt("%s/%s/r.db", tmp, out);
    pid_t pid = spawn(cfg, errf, "1");
    int got = wait_epochs(dbpath, 1, 60);
    CHECK_MSG(got, "%s: no epoch recorded within 60 s", out);
    kill(pid, sig);
    int rc = wait_for(pid);
    char *msg = e2e_read(errf);
    CHECK_MSG(rc == 8, "%s: exit %d, expected 8: %s", out, rc, msg ? msg : "");
    CHECK_STR_CONTAINS(msg, sig == SIGINT ? "interrupted by SIGINT after epoch"
                                          : "interrupted by SIGTERM after epoch");
    free(msg);
    sqlite3 *db = open_ro(dbpath);
    if (db) {
        char *status = q_text(db, "SELECT status FROM runs WHERE id = 1", 0);
        CHECK_MSG(status && strcmp(status, "interrupted") == 0, "%s: status %s", out,
                  status ? status : "(null)");
        free(status);
        long long k = q_int(db, "SELECT epochs_done FROM runs WHERE id = 1", 0);
        CHECK_MSG(k >= 1 && k < 100000, "%s: epochs_done %lld", out, k);
        char *finished = q_text(db, "SELECT finished_at FROM runs WHERE id = 1", 0);
        CHECK(finished != NULL);
        free(finished);
        char *jp = q_text(db, "SELECT json_path FROM runs WHERE id = 1", 0);
        cJSON *doc = jp ? load_json(jp) : NULL;
        CHECK_MSG(doc != NULL, "%s: JSON %s", out, jp ? jp : "(none)");
        if (doc) {
            cJSON *st = cJSON_GetObjectItem(doc, "status");
            CHECK(cJSON_IsString(st) && strcmp(st->valuestring, "interrupted") == 0);
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "epochs")) == k);
        }
        cJSON_Delete(doc);
        free(jp);
        sqlite3_close(db);
    }
    CHECK(check_consistent(dbpath, out) == 1);
    free(cfg);
    free(errf);
    free(dbpath);
}

/* SIGINT before training: data loading or k-means feature learning. */
static void test_stop_in_features(const char *data_dir)
{
    char *cfg = e2e_fmt("%s/feat.yaml", tmp);
    char *text = e2e_fmt("name: feat\n"
                         "data: {dir: %s, train_limit: 2000, test_limit: 100}\n"
                         "features:\n"
                         "  kind: kmeans\n"
                         "  cache: false\n"
                         "  kmeans: {centroids: 1024, patches: 2000000, iterations: 1000}\n"
                         "model: {layers: [4096, 10]}\n"
                         "training: {epochs: 1, batch_size: 20}\n"
                         "output: {dir: %s/feat, database: %s/feat/r.db}\n",
                         data_dir, tmp, tmp);
    e2e_write(cfg, text);
    free(text);
    char *errf = e2e_fmt("%s/feat.err", tmp);
    pid_t pid = spawn(cfg, errf, "2");
    sleep_ms(2500);
    double t0 = now_s();
    kill(pid, SIGINT);
    int rc = wait_for(pid);
    double took = now_s() - t0;
    char *msg = e2e_read(errf);
    CHECK_MSG(rc == 8, "feature stage: exit %d, expected 8: %s", rc, msg ? msg : "");
    CHECK_STR_CONTAINS(msg, "interrupted by SIGINT");
    /* The feature stage alone would take many minutes; a generous bound. */
    CHECK_MSG(took < 120, "feature stage: took %.1f s to stop", took);
    free(msg);
    char *dbpath = e2e_fmt("%s/feat/r.db", tmp);
    if (e2e_exists(dbpath)) {
        sqlite3 *db = open_ro(dbpath);
        CHECK(db && q_int(db, "SELECT count(*) FROM runs", 0) == 0);
        sqlite3_close(db);
    }
    printf("SIGINT before training: stopped %.2f s after the signal\n", took);
    free(dbpath);
    free(errf);
    free(cfg);
}

/* A second SIGINT while the first is honoured: the default action. The
 * epochs are long (a wide layer on one thread), so the second signal lands
 * inside the epoch in which the first one arrived. */
static void test_second_signal(void)
{
    char *cfg = config("twice.yaml", "twice", "[32, 2048, 2048, 10]", 100000, "twice");
    char *errf = e2e_fmt("%s/twice.err", tmp);
    char *dbpath = e2e_fmt("%s/twice/r.db", tmp);
    pid_t pid = spawn(cfg, errf, "1");
    int got = wait_epochs(dbpath, 1, 120);
    CHECK_MSG(got, "twice: no epoch recorded within 120 s");
    kill(pid, SIGINT);
    sleep_ms(50);
    kill(pid, SIGINT);
    int rc = wait_for(pid);
    CHECK_MSG(rc == 128 + SIGINT, "twice: exit %d, expected death by SIGINT (%d)", rc,
              128 + SIGINT);
    CHECK(check_consistent(dbpath, "twice") == 1);
    free(cfg);
    free(errf);
    free(dbpath);
}

/* SIGKILL at random moments, KILL_TRIALS times, in one results directory. */
static void test_kill9(void)
{
    char *cfg = config("kill.yaml", "kill", "[32, 64, 10]", 100000, "kill");
    char *errf = e2e_fmt("%s/kill.err", tmp);
    char *dbpath = e2e_fmt("%s/kill/r.db", tmp);
    char *dir = e2e_fmt("%s/kill", tmp);
    struct rng r;
    rng_init(&r, (uint64_t)time(NULL), 1);
    int during_epochs = 0;
    for (int t = 0; t < KILL_TRIALS; t++) {
        pid_t pid = spawn(cfg, errf, "2");
        /* Even trials: any moment of the first 0.4 s (start-up, opening the
         * database, first epochs). Odd: once epochs are being written, a
         * random 0..150 ms later. */
        long delay = (long)(rng_u64(&r) % (t % 2 ? 150 : 400));
        long long runs_before = run_count(dbpath);
        if (t % 2) {
            double t0 = now_s();
            while (now_s() - t0 < 30 &&
                   (run_count(dbpath) <= runs_before || recorded_epochs(dbpath) < 1))
                sleep_ms(5);
        }
        sleep_ms(delay);
        kill(pid, SIGKILL);
        int rc = wait_for(pid);
        CHECK_MSG(rc == 128 + SIGKILL || rc == -1, "trial %d: exit %d", t, rc);
        char label[32];
        snprintf(label, sizeof label, "kill trial %d", t);
        if (e2e_exists(dbpath)) {
            int runs = check_consistent(dbpath, label);
            CHECK(runs >= 0);
            long long now = recorded_epochs(dbpath);
            if (now > 0)
                during_epochs++;
        }
        int others = 0;
        check_json_dir(dir, &others);
    }
    printf("kill -9: %d trials, %d with epochs recorded in the newest run\n", KILL_TRIALS,
           during_epochs);
    CHECK_MSG(during_epochs >= KILL_TRIALS / 4, "only %d kills after an epoch", during_epochs);
    /* Afterwards a normal run in the same place succeeds. */
    char *ok = config("after.yaml", "after", "[32, 16, 10]", 3, "kill");
    char *argv[] = {(char *)runner_bin, ok, "--quiet", "--force", NULL};
    int rc = e2e_run(argv, NULL, errf);
    char *msg = e2e_read(errf);
    CHECK_MSG(rc == 0, "run after the kills: exit %d: %s", rc, msg ? msg : "");
    free(msg);
    int runs = check_consistent(dbpath, "after the kills");
    int others = 0;
    int jsons = check_json_dir(dir, &others);
    printf("kill -9: %d runs in the database, %d JSON files, %d other files left\n", runs, jsons,
           others);
    sqlite3 *db = open_ro(dbpath);
    if (db) {
        char *st = q_text(db, "SELECT status FROM runs WHERE name = 'after'", 0);
        CHECK(st && strcmp(st, "completed") == 0);
        free(st);
        sqlite3_close(db);
    }
    free(ok);
    free(cfg);
    free(errf);
    free(dbpath);
    free(dir);
}

/* Two runs with the same name at the same moment, on one new database
 * (both create it: the schema, the journal mode), SAME_NAME_ROUNDS times. */
#define SAME_NAME_ROUNDS 20
static void test_same_name(int round)
{
    char *file = e2e_fmt("same%d.yaml", round), *out = e2e_fmt("same%d", round);
    char *cfg = config(file, "same", "[32, 16, 10]", 5, out);
    char *e1 = e2e_fmt("%s/same1.err", tmp), *e2 = e2e_fmt("%s/same2.err", tmp);
    char *dbpath = e2e_fmt("%s/%s/r.db", tmp, out);
    free(file);
    free(out);
    pid_t a = spawn(cfg, e1, "1");
    pid_t b = spawn(cfg, e2, "1");
    int ra = wait_for(a), rb = wait_for(b);
    char *m1 = e2e_read(e1), *m2 = e2e_read(e2);
    CHECK_MSG(ra == 0 && rb == 0, "same name: exits %d, %d: %s / %s", ra, rb, m1, m2);
    free(m1);
    free(m2);
    sqlite3 *db = open_ro(dbpath);
    if (db) {
        CHECK(q_int(db, "SELECT count(*) FROM runs WHERE name = 'same' AND status = 'completed'",
                    0) == 2);
        CHECK(q_int(db, "SELECT count(DISTINCT json_path) FROM runs", 0) == 2);
        CHECK(q_int(db, "SELECT count(DISTINCT uid) FROM runs", 0) == 2);
        CHECK(q_int(db, "SELECT count(*) FROM epochs", 0) == 10);
        for (long long id = 1; id <= 2; id++) {
            char *jp = q_text(db, "SELECT json_path FROM runs WHERE id = ?", id);
            cJSON *doc = jp ? load_json(jp) : NULL;
            CHECK_MSG(doc != NULL, "same name: JSON of run %lld", id);
            if (doc) {
                cJSON *st = cJSON_GetObjectItem(doc, "status");
                CHECK(cJSON_IsString(st) && strcmp(st->valuestring, "completed") == 0);
                CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "epochs")) == 5);
                CHECK(cJSON_GetObjectItem(doc, "run_id") &&
                      cJSON_GetObjectItem(doc, "run_id")->valuedouble == (double)id);
            }
            cJSON_Delete(doc);
            free(jp);
        }
        sqlite3_close(db);
    }
    CHECK(check_consistent(dbpath, "same name") == 2);
    free(cfg);
    free(e1);
    free(e2);
    free(dbpath);
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    tmp = e2e_tmpdir();
    write_set("train", 400, 32, 1);
    write_set("test", 100, 32, 2);
    double t0 = now_s();
    test_stop_signal(SIGINT, "sigint");
    test_stop_signal(SIGTERM, "sigterm");
    test_stop_in_features(e2e_env("RUNNER_TESTDATA"));
    double t1 = now_s();
    test_second_signal();
    double t2 = now_s();
    test_kill9();
    double t3 = now_s();
    for (int i = 0; i < SAME_NAME_ROUNDS; i++)
        test_same_name(i);
    printf("times: signals %.1fs, second signal %.1fs, kill -9 %.1fs, same name %.1fs\n", t1 - t0,
           t2 - t1, t3 - t2, now_s() - t3);
    e2e_rmrf(tmp);
    return check_exit("test_faults");
}

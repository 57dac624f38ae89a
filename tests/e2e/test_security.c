/* End to end: security hygiene.
 *
 *  - SQL: a run name and file paths full of quotes, ';' and '--' are stored
 *    verbatim (runs.name, params, data_files, the JSON file) and shown
 *    verbatim in the progress lines; two such runs leave both rows and every
 *    table intact.
 *  - Shell: paths with $(...), backticks and '; cmd' are used as given: the
 *    run reads its data from such a directory and nothing is executed.
 *    The sources hold no system(), popen() or exec*() call at all.
 *  - JSON: a run name with control characters (YAML escapes), a run name
 *    taken from an experiment file whose name has invalid UTF-8 and control
 *    bytes, and a --db path with invalid UTF-8 all give a JSON file that is
 *    valid UTF-8 with no raw control character inside a string, parses, and
 *    keeps the text (invalid bytes as U+FFFD). The database keeps the bytes.
 */
#include "e2e.h"
#include "e2e_npy.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"
#include "runner/rng.h"

static const char *runner_bin, *source_dir;
static char *tmp;

static void write_set(const char *dir, const char *name, size_t n, size_t dim, uint64_t seed)
{
    e2e_write_npy_set(dir, name, n, dim, seed, 3, 1, 2.0f);
}

/* YAML single-quoted form of s ('' for a quote). */
static char *yq(const char *s)
{
    size_t n = strlen(s), q = 0;
    for (size_t i = 0; i < n; i++)
        q += s[i] == '\'';
    char *out = malloc(n + q + 3), *o = out;
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        *o++ = s[i];
        if (s[i] == '\'')
            *o++ = '\'';
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* An experiment on the .npy files in data_dir; name_line is the whole
 * "name: ..." line or "" for the default name. */
static void write_config(const char *path, const char *name_line, const char *data_dir)
{
    char *tr = e2e_fmt("%s/train.npy", data_dir), *trl = e2e_fmt("%s/train_labels.npy", data_dir);
    char *te = e2e_fmt("%s/test.npy", data_dir), *tel = e2e_fmt("%s/test_labels.npy", data_dir);
    char *a = yq(tr), *b = yq(trl), *c = yq(te), *d = yq(tel);
    char *text = e2e_fmt("%s"
                         "features:\n"
                         "  kind: npy\n"
                         "  npy:\n    train: %s\n    train_labels: %s\n"
                         "    test: %s\n    test_labels: %s\n"
                         "model: {layers: [16, 10]}\n"
                         "training: {epochs: 2, batch_size: 20, learning_rate: 0.05}\n"
                         "output: {dir: %s/out, database: %s/out/r.db}\n",
                         name_line, a, b, c, d, tmp, tmp);
    e2e_write(path, text);
    free(text);
    free(tr), free(trl), free(te), free(tel);
    free(a), free(b), free(c), free(d);
}

/* Run the runner in directory cwd with extra arguments; stderr to errfile. */
static int run_in(const char *cwd, const char *errfile, char *const args[])
{
    pid_t pid = fork();
    if (pid < 0)
        exit(2);
    if (pid == 0) {
        int fe = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_WRONLY);
        if (fe < 0 || nul < 0 || chdir(cwd) != 0)
            _exit(127);
        dup2(nul, 1);
        dup2(fe, 2);
        char *argv[16];
        size_t n = 0;
        argv[n++] = (char *)runner_bin;
        argv[n++] = "run";
        argv[n++] = "--force"; /* the same config runs more than once */
        for (size_t i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(runner_bin, argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    return db;
}

/* First column of the first row as a malloc'd string (bytes kept), with one
 * optional text parameter. */
static char *q_text(sqlite3 *db, const char *sql, const char *param, long long id)
{
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bad query %s: %s\n", sql, sqlite3_errmsg(db));
        return NULL;
    }
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    else if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const void *b = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        v = malloc((size_t)n + 1);
        memcpy(v, b ? b : "", (size_t)n);
        v[n] = '\0';
    }
    sqlite3_finalize(st);
    return v;
}

static long long q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Strict JSON text check beyond cJSON: the bytes are valid UTF-8 and no
 * string holds a raw control character. Returns NULL or what is wrong. */
static const char *json_text_problem(const char *t)
{
    const unsigned char *p = (const unsigned char *)t;
    int in_str = 0;
    for (size_t i = 0; p[i];) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (in_str && c < 0x20)
                return "raw control character in a string";
            if (in_str && c == '\\') {
                i += 2;
                continue;
            }
            if (c == '"')
                in_str = !in_str;
            i++;
            continue;
        }
        size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (n == 0)
            return "invalid UTF-8 lead byte";
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return "invalid UTF-8 sequence";
        for (size_t j = 2; j < n; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF)
                return "invalid UTF-8 continuation";
        i += n;
    }
    return in_str ? "unterminated string" : NULL;
}

/* Load and strictly check a run's JSON file. */
static cJSON *load_strict(const char *path)
{
    char *text = e2e_read(path);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text)
        return NULL;
    const char *problem = json_text_problem(text);
    CHECK_MSG(problem == NULL, "%s: %s", path, problem);
    cJSON *doc = cJSON_Parse(text);
    CHECK_MSG(doc != NULL, "%s does not parse", path);
    free(text);
    return doc;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_sql_text(void)
{
    const char *name = "Robert'); DROP TABLE runs; -- \"x\" ;--";
    char *dir = e2e_fmt("%s/it's; -- \"q\" dir", tmp);
    CHECK(mkdir(dir, 0755) == 0);
    write_set(dir, "train", 200, 16, 1);
    write_set(dir, "test", 50, 16, 2);
    char *qn = yq(name), *line = e2e_fmt("name: %s\n", qn);
    char *cfg = e2e_fmt("%s/sql.yaml", tmp);
    write_config(cfg, line, dir);
    char *errf = e2e_fmt("%s/sql.err", tmp);
    for (int i = 0; i < 2; i++) {
        char *args[] = {cfg, NULL};
        int rc = run_in(tmp, errf, args);
        char *msg = e2e_read(errf);
        CHECK_MSG(rc == 0, "exit %d: %s", rc, msg);
        /* Shown verbatim in the progress lines. */
        char *shown = e2e_fmt("runner: %s: reading features from %s/train.npy", name, dir);
        CHECK_STR_CONTAINS(msg, shown);
        free(shown);
        free(msg);
    }
    char *dbp = e2e_fmt("%s/out/r.db", tmp);
    sqlite3 *db = open_db(dbp);
    CHECK(q_int(db, "SELECT count(*) FROM runs") == 2);
    CHECK(q_int(db, "SELECT count(*) FROM epochs") == 4);
    char *got = q_text(db, "SELECT name FROM runs WHERE id = 1", NULL, 0);
    CHECK_MSG(got && strcmp(got, name) == 0, "runs.name = %s", got ? got : "(null)");
    free(got);
    CHECK(q_int(db, "SELECT count(*) FROM runs WHERE name = "
                    "'Robert''); DROP TABLE runs; -- \"x\" ;--'") == 2);
    got = q_text(db, "SELECT value FROM params WHERE run_id = 2 AND key = 'name'", NULL, 0);
    CHECK_MSG(got && strcmp(got, name) == 0, "params name = %s", got ? got : "(null)");
    free(got);
    char *train = e2e_fmt("%s/train.npy", dir);
    got = q_text(db, "SELECT value FROM params WHERE run_id = 1 AND key = ?",
                 "features.npy.train", 0);
    CHECK_MSG(got && strcmp(got, train) == 0, "params features.npy.train = %s",
              got ? got : "(null)");
    free(got);
    got = q_text(db, "SELECT json_extract(data_files, '$[0].path') FROM runs WHERE id = 1", NULL, 0);
    CHECK_MSG(got && strcmp(got, train) == 0, "data_files[0].path = %s", got ? got : "(null)");
    free(got);
    char *jp = q_text(db, "SELECT json_path FROM runs WHERE id = 2", NULL, 0);
    cJSON *doc = jp ? load_strict(jp) : NULL;
    if (doc) {
        CHECK(jstr(doc, "name") && strcmp(jstr(doc, "name"), name) == 0);
        const cJSON *files = cJSON_GetObjectItem(doc, "data_files");
        CHECK(jstr(cJSON_GetArrayItem(files, 0), "path") &&
              strcmp(jstr(cJSON_GetArrayItem(files, 0), "path"), train) == 0);
    }
    cJSON_Delete(doc);
    free(jp);
    sqlite3_close(db);
    free(train);
    free(dbp);
    free(errf);
    free(cfg);
    free(line);
    free(qn);
    free(dir);
}

static void test_shell_paths(void)
{
    char *dir = e2e_fmt("%s/$(touch pwned1) `touch pwned2`; touch pwned3 #", tmp);
    CHECK(mkdir(dir, 0755) == 0);
    write_set(dir, "train", 200, 16, 3);
    write_set(dir, "test", 50, 16, 4);
    char *cfg = e2e_fmt("%s/$(touch pwned4);`touch pwned5`.yaml", tmp);
    write_config(cfg, "name: shell\n", dir);
    char *errf = e2e_fmt("%s/shell.err", tmp);
    char *args[] = {cfg, "--quiet", NULL};
    int rc = run_in(tmp, errf, args);
    char *msg = e2e_read(errf);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, msg);
    free(msg);
    for (int i = 1; i <= 5; i++) {
        char *p = e2e_fmt("%s/pwned%d", tmp, i), *q = e2e_fmt("pwned%d", i);
        CHECK_MSG(!e2e_exists(p) && !e2e_exists(q), "pwned%d exists: a path reached a shell", i);
        free(p);
        free(q);
    }
    free(errf);
    free(cfg);
    free(dir);
}

/* nftw callback state for the source scan. */
static int scan_hits;
static int scan_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 2 || strcmp(path + n - 2, ".c") != 0)
        return 0;
    char *text = e2e_read(path);
    static const char *const banned[] = {"system(", "popen(", "execl(", "execlp(", "execv(",
                                         "execvp(", "execve(", "/bin/sh", "sqlite3_mprintf",
                                         "sqlite3_snprintf", NULL};
    for (size_t i = 0; text && banned[i]; i++) {
        if (strstr(text, banned[i])) {
            fprintf(stderr, "%s: uses %s\n", path, banned[i]);
            scan_hits++;
        }
    }
    free(text);
    return 0;
}

static void test_no_shell_in_sources(void)
{
    char *src = e2e_fmt("%s/src", source_dir);
    CHECK(nftw(src, scan_cb, 16, FTW_PHYS) == 0);
    CHECK_MSG(scan_hits == 0, "%d uses of a shell, exec or SQL formatting in src/", scan_hits);
    free(src);
}

static void test_json_escaping(void)
{
    char *dir = e2e_fmt("%s/data", tmp);
    CHECK(mkdir(dir, 0755) == 0);
    write_set(dir, "train", 200, 16, 5);
    write_set(dir, "test", 50, 16, 6);
    /* A name with control characters, quotes, a backslash and U+2028. */
    char *cfg = e2e_fmt("%s/ctl.yaml", tmp);
    write_config(cfg, "name: \"tab\\there\\nnl\\x01\\x1f\\x7f \\\"q\\\" back\\\\ \\u2028 end\"\n",
                 dir);
    const char *expect = "tab\there\nnl\x01\x1f\x7f \"q\" back\\ \xe2\x80\xa8 end";
    /* A default name from a file name with invalid UTF-8 and control bytes. */
    char *bad = e2e_fmt("%s/b\xff\x01\xc0\xafz.yaml", tmp);
    write_config(bad, "", dir);
    char *bad_db = e2e_fmt("%s/db\xfe\x02/r.db", tmp);
    char *errf = e2e_fmt("%s/json.err", tmp);
    char *a1[] = {cfg, "--quiet", NULL};
    int rc = run_in(tmp, errf, a1);
    CHECK_MSG(rc == 0, "control-character name: exit %d", rc);
    char *a2[] = {bad, "--quiet", "--db", bad_db, NULL};
    rc = run_in(tmp, errf, a2);
    char *msg = e2e_read(errf);
    CHECK_MSG(rc == 0, "invalid UTF-8 file name: exit %d: %s", rc, msg);
    free(msg);

    char *dbp = e2e_fmt("%s/out/r.db", tmp);
    sqlite3 *db = open_db(dbp);
    long long id = q_int(db, "SELECT max(id) FROM runs");
    char *got = q_text(db, "SELECT name FROM runs WHERE id = ?", NULL, id);
    CHECK_MSG(got && strcmp(got, expect) == 0, "runs.name keeps the control characters");
    free(got);
    char *jp = q_text(db, "SELECT json_path FROM runs WHERE id = ?", NULL, id);
    cJSON *doc = jp ? load_strict(jp) : NULL;
    if (doc) {
        CHECK(jstr(doc, "name") && strcmp(jstr(doc, "name"), expect) == 0);
        const cJSON *conf = cJSON_GetObjectItem(doc, "config");
        CHECK(jstr(conf, "name") && strcmp(jstr(conf, "name"), expect) == 0);
    }
    cJSON_Delete(doc);
    free(jp);
    sqlite3_close(db);

    /* The run with the invalid-UTF-8 name went to bad_db. */
    db = open_db(bad_db);
    got = q_text(db, "SELECT name FROM runs WHERE id = 1", NULL, 0);
    CHECK_MSG(got && strcmp(got, "b\xff\x01\xc0\xafz") == 0, "runs.name keeps the bytes");
    free(got);
    jp = q_text(db, "SELECT json_path FROM runs WHERE id = 1", NULL, 0);
    doc = jp ? load_strict(jp) : NULL;
    if (doc) {
        const char *fffd = "b\xef\xbf\xbd\x01\xef\xbf\xbd\xef\xbf\xbdz";
        CHECK_MSG(jstr(doc, "name") && strcmp(jstr(doc, "name"), fffd) == 0, "JSON name");
        const cJSON *conf = cJSON_GetObjectItem(doc, "config");
        CHECK_MSG(jstr(conf, "name") && strcmp(jstr(conf, "name"), fffd) == 0, "config.name");
        const cJSON *out = cJSON_GetObjectItem(conf, "output");
        const char *dbs = jstr(out, "database");
        CHECK_MSG(dbs && strstr(dbs, "/db\xef\xbf\xbd\x02/r.db"), "config.output.database");
        CHECK(jstr(doc, "config_path") && strstr(jstr(doc, "config_path"), "\xef\xbf\xbd"));
    }
    cJSON_Delete(doc);
    free(jp);
    sqlite3_close(db);
    free(dbp);
    free(errf);
    free(bad_db);
    free(bad);
    free(cfg);
    free(dir);
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    source_dir = e2e_env("RUNNER_SOURCE_DIR");
    tmp = e2e_tmpdir();
    test_sql_text();
    test_shell_paths();
    test_no_shell_in_sources();
    test_json_escaping();
    e2e_rmrf(tmp);
    return check_exit("test_security");
}

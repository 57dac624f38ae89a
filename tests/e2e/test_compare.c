/* End to end: two short real runs on the generated dataset (original and
 * augmented), then `runner list`, `runner compare` in every format, `runner
 * plot` and `runner report`, and their errors: missing and non-runner
 * databases, unknown runs, runs without epochs, bad options; a failed command
 * leaves the output file as it was. */
#include "e2e.h"

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"

static const char *runner_bin, *data_dir;
static char *tmp, *db_path;

static char *write_config(const char *name, bool augmented)
{
    char *path = e2e_fmt("%s/%s.yaml", tmp, name);
    char *text = e2e_fmt("name: %s\n"
                         "seed: 3\n"
                         "data:\n"
                         "  dir: %s\n"
                         "  train_limit: 600\n"
                         "  test_limit: 300\n"
                         "augmentation:\n"
                         "  enabled: %s\n"
                         "model:\n"
                         "  layers: [3072, 16, 10]\n"
                         "training:\n"
                         "  epochs: 3\n"
                         "  batch_size: 32\n"
                         "output:\n"
                         "  dir: %s/results\n"
                         "  database: %s\n",
                         name, data_dir, augmented ? "true" : "false", tmp, db_path);
    e2e_write(path, text);
    free(text);
    return path;
}

/* Run the runner with the arguments up to a NULL (at most 16); stdout and
 * stderr into *out and *err (malloc'd; either may be NULL to discard). */
static int runner(char **out, char **err, ...)
{
    char *argv[18] = {(char *)runner_bin};
    va_list ap;
    va_start(ap, err);
    for (size_t i = 1; i < 17; i++) {
        argv[i] = va_arg(ap, char *);
        if (!argv[i])
            break;
    }
    va_end(ap);
    char *o = e2e_fmt("%s/stdout", tmp), *e = e2e_fmt("%s/stderr", tmp);
    int rc = e2e_run(argv, o, e);
    if (out)
        *out = e2e_read(o);
    char *etext = e2e_read(e);
    if (err)
        *err = etext;
    else
        free(etext);
    free(o);
    free(e);
    return rc;
}
#define R0(out, err, ...) runner(out, err, __VA_ARGS__, (char *)NULL)

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static double db_double(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    double v = NAN;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void two_runs(void)
{
    char *orig = write_config("orig", false), *aug = write_config("aug", true);
    char *err = NULL;
    int rc = R0(NULL, &err, orig, "--quiet");
    CHECK_MSG(rc == 0, "orig: exit %d: %s", rc, err);
    free(err);
    rc = R0(NULL, &err, aug, "--quiet");
    CHECK_MSG(rc == 0, "aug: exit %d: %s", rc, err);
    free(err);
    free(orig);
    free(aug);
}

static void test_list(void)
{
    char *out = NULL, *err = NULL;
    CHECK(R0(&out, &err, "list", "--db", db_path) == 0);
    /* header, rule, aug (id 2) before orig (id 1) */
    CHECK(count_lines(out) == 4);
    CHECK_STR_CONTAINS(out, "id  name  status     epochs  test acc  best test acc  started");
    const char *a = out ? strstr(out, " aug ") : NULL, *o = out ? strstr(out, " orig ") : NULL;
    CHECK(a && o && a < o);
    CHECK_STR_CONTAINS(out, "3/3");
    CHECK(err && *err == '\0');
    free(out);
    free(err);

    CHECK(R0(&out, &err, "list", "--db", db_path, "--format", "csv") == 0);
    CHECK(count_lines(out) == 3);
    const char *header = "id,name,status,epochs_done,epochs_planned,final_test_acc,";
    CHECK(out && strncmp(out, header, strlen(header)) == 0);
    CHECK_STR_CONTAINS(out, "\n2,aug,completed,3,3,");
    CHECK(err && *err == '\0');
    free(out);
    free(err);

    CHECK(R0(&out, NULL, "list", "--db", db_path, "--format", "json") == 0);
    cJSON *doc = out ? cJSON_Parse(out) : NULL;
    CHECK(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 2);
    cJSON *r = cJSON_GetArrayItem(doc, 1);
    CHECK(r && strcmp(cJSON_GetObjectItem(r, "name")->valuestring, "orig") == 0);
    CHECK(r && cJSON_GetObjectItem(r, "final_test_acc")->valuedouble ==
                   db_double("SELECT final_test_acc FROM runs WHERE name = 'orig'"));
    cJSON_Delete(doc);
    free(out);

    CHECK(R0(&out, NULL, "list", "--db", db_path, "--name", "o*", "--format", "csv") == 0);
    CHECK(count_lines(out) == 2 && strstr(out, "\n1,orig,"));
    free(out);
    CHECK(R0(&out, NULL, "list", "--db", db_path, "--status", "running", "--format", "csv") == 0);
    CHECK(count_lines(out) == 1);
    free(out);

    CHECK(R0(NULL, &err, "list", "--db", db_path, "--status", "done") == 2);
    CHECK_STR_CONTAINS(err, "--status: expected running, completed");
    free(err);
    CHECK(R0(NULL, &err, "list", "--db", db_path, "--format", "xml") == 2);
    CHECK_STR_CONTAINS(err, "--format");
    free(err);
    CHECK(R0(NULL, &err, "list", "--db") == 2);
    free(err);
    CHECK(R0(NULL, &err, "list", "extra", "--db", db_path) == 2);
    free(err);
    /* --help: the usage on stdout, exit 0 */
    const char *cmds[] = {"list", "compare", "plot", "report"};
    for (size_t i = 0; i < 4; i++) {
        CHECK(R0(&out, &err, cmds[i], "--help") == 0);
        CHECK_STR_CONTAINS(out, "runner compare [RUN...] [--db PATH] [--format F]");
        CHECK(err && *err == '\0');
        free(out);
        free(err);
    }
}

static void test_compare(void)
{
    /* Default pair = the two runs; text table with the differing param. */
    char *out = NULL, *err = NULL;
    CHECK(R0(&out, &err, "compare", "--db", db_path) == 0);
    CHECK(count_lines(out) == 4);
    CHECK_STR_CONTAINS(out, "run  name  status     epochs  train loss  train acc  test loss  "
                            "test acc  best test acc  best epoch  wall time  "
                            "augmentation.enabled");
    const char *o = out ? strstr(out, "\n  1  orig ") : NULL;
    const char *a = out ? strstr(out, "\n  2  aug  ") : NULL;
    CHECK(o && a && o < a);
    CHECK(err && *err == '\0');
    /* name, output.* and the data paths are equal or left out: one param */
    CHECK(out && !strstr(out, "output.") && !strstr(out, "name  name"));
    free(out);
    free(err);

    /* Same table by name and id, in csv. */
    CHECK(R0(&out, NULL, "compare", "orig", "2", "--db", db_path, "--format", "csv") == 0);
    CHECK(count_lines(out) == 3);
    const char *header = "id,name,status,epochs,train_loss,train_acc,test_loss,test_acc,"
                         "best_test_acc,best_epoch,wall_seconds,augmentation.enabled\n";
    CHECK(out && strncmp(out, header, strlen(header)) == 0);
    CHECK_STR_CONTAINS(out, "\n1,orig,completed,3,");
    free(out);

    CHECK(R0(&out, NULL, "compare", "--format", "json", "--db", db_path) == 0);
    cJSON *doc = out ? cJSON_Parse(out) : NULL;
    CHECK(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 2);
    for (int i = 0; i < 2 && doc; i++) {
        cJSON *r = cJSON_GetArrayItem(doc, i);
        char *sql = e2e_fmt("SELECT final_test_acc FROM runs WHERE id = %d", i + 1);
        CHECK(cJSON_GetObjectItem(r, "test_acc")->valuedouble == db_double(sql));
        free(sql);
        sql = e2e_fmt("SELECT final_train_loss FROM runs WHERE id = %d", i + 1);
        CHECK(cJSON_GetObjectItem(r, "train_loss")->valuedouble == db_double(sql));
        free(sql);
        sql = e2e_fmt("SELECT best_epoch FROM runs WHERE id = %d", i + 1);
        CHECK(cJSON_GetObjectItem(r, "best_epoch")->valuedouble == db_double(sql));
        free(sql);
        cJSON *params = cJSON_GetObjectItem(r, "params");
        CHECK(cJSON_GetArraySize(params) == 1);
        CHECK(cJSON_GetObjectItem(params, "augmentation.enabled")->valuedouble == i);
        CHECK(cJSON_GetObjectItem(r, "epochs")->valuedouble == 3);
    }
    cJSON_Delete(doc);
    free(out);

    CHECK(R0(&out, NULL, "compare", "--db", db_path, "--format", "markdown") == 0);
    CHECK(out && strncmp(out, "| run | name | status |", 23) == 0);
    CHECK(count_lines(out) == 4);
    free(out);
    CHECK(R0(&out, NULL, "compare", "--db", db_path, "--format", "html") == 0);
    CHECK(out && strncmp(out, "<table", 6) == 0);
    CHECK_STR_CONTAINS(out, "<td>aug</td>");
    free(out);

    /* One run, twice the same run, a run given as "--" name. */
    CHECK(R0(&out, NULL, "compare", "1", "--db", db_path, "--format", "csv") == 0);
    CHECK(count_lines(out) == 2 && !strstr(out, "augmentation.enabled"));
    free(out);
    CHECK(R0(&out, NULL, "compare", "--db", db_path, "--format", "csv", "--", "orig", "orig") ==
          0);
    CHECK(count_lines(out) == 3);
    free(out);
}

static void test_errors(void)
{
    char *err = NULL;
    char *missing = e2e_fmt("%s/none.db", tmp);
    CHECK(R0(NULL, &err, "compare", "--db", missing) == 5);
    char *want = e2e_fmt("%s: no such database", missing);
    CHECK_STR_CONTAINS(err, want);
    CHECK(count_lines(err) == 1);
    CHECK(!e2e_exists(missing));
    free(want);
    free(err);
    CHECK(R0(NULL, &err, "list", "--db", missing) == 5);
    free(err);

    char *text = e2e_fmt("%s/orig.yaml", tmp);
    CHECK(R0(NULL, &err, "list", "--db", text) == 5);
    CHECK_STR_CONTAINS(err, "not an SQLite database");
    free(err);
    char *foreign = e2e_fmt("%s/foreign.db", tmp);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(foreign, &db) == SQLITE_OK &&
          sqlite3_exec(db, "CREATE TABLE runs (x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(R0(NULL, &err, "compare", "1", "--db", foreign) == 5);
    CHECK_STR_CONTAINS(err, "not a runner results database");
    free(err);

    CHECK(R0(NULL, &err, "compare", "orig", "nosuch", "--db", db_path) == 2);
    CHECK_STR_CONTAINS(err, "no run with id or name \"nosuch\"");
    CHECK(count_lines(err) == 1);
    free(err);
    CHECK(R0(NULL, &err, "compare", "--db", db_path, "--format", "pdf") == 2);
    free(err);
    CHECK(R0(NULL, &err, "compare", "--db", db_path, "--bogus") == 2);
    CHECK_STR_CONTAINS(err, "unknown option '--bogus'");
    free(err);

    /* A run that has started but recorded no epoch yet. */
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "INSERT INTO runs (uid, name, status, started_at, epochs_planned)"
                       " VALUES ('e2e-empty', 'empty', 'running', '2024-01-01T00:00:00Z', 3)",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(R0(NULL, &err, "compare", "orig", "empty", "--db", db_path) == 2);
    CHECK_STR_CONTAINS(err, "run 3 (empty): no epochs recorded yet");
    free(err);
    char *out = NULL;
    CHECK(R0(&out, NULL, "list", "--db", db_path) == 0);
    CHECK_STR_CONTAINS(out, "0/3");
    free(out);
    /* ... and it does not disturb the default pair. */
    CHECK(R0(&out, NULL, "compare", "--db", db_path, "--format", "csv") == 0);
    CHECK(count_lines(out) == 3 && strstr(out, "\n1,orig,") && strstr(out, "\n2,aug,"));
    free(out);
    free(missing);
    free(text);
    free(foreign);
}

/* A database made before the views existed: the commands read the tables. */
static void test_without_views(void)
{
    char *copy = e2e_fmt("%s/noviews.db", tmp);
    sqlite3 *src = NULL, *dst = NULL;
    CHECK(sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK(sqlite3_open(copy, &dst) == SQLITE_OK);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    CHECK(b && sqlite3_backup_step(b, -1) == SQLITE_DONE);
    sqlite3_backup_finish(b);
    CHECK(sqlite3_exec(dst,
                       "DROP VIEW run_summary; DROP VIEW learning_curves;"
                       " DROP VIEW augmentation_pairs; DROP VIEW seed_summary",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(src);
    sqlite3_close(dst);
    char *out = NULL;
    CHECK(R0(&out, NULL, "compare", "--db", copy, "--format", "csv") == 0);
    CHECK(count_lines(out) == 3);
    free(out);
    CHECK(R0(&out, NULL, "list", "--db", copy, "--format", "csv") == 0);
    CHECK(count_lines(out) == 4);
    free(out);
    char *svg = e2e_fmt("%s/noviews.svg", tmp);
    CHECK(R0(NULL, NULL, "plot", "--db", copy, "-o", svg) == 0);
    CHECK(e2e_exists(svg));
    free(svg);
    /* still no views: nothing was written */
    CHECK(sqlite3_open_v2(copy, &dst, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(dst, "SELECT count(*) FROM sqlite_master WHERE type = 'view'", -1,
                             &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    sqlite3_close(dst);
    free(copy);
}

/* The SVG may start with an XML declaration; the element must follow. */
static bool is_svg(const char *s)
{
    if (!s)
        return false;
    if (strncmp(s, "<?xml", 5) == 0) {
        const char *end = strstr(s, "?>");
        if (!end)
            return false;
        s = end + 2;
        while (*s == '\n' || *s == '\r' || *s == ' ')
            s++;
    }
    return strncmp(s, "<svg", 4) == 0 && strstr(s, "</svg>") != NULL;
}

static void test_plot_report(void)
{
    char *svg = e2e_fmt("%s/curves.svg", tmp), *html = e2e_fmt("%s/report.html", tmp);
    char *err = NULL;
    CHECK(R0(NULL, &err, "plot", "--db", db_path, "-o", svg) == 0);
    CHECK(err && *err == '\0');
    free(err);
    char *text = e2e_read(svg);
    CHECK_MSG(is_svg(text), "%.80s", text ? text : "(no file)");
    CHECK_STR_CONTAINS(text, ">orig<");
    CHECK_STR_CONTAINS(text, ">aug<");
    free(text);

    CHECK(R0(NULL, &err, "plot", "orig", "1", "-o", svg, "--db", db_path) == 0);
    text = e2e_read(svg);
    CHECK(is_svg(text));
    CHECK_STR_CONTAINS(text, "orig #1"); /* the same run twice: labels with ids */
    free(text);
    free(err);

    CHECK(R0(NULL, &err, "report", "--db", db_path, "-o", html) == 0);
    text = e2e_read(html);
    CHECK(text && strncmp(text, "<!DOCTYPE html>", 15) == 0);
    CHECK_STR_CONTAINS(text, "<table class=\"runner-table\">");
    CHECK_STR_CONTAINS(text, "<td>orig</td>");
    CHECK_STR_CONTAINS(text, "<td>aug</td>");
    CHECK_STR_CONTAINS(text, "augmentation.enabled");
    CHECK_STR_CONTAINS(text, "<svg");
    free(text);
    free(err);

    /* Failures leave the file as it was. */
    e2e_write(svg, "previous");
    CHECK(R0(NULL, &err, "plot", "nosuch", "-o", svg, "--db", db_path) == 2);
    text = e2e_read(svg);
    CHECK(text && strcmp(text, "previous") == 0);
    free(text);
    free(err);
    CHECK(R0(NULL, &err, "report", "empty", "-o", svg, "--db", db_path) == 2);
    CHECK_STR_CONTAINS(err, "no epochs recorded yet");
    free(err);
    char *nodir = e2e_fmt("%s/no/such/dir/x.svg", tmp);
    CHECK(R0(NULL, &err, "plot", "-o", nodir, "--db", db_path) == 5);
    CHECK(count_lines(err) == 1);
    CHECK(!e2e_exists(nodir));
    free(err);
    CHECK(R0(NULL, &err, "plot", "--db", db_path) == 2);
    CHECK_STR_CONTAINS(err, "missing -o FILE");
    free(err);
    CHECK(R0(NULL, &err, "report", "--db", db_path, "-o") == 2);
    free(err);
    free(nodir);
    free(svg);
    free(html);
}

/* Chromium, if installed (Debian's package "chromium"): NULL otherwise. */
static char *find_chromium(void)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/bin:/bin");
    char *found = NULL;
    for (char *dir = strtok(copy, ":"); dir && !found; dir = strtok(NULL, ":")) {
        const char *names[] = {"chromium", "chromium-browser"};
        for (size_t i = 0; i < 2 && !found; i++) {
            char *p = e2e_fmt("%s/%s", dir, names[i]);
            if (access(p, X_OK) == 0)
                found = p;
            else
                free(p);
        }
    }
    free(copy);
    return found;
}

/* Headless Chromium on file://FILE with a fresh profile and no network:
 * `mode` is "--dump-dom" (DOM to out) or "--screenshot=OUT". */
static int chromium(const char *browser, const char *mode_arg, const char *file, const char *out,
                    const char *profile)
{
    char *prof = e2e_fmt("--user-data-dir=%s/%s", tmp, profile);
    char *url = e2e_fmt("file://%s", file);
    char *argv[] = {"/usr/bin/timeout", "120", (char *)browser, "--headless", "--no-sandbox",
                    "--disable-gpu", prof, "--window-size=1200,900", "--hide-scrollbars",
                    "--no-first-run", "--no-default-browser-check",
                    "--host-resolver-rules=MAP * ~NOTFOUND", (char *)mode_arg, url, NULL};
    char *log = e2e_fmt("%s/chromium-%s.log", tmp, profile);
    int rc = e2e_run(argv, out, log);
    if (rc != 0) {
        char *text = e2e_read(log);
        fprintf(stderr, "chromium exit %d: %.2000s\n", rc, text ? text : "");
        free(text);
    }
    free(log);
    free(prof);
    free(url);
    return rc;
}

/* PNG signature and IHDR size; its byte count (0 if not a PNG). */
static long png_check(const char *path, unsigned *w, unsigned *h)
{
    FILE *f = fopen(path, "rb");
    unsigned char b[24];
    long size = 0;
    if (f && fread(b, 1, 24, f) == 24 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 &&
        memcmp(b + 12, "IHDR", 4) == 0) {
        *w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
        *h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
        if (fseek(f, 0, SEEK_END) == 0)
            size = ftell(f);
    }
    if (f)
        fclose(f);
    return size;
}

/* The runner's own report and plot in a real browser: the DOM Chromium
 * builds from the page holds the table with both runs and the SVG; the
 * screenshots have the window's size and carry far more than a blank page
 * of the same size (whose screenshot is taken too, so the check can fail). */
static void test_in_chromium(void)
{
    char *browser = find_chromium();
    if (!browser) {
        printf("test_compare: SKIPPED the Chromium check: chromium is not installed "
               "(Debian: apt-get install chromium)\n");
        return;
    }
    char *html = e2e_fmt("%s/browser.html", tmp), *svg = e2e_fmt("%s/browser.svg", tmp);
    char *blank = e2e_fmt("%s/blank.html", tmp);
    CHECK(R0(NULL, NULL, "report", "--db", db_path, "-o", html) == 0);
    CHECK(R0(NULL, NULL, "plot", "--db", db_path, "-o", svg) == 0);
    e2e_write(blank, "<!DOCTYPE html><html><body></body></html>\n");

    char *dom_path = e2e_fmt("%s/dom.html", tmp);
    CHECK(chromium(browser, "--dump-dom", html, dom_path, "dom") == 0);
    char *dom = e2e_read(dom_path);
    CHECK_STR_CONTAINS(dom, "<table class=\"runner-table\">");
    CHECK_STR_CONTAINS(dom, "<td>orig</td>");
    CHECK_STR_CONTAINS(dom, "<td>aug</td>");
    CHECK_STR_CONTAINS(dom, "<svg");
    size_t rows = 0;
    for (const char *p = dom; p && (p = strstr(p, "<tr>")) != NULL; p += 4)
        rows++;
    CHECK_MSG(rows == 3, "%zu table rows in the DOM, expected a header and 2 runs", rows);
    free(dom);

    const char *files[] = {html, svg, blank};
    const char *names[] = {"report", "plot", "blank"};
    long size[3] = {0, 0, 0};
    for (size_t i = 0; i < 3; i++) {
        char *png = e2e_fmt("%s/%s.png", tmp, names[i]);
        char *arg = e2e_fmt("--screenshot=%s", png);
        CHECK(chromium(browser, arg, files[i], NULL, names[i]) == 0);
        unsigned w = 0, h = 0;
        size[i] = png_check(png, &w, &h);
        CHECK_MSG(size[i] > 0 && w == 1200 && h == 900, "%s: %ld bytes, %ux%u", png, size[i], w,
                  h);
        free(arg);
        free(png);
    }
    printf("test_compare: screenshots: report %ld bytes, plot %ld, blank page %ld\n", size[0],
           size[1], size[2]);
    CHECK_MSG(size[0] > 4 * size[2] && size[1] > 4 * size[2],
              "report %ld and plot %ld bytes against a blank page's %ld", size[0], size[1],
              size[2]);
    free(dom_path);
    free(html);
    free(svg);
    free(blank);
    free(browser);
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    data_dir = e2e_env("RUNNER_TESTDATA");
    tmp = e2e_tmpdir();
    db_path = e2e_fmt("%s/results/results.db", tmp);
    two_runs();
    test_list();
    test_compare();
    test_errors();
    test_plot_report();
    test_in_chromium();
    test_without_views();
    int rc = check_exit("e2e_compare");
    if (rc == 0)
        e2e_rmrf(tmp);
    else
        fprintf(stderr, "kept %s for inspection\n", tmp);
    free(db_path);
    return rc;
}

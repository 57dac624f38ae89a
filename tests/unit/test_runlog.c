/* test_runlog: the JSON run file — created, extended per epoch and finished,
 * always parseable, atomically replaced (no temp files left), NaN as null,
 * strings round-tripping with quotes, control characters and bad UTF-8. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "runner/fsutil.h"
#include "runner/results.h"

static const char NASTY[] = "q\"uote\\ back\ttab\nnl\x01\x1f ctl \xc3\xa9 ; -- end";

static char g_dir[64];

static void make_dir(void)
{
    strcpy(g_dir, "/tmp/test_runlog.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Number of directory entries besides . and ..; also removes them if asked. */
static int count_entries(const char *dir, int remove)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (remove) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    return n;
}

/* Parse the file; NULL (and a failed check) if it is not valid JSON. */
static cJSON *load(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    struct rn_err err = {0};
    if (fs_read_all(path, &text, &len, RN_ERR_GENERIC, &err) != RN_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return NULL;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
    CHECK_MSG(doc != NULL, "invalid JSON in %s", path);
    CHECK(len > 0 && text[len - 1] == '\n');
    free(text);
    return doc;
}

static char *load_text(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    struct rn_err err = {0};
    if (fs_read_all(path, &text, &len, RN_ERR_GENERIC, &err) != RN_OK)
        return NULL;
    return text;
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int str_is(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static int num_is(const cJSON *o, const char *key, double want)
{
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) && v->valuedouble == want;
}

static int is_null(const cJSON *o, const char *key)
{
    return cJSON_IsNull(get(o, key));
}

static struct run_identity make_id(const cJSON *config, const cJSON *files)
{
    struct run_identity id = {
        .uid = "20240501-120000-abcd",
        .name = NASTY,
        .config_hash = "deadbeef",
        .seed = 42,
        .started_at = "2024-05-01T12:00:00Z",
        .host = "host",
        .version = "0.1.0",
        .config_path = "exp/a.yaml",
        .epochs_planned = 3,
        .config = config,
        .data_files = files,
    };
    return id;
}

static void test_lifecycle(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", g_dir);
    cJSON *config = cJSON_Parse("{\"name\":\"x\",\"training\":{\"learning_rate\":0.01,"
                                "\"epochs\":3},\"model\":{\"layers\":[3072,64,10]}}");
    cJSON *files = cJSON_Parse("[{\"path\":\"/d/data_batch_1.bin\",\"sha256\":\"00\"}]");
    struct run_identity id = make_id(config, files);
    struct runlog log = {0};
    struct rn_err err = {0};
    CHECK_MSG(runlog_create(&log, path, &id, 7, &err) == RN_OK, "%s", err.msg);
    CHECK(count_entries(g_dir, 0) == 1);

    cJSON *doc = load(path);
    CHECK(doc != NULL);
    if (doc) {
        CHECK(str_is(doc, "runner_version", "0.1.0"));
        CHECK(str_is(doc, "uid", "20240501-120000-abcd"));
        CHECK(num_is(doc, "run_id", 7));
        CHECK(str_is(doc, "name", NASTY));
        CHECK(str_is(doc, "status", "running"));
        CHECK(str_is(doc, "config_path", "exp/a.yaml"));
        CHECK(str_is(doc, "config_hash", "deadbeef"));
        CHECK(num_is(doc, "seed", 42));
        CHECK(str_is(doc, "host", "host"));
        CHECK(str_is(doc, "started_at", "2024-05-01T12:00:00Z"));
        CHECK(is_null(doc, "finished_at"));
        CHECK(is_null(doc, "wall_seconds"));
        CHECK(is_null(doc, "diverged_epoch"));
        CHECK(is_null(doc, "message"));
        CHECK(num_is(doc, "epochs_planned", 3));
        CHECK(cJSON_Compare(get(doc, "config"), config, 1));
        CHECK(cJSON_Compare(get(doc, "data_files"), files, 1));
        CHECK(cJSON_IsArray(get(doc, "epochs")) && cJSON_GetArraySize(get(doc, "epochs")) == 0);
        /* Key order as documented. */
        const char *order[] = {"runner_version", "uid", "run_id", "name", "status",
                               "config_path", "config_hash", "seed", "host", "started_at"};
        const cJSON *it = doc->child;
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++, it = it ? it->next : NULL)
            CHECK_MSG(it && strcmp(it->string, order[i]) == 0, "key %zu", i);
    }
    cJSON_Delete(doc);
    /* The caller's trees were copied, not taken. */
    cJSON_Delete(config);
    cJSON_Delete(files);

    struct epoch_metrics e1 = {.epoch = 1, .train_loss = 2.25, .train_acc = 0.125,
                               .test_loss = 2.0, .test_acc = 0.3, .lr = 0.01, .seconds = 1.5,
                               .train_seconds = 1.25};
    CHECK_MSG(runlog_add_epoch(&log, &e1, &err) == RN_OK, "%s", err.msg);
    struct epoch_metrics e2 = {.epoch = 2, .train_loss = NAN, .train_acc = 0.1,
                               .test_loss = INFINITY, .test_acc = -INFINITY, .has_val = true,
                               .val_loss = NAN, .val_acc = 0.2, .lr = 0.01, .seconds = 0.1};
    CHECK_MSG(runlog_add_epoch(&log, &e2, &err) == RN_OK, "%s", err.msg);
    CHECK(count_entries(g_dir, 0) == 1);

    doc = load(path);
    const cJSON *eps = doc ? get(doc, "epochs") : NULL;
    CHECK(cJSON_GetArraySize(eps) == 2);
    const cJSON *a = cJSON_GetArrayItem(eps, 0), *b = cJSON_GetArrayItem(eps, 1);
    if (a && b) {
        CHECK(num_is(a, "epoch", 1));
        CHECK(num_is(a, "train_loss", 2.25));
        CHECK(num_is(a, "train_acc", 0.125));
        CHECK(num_is(a, "test_loss", 2.0));
        CHECK(num_is(a, "test_acc", 0.3)); /* round-trips exactly */
        CHECK(num_is(a, "lr", 0.01));
        CHECK(num_is(a, "seconds", 1.5));
        CHECK(num_is(a, "train_seconds", 1.25));
        CHECK(get(a, "val_loss") == NULL && get(a, "val_acc") == NULL);
        CHECK(num_is(b, "epoch", 2));
        CHECK(is_null(b, "train_loss"));
        CHECK(is_null(b, "test_loss"));
        CHECK(is_null(b, "test_acc"));
        CHECK(is_null(b, "val_loss"));
        CHECK(num_is(b, "val_acc", 0.2));
    }
    cJSON_Delete(doc);
    char *text = load_text(path);
    CHECK(text && !strstr(text, "nan") && !strstr(text, "inf") && !strstr(text, "NaN"));
    free(text);

    CHECK_MSG(runlog_finish(&log, RUN_DIVERGED, "2024-05-01T12:05:00Z", NAN, 3, NASTY,
                            &err) == RN_OK,
              "%s", err.msg);
    doc = load(path);
    if (doc) {
        CHECK(str_is(doc, "status", "diverged"));
        CHECK(str_is(doc, "finished_at", "2024-05-01T12:05:00Z"));
        CHECK(is_null(doc, "wall_seconds"));
        CHECK(num_is(doc, "diverged_epoch", 3));
        CHECK(str_is(doc, "message", NASTY));
        CHECK(cJSON_GetArraySize(get(doc, "epochs")) == 2);
    }
    cJSON_Delete(doc);

    /* Finishing again replaces the fields (no duplicate keys). */
    CHECK(runlog_finish(&log, RUN_COMPLETED, "2024-05-01T12:06:00Z", 360.5, 0, NULL, &err) ==
          RN_OK);
    doc = load(path);
    if (doc) {
        CHECK(str_is(doc, "status", "completed"));
        CHECK(num_is(doc, "wall_seconds", 360.5));
        CHECK(is_null(doc, "diverged_epoch"));
        CHECK(is_null(doc, "message"));
        int n = 0;
        for (const cJSON *it = doc->child; it; it = it->next)
            n += strcmp(it->string, "status") == 0;
        CHECK(n == 1);
    }
    cJSON_Delete(doc);
    CHECK(runlog_finish(&log, (enum run_status)9, "x", 1, 0, NULL, &err) != RN_OK);
    CHECK(count_entries(g_dir, 0) == 1);
    runlog_free(&log);
    CHECK(log.doc == NULL && log.path == NULL);
    runlog_free(&log); /* twice is harmless */
    count_entries(g_dir, 1);
}

static void test_strings_and_seed(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/utf8.json", g_dir);
    struct run_identity id = make_id(NULL, NULL);
    id.name = "bad \xff byte, truncated \xe2\x82, surrogate \xed\xa0\x80 ok \xe2\x82\xac";
    id.host = NULL;
    id.seed = UINT64_MAX;
    struct runlog log = {0};
    struct rn_err err = {0};
    CHECK_MSG(runlog_create(&log, path, &id, 0, &err) == RN_OK, "%s", err.msg);
    cJSON *doc = load(path);
    if (doc) {
        CHECK(str_is(doc, "name",
                     "bad \xef\xbf\xbd byte, truncated \xef\xbf\xbd\xef\xbf\xbd, surrogate "
                     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ok \xe2\x82\xac"));
        CHECK(is_null(doc, "host"));
        CHECK(is_null(doc, "run_id"));
        CHECK(cJSON_IsArray(get(doc, "data_files")));
        CHECK(cJSON_IsObject(get(doc, "config")));
        CHECK(cJSON_IsNumber(get(doc, "seed")));
    }
    cJSON_Delete(doc);
    char *text = load_text(path);
    CHECK_STR_CONTAINS(text, "\"seed\":\t18446744073709551615");
    free(text);
    runlog_free(&log);
    count_entries(g_dir, 1);
}

static void test_write_failures(void)
{
    char sub[128], moved[128], path[256];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    snprintf(moved, sizeof moved, "%s/moved", g_dir);
    snprintf(path, sizeof path, "%s/run.json", sub);
    struct run_identity id = make_id(NULL, NULL);
    struct runlog log = {0};
    struct rn_err err = {0};

    /* Missing directory: an output error naming the file, nothing allocated. */
    CHECK(runlog_create(&log, path, &id, 1, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK(log.doc == NULL && log.path == NULL);

    CHECK(fs_mkdirs(sub, &err) == RN_OK);
    CHECK_MSG(runlog_create(&log, path, &id, 1, &err) == RN_OK, "%s", err.msg);
    struct epoch_metrics e = {.epoch = 1, .test_acc = 0.5};
    CHECK(runlog_add_epoch(&log, &e, &err) == RN_OK);

    /* The directory disappears: the update fails and the document keeps
     * matching what is on disk. */
    CHECK(rename(sub, moved) == 0);
    e.epoch = 2;
    err = (struct rn_err){0};
    CHECK(runlog_add_epoch(&log, &e, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK(runlog_finish(&log, RUN_FAILED, "t", 1, 0, "m", &err) == RN_ERR_OUTPUT);
    CHECK(log.doc && cJSON_GetArraySize(get(log.doc, "epochs")) == 1);
    CHECK(log.doc && str_is(log.doc, "status", "running"));
    CHECK(rename(moved, sub) == 0);

    e.epoch = 2;
    CHECK(runlog_add_epoch(&log, &e, &err) == RN_OK);
    cJSON *doc = load(path);
    CHECK(doc && cJSON_GetArraySize(get(doc, "epochs")) == 2);
    cJSON_Delete(doc);
    CHECK(count_entries(sub, 0) == 1);
    runlog_free(&log);

    /* Using a log that was never created is an error, not a crash. */
    CHECK(runlog_add_epoch(&log, &e, &err) != RN_OK);
    CHECK(runlog_finish(&log, RUN_FAILED, "t", 1, 0, NULL, &err) != RN_OK);
    count_entries(sub, 1);
    rmdir(sub);
}

static void test_status_names(void)
{
    CHECK(strcmp(run_status_name(RUN_RUNNING), "running") == 0);
    CHECK(strcmp(run_status_name(RUN_COMPLETED), "completed") == 0);
    CHECK(strcmp(run_status_name(RUN_FAILED), "failed") == 0);
    CHECK(strcmp(run_status_name(RUN_DIVERGED), "diverged") == 0);
    CHECK(strcmp(run_status_name(RUN_INTERRUPTED), "interrupted") == 0);
    CHECK(run_status_name((enum run_status)99) != NULL);
}

int main(void)
{
    make_dir();
    test_lifecycle();
    test_strings_and_seed();
    test_write_failures();
    test_status_names();
    count_entries(g_dir, 1);
    rmdir(g_dir);
    return check_exit("test_runlog");
}

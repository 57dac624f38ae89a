/* test_sweep_store: the store's sweep functions — store_sweep_begin (row,
 * upsert that fills in only what is missing), runs with sweep_id and
 * overrides (a missing sweep row is created), and store_find_completed
 * (config hash + data digests in order, completed runs only, newest first,
 * paths ignored). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "runner/results.h"

static char dir[64];

static cJSON *files(const char *a, const char *b, const char *pa)
{
    cJSON *arr = cJSON_CreateArray();
    const char *h[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", pa);
        cJSON_AddStringToObject(o, "sha256", h[i]);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* Insert a run with this hash, files and (if not running) final status. */
static int64_t add_run(struct store *s, const char *uid, const char *hash, const cJSON *data,
                       enum run_status status, const char *sweep, const cJSON *ov)
{
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddNumberToObject(cfg, "seed", 1);
    struct run_identity id = {.uid = uid, .name = "n", .config_hash = hash, .seed = 1,
                              .started_at = "2025-01-01T00:00:00Z", .host = "h",
                              .version = "t", .config_path = "c.yaml", .epochs_planned = 1,
                              .config = cfg, .data_files = data, .sweep_id = sweep,
                              .overrides = ov};
    struct rn_err e = {0};
    int64_t rid = 0;
    CHECK_MSG(store_run_begin(s, &id, "x.json", &rid, &e) == RN_OK, "%s", e.msg);
    if (status != RUN_RUNNING)
        CHECK(store_run_end(s, rid, status, "2025-01-01T00:01:00Z", 1.0, 0, NULL, &e) == RN_OK);
    cJSON_Delete(cfg);
    return rid;
}

static char *text(sqlite3 *db, const char *sql)
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

int main(void)
{
    strcpy(dir, "/tmp/test_sweep_store.XXXXXX");
    if (!mkdtemp(dir))
        return 2;
    char path[128];
    snprintf(path, sizeof path, "%s/r.db", dir);
    struct store *s = NULL;
    struct rn_err e = {0};
    CHECK(store_open(path, &s, &e) == RN_OK);
    if (!s)
        return check_exit("sweep_store");

    /* a run of a sweep that has no row yet creates a minimal one */
    cJSON *ov = cJSON_CreateArray();
    cJSON_AddItemToArray(ov, cJSON_CreateString("seed=2"));
    cJSON_AddItemToArray(ov, cJSON_CreateString("name=\"it's\""));
    cJSON *d1 = files("aa", "bb", "/data/x");
    add_run(s, "u1", "H1", d1, RUN_COMPLETED, "sw-1", ov);
    /* then the sweep itself is recorded: spec and n_runs filled in */
    CHECK(store_sweep_begin(s, "sw-1", "2025-01-01T00:00:00Z", "c.yaml", "{\"axes\":[]}", 4, &e) ==
          RN_OK);
    /* recording it again changes nothing that is set */
    CHECK(store_sweep_begin(s, "sw-1", "2030-01-01T00:00:00Z", "other.yaml", "{}", 9, &e) ==
          RN_OK);
    CHECK(store_sweep_begin(s, "sw-2", "2025-01-02T00:00:00Z", NULL, NULL, 0, &e) == RN_OK);

    /* find_completed: same hash and digests, any path */
    int64_t id = -1;
    cJSON *same_other_path = files("aa", "bb", "/elsewhere");
    CHECK(store_find_completed(s, "H1", same_other_path, &id, &e) == RN_OK && id == 1);
    cJSON *swapped = files("bb", "aa", "/data/x");
    CHECK(store_find_completed(s, "H1", swapped, &id, &e) == RN_OK && id == 0);
    cJSON *other = files("aa", "cc", "/data/x");
    CHECK(store_find_completed(s, "H1", other, &id, &e) == RN_OK && id == 0);
    CHECK(store_find_completed(s, "H2", d1, &id, &e) == RN_OK && id == 0);
    cJSON *one = cJSON_CreateArray();
    CHECK(store_find_completed(s, "H1", one, &id, &e) == RN_OK && id == 0);
    /* only completed runs count, the newest first */
    add_run(s, "u2", "H2", d1, RUN_FAILED, NULL, NULL);
    add_run(s, "u3", "H2", d1, RUN_DIVERGED, NULL, NULL);
    add_run(s, "u4", "H2", d1, RUN_RUNNING, NULL, NULL);
    add_run(s, "u5", "H2", d1, RUN_INTERRUPTED, NULL, NULL);
    CHECK(store_find_completed(s, "H2", d1, &id, &e) == RN_OK && id == 0);
    add_run(s, "u6", "H1", d1, RUN_COMPLETED, NULL, NULL);
    CHECK(store_find_completed(s, "H1", d1, &id, &e) == RN_OK && id == 6);
    /* a hash with quotes is only ever a bound value */
    CHECK(store_find_completed(s, "' OR 1=1 --", d1, &id, &e) == RN_OK && id == 0);
    store_close(s);

    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    char *v = text(db, "SELECT config_path || '|' || spec || '|' || n_runs || '|' || created_at"
                       " FROM sweeps WHERE id = 'sw-1'");
    CHECK_MSG(v && strcmp(v, "c.yaml|{\"axes\":[]}|4|2025-01-01T00:00:00Z") == 0, "%s",
              v ? v : "(null)");
    free(v);
    v = text(db, "SELECT count(*) FROM sweeps");
    CHECK(v && strcmp(v, "2") == 0);
    free(v);
    v = text(db, "SELECT sweep_id || '|' || overrides FROM runs WHERE id = 1");
    CHECK_MSG(v && strcmp(v, "sw-1|[\"seed=2\",\"name=\\\"it's\\\"\"]") == 0, "%s",
              v ? v : "(null)");
    free(v);
    v = text(db, "SELECT coalesce(sweep_id, 'null') || '|' || coalesce(overrides, 'null')"
                 " FROM runs WHERE id = 2");
    CHECK(v && strcmp(v, "null|null") == 0);
    free(v);
    sqlite3_close(db);

    cJSON_Delete(ov);
    cJSON_Delete(d1);
    cJSON_Delete(same_other_path);
    cJSON_Delete(swapped);
    cJSON_Delete(other);
    cJSON_Delete(one);
    char p2[160];
    const char *names[] = {"r.db", "r.db-wal", "r.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p2, sizeof p2, "%s/%s", dir, names[i]);
        unlink(p2);
    }
    rmdir(dir);
    return check_exit("sweep_store");
}

/* End to end: the k-means feature cache. A first run computes and stores
 * the features, a second identical run loads them (same metrics), a change
 * to a feature setting is a new key, a damaged entry is detected and
 * rebuilt, and features.cache: false writes nothing. */
#include "e2e.h"

#include <sqlite3.h>

#include "check.h"

static const char *runner_bin, *data_dir;
static char *tmp;

static char *write_config(const char *name, const char *kmeans_extra, const char *feat_extra)
{
    char *path = e2e_fmt("%s/%s.yaml", tmp, name);
    char *text = e2e_fmt("name: %s\n"
                         "seed: 3\n"
                         "data: {dir: %s, train_limit: 600, test_limit: 300}\n"
                         "features:\n"
                         "  kind: kmeans\n"
                         "  cache_dir: %s/cache\n"
                         "%s"
                         "  kmeans: {centroids: 16, patches: 4000, iterations: 5, stride: 3%s}\n"
                         "model: {layers: [64, 16, 10]}\n"
                         "training: {epochs: 2, batch_size: 50, learning_rate: 0.05}\n"
                         "output: {dir: %s/results, database: %s/results/r.db}\n",
                         name, data_dir, tmp, feat_extra, kmeans_extra, tmp, tmp);
    e2e_write(path, text);
    free(text);
    return path;
}

/* Run and return the exit code; *log gets stderr. */
static int run(const char *cfg, char **log)
{
    char *errf = e2e_fmt("%s/run.err", tmp);
    char *argv[] = {(char *)runner_bin, (char *)cfg, "--force", NULL};
    int rc = e2e_run(argv, NULL, errf);
    *log = e2e_read(errf);
    free(errf);
    return rc;
}

/* Per-epoch metrics of the latest run with this name, as one string. */
static char *final_metrics(const char *name)
{
    char *path = e2e_fmt("%s/results/r.db", tmp);
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT group_concat(printf('%.17g/%.17g/%.17g/%.17g', train_loss, "
                           "train_acc, test_loss, test_acc), ';') FROM epochs WHERE run_id="
                           "(SELECT max(id) FROM runs WHERE name=?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return out;
}

/* The single cache entry directory under tmp/cache (or NULL). */
static char *entry_dir(const char *prefix_key_note)
{
    (void)prefix_key_note;
    char *cache = e2e_fmt("%s/cache", tmp);
    DIR *d = opendir(cache);
    char *found = NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "kmeans-", 7) == 0 && !strstr(e->d_name, ".tmp.")) {
                free(found);
                found = e2e_fmt("%s/%s", cache, e->d_name);
            }
        closedir(d);
    }
    free(cache);
    return found;
}

/* The cache entry a run's log names ("feature cache hit: PATH" or "feature
 * cache miss (stored): PATH"), or NULL. */
static char *logged_entry(const char *log)
{
    const char *marks[] = {"feature cache hit: ", "feature cache miss (stored): "};
    for (size_t i = 0; i < 2; i++) {
        const char *p = strstr(log, marks[i]);
        if (p) {
            p += strlen(marks[i]);
            size_t n = strcspn(p, "\n");
            return e2e_fmt("%.*s", (int)n, p);
        }
    }
    return NULL;
}

/* The payload (after the header) of a version 1 .npy file; *n its bytes. */
static unsigned char *npy_payload(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char head[10];
    unsigned char *buf = NULL;
    if (fread(head, 1, sizeof head, f) == sizeof head && head[6] == 1) {
        long start = 10L + (long)(head[8] | head[9] << 8);
        if (fseek(f, 0, SEEK_END) == 0) {
            long end = ftell(f);
            if (end >= start && fseek(f, start, SEEK_SET) == 0) {
                buf = malloc((size_t)(end - start) + 1);
                if (buf && fread(buf, 1, (size_t)(end - start), f) == (size_t)(end - start))
                    *n = (size_t)(end - start);
            }
        }
    }
    fclose(f);
    return buf;
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    data_dir = e2e_env("RUNNER_TESTDATA");
    tmp = e2e_tmpdir();
    char *log = NULL;

    /* 1. cold cache: computed and stored */
    char *cfg = write_config("a", "", "");
    int rc = run(cfg, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    CHECK_STR_CONTAINS(log, "feature cache miss");
    char *entry = entry_dir(NULL);
    CHECK(entry != NULL);
    free(log);

    /* 2. same config: a hit, and bit-identical metrics */
    char *m1 = final_metrics("a");
    rc = run(cfg, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    CHECK_STR_CONTAINS(log, "feature cache hit");
    free(log);
    char *m2 = final_metrics("a");
    CHECK(m1 && m2 && strcmp(m1, m2) == 0);

    /* 3. a different run name and output do not change the key */
    char *cfg_b = write_config("b", "", "");
    rc = run(cfg_b, &log);
    CHECK_STR_CONTAINS(log, "feature cache hit");
    free(log);

    /* 4. any feature setting changes the key: a miss, a second entry */
    char *cfg_c = write_config("c", ", zca_epsilon: 0.2", "");
    rc = run(cfg_c, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    CHECK_STR_CONTAINS(log, "feature cache miss");
    free(log);
    /* ... and so does the seed (augmentation and data settings likewise) */
    char *text = e2e_read(cfg);
    char *p = strstr(text, "seed: 3");
    if (p)
        p[6] = '4';
    p = strstr(text, "name: a");
    if (p)
        p[6] = 'd';
    char *cfg_d = e2e_fmt("%s/d.yaml", tmp);
    e2e_write(cfg_d, text);
    rc = run(cfg_d, &log);
    CHECK_STR_CONTAINS(log, "feature cache miss");
    free(log);
    free(text);

    /* 5. a damaged entry (truncated matrix) is detected and rebuilt */
    char *train_npy = e2e_fmt("%s/train.npy", entry);
    CHECK(truncate(train_npy, 200) == 0);
    rc = run(cfg, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    CHECK_STR_CONTAINS(log, "damaged cache entry rebuilt");
    CHECK_STR_CONTAINS(log, "feature cache miss");
    free(log);
    /* a flipped byte in the payload is caught by the manifest digest */
    FILE *f = fopen(train_npy, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 1000, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 1000, SEEK_SET);
        fputc(c ^ 0x40, f);
        fclose(f);
    }
    rc = run(cfg, &log);
    CHECK_STR_CONTAINS(log, "damaged cache entry rebuilt");
    free(log);
    rc = run(cfg, &log);
    CHECK_STR_CONTAINS(log, "feature cache hit");
    char *m_last = final_metrics("a");
    CHECK(m1 && m_last && strcmp(m1, m_last) == 0);
    free(log);

    /* 6. features.cache: false computes without touching the cache */
    e2e_rmrf(entry);
    char *cfg_e = write_config("e", "", "  cache: false\n");
    rc = run(cfg_e, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    CHECK(strstr(log, "feature cache") == NULL);
    char *again = entry_dir(NULL);
    CHECK(again == NULL || strcmp(again, entry) != 0);
    free(again);
    free(log);

    /* 7. with augmentation on, the k-means fit and the column statistics
     * still come from the original training images alone, so the original
     * rows' features, and the test features, are byte for byte those of the
     * same run without augmentation (the runner reads the originals from the
     * front of the expanded set). */
    char *cfg_f = write_config("f", "", "");
    rc = run(cfg_f, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    char *plain = logged_entry(log);
    free(log);
    text = e2e_read(cfg_f);
    char *aug_text = e2e_fmt("%saugmentation: {enabled: true, copies: 1}\n", text ? text : "");
    free(text);
    char *cfg_g = e2e_fmt("%s/g.yaml", tmp);
    e2e_write(cfg_g, aug_text);
    free(aug_text);
    rc = run(cfg_g, &log);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, log);
    char *augd = logged_entry(log);
    free(log);
    CHECK(plain && augd && strcmp(plain, augd) != 0);
    if (plain && augd) {
        const char *names[2] = {"train.npy", "test.npy"};
        for (size_t i = 0; i < 2; i++) {
            char *pa = e2e_fmt("%s/%s", plain, names[i]), *pb = e2e_fmt("%s/%s", augd, names[i]);
            size_t na, nb;
            unsigned char *a = npy_payload(pa, &na), *b = npy_payload(pb, &nb);
            /* 600 original rows (1200 with the copies) of 64 floats */
            size_t want = i == 0 ? 600 * 64 * 4 : 300 * 64 * 4;
            CHECK_MSG(a && na == want, "%s: %zu payload bytes", pa, na);
            CHECK_MSG(b && nb == (i == 0 ? 2 * want : want), "%s: %zu payload bytes", pb, nb);
            CHECK_MSG(a && b && na == want && nb >= want && memcmp(a, b, want) == 0,
                      "%s differs in the original rows", names[i]);
            free(a);
            free(b);
            free(pa);
            free(pb);
        }
    }
    free(plain);
    free(augd);
    free(cfg_f);
    free(cfg_g);

    free(m1);
    free(m2);
    free(m_last);
    free(train_npy);
    free(entry);
    free(cfg);
    free(cfg_b);
    free(cfg_c);
    free(cfg_d);
    free(cfg_e);
    int status = check_exit("e2e_feature_cache");
    if (status == 0)
        e2e_rmrf(tmp);
    else
        fprintf(stderr, "kept %s\n", tmp);
    return status;
}

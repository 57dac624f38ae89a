/* End to end: features.kind npy — the user's own feature matrices (the
 * report's workflow with 512-d features computed elsewhere). The test writes
 * a learnable problem as .npy files, trains on it, and checks the errors for
 * a wrong input size and mismatched label counts. */
#include "e2e.h"
#include "e2e_npy.h"

#include <math.h>
#include <sqlite3.h>

#include "check.h"
#include "runner/rng.h"

static const char *runner_bin;
static char *tmp;

/* n rows of dim features: class c has mean +1.5 on features [c*4, c*4+4). */
static void write_set(const char *name, size_t n, size_t dim, uint64_t seed)
{
    e2e_write_npy_set(tmp, name, n, dim, seed, 99, 4, 1.5f);
}

static char *config(const char *name, size_t input, const char *test_labels, const char *extra)
{
    char *path = e2e_fmt("%s/%s.yaml", tmp, name);
    char *text = e2e_fmt("name: %s\n"
                         "features:\n"
                         "  kind: npy\n"
                         "  npy: {train: %s/train.npy, train_labels: %s/train_labels.npy,\n"
                         "        test: %s/test.npy, test_labels: %s/%s,\n"
                         "        augmented: %s/aug.npy, augmented_labels: %s/aug_labels.npy}\n"
                         "model: {layers: [%zu, 32, 10]}\n"
                         "training: {epochs: 10, batch_size: 50, learning_rate: 0.1, momentum: 0.9}\n"
                         "%s"
                         "output: {dir: %s/results, database: %s/results/r.db}\n",
                         name, tmp, tmp, tmp, tmp, test_labels, tmp, tmp, input, extra, tmp,
                         tmp);
    e2e_write(path, text);
    free(text);
    return path;
}

static double query(const char *sql)
{
    char *path = e2e_fmt("%s/results/r.db", tmp);
    sqlite3 *db = NULL;
    double v = NAN;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return v;
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    tmp = e2e_tmpdir();
    write_set("train", 1000, 48, 1);
    write_set("test", 400, 48, 2);
    write_set("aug", 1000, 48, 3);
    write_set("short", 399, 48, 4); /* short_labels.npy: 399 labels */
    char *errf = e2e_fmt("%s/err", tmp);

    /* the original run and the augmented run (user's augmented rows appended) */
    char *c1 = config("npy-original", 48, "test_labels.npy", "");
    char *argv1[] = {(char *)runner_bin, c1, "--quiet", NULL};
    int rc = e2e_run(argv1, NULL, errf);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, e2e_read(errf));
    char *c2 = config("npy-augmented", 48, "test_labels.npy",
                      "augmentation: {enabled: true}\ndata: {validation: 100}\n");
    char *argv2[] = {(char *)runner_bin, c2, "--quiet", NULL};
    rc = e2e_run(argv2, NULL, errf);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, e2e_read(errf));
    CHECK_MSG(query("SELECT final_test_acc FROM runs WHERE name='npy-original'") > 0.8,
              "npy original accuracy %.3f",
              query("SELECT final_test_acc FROM runs WHERE name='npy-original'"));
    CHECK(query("SELECT final_test_acc FROM runs WHERE name='npy-augmented'") > 0.8);
    CHECK(query("SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id "
                "WHERE r.name='npy-augmented' AND e.val_acc IS NOT NULL") == 10);
    /* the data files recorded are the user's .npy files, with digests */
    CHECK(query("SELECT json_array_length(data_files) FROM runs WHERE name='npy-augmented'") ==
          6);

    /* the input layer must match the matrices' columns: a config error */
    char *c3 = config("npy-bad", 64, "test_labels.npy", "");
    char *argv3[] = {(char *)runner_bin, c3, NULL};
    rc = e2e_run(argv3, NULL, errf);
    CHECK(rc == 3);
    char *msg = e2e_read(errf);
    CHECK_STR_CONTAINS(msg, "npy-bad.yaml:");
    CHECK_STR_CONTAINS(msg, "model.layers[0]");
    CHECK_STR_CONTAINS(msg, "48");
    free(msg);

    /* 400 test rows with 399 labels: a data error naming both files */
    char *c4 = config("npy-short", 48, "short_labels.npy", "");
    char *argv4[] = {(char *)runner_bin, c4, NULL};
    rc = e2e_run(argv4, NULL, errf);
    CHECK(rc == 4);
    msg = e2e_read(errf);
    CHECK_STR_CONTAINS(msg, "short_labels.npy");
    CHECK_STR_CONTAINS(msg, "399");
    free(msg);
    CHECK(query("SELECT count(*) FROM runs") == 2); /* failed runs wrote nothing */

    free(c1);
    free(c2);
    free(c3);
    free(c4);
    free(errf);
    int status = check_exit("e2e_npy_source");
    if (status == 0)
        e2e_rmrf(tmp);
    else
        fprintf(stderr, "kept %s\n", tmp);
    return status;
}

/* End to end: `runner merge OUT.db SHARD.db...`. Two shards merge with ids
 * of OUT's own; merging again changes nothing (idempotent: same content,
 * integrity_check ok); overlapping shards (an older and a newer version of
 * one run) give the same result in either order; sweeps and version-1
 * shards are carried over; a bad shard (not SQLite, not a runner database,
 * a newer schema, missing, OUT itself) is reported and leaves OUT
 * byte-identical. */
#include "e2e.h"
#include "e2e_npy.h"

#include <sqlite3.h>

#include "check.h"
#include "runner/results.h"
#include "runner/rng.h"

static const char *runner_bin, *src_dir;
static char *tmp;

static char *path_in(const char *name)
{
    return e2e_fmt("%s/%s", tmp, name);
}

/* A small learnable problem as .npy files in tmp (train, test). */
static void write_npy(void)
{
    e2e_write_npy_set(tmp, "train", 400, 24, 5, 0, 2, 1.5f);
    e2e_write_npy_set(tmp, "test", 100, 24, 5, 1, 2, 1.5f);
}

/* One small run recorded in db. */
static void make_run(const char *name, const char *db)
{
    char *cfg = e2e_fmt("%s/%s.yaml", tmp, name);
    char *text = e2e_fmt("name: %s\nseed: 3\n"
                         "features:\n  kind: npy\n"
                         "  npy: {train: %s/train.npy, train_labels: %s/train_labels.npy,\n"
                         "        test: %s/test.npy, test_labels: %s/test_labels.npy}\n"
                         "model:\n  layers: [24, 8, 10]\n"
                         "training:\n  epochs: 2\n  batch_size: 50\n"
                         "output:\n  dir: %s/results\n  database: %s\n",
                         name, tmp, tmp, tmp, tmp, tmp, db);
    e2e_write(cfg, text);
    char *errf = e2e_fmt("%s/%s.err", tmp, name);
    char *argv[] = {(char *)runner_bin, cfg, "--quiet", "--force", NULL};
    int rc = e2e_run(argv, NULL, errf);
    if (rc != 0) {
        char *m = e2e_read(errf);
        CHECK_MSG(rc == 0, "run %s: exit %d: %s", name, rc, m ? m : "");
        free(m);
    }
    free(cfg);
    free(text);
    free(errf);
}

static void copy_file(const char *from, const char *to)
{
    char *data = e2e_read(from);
    FILE *f = fopen(from, "rb");
    CHECK(f && data);
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fclose(f);
    FILE *o = fopen(to, "wb");
    CHECK(o && fwrite(data, 1, len, o) == len && fclose(o) == 0);
    free(data);
}

static void exec_sql(const char *db, const char *sql)
{
    sqlite3 *d = NULL;
    CHECK(sqlite3_open(db, &d) == SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(d, sql, NULL, NULL, &msg);
    CHECK_MSG(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(d);
}

static char *q_text(const char *db, const char *sql)
{
    sqlite3 *d = NULL;
    char *v = NULL;
    if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(d, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                v = strdup((const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        } else {
            fprintf(stderr, "bad query %s: %s\n", sql, sqlite3_errmsg(d));
        }
    }
    sqlite3_close(d);
    return v;
}

static long q_long(const char *db, const char *sql)
{
    char *t = q_text(db, sql);
    long v = t ? strtol(t, NULL, 10) : -1;
    free(t);
    return v;
}

/* Everything in the database but OUT's own row ids, in a fixed order. */
static char *digest(const char *db)
{
    char *runs = q_text(db,
        "SELECT json_group_array(json_array(uid, name, status, config_hash, seed, config_json,"
        " data_files, host, started_at, finished_at, heartbeat_at, epochs_planned, epochs_done,"
        " quote(final_train_loss), quote(final_test_acc), quote(best_test_acc), best_epoch,"
        " json_path, message, sweep_id, overrides, pid, checkpoint_path))"
        " FROM (SELECT * FROM runs ORDER BY uid)");
    char *eps = q_text(db,
        "SELECT json_group_array(x) FROM (SELECT json_array(r.uid, e.epoch, quote(e.train_loss),"
        " quote(e.train_acc), quote(e.test_loss), quote(e.test_acc), quote(e.lr), e.recorded_at)"
        " AS x FROM epochs e JOIN runs r ON r.id = e.run_id ORDER BY r.uid, e.epoch)");
    char *par = q_text(db,
        "SELECT json_group_array(x) FROM (SELECT json_array(r.uid, p.key, quote(p.value)) AS x"
        " FROM params p JOIN runs r ON r.id = p.run_id ORDER BY r.uid, p.key)");
    char *sw = q_text(db, "SELECT json_group_array(json_array(id, created_at, spec, n_runs))"
                          " FROM (SELECT * FROM sweeps ORDER BY id)");
    char *all = e2e_fmt("%s\n%s\n%s\n%s", runs ? runs : "-", eps ? eps : "-", par ? par : "-",
                        sw ? sw : "-");
    free(runs);
    free(eps);
    free(par);
    free(sw);
    return all;
}

static int merge(const char *out, const char *a, const char *b, const char *outf,
                 const char *errf)
{
    char *argv[] = {(char *)runner_bin, "merge", (char *)out, (char *)a, (char *)b, NULL};
    return e2e_run(argv, outf, errf);
}

static int merge1(const char *out, const char *a, const char *outf, const char *errf)
{
    return merge(out, a, NULL, outf, errf);
}

static void check_integrity(const char *db)
{
    char *ic = q_text(db, "PRAGMA integrity_check");
    CHECK_MSG(ic && strcmp(ic, "ok") == 0, "%s: %s", db, ic ? ic : "(none)");
    free(ic);
    CHECK(q_long(db, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
}

int main(void)
{
    runner_bin = e2e_env("RUNNER_BIN");
    src_dir = e2e_env("RUNNER_SOURCE_DIR");
    tmp = e2e_tmpdir();
    write_npy();
    char *s1 = path_in("shard1.db"), *s2 = path_in("shard2.db"), *out = path_in("out/all.db");
    char *outf = path_in("merge.out"), *errf = path_in("merge.err");
    make_run("a", s1);
    make_run("b", s2);
    make_run("c", s2);
    long params_total = q_long(s1, "SELECT count(*) FROM params") +
                        q_long(s2, "SELECT count(*) FROM params");

    /* Two shards into a new OUT (its directory is created). */
    int rc = merge(out, s1, s2, outf, errf);
    CHECK_MSG(rc == 0, "merge: exit %d: %s", rc, e2e_read(errf));
    char *o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "shard1.db: 1 runs added, 0 updated, 0 unchanged");
    CHECK_STR_CONTAINS(o, "shard2.db: 2 runs added, 0 updated, 0 unchanged");
    free(o);
    CHECK(q_long(out, "SELECT count(*) FROM runs") == 3);
    CHECK(q_long(out, "SELECT count(*) FROM epochs") == 6);
    CHECK(q_long(out, "SELECT count(*) FROM params") == params_total);
    /* ids are OUT's: every run has its own 2 epochs and its params. */
    CHECK(q_long(out, "SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM epochs"
                      " WHERE run_id = r.id) = 2") == 3);
    CHECK(q_long(out, "SELECT count(DISTINCT run_id) FROM params") == 3);
    CHECK(q_long(out, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
    check_integrity(out);
    char *d1 = digest(out);

    /* Again, both orders: nothing changes. */
    rc = merge(out, s2, s1, outf, errf);
    CHECK_MSG(rc == 0, "merge again: exit %d: %s", rc, e2e_read(errf));
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "shard2.db: 0 runs added, 0 updated, 2 unchanged");
    free(o);
    char *d2 = digest(out);
    CHECK(strcmp(d1, d2) == 0);
    CHECK(q_long(out, "SELECT count(*) FROM runs") == 3);
    CHECK(q_long(out, "SELECT count(*) FROM epochs") == 6);
    check_integrity(out);
    free(d2);

    /* Overlap: an older version of run a (1 epoch, interrupted) and the
     * finished one, merged in either order, give the same database. */
    char *old = path_in("old.db");
    copy_file(s1, old);
    exec_sql(old, "DELETE FROM epochs WHERE epoch = 2; UPDATE runs SET epochs_done = 1,"
                  " status = 'interrupted', finished_at = NULL, message = 'process 1 on x is"
                  " gone'");
    char *o1 = path_in("o1.db"), *o2 = path_in("o2.db");
    CHECK(merge(o1, old, s1, outf, errf) == 0);
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "old.db: 1 runs added");
    CHECK_STR_CONTAINS(o, "shard1.db: 0 runs added, 1 updated, 0 unchanged");
    free(o);
    CHECK(merge(o2, s1, old, outf, errf) == 0);
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "old.db: 0 runs added, 0 updated, 1 unchanged");
    free(o);
    char *da = digest(o1), *db_ = digest(o2), *ds = digest(s1);
    CHECK(strcmp(da, db_) == 0);
    CHECK(strcmp(da, ds) == 0); /* exactly shard 1's run, the newer version */
    CHECK(q_long(o1, "SELECT count(*) FROM epochs") == 2);
    check_integrity(o1);
    free(da);
    free(db_);
    free(ds);

    /* Sweeps travel with their runs. */
    char *sw = path_in("sweep.db"), *o3 = path_in("o3.db");
    copy_file(s2, sw);
    exec_sql(sw, "INSERT INTO sweeps (id, created_at, config_path, spec, n_runs) VALUES"
                 " ('sw-1', '2026-01-01T00:00:00Z', 'x.yaml', '{\"seed\":[1,2]}', 2);"
                 " UPDATE runs SET sweep_id = 'sw-1'");
    CHECK(merge1(o3, sw, outf, errf) == 0);
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "2 runs added, 0 updated, 0 unchanged; 1 sweeps added or completed");
    free(o);
    CHECK(merge1(o3, sw, outf, errf) == 0);
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "0 runs added, 0 updated, 2 unchanged; 0 sweeps added or completed");
    free(o);
    CHECK(q_long(o3, "SELECT count(*) FROM runs WHERE sweep_id = 'sw-1'") == 2);
    CHECK(q_long(o3, "SELECT count(*) FROM sweeps") == 1);

    /* A task shard's minimal sweep row and the full one (as --emit slurm
     * writes them), in either order, end as the full row. */
    char *minimal = path_in("minimal.db"), *full = path_in("full.db");
    char *o5 = path_in("o5.db"), *o6 = path_in("o6.db");
    copy_file(s2, minimal);
    exec_sql(minimal, "INSERT INTO sweeps (id, created_at, config_path) VALUES"
                      " ('sw-2', '2026-01-02T00:00:00Z', 'x.yaml'); UPDATE runs SET sweep_id = 'sw-2'");
    copy_file(s1, full);
    exec_sql(full, "DELETE FROM runs; INSERT INTO sweeps (id, created_at, config_path, spec,"
                   " n_runs) VALUES ('sw-2', '2026-01-01T00:00:00Z', 'x.yaml', '{}', 2)");
    CHECK(merge(o5, minimal, full, outf, errf) == 0);
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "full.db: 0 runs added, 0 updated, 0 unchanged; 1 sweeps added or completed");
    free(o);
    CHECK(merge(o6, full, minimal, outf, errf) == 0);
    CHECK(merge(o6, full, minimal, outf, errf) == 0);
    o = e2e_read(outf);
    CHECK_STR_CONTAINS(o, "full.db: 0 runs added, 0 updated, 0 unchanged; 0 sweeps added or completed");
    free(o);
    char *d5 = digest(o5), *d6 = digest(o6);
    CHECK(strcmp(d5, d6) == 0);
    CHECK_STR_CONTAINS(d5, "[\"sw-2\",\"2026-01-01T00:00:00Z\",\"{}\",2]");
    free(d5);
    free(d6);
    free(minimal);
    free(full);
    free(o5);
    free(o6);

    /* A version-1 shard: its columns that exist are read. */
    char *v1 = path_in("v1.db"), *o4 = path_in("o4.db");
    char *sql_path = e2e_fmt("%s/tests/data/results-v1.sql", src_dir);
    char *schema = e2e_read(sql_path);
    CHECK(schema != NULL);
    if (schema) {
        exec_sql(v1, schema);
        exec_sql(v1, "INSERT INTO runs (uid, name, status, started_at, epochs_done)"
                     " VALUES ('v1-run', 'old', 'completed', '2024-01-01T00:00:00Z', 1);"
                     " INSERT INTO epochs (run_id, epoch, test_acc, recorded_at)"
                     " VALUES (1, 1, 0.5, '2024-01-01T00:01:00Z');"
                     " INSERT INTO params (run_id, key, value) VALUES (1, 'seed', 1)");
        CHECK(q_long(v1, "PRAGMA user_version") == 1);
        rc = merge(o4, v1, s1, outf, errf);
        CHECK_MSG(rc == 0, "v1 merge: exit %d: %s", rc, e2e_read(errf));
        CHECK(q_long(o4, "SELECT count(*) FROM runs") == 2);
        CHECK(q_long(o4, "SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id"
                         " WHERE r.uid = 'v1-run' AND e.test_acc = 0.5") == 1);
        CHECK(q_long(o4, "SELECT count(*) FROM runs WHERE uid = 'v1-run' AND pid IS NULL") ==
              1);
        CHECK(q_long(v1, "PRAGMA user_version") == 1); /* the shard is only read */
        check_integrity(o4);
    }
    free(schema);
    free(sql_path);

    /* Bad shards: reported, OUT byte-identical. */
    char *garbage = path_in("garbage.db"), *newer = path_in("newer.db"),
         *foreign = path_in("foreign.db"), *missing = path_in("missing.db");
    e2e_write(garbage, "this is not a database\n");
    copy_file(s1, newer);
    exec_sql(newer, "PRAGMA user_version = 99");
    exec_sql(foreign, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    const char *bad[] = {garbage, newer, foreign, missing};
    const char *why[] = {"garbage.db", "newer than this runner", "not a runner results database",
                         "missing.db"};
    char *before = e2e_read(out);
    FILE *f = fopen(out, "rb");
    fseek(f, 0, SEEK_END);
    long out_len = ftell(f);
    fclose(f);
    for (size_t i = 0; i < 4; i++) {
        rc = merge(out, s1, bad[i], outf, errf);
        CHECK_MSG(rc == 4, "%s: exit %d", bad[i], rc);
        char *m = e2e_read(errf);
        CHECK_STR_CONTAINS(m, why[i]);
        CHECK_STR_CONTAINS(m, "nothing merged");
        free(m);
        char *after = e2e_read(out);
        f = fopen(out, "rb");
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fclose(f);
        CHECK_MSG(len == out_len && after && memcmp(before, after, (size_t)len) == 0,
                  "%s changed OUT", bad[i]);
        free(after);
    }
    CHECK(merge1(out, out, outf, errf) == 2);
    char *m = e2e_read(errf);
    CHECK_STR_CONTAINS(m, "is the output database");
    free(m);
    char *d3 = digest(out);
    CHECK(strcmp(d1, d3) == 0);
    free(d3);
    free(before);
    /* Usage. */
    char *argv[] = {(char *)runner_bin, "merge", out, NULL};
    CHECK(e2e_run(argv, NULL, NULL) == 2);

    free(d1);
    char *paths[] = {s1, s2, out, outf, errf, old, o1, o2, sw, o3, v1, o4,
                     garbage, newer, foreign, missing};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        free(paths[i]);
    int code = check_exit("test_merge");
    if (code == 0)
        e2e_rmrf(tmp);
    else
        fprintf(stderr, "test_merge: files kept in %s\n", tmp);
    return code;
}

/* runner resume RUN: continue an interrupted run from the checkpoint of its
 * last recorded epoch. The run is rebuilt from the resolved config recorded
 * in the database (the experiment file is not read again), the data files
 * must still hash as recorded, and the pipeline of cmd_run does the rest:
 * it appends to the same run row and the same JSON file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "runner/checkpoint.h"
#include "runner/config.h"
#include "runner/results.h"

#define DEFAULT_DB "results/results.db"

char *cli_checkpoint_path(const char *json_path)
{
    size_t n = strlen(json_path);
    char *out = malloc(n + 6);
    if (!out)
        return NULL;
    memcpy(out, json_path, n + 1);
    if (n > 5 && strcmp(json_path + n - 5, ".json") == 0)
        out[n - 5] = '\0';
    strcat(out, ".ckpt");
    return out;
}

int resume_check_identity(const struct resume_info *r, const struct experiment *cfg,
                          const cJSON *data_json, struct rn_err *err)
{
    char hash[65];
    cfg_hash(cfg, hash);
    if (!r->config_hash || strcmp(hash, r->config_hash) != 0)
        return rn_fail(err, RN_ERR_CONFIG,
                       "run %lld: its recorded config now hashes to %.12s..., recorded as "
                       "%.12s... (recorded by another runner version?); cannot resume",
                       (long long)r->run_id, hash, r->config_hash ? r->config_hash : "(none)");
    cJSON *rec = r->data_files ? cJSON_Parse(r->data_files) : NULL;
    if (!cJSON_IsArray(rec)) {
        cJSON_Delete(rec);
        return rn_fail(err, RN_ERR_DATA, "run %lld: no readable data_files record; cannot check "
                       "the data", (long long)r->run_id);
    }
    int code = RN_OK;
    int n_rec = cJSON_GetArraySize(rec), n_now = cJSON_GetArraySize(data_json);
    for (int i = 0; i < n_rec && code == RN_OK; i++) {
        const cJSON *a = cJSON_GetArrayItem(rec, i);
        const cJSON *b = i < n_now ? cJSON_GetArrayItem(data_json, i) : NULL;
        const char *pa = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "path"));
        const char *ha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "sha256"));
        const char *hb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "sha256"));
        if (!pa || !ha)
            code = rn_fail(err, RN_ERR_DATA, "run %lld: data_files entry %d is malformed",
                           (long long)r->run_id, i);
        else if (!hb || strcmp(ha, hb) != 0)
            code = rn_fail(err, RN_ERR_DATA,
                           "%s: data file changed since run %lld started (sha256 %.12s... now, "
                           "%.12s... recorded); cannot resume",
                           pa, (long long)r->run_id, hb ? hb : "(missing)", ha);
    }
    if (code == RN_OK && n_rec != n_now)
        code = rn_fail(err, RN_ERR_DATA,
                       "run %lld: %d data files recorded, %d read now; cannot resume",
                       (long long)r->run_id, n_rec, n_now);
    cJSON_Delete(rec);
    return code;
}

int resume_load_state(const struct resume_info *r, struct mlp *m, struct train_state *st,
                      struct rn_err *err)
{
    if (r->epochs_done == 0)
        return RN_OK; /* nothing recorded: start from the initial weights */
    char *own = r->checkpoint_path ? NULL : cli_checkpoint_path(r->json_path);
    const char *path = r->checkpoint_path ? r->checkpoint_path : own;
    char *prev = path ? malloc(strlen(path) + 6) : NULL;
    if (!prev) {
        free(own);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    }
    sprintf(prev, "%s.prev", path);
    /* The checkpoint is written before the epoch's rows commit, so after a
     * crash in between the previous one (.prev) is the one that matches. */
    const char *cands[2] = {path, prev};
    char found[2][160];
    int code = RN_ERR_DATA;
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        if (stat(cands[i], &sb) != 0) {
            snprintf(found[i], sizeof found[i], "missing");
            continue;
        }
        size_t epoch = 0;
        struct rn_err e2 = {0};
        if (ckpt_peek_epoch(cands[i], &epoch, &e2) != RN_OK) {
            snprintf(found[i], sizeof found[i], "unreadable: %.140s", e2.msg);
            continue;
        }
        if (epoch != r->epochs_done) {
            snprintf(found[i], sizeof found[i], "holds epoch %zu", epoch);
            continue;
        }
        code = ckpt_load(cands[i], m, st, r->config_hash, r->seed, err);
        if (code == RN_OK || code == RN_ERR_NOMEM)
            break;
        snprintf(found[i], sizeof found[i], "invalid: %.140s", err->msg);
        code = RN_ERR_DATA;
    }
    if (code != RN_OK && code != RN_ERR_NOMEM)
        rn_fail(err, RN_ERR_DATA,
                "run %lld: no checkpoint of epoch %zu, the last one the database records "
                "(%s: %s; %s: %s); cannot resume",
                (long long)r->run_id, r->epochs_done, path, found[0], prev, found[1]);
    free(prev);
    free(own);
    return code;
}

/* store_mark_stale callback: the run's JSON file says interrupted too. Best
 * effort: the file may be on another machine. */
static void mark_json(void *ctx, int64_t run_id, const char *json_path, const char *message)
{
    (void)ctx;
    (void)run_id;
    struct rn_err ignored = {0};
    if (json_path)
        runlog_mark_interrupted(json_path, message, &ignored);
}

int cli_mark_stale(struct store *s, const char *db_path, bool quiet, struct rn_err *err)
{
    char host[256] = "unknown";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    size_t n = 0;
    int rc = store_mark_stale(s, host, STORE_STALE_REMOTE_SECONDS, mark_json, NULL, &n, err);
    if (rc == RN_OK && n && !quiet)
        fprintf(stderr, "runner: %s: marked %zu run%s whose process is gone as interrupted\n",
                db_path, n, n == 1 ? "" : "s");
    return rc;
}

int cmd_resume(const struct resume_options *opt)
{
    struct rn_err err = {0};
    const char *db = opt->db_path ? opt->db_path : DEFAULT_DB;
    struct stat sb;
    if (stat(db, &sb) != 0) {
        cli_error("%s: cannot open the database: %s", db, strerror(errno));
        return RN_ERR_OUTPUT;
    }
    struct store *store = NULL;
    struct store_run_info info = {0};
    int rc = store_open(db, &store, &err);
    if (rc == RN_OK)
        rc = cli_mark_stale(store, db, opt->quiet, &err);
    if (rc == RN_OK)
        rc = store_find_run(store, opt->run, &info, &err);
    store_close(store);
    if (rc != RN_OK) {
        cli_error("%s", err.msg);
        return rc;
    }
    const char *status = info.status ? info.status : "?";
    if (strcmp(status, "running") == 0) {
        cli_error("run %lld (%s) is running (process %lld on %s); nothing to resume",
                  (long long)info.id, info.name, (long long)info.pid,
                  info.host ? info.host : "?");
        rc = RN_ERR_USAGE;
    } else if (strcmp(status, "interrupted") != 0 && strcmp(status, "failed") != 0) {
        cli_error("run %lld (%s) is %s; only interrupted or failed runs can be resumed",
                  (long long)info.id, info.name, status);
        rc = RN_ERR_USAGE;
    } else if (!info.config_json || !info.json_path || !info.uid) {
        cli_error("run %lld (%s) has no recorded config or JSON file; cannot resume",
                  (long long)info.id, info.name);
        rc = RN_ERR_DATA;
    }
    if (rc == RN_OK) {
        if (!opt->quiet)
            fprintf(stderr, "runner: resuming run %lld (%s, %s) after epoch %zu of %zu\n",
                    (long long)info.id, info.name, status, info.epochs_done,
                    info.epochs_planned);
        struct resume_info r = {
            .run_id = info.id,
            .uid = info.uid,
            .config_json = info.config_json,
            .config_hash = info.config_hash,
            .data_files = info.data_files,
            .json_path = info.json_path,
            .checkpoint_path = info.checkpoint_path,
            .seed = info.seed,
            .epochs_done = info.epochs_done,
        };
        struct run_options ro = {
            .config_path = info.json_path,
            .db_path = db,
            .quiet = opt->quiet,
            .threads = opt->threads,
            .resume = &r,
        };
        rc = cmd_run(&ro);
    }
    store_run_info_free(&info);
    return rc;
}

/* runlog: the JSON half of results.h — one document per run, kept in memory
 * and rewritten whole (fs_write_atomic) after every change, so a reader sees
 * either the previous version of the file or the new one.
 *
 * Never invalid JSON: non-finite numbers are written as null, and strings
 * from outside (names, paths, messages) are made valid UTF-8 (each invalid
 * byte becomes U+FFFD); cJSON escapes quotes and control characters. */
#include "runner/results.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runner/fsutil.h"

const char *run_status_name(enum run_status s)
{
    switch (s) {
    case RUN_RUNNING:
        return "running";
    case RUN_COMPLETED:
        return "completed";
    case RUN_FAILED:
        return "failed";
    case RUN_DIVERGED:
        return "diverged";
    case RUN_INTERRUPTED:
        return "interrupted";
    }
    return "unknown";
}

/* ---- building values ---------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if p starts an invalid
 * one (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* A JSON string (valid UTF-8), or null for NULL. */
static cJSON *str_or_null(const char *s)
{
    if (!s)
        return cJSON_CreateNull();
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), bad = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(p + i);
        bad += n == 0;
        i += n ? n : 1;
    }
    if (bad == 0)
        return cJSON_CreateString(s);
    /* Each bad byte (1 byte) becomes U+FFFD (3 bytes). */
    size_t size;
    if (rn_mul_size(bad, 2, &size) || rn_add_size(size, len + 1, &size))
        return NULL;
    char *out = malloc(size), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(p + i);
        if (n == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, p + i, n);
            o += n;
            i += n;
        }
    }
    *o = '\0';
    cJSON *item = cJSON_CreateString(out);
    free(out);
    return item;
}

/* JSON has no NaN or infinity: write null. */
static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *size_or_null(size_t v)
{
    return v ? cJSON_CreateNumber((double)v) : cJSON_CreateNull();
}

/* A 64-bit seed: a plain number while a double holds it exactly, else the
 * exact decimal digits as a raw JSON number (parsers keep or round them). */
static cJSON *seed_item(uint64_t seed)
{
    if (seed <= (UINT64_C(1) << 53))
        return cJSON_CreateNumber((double)seed);
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, seed);
    return cJSON_CreateRaw(buf);
}

/* Add item under key; takes ownership of item. Returns 0 on failure (item
 * NULL or out of memory). */
static int add(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return 0;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return 0;
    }
    return 1;
}

/* Replace (or add) the value under key; takes ownership of item. */
static int set(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return 0;
    if (!cJSON_GetObjectItemCaseSensitive(obj, key))
        return add(obj, key, item);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)) {
        cJSON_Delete(item);
        return 0;
    }
    return 1;
}

/* Make every string value of a tree valid UTF-8, as str_or_null does (the
 * resolved config holds names and paths from outside: a run name taken from
 * the experiment file's name, --db and --results-dir). 0 on success. */
static int fix_strings(cJSON *node)
{
    for (; node; node = node->next) {
        if (cJSON_IsString(node) && node->valuestring) {
            cJSON *fixed = str_or_null(node->valuestring);
            if (!fixed)
                return -1;
            int changed = strcmp(fixed->valuestring, node->valuestring) != 0;
            int ok = !changed || cJSON_SetValuestring(node, fixed->valuestring) != NULL;
            cJSON_Delete(fixed);
            if (!ok)
                return -1;
        }
        if (node->child && fix_strings(node->child) != 0)
            return -1;
    }
    return 0;
}

/* Duplicate a borrowed subtree (strings made valid UTF-8); `fallback` if it
 * is NULL. */
static cJSON *dup_or(const cJSON *src, cJSON *(*fallback)(void))
{
    if (!src)
        return fallback();
    cJSON *d = cJSON_Duplicate(src, 1);
    if (d && d->child && fix_strings(d->child) != 0) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

/* ---- writing ------------------------------------------------------------ */

static int write_doc(const char *path, const cJSON *doc, struct rn_err *err)
{
    char *text = cJSON_Print(doc);
    if (!text)
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    size_t len = strlen(text);
    char *buf = malloc(len + 2);
    if (!buf) {
        cJSON_free(text);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(buf, text, len);
    buf[len] = '\n';
    buf[len + 1] = '\0';
    cJSON_free(text);
    int code = fs_write_atomic(path, buf, len + 1, err);
    free(buf);
    return code;
}

/* The last step of runlog_create and runlog_reopen: write document d to the
 * file p (a copy of path) and make them the log's. `built` says whether d was
 * built completely (false: memory ran out); on any failure p and d are freed
 * and the log is left empty. */
static int adopt_doc(struct runlog *log, bool built, char *p, cJSON *d, const char *path,
                     struct rn_err *err)
{
    int code = built && p ? write_doc(p, d, err)
                          : rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    if (code != RN_OK) {
        free(p);
        cJSON_Delete(d);
        return code;
    }
    log->path = p;
    log->doc = d;
    return RN_OK;
}

/* ---- the run log -------------------------------------------------------- */

int runlog_create(struct runlog *log, const char *path, const struct run_identity *id,
                  int64_t run_id, struct rn_err *err)
{
    log->path = NULL;
    log->doc = NULL;
    char *p = strdup(path);
    cJSON *d = cJSON_CreateObject();
    int ok = p && d;
    ok = ok && add(d, "runner_version", str_or_null(id->version));
    ok = ok && add(d, "uid", str_or_null(id->uid));
    /* run_id is the SQLite row id; null when the run is not in a database. */
    ok = ok && add(d, "run_id", run_id > 0 ? cJSON_CreateNumber((double)run_id)
                                           : cJSON_CreateNull());
    ok = ok && add(d, "name", str_or_null(id->name));
    ok = ok && add(d, "status", cJSON_CreateString(run_status_name(RUN_RUNNING)));
    ok = ok && add(d, "config_path", str_or_null(id->config_path));
    ok = ok && add(d, "config_hash", str_or_null(id->config_hash));
    ok = ok && add(d, "seed", seed_item(id->seed));
    ok = ok && add(d, "host", str_or_null(id->host));
    ok = ok && add(d, "started_at", str_or_null(id->started_at));
    ok = ok && add(d, "finished_at", cJSON_CreateNull());
    ok = ok && add(d, "epochs_planned", cJSON_CreateNumber((double)id->epochs_planned));
    ok = ok && add(d, "wall_seconds", cJSON_CreateNull());
    ok = ok && add(d, "diverged_epoch", cJSON_CreateNull());
    ok = ok && add(d, "message", cJSON_CreateNull());
    ok = ok && add(d, "sweep_id", str_or_null(id->sweep_id));
    ok = ok && add(d, "overrides", dup_or(id->overrides, cJSON_CreateArray));
    ok = ok && add(d, "data_files", dup_or(id->data_files, cJSON_CreateArray));
    ok = ok && add(d, "config", dup_or(id->config, cJSON_CreateObject));
    ok = ok && add(d, "epochs", cJSON_CreateArray());
    return adopt_doc(log, ok, p, d, path, err);
}

int runlog_add_epoch(struct runlog *log, const struct epoch_metrics *m, struct rn_err *err)
{
    cJSON *epochs = log->doc ? cJSON_GetObjectItemCaseSensitive(log->doc, "epochs") : NULL;
    if (!cJSON_IsArray(epochs))
        return rn_fail(err, RN_ERR_GENERIC, "%s: run log not created",
                       log->path ? log->path : "(run log)");
    cJSON *e = cJSON_CreateObject();
    int ok = e != NULL;
    ok = ok && add(e, "epoch", cJSON_CreateNumber((double)m->epoch));
    ok = ok && add(e, "train_loss", num_or_null(m->train_loss));
    ok = ok && add(e, "train_acc", num_or_null(m->train_acc));
    ok = ok && add(e, "test_loss", num_or_null(m->test_loss));
    ok = ok && add(e, "test_acc", num_or_null(m->test_acc));
    if (m->has_val) {
        ok = ok && add(e, "val_loss", num_or_null(m->val_loss));
        ok = ok && add(e, "val_acc", num_or_null(m->val_acc));
    }
    ok = ok && add(e, "lr", num_or_null(m->lr));
    ok = ok && add(e, "seconds", num_or_null(m->seconds));
    ok = ok && add(e, "train_seconds", num_or_null(m->train_seconds));
    if (!ok || !cJSON_AddItemToArray(epochs, e)) {
        cJSON_Delete(e);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", log->path);
    }
    int code = write_doc(log->path, log->doc, err);
    if (code != RN_OK) {
        /* Keep the document equal to the file: drop the epoch again. */
        cJSON_Delete(cJSON_DetachItemViaPointer(epochs, e));
    }
    return code;
}

int runlog_finish(struct runlog *log, enum run_status status, const char *finished_at,
                  double wall_seconds, size_t diverged_epoch, const char *message,
                  struct rn_err *err)
{
    if (!log->doc)
        return rn_fail(err, RN_ERR_GENERIC, "%s: run log not created",
                       log->path ? log->path : "(run log)");
    if ((unsigned)status > (unsigned)RUN_INTERRUPTED)
        return rn_fail(err, RN_ERR_GENERIC, "%s: invalid run status %d", log->path,
                       (int)status);
    /* Change a copy, so a failed write leaves the document equal to the file. */
    cJSON *d = cJSON_Duplicate(log->doc, 1);
    int ok = d != NULL;
    ok = ok && set(d, "status", cJSON_CreateString(run_status_name(status)));
    ok = ok && set(d, "finished_at", str_or_null(finished_at));
    ok = ok && set(d, "wall_seconds", num_or_null(wall_seconds));
    ok = ok && set(d, "diverged_epoch", size_or_null(diverged_epoch));
    ok = ok && set(d, "message", str_or_null(message));
    if (!ok) {
        cJSON_Delete(d);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", log->path);
    }
    int code = write_doc(log->path, d, err);
    if (code != RN_OK) {
        cJSON_Delete(d);
        return code;
    }
    cJSON_Delete(log->doc);
    log->doc = d;
    return RN_OK;
}

void runlog_free(struct runlog *log)
{
    if (!log)
        return;
    cJSON_Delete(log->doc);
    free(log->path);
    log->doc = NULL;
    log->path = NULL;
}

int runlog_reopen(struct runlog *log, const char *path, const char *uid, size_t keep_epochs,
                  struct rn_err *err)
{
    log->path = NULL;
    log->doc = NULL;
    char *text;
    size_t len;
    int code = fs_read_all(path, &text, &len, RN_ERR_OUTPUT, err);
    if (code != RN_OK)
        return rn_prefix(err, "cannot reopen the run's JSON file");
    cJSON *d = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *file_uid = d ? cJSON_GetObjectItemCaseSensitive(d, "uid") : NULL;
    cJSON *epochs = d ? cJSON_GetObjectItemCaseSensitive(d, "epochs") : NULL;
    if (!cJSON_IsObject(d) || !cJSON_IsString(file_uid) || !cJSON_IsArray(epochs)) {
        cJSON_Delete(d);
        return rn_fail(err, RN_ERR_OUTPUT, "%s: not a runner run file (expected a JSON object "
                       "with uid and epochs)", path);
    }
    if (strcmp(file_uid->valuestring, uid) != 0) {
        code = rn_fail(err, RN_ERR_OUTPUT, "%s: belongs to run %s, expected %s", path,
                       file_uid->valuestring, uid);
        cJSON_Delete(d);
        return code;
    }
    size_t have = (size_t)cJSON_GetArraySize(epochs);
    if (have < keep_epochs) {
        cJSON_Delete(d);
        return rn_fail(err, RN_ERR_OUTPUT,
                       "%s: holds %zu epochs, but the database records %zu", path, have,
                       keep_epochs);
    }
    /* Entries must be epochs 1, 2, ... in order. */
    size_t i = 0;
    for (const cJSON *e = epochs->child; e && i < keep_epochs; e = e->next, i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "epoch");
        if (!cJSON_IsNumber(n) || n->valuedouble != (double)(i + 1)) {
            cJSON_Delete(d);
            return rn_fail(err, RN_ERR_OUTPUT, "%s: epoch entry %zu is not epoch %zu", path,
                           i + 1, i + 1);
        }
    }
    while ((size_t)cJSON_GetArraySize(epochs) > keep_epochs)
        cJSON_DeleteItemFromArray(epochs, cJSON_GetArraySize(epochs) - 1);
    int ok = set(d, "status", cJSON_CreateString(run_status_name(RUN_RUNNING)));
    ok = ok && set(d, "finished_at", cJSON_CreateNull());
    ok = ok && set(d, "wall_seconds", cJSON_CreateNull());
    ok = ok && set(d, "diverged_epoch", cJSON_CreateNull());
    ok = ok && set(d, "message", cJSON_CreateNull());
    char *p = strdup(path);
    return adopt_doc(log, ok, p, d, path, err);
}

int runlog_mark_interrupted(const char *path, const char *message, struct rn_err *err)
{
    char *text;
    size_t len;
    int code = fs_read_all(path, &text, &len, RN_ERR_OUTPUT, err);
    if (code != RN_OK)
        return code;
    cJSON *d = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *status = d ? cJSON_GetObjectItemCaseSensitive(d, "status") : NULL;
    if (!cJSON_IsObject(d) || !cJSON_IsString(status)) {
        cJSON_Delete(d);
        return rn_fail(err, RN_ERR_OUTPUT, "%s: not a runner run file", path);
    }
    if (strcmp(status->valuestring, run_status_name(RUN_RUNNING)) != 0) {
        cJSON_Delete(d);
        return RN_OK;
    }
    int ok = set(d, "status", cJSON_CreateString(run_status_name(RUN_INTERRUPTED)));
    ok = ok && set(d, "message", str_or_null(message));
    code = ok ? write_doc(path, d, err) : rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    cJSON_Delete(d);
    return code;
}

/* fuzz_runlog: libFuzzer target for the JSON run file writer. The input is
 * cut at NUL bytes into a run name, an experiment path, a host name, a
 * config string value (inside the resolved config), a data file path and a
 * final message; the last 48 bytes (when there are that many) become the
 * metrics of one epoch, so NaN and infinities occur. The file written must
 * be valid UTF-8 with no raw control character inside a string, parse, and
 * keep every string that was valid UTF-8 unchanged. Built by -DRUNNER_FUZZ=ON. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "runner/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NULL if the JSON text is strictly valid (UTF-8, no raw control character
 * inside a string), else what is wrong. */
static const char *strict_problem(const unsigned char *p)
{
    int in_str = 0;
    for (size_t i = 0; p[i];) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (in_str && c < 0x20)
                return "control character";
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
        unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        if (n == 0 || p[i + 1] < lo || p[i + 1] > hi)
            return "invalid UTF-8";
        for (size_t j = 2; j < n; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF)
                return "invalid UTF-8";
        i += n;
    }
    return in_str ? "unterminated string" : NULL;
}

static int valid_utf8(const char *s)
{
    int ok = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p && ok;) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        if (n == 0 || (n > 1 && (p[1] < lo || p[1] > hi)))
            ok = 0;
        for (size_t j = 2; ok && j < n; j++)
            if (p[j] < 0x80 || p[j] > 0xBF)
                ok = 0;
        p += ok ? n : 0;
    }
    return ok;
}

static void expect_same(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsString(v))
        __builtin_trap();
    if (valid_utf8(want) && strcmp(v->valuestring, want) != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[96];
    if (!path[0])
        snprintf(path, sizeof path, "%s/fuzz-runlog-%d.json",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    struct epoch_metrics m = {.epoch = 1};
    if (size >= 48) {
        double v[6];
        memcpy(v, data + size - 48, 48);
        m.train_loss = v[0], m.train_acc = v[1], m.test_loss = v[2];
        m.test_acc = v[3], m.lr = v[4], m.seconds = v[5];
        size -= 48;
    }
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    const char *part[6] = {"", "", "", "", "", ""};
    char *p = text;
    for (size_t i = 0; i < 6 && p <= text + size; i++) {
        part[i] = p;
        p += strlen(p) + 1;
    }
    cJSON *config = cJSON_CreateObject();
    cJSON *section = cJSON_AddObjectToObject(config, "output");
    cJSON_AddStringToObject(section, "dir", part[3]);
    cJSON *files = cJSON_CreateArray();
    cJSON *file = cJSON_CreateObject();
    cJSON_AddStringToObject(file, "path", part[4]);
    cJSON_AddItemToArray(files, file);
    struct run_identity id = {
        .uid = "20260101T000000Z-00000000", .name = part[0], .config_hash = "h",
        .seed = 1, .started_at = "2026-01-01T00:00:00Z", .host = part[2],
        .version = "fuzz", .config_path = part[1], .epochs_planned = 1,
        .config = config, .data_files = files,
    };
    struct runlog log = {0};
    struct rn_err err = {0};
    if (runlog_create(&log, path, &id, 1, &err) != RN_OK ||
        runlog_add_epoch(&log, &m, &err) != RN_OK ||
        runlog_finish(&log, RUN_COMPLETED, "2026-01-01T00:00:01Z", 1.0, 0, part[5], &err) != RN_OK)
        abort(); /* nothing here may fail but the disk */
    FILE *f = fopen(path, "rb");
    char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    if (n == 0 || n == sizeof buf - 1 || strict_problem((const unsigned char *)buf))
        __builtin_trap();
    cJSON *doc = cJSON_Parse(buf);
    if (!doc)
        __builtin_trap();
    expect_same(doc, "name", part[0]);
    expect_same(doc, "config_path", part[1]);
    expect_same(doc, "host", part[2]);
    expect_same(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "config"), "output"), "dir", part[3]);
    expect_same(doc, "message", part[5]);
    cJSON_Delete(doc);
    runlog_free(&log);
    cJSON_Delete(config);
    cJSON_Delete(files);
    free(text);
    unlink(path);
    return 0;
}

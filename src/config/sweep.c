/* sweep: the cartesian product of axes, as override strings. See
 * include/runner/sweep.h. */
#include "runner/sweep.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/clock.h"

static char *dup_mem(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void sweep_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int push(char ***v, size_t *n, char *s)
{
    if (!s)
        return RN_ERR_NOMEM;
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) {
        free(s);
        return RN_ERR_NOMEM;
    }
    nv[(*n)++] = s;
    *v = nv;
    return RN_OK;
}

int sweep_split_values(const char *value, const char *where, char ***out, size_t *n,
                       struct rn_err *err)
{
    *out = NULL;
    *n = 0;
    size_t depth = 0, start = 0, len = strlen(value);
    char quote = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = value[i];
        if (quote) {
            if (c == '\\' && quote == '"' && i + 1 < len)
                i++;
            else if (c == quote)
                quote = 0;
            if (c != '\0')
                continue;
        }
        if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if ((c == ',' && depth == 0) || c == '\0') {
            size_t a = start, b = i;
            while (a < b && value[a] == ' ')
                a++;
            while (b > a && value[b - 1] == ' ')
                b--;
            if (a == b) {
                sweep_strv_free(*out, *n);
                *out = NULL;
                *n = 0;
                return rn_fail(err, RN_ERR_CONFIG,
                               "%s: expected a comma list of values, got an empty value%s",
                               where, len ? " (two commas in a row, or a comma at an end)" : "");
            }
            if (push(out, n, dup_mem(value + a, b - a)) != RN_OK) {
                sweep_strv_free(*out, *n);
                *out = NULL;
                *n = 0;
                return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", where);
            }
            start = i + 1;
        }
    }
    return RN_OK;
}

void sweep_plan_free(struct sweep_plan *p)
{
    for (size_t i = 0; i < p->n_axes; i++) {
        free(p->axes[i].path);
        sweep_strv_free(p->axes[i].values, p->axes[i].n_values);
    }
    free(p->axes);
    memset(p, 0, sizeof *p);
}

static struct sweep_axis *find_axis(struct sweep_plan *p, const char *path, size_t n)
{
    for (size_t i = 0; i < p->n_axes; i++)
        if (strlen(p->axes[i].path) == n && memcmp(p->axes[i].path, path, n) == 0)
            return &p->axes[i];
    return NULL;
}

int sweep_plan_build(const struct cfg_sweep_axis *file_axes, size_t n_file,
                     const char *const *args, size_t n_args, bool split,
                     struct sweep_plan *out, struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = n_file + n_args;
    out->axes = calloc(cap ? cap : 1, sizeof *out->axes);
    if (!out->axes)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    int rc = RN_OK;
    for (size_t i = 0; rc == RN_OK && i < n_file; i++) {
        struct sweep_axis *a = &out->axes[out->n_axes++];
        a->path = dup_mem(file_axes[i].path, strlen(file_axes[i].path));
        for (size_t j = 0; a->path && rc == RN_OK && j < file_axes[i].n_values; j++) {
            const char *v = file_axes[i].values[j];
            rc = push(&a->values, &a->n_values, dup_mem(v, strlen(v)));
        }
        if (!a->path)
            rc = RN_ERR_NOMEM;
    }
    if (rc != RN_OK) {
        sweep_plan_free(out);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_args; i++) {
        const char *arg = args[i], *eq = strchr(arg, '=');
        char where[160];
        snprintf(where, sizeof where, "override %zu (`%.100s`)", i + 1, arg);
        if (!eq || eq == arg) {
            sweep_plan_free(out);
            return rn_fail(err, RN_ERR_CONFIG,
                           "%s: expected KEY=VALUE with a dotted key path before '='", where);
        }
        size_t klen = (size_t)(eq - arg);
        char **vals = NULL;
        size_t nv = 0;
        if (split)
            rc = sweep_split_values(eq + 1, where, &vals, &nv, err);
        else if (push(&vals, &nv, dup_mem(eq + 1, strlen(eq + 1))) != RN_OK)
            rc = rn_fail(err, RN_ERR_NOMEM, "out of memory");
        if (rc != RN_OK) {
            sweep_plan_free(out);
            return rc;
        }
        struct sweep_axis *a = find_axis(out, arg, klen);
        if (a && i > 0) {
            /* twice on the command line: refused, like the config loader does */
            for (size_t j = 0; j < i; j++) {
                const char *o = args[j];
                if (strncmp(o, arg, klen) == 0 && o[klen] == '=') {
                    sweep_strv_free(vals, nv);
                    sweep_plan_free(out);
                    return rn_fail(err, RN_ERR_CONFIG, "%s: %.*s: already set by override %zu",
                                   where, (int)klen, arg, j + 1);
                }
            }
        }
        if (a) { /* the command line replaces the file's axis, in its place */
            sweep_strv_free(a->values, a->n_values);
        } else {
            a = &out->axes[out->n_axes++];
            a->path = dup_mem(arg, klen);
            if (!a->path) {
                sweep_strv_free(vals, nv);
                sweep_plan_free(out);
                return rn_fail(err, RN_ERR_NOMEM, "out of memory");
            }
        }
        a->values = vals;
        a->n_values = nv;
    }
    out->n_runs = 1;
    for (size_t i = 0; i < out->n_axes; i++) {
        if (out->axes[i].n_values > SWEEP_MAX_RUNS / out->n_runs) {
            sweep_plan_free(out);
            return rn_fail(err, RN_ERR_CONFIG, "the sweep has more than %d runs",
                           SWEEP_MAX_RUNS);
        }
        out->n_runs *= out->axes[i].n_values;
    }
    return RN_OK;
}

/* Value index of axis `a` in run `index` (first axis slowest). */
static size_t value_index(const struct sweep_plan *p, size_t a, size_t index)
{
    size_t stride = 1;
    for (size_t j = a + 1; j < p->n_axes; j++)
        stride *= p->axes[j].n_values;
    return (index / stride) % p->axes[a].n_values;
}

int sweep_run_overrides(const struct sweep_plan *p, size_t index, bool skip_name, char ***out,
                        size_t *n, struct rn_err *err)
{
    *out = NULL;
    *n = 0;
    for (size_t a = 0; a < p->n_axes; a++) {
        const struct sweep_axis *ax = &p->axes[a];
        if (skip_name && strcmp(ax->path, "name") == 0)
            continue;
        const char *v = ax->values[value_index(p, a, index)];
        size_t len = strlen(ax->path) + strlen(v) + 2;
        char *s = malloc(len);
        if (s)
            snprintf(s, len, "%s=%s", ax->path, v);
        if (push(out, n, s) != RN_OK) {
            sweep_strv_free(*out, *n);
            *out = NULL;
            *n = 0;
            return rn_fail(err, RN_ERR_NOMEM, "out of memory");
        }
    }
    return RN_OK;
}

/* Label of an axis: last segment, or its initials if it has underscores. */
static void axis_label(const char *path, char *buf, size_t cap)
{
    const char *last = strrchr(path, '.');
    last = last ? last + 1 : path;
    size_t o = 0;
    if (strchr(last, '_')) {
        for (size_t i = 0; last[i] && o + 1 < cap; i++)
            if (i == 0 || last[i - 1] == '_')
                buf[o++] = last[i];
    } else {
        for (size_t i = 0; last[i] && o + 1 < cap; i++)
            buf[o++] = last[i];
    }
    buf[o] = '\0';
}

static bool keep_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '+' || c == '-';
}

void sweep_run_suffix(const struct sweep_plan *p, size_t index, char *buf, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t a = 0; a < p->n_axes && o + 1 < cap; a++) {
        const struct sweep_axis *ax = &p->axes[a];
        if (ax->n_values < 2 || strcmp(ax->path, "name") == 0)
            continue;
        char label[64];
        axis_label(ax->path, label, sizeof label);
        /* two varying axes with one label: use the whole path instead */
        for (size_t b = 0; b < p->n_axes; b++) {
            char other[64];
            axis_label(p->axes[b].path, other, sizeof other);
            if (b != a && p->axes[b].n_values > 1 && strcmp(label, other) == 0) {
                size_t j = 0;
                for (; ax->path[j] && j + 1 < sizeof label; j++)
                    label[j] = ax->path[j] == '.' ? '_' : ax->path[j];
                label[j] = '\0';
                break;
            }
        }
        int w = snprintf(buf + o, cap - o, "-%s", label);
        if (w < 0 || (size_t)w >= cap - o) {
            buf[o] = '\0';
            return;
        }
        o += (size_t)w;
        const char *v = ax->values[value_index(p, a, index)];
        for (size_t i = 0; v[i] && o + 1 < cap; i++) {
            char c = v[i];
            if (c == '[' || c == ']' || c == '"' || c == '\'' || c == ' ')
                continue;
            buf[o++] = keep_char(c) ? c : c == ',' ? 'x' : '_';
        }
        buf[o] = '\0';
    }
}

cJSON *sweep_spec_json(const struct sweep_plan *p)
{
    cJSON *root = cJSON_CreateObject(), *axes = cJSON_CreateArray();
    if (!root || !axes || !cJSON_AddItemToObject(root, "axes", axes)) {
        cJSON_Delete(root);
        cJSON_Delete(axes);
        return NULL;
    }
    for (size_t i = 0; i < p->n_axes; i++) {
        /* each item is attached to root as soon as it exists: one delete frees all */
        cJSON *ax = cJSON_CreateObject();
        if (!ax || !cJSON_AddItemToArray(axes, ax)) {
            cJSON_Delete(ax);
            cJSON_Delete(root);
            return NULL;
        }
        cJSON *vals = NULL;
        if (!cJSON_AddStringToObject(ax, "key", p->axes[i].path) ||
            !(vals = cJSON_AddArrayToObject(ax, "values"))) {
            cJSON_Delete(root);
            return NULL;
        }
        for (size_t j = 0; j < p->axes[i].n_values; j++) {
            cJSON *s = cJSON_CreateString(p->axes[i].values[j]);
            if (!s || !cJSON_AddItemToArray(vals, s)) {
                cJSON_Delete(s);
                cJSON_Delete(root);
                return NULL;
            }
        }
    }
    if (!cJSON_AddNumberToObject(root, "n_runs", (double)p->n_runs)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void sweep_make_id(char out[64])
{
    clock_unique_id("sweep-", out);
}

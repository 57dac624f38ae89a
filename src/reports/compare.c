/* compare: building the list and compare tables, and writing them as text,
 * csv, json, markdown or html (see compare.h). */
#include "runner/compare.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

bool rtab_parse_format(const char *name, enum rtab_format *out)
{
    static const char *const names[] = {"text", "csv", "json", "markdown", "html"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (enum rtab_format)i;
            return true;
        }
    return false;
}

void rtab_free(struct rtab *t)
{
    if (!t)
        return;
    for (size_t c = 0; c < t->n_cols; c++) {
        free(t->cols[c].key);
        free(t->cols[c].title);
    }
    if (t->cells)
        for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
            free(t->cells[i].s);
    free(t->cols);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ---- building ----------------------------------------------------------- */

struct col_spec {
    const char *key, *title;
    enum rtab_kind kind;
    unsigned show;
};

/* Allocate a table with the fixed columns plus n_extra more (filled by the
 * caller) and n_rows rows of NULL cells. */
static int rtab_alloc(struct rtab *t, const struct col_spec *spec, size_t n_spec,
                      size_t n_extra, size_t n_rows, struct rn_err *err)
{
    memset(t, 0, sizeof *t);
    size_t n_cols, n_cells;
    if (rn_add_size(n_spec, n_extra, &n_cols) || rn_mul_size(n_cols, n_rows, &n_cells))
        return rn_fail(err, RN_ERR_NOMEM, "table too large");
    t->cols = calloc(n_cols ? n_cols : 1, sizeof *t->cols);
    t->cells = calloc(n_cells ? n_cells : 1, sizeof *t->cells);
    if (!t->cols || !t->cells) {
        free(t->cols);
        free(t->cells);
        t->cols = NULL;
        t->cells = NULL;
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for a table");
    }
    t->n_cols = n_cols;
    t->n_rows = n_rows;
    for (size_t c = 0; c < n_spec; c++) {
        t->cols[c].key = strdup(spec[c].key);
        t->cols[c].title = strdup(spec[c].title);
        t->cols[c].kind = spec[c].kind;
        t->cols[c].show = spec[c].show;
        if (!t->cols[c].key || !t->cols[c].title) {
            rtab_free(t);
            return rn_fail(err, RN_ERR_NOMEM, "out of memory for a table");
        }
    }
    return RN_OK;
}

static struct query_value *cell(const struct rtab *t, size_t row, size_t col)
{
    return &t->cells[row * t->n_cols + col];
}

static void set_int(struct rtab *t, size_t row, size_t col, int64_t v)
{
    struct query_value *x = cell(t, row, col);
    x->type = QV_INT;
    x->i = v;
}

static void set_size(struct rtab *t, size_t row, size_t col, size_t v)
{
    set_int(t, row, col, v > (size_t)INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* NaN (a NULL in the database) stays NULL. */
static void set_real(struct rtab *t, size_t row, size_t col, double v)
{
    if (isnan(v))
        return;
    struct query_value *x = cell(t, row, col);
    x->type = QV_REAL;
    x->d = v;
}

/* NULL text stays NULL. false if out of memory. */
static bool set_text(struct rtab *t, size_t row, size_t col, const char *s)
{
    if (!s)
        return true;
    struct query_value *x = cell(t, row, col);
    x->s = strdup(s);
    if (!x->s)
        return false;
    x->type = QV_TEXT;
    return true;
}

static bool set_value(struct rtab *t, size_t row, size_t col, const struct query_value *v)
{
    if (v->type == QV_TEXT)
        return set_text(t, row, col, v->s);
    *cell(t, row, col) = *v;
    cell(t, row, col)->s = NULL;
    return true;
}

enum {
    CC_ID, CC_NAME, CC_STATUS, CC_EPOCHS, CC_TRAIN_LOSS, CC_TRAIN_ACC, CC_TEST_LOSS,
    CC_TEST_ACC, CC_BEST_ACC, CC_BEST_EPOCH, CC_WALL, CC_N
};

static const struct col_spec compare_cols[CC_N] = {
    {"id", "run", RK_INT, RTAB_ALL},
    {"name", "name", RK_TEXT, RTAB_ALL},
    {"status", "status", RK_TEXT, RTAB_ALL},
    {"epochs", "epochs", RK_INT, RTAB_ALL},
    {"train_loss", "train loss", RK_LOSS, RTAB_ALL},
    {"train_acc", "train acc", RK_ACC, RTAB_ALL},
    {"test_loss", "test loss", RK_LOSS, RTAB_ALL},
    {"test_acc", "test acc", RK_ACC, RTAB_ALL},
    {"best_test_acc", "best test acc", RK_ACC, RTAB_ALL},
    {"best_epoch", "best epoch", RK_INT, RTAB_ALL},
    {"wall_seconds", "wall time", RK_SECONDS, RTAB_ALL},
};

static const struct query_param *find_param(const struct query_run *r, const char *key)
{
    /* params are sorted by key (ORDER BY key, binary collation = strcmp) */
    size_t lo = 0, hi = r->n_params;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->params[mid].key, key);
        if (c == 0)
            return &r->params[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Does key's value (or presence) differ between the runs? */
static bool key_differs(const struct compare_input *in, size_t n, const char *key)
{
    const struct query_param *first = find_param(in[0].run, key);
    for (size_t i = 1; i < n; i++) {
        const struct query_param *p = find_param(in[i].run, key);
        if (!first || !p) {
            if (first || p)
                return true;
            continue;
        }
        if (!query_value_equal(&first->value, &p->value))
            return true;
    }
    return false;
}

/* The keys (borrowed from the runs) whose values differ, sorted. */
static int differing_keys(const struct compare_input *in, size_t n, const char ***out,
                          size_t *n_out, struct rn_err *err)
{
    *out = NULL;
    *n_out = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (rn_add_size(total, in[i].run->n_params, &total))
            return rn_fail(err, RN_ERR_NOMEM, "too many params");
    if (total == 0)
        return RN_OK;
    const char **keys = malloc(total * sizeof *keys);
    if (!keys)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory comparing params");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < in[i].run->n_params; j++)
            if (!query_param_is_incidental(in[i].run->params[j].key))
                keys[k++] = in[i].run->params[j].key;
    qsort(keys, k, sizeof *keys, cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
            continue;
        if (key_differs(in, n, keys[i]))
            keys[m++] = keys[i];
    }
    *out = keys;
    *n_out = m;
    return RN_OK;
}

int compare_build(const struct compare_input *in, size_t n, struct rtab *out,
                  struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (in[i].n_epochs == 0)
            return rn_fail(err, RN_ERR_USAGE, "run %lld (%s): no epochs recorded yet",
                           (long long)in[i].run->id,
                           in[i].run->name ? in[i].run->name : "unnamed");
    const char **keys = NULL;
    size_t n_keys = 0;
    int code = n > 0 ? differing_keys(in, n, &keys, &n_keys, err) : RN_OK;
    if (code == RN_OK)
        code = rtab_alloc(out, compare_cols, CC_N, n_keys, n, err);
    if (code != RN_OK) {
        free(keys);
        return code;
    }
    out->has_params = true;
    bool ok = true;
    for (size_t k = 0; k < n_keys && ok; k++) {
        struct rtab_col *c = &out->cols[CC_N + k];
        c->key = strdup(keys[k]);
        c->title = strdup(keys[k]);
        c->kind = RK_VALUE;
        c->show = RTAB_ALL;
        c->param = true;
        ok = c->key && c->title;
    }
    for (size_t i = 0; i < n && ok; i++) {
        const struct query_run *r = in[i].run;
        const struct query_epoch *e = in[i].epochs, *last = &e[in[i].n_epochs - 1];
        /* Best test accuracy: the first epoch that reached the maximum. */
        double best = NAN;
        size_t best_epoch = 0;
        for (size_t j = 0; j < in[i].n_epochs; j++)
            if (!isnan(e[j].test_acc) && (isnan(best) || e[j].test_acc > best)) {
                best = e[j].test_acc;
                best_epoch = e[j].epoch;
            }
        set_int(out, i, CC_ID, r->id);
        ok = set_text(out, i, CC_NAME, r->name) && set_text(out, i, CC_STATUS, r->status);
        set_size(out, i, CC_EPOCHS, last->epoch);
        set_real(out, i, CC_TRAIN_LOSS, last->train_loss);
        set_real(out, i, CC_TRAIN_ACC, last->train_acc);
        set_real(out, i, CC_TEST_LOSS, last->test_loss);
        set_real(out, i, CC_TEST_ACC, last->test_acc);
        set_real(out, i, CC_BEST_ACC, best);
        if (best_epoch > 0)
            set_size(out, i, CC_BEST_EPOCH, best_epoch);
        set_real(out, i, CC_WALL, r->wall_seconds);
        for (size_t k = 0; k < n_keys && ok; k++) {
            const struct query_param *p = find_param(r, keys[k]);
            if (p)
                ok = set_value(out, i, CC_N + k, &p->value);
        }
    }
    free(keys);
    if (!ok) {
        rtab_free(out);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for the comparison table");
    }
    return RN_OK;
}

enum {
    LC_ID, LC_NAME, LC_STATUS, LC_EPOCHS, LC_DONE, LC_PLANNED, LC_TEST_ACC, LC_BEST_ACC,
    LC_BEST_EPOCH, LC_STARTED, LC_FINISHED, LC_N
};

static const struct col_spec list_cols[LC_N] = {
    {"id", "id", RK_INT, RTAB_ALL},
    {"name", "name", RK_TEXT, RTAB_ALL},
    {"status", "status", RK_TEXT, RTAB_ALL},
    {"epochs", "epochs", RK_TEXT, RTAB_HUMAN},
    {"epochs_done", "epochs done", RK_INT, RTAB_DATA},
    {"epochs_planned", "epochs planned", RK_INT, RTAB_DATA},
    {"final_test_acc", "test acc", RK_ACC, RTAB_ALL},
    {"best_test_acc", "best test acc", RK_ACC, RTAB_ALL},
    {"best_epoch", "best epoch", RK_INT, RTAB_DATA},
    {"started_at", "started", RK_TEXT, RTAB_ALL},
    {"finished_at", "finished", RK_TEXT, RTAB_DATA},
};

int list_build(const struct query_run *runs, size_t n, struct rtab *out, struct rn_err *err)
{
    int code = rtab_alloc(out, list_cols, LC_N, 0, n, err);
    if (code != RN_OK)
        return code;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        const struct query_run *r = &runs[i];
        char epochs[64];
        if (r->epochs_planned > 0)
            snprintf(epochs, sizeof epochs, "%zu/%zu", r->epochs_done, r->epochs_planned);
        else
            snprintf(epochs, sizeof epochs, "%zu/?", r->epochs_done);
        set_int(out, i, LC_ID, r->id);
        ok = set_text(out, i, LC_NAME, r->name) && set_text(out, i, LC_STATUS, r->status) &&
             set_text(out, i, LC_EPOCHS, epochs) &&
             set_text(out, i, LC_STARTED, r->started_at) &&
             set_text(out, i, LC_FINISHED, r->finished_at);
        set_size(out, i, LC_DONE, r->epochs_done);
        if (r->epochs_planned > 0)
            set_size(out, i, LC_PLANNED, r->epochs_planned);
        set_real(out, i, LC_TEST_ACC, r->final_test_acc);
        set_real(out, i, LC_BEST_ACC, r->best_test_acc);
        if (r->best_epoch > 0)
            set_size(out, i, LC_BEST_EPOCH, r->best_epoch);
    }
    if (!ok) {
        rtab_free(out);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for the run list");
    }
    return RN_OK;
}

/* ---- writing ---------------------------------------------------------------- */

/* A cell as the human formats show it, malloc'd; NULL if out of memory.
 * Missing values are "-"; control characters become '?'. */
static char *human_text(const struct rtab_col *c, const struct query_value *v)
{
    char buf[64];
    const char *s = buf;
    if (v->type == QV_NULL) {
        s = "-";
    } else if (v->type == QV_TEXT) {
        s = v->s ? v->s : "";
    } else {
        double d = v->type == QV_INT ? (double)v->i : v->d;
        switch (c->kind) {
        case RK_LOSS:
            snprintf(buf, sizeof buf, "%.4f", d);
            break;
        case RK_ACC:
            snprintf(buf, sizeof buf, "%.2f%%", 100.0 * d);
            break;
        case RK_SECONDS:
            snprintf(buf, sizeof buf, "%.1f s", d);
            break;
        default:
            query_value_text(v, buf, sizeof buf);
            break;
        }
    }
    char *out = strdup(s);
    if (out)
        for (char *p = out; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    return out;
}

/* Columns counted in UTF-8 code points (continuation bytes take none). */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static bool right_aligned(const struct rtab_col *c)
{
    return c->kind == RK_INT || c->kind == RK_LOSS || c->kind == RK_ACC ||
           c->kind == RK_SECONDS;
}

static bool visible(const struct rtab_col *c, enum rtab_format fmt)
{
    unsigned want = (fmt == RTAB_CSV || fmt == RTAB_JSON) ? RTAB_DATA : RTAB_HUMAN;
    return (c->show & want) != 0;
}

static void put_pad(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', out);
}

/* All human-format cells, row-major (n_rows + 1 rows, the header first). */
static char **human_cells(const struct rtab *t)
{
    size_t n;
    if (rn_mul_size(t->n_rows + 1, t->n_cols, &n))
        return NULL;
    char **s = calloc(n ? n : 1, sizeof *s);
    if (!s)
        return NULL;
    for (size_t c = 0; c < t->n_cols; c++) {
        struct query_value title = {.type = QV_TEXT, .s = t->cols[c].title};
        s[c] = human_text(&t->cols[c], &title);
        if (!s[c])
            goto fail;
    }
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < t->n_cols; c++) {
            char **x = &s[(r + 1) * t->n_cols + c];
            *x = human_text(&t->cols[c], cell(t, r, c));
            if (!*x)
                goto fail;
        }
    return s;
fail:
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
    return NULL;
}

static void free_cells(char **s, const struct rtab *t)
{
    if (!s)
        return;
    for (size_t i = 0; i < (t->n_rows + 1) * t->n_cols; i++)
        free(s[i]);
    free(s);
}

static int write_text(const struct rtab *t, FILE *out, struct rn_err *err)
{
    char **s = human_cells(t);
    size_t *width = calloc(t->n_cols ? t->n_cols : 1, sizeof *width);
    if (!s || !width) {
        free_cells(s, t);
        free(width);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory writing a table");
    }
    size_t last = 0;
    for (size_t c = 0; c < t->n_cols; c++) {
        if (!visible(&t->cols[c], RTAB_TEXT))
            continue;
        last = c;
        for (size_t r = 0; r <= t->n_rows; r++) {
            size_t w = display_width(s[r * t->n_cols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t r = 0; r <= t->n_rows + 1; r++) {
        bool first = true;
        for (size_t c = 0; c < t->n_cols; c++) {
            if (!visible(&t->cols[c], RTAB_TEXT))
                continue;
            if (!first)
                fputs("  ", out);
            first = false;
            if (r == 1) { /* the rule under the header */
                for (size_t i = 0; i < width[c]; i++)
                    fputc('-', out);
                continue;
            }
            const char *x = s[(r == 0 ? 0 : r - 1) * t->n_cols + c];
            size_t pad = width[c] - display_width(x);
            if (right_aligned(&t->cols[c])) {
                put_pad(out, pad);
                fputs(x, out);
            } else {
                fputs(x, out);
                if (c != last)
                    put_pad(out, pad);
            }
        }
        fputc('\n', out);
    }
    free_cells(s, t);
    free(width);
    return RN_OK;
}

/* Markdown cell text: | and \ escaped, HTML-significant characters as
 * entities so a renderer shows them literally. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '|': fputs("\\|", out); break;
        case '\\': fputs("\\\\", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        default: fputc(*s, out); break;
        }
    }
}

static int write_markdown(const struct rtab *t, FILE *out, struct rn_err *err)
{
    char **s = human_cells(t);
    if (!s)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory writing a table");
    for (size_t r = 0; r <= t->n_rows + 1; r++) {
        fputc('|', out);
        for (size_t c = 0; c < t->n_cols; c++) {
            if (!visible(&t->cols[c], RTAB_MARKDOWN))
                continue;
            if (r == 1) {
                fputs(right_aligned(&t->cols[c]) ? "---:|" : "---|", out);
                continue;
            }
            fputc(' ', out);
            md_cell(out, s[(r == 0 ? 0 : r - 1) * t->n_cols + c]);
            fputs(" |", out);
        }
        fputc('\n', out);
    }
    free_cells(s, t);
    return RN_OK;
}

static void html_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out); break;
        }
    }
}

static int write_html(const struct rtab *t, FILE *out, struct rn_err *err)
{
    char **s = human_cells(t);
    if (!s)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory writing a table");
    fputs("<table class=\"runner-table\">\n<thead>\n<tr>", out);
    for (size_t c = 0; c < t->n_cols; c++) {
        if (!visible(&t->cols[c], RTAB_HTML))
            continue;
        fputs("<th>", out);
        html_escaped(out, s[c]);
        fputs("</th>", out);
    }
    fputs("</tr>\n</thead>\n<tbody>\n", out);
    for (size_t r = 1; r <= t->n_rows; r++) {
        fputs("<tr>", out);
        for (size_t c = 0; c < t->n_cols; c++) {
            if (!visible(&t->cols[c], RTAB_HTML))
                continue;
            fputs(right_aligned(&t->cols[c]) ? "<td class=\"num\">" : "<td>", out);
            html_escaped(out, s[r * t->n_cols + c]);
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
    free_cells(s, t);
    return RN_OK;
}

/* RFC 4180: a field holding a comma, quote, CR or LF is quoted, quotes
 * doubled. */
static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static int write_csv(const struct rtab *t, FILE *out)
{
    bool first = true;
    for (size_t c = 0; c < t->n_cols; c++) {
        if (!visible(&t->cols[c], RTAB_CSV))
            continue;
        if (!first)
            fputc(',', out);
        first = false;
        csv_field(out, t->cols[c].key);
    }
    fputc('\n', out);
    for (size_t r = 0; r < t->n_rows; r++) {
        first = true;
        for (size_t c = 0; c < t->n_cols; c++) {
            if (!visible(&t->cols[c], RTAB_CSV))
                continue;
            if (!first)
                fputc(',', out);
            first = false;
            const struct query_value *v = cell(t, r, c);
            if (v->type == QV_TEXT) {
                csv_field(out, v->s ? v->s : "");
            } else if (v->type != QV_NULL) {
                char buf[64];
                fputs(query_value_text(v, buf, sizeof buf), out);
            }
        }
        fputc('\n', out);
    }
    return RN_OK;
}

/* Numbers go in as raw text: cJSON prints doubles with 15 significant digits
 * whenever that is within an epsilon, which loses the last bits; the
 * shortest round-trip form (and exact integers) keep the stored value. */
static cJSON *json_value(const struct query_value *v)
{
    char buf[64];
    switch (v->type) {
    case QV_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)v->i);
        return cJSON_CreateRaw(buf);
    case QV_REAL:
        return isfinite(v->d) ? cJSON_CreateRaw(query_format_real(v->d, buf, sizeof buf))
                              : cJSON_CreateNull();
    case QV_TEXT:
        return cJSON_CreateString(v->s ? v->s : "");
    default:
        return cJSON_CreateNull();
    }
}

static int write_json(const struct rtab *t, FILE *out, struct rn_err *err)
{
    cJSON *arr = cJSON_CreateArray();
    bool ok = arr != NULL;
    for (size_t r = 0; r < t->n_rows && ok; r++) {
        cJSON *row = cJSON_CreateObject();
        cJSON *params = t->has_params ? cJSON_CreateObject() : NULL;
        ok = row && (!t->has_params || params);
        for (size_t c = 0; c < t->n_cols && ok; c++) {
            if (!visible(&t->cols[c], RTAB_JSON))
                continue;
            cJSON *v = json_value(cell(t, r, c));
            ok = v && cJSON_AddItemToObject(t->cols[c].param ? params : row, t->cols[c].key, v);
            if (!ok)
                cJSON_Delete(v);
        }
        if (ok && params) {
            ok = cJSON_AddItemToObject(row, "params", params);
            if (ok)
                params = NULL;
        }
        cJSON_Delete(params);
        if (ok)
            ok = cJSON_AddItemToArray(arr, row);
        if (!ok)
            cJSON_Delete(row);
    }
    char *text = ok ? cJSON_Print(arr) : NULL;
    cJSON_Delete(arr);
    if (!text)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory writing JSON");
    fputs(text, out);
    fputc('\n', out);
    cJSON_free(text);
    return RN_OK;
}

int rtab_write(const struct rtab *t, enum rtab_format fmt, FILE *out, const char *what,
               struct rn_err *err)
{
    int code;
    switch (fmt) {
    case RTAB_CSV: code = write_csv(t, out); break;
    case RTAB_JSON: code = write_json(t, out, err); break;
    case RTAB_MARKDOWN: code = write_markdown(t, out, err); break;
    case RTAB_HTML: code = write_html(t, out, err); break;
    default: code = write_text(t, out, err); break;
    }
    if (code != RN_OK)
        return code;
    if (fflush(out) != 0 || ferror(out))
        return rn_fail(err, RN_ERR_OUTPUT, "%s: write failed", what);
    return RN_OK;
}

int rtab_html(const struct rtab *t, char **out, struct rn_err *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for the HTML table");
    int code = write_html(t, f, err);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        if (code == RN_OK)
            code = rn_fail(err, RN_ERR_NOMEM, "out of memory for the HTML table");
    }
    if (code != RN_OK) {
        free(buf);
        return code;
    }
    *out = buf;
    return RN_OK;
}

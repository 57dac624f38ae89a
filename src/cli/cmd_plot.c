/* runner plot / runner report: learning curves of recorded runs as an SVG
 * file, or one self-contained HTML page with the compare table and the
 * curves. Runs are picked like compare's (ids, names, or the default pair);
 * the database is opened read-only; the output file is written atomically
 * (temporary file + rename), so a failed command leaves no half file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runner/compare.h"
#include "runner/fsutil.h"
#include "runner/plot.h"
#include "runner/query.h"

struct plot_args {
    const char *db_path;
    const char *out_path;
    char **specs;
    size_t n_specs;
    bool help;                  /* --help: print usage and stop */
};

static int parse_plot_args(const char *cmd, int argc, char **argv, struct plot_args *pa)
{
    pa->db_path = CLI_DEFAULT_DB;
    pa->specs = calloc((size_t)argc + 1, sizeof *pa->specs);
    if (!pa->specs) {
        cli_error("out of memory");
        return RN_ERR_NOMEM;
    }
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            pa->specs[pa->n_specs++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            pa->help = true;
            return RN_OK;
        } else if (strcmp(a, "--db") == 0 || strcmp(a, "-o") == 0 ||
                   strcmp(a, "--output") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("%s: %s needs a value", cmd, a);
            if (strcmp(a, "--db") == 0)
                pa->db_path = argv[++i];
            else
                pa->out_path = argv[++i];
        } else {
            return cli_usage_error("%s: unknown option '%s'", cmd, a);
        }
    }
    if (!pa->out_path)
        return cli_usage_error("%s: missing -o FILE", cmd);
    return RN_OK;
}

/* The curves of every run as plot_run arrays (one allocation per run). */
struct curves {
    struct plot_run *runs;
    double **buf;
    char **labels;
    size_t n;
};

static void curves_free(struct curves *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->buf)
            free(c->buf[i]);
        if (c->labels)
            free(c->labels[i]);
    }
    free(c->buf);
    free(c->labels);
    free(c->runs);
    memset(c, 0, sizeof *c);
}

/* Does another selected run have the same name? Then labels carry the id. */
static bool name_repeated(const struct cli_runset *rs, size_t i)
{
    for (size_t j = 0; j < rs->n; j++)
        if (j != i && rs->runs[i].name && rs->runs[j].name &&
            strcmp(rs->runs[i].name, rs->runs[j].name) == 0)
            return true;
    return false;
}

static int curves_make(const struct cli_runset *rs, struct curves *c, struct rn_err *err)
{
    memset(c, 0, sizeof *c);
    c->runs = calloc(rs->n, sizeof *c->runs);
    c->buf = calloc(rs->n, sizeof *c->buf);
    c->labels = calloc(rs->n, sizeof *c->labels);
    if (!c->runs || !c->buf || !c->labels) {
        curves_free(c);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for the curves");
    }
    c->n = rs->n;
    for (size_t i = 0; i < rs->n; i++) {
        size_t m = rs->n_epochs[i], total;
        const struct query_epoch *e = rs->epochs[i];
        const char *name = rs->runs[i].name ? rs->runs[i].name : "unnamed";
        size_t lcap = strlen(name) + 32;
        c->labels[i] = malloc(lcap);
        if (rn_mul_size(m, 5, &total) || !c->labels[i] ||
            !(c->buf[i] = malloc((total ? total : 1) * sizeof(double)))) {
            curves_free(c);
            return rn_fail(err, RN_ERR_NOMEM, "out of memory for the curves");
        }
        if (name_repeated(rs, i))
            snprintf(c->labels[i], lcap, "%s #%lld", name, (long long)rs->runs[i].id);
        else
            snprintf(c->labels[i], lcap, "%s", name);
        double *b = c->buf[i];
        for (size_t k = 0; k < m; k++) {
            b[k] = (double)e[k].epoch;
            b[m + k] = e[k].train_loss;
            b[2 * m + k] = e[k].test_loss;
            b[3 * m + k] = e[k].train_acc;
            b[4 * m + k] = e[k].test_acc;
        }
        c->runs[i] = (struct plot_run){.label = c->labels[i],
                                       .n = m,
                                       .epoch = b,
                                       .train_loss = b + m,
                                       .test_loss = b + 2 * m,
                                       .train_acc = b + 3 * m,
                                       .test_acc = b + 4 * m};
    }
    return RN_OK;
}

/* "A vs B vs C" from the labels, cut to a sane length. */
static void make_title(char *out, size_t cap, const char *prefix, const struct curves *c)
{
    size_t len = (size_t)snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < c->n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " vs " : "",
                                c->runs[i].label);
}

enum output_kind { OUT_SVG, OUT_HTML };

static int render(enum output_kind kind, const struct cli_runset *rs, const char *out_path,
                  struct rn_err *err)
{
    struct curves c;
    int rc = curves_make(rs, &c, err);
    if (rc != RN_OK)
        return rc;
    char title[512];
    make_title(title, sizeof title,
               kind == OUT_SVG ? "Learning curves: " : "runner report: ", &c);

    char *table_html = NULL;
    if (kind == OUT_HTML) {
        struct compare_input *in = calloc(rs->n, sizeof *in);
        struct rtab table = {0};
        if (!in)
            rc = rn_fail(err, RN_ERR_NOMEM, "out of memory");
        for (size_t i = 0; in && i < rs->n; i++)
            in[i] = (struct compare_input){&rs->runs[i], rs->epochs[i], rs->n_epochs[i]};
        if (rc == RN_OK)
            rc = compare_build(in, rs->n, &table, err);
        if (rc == RN_OK)
            rc = rtab_html(&table, &table_html, err);
        rtab_free(&table);
        free(in);
    }

    char *buf = NULL;
    size_t len = 0;
    FILE *mem = NULL;
    if (rc == RN_OK && !(mem = open_memstream(&buf, &len)))
        rc = rn_fail(err, RN_ERR_NOMEM, "out of memory for %s", out_path);
    if (rc == RN_OK)
        rc = kind == OUT_SVG ? plot_svg_write(mem, c.runs, c.n, title, err)
                             : report_html_write(mem, title, table_html, c.runs, c.n, err);
    if (mem) {
        int bad = ferror(mem);
        if (fclose(mem) != 0 || bad) {
            if (rc == RN_OK)
                rc = rn_fail(err, RN_ERR_NOMEM, "out of memory for %s", out_path);
        }
    }
    if (rc == RN_OK && (!buf || len == 0))
        rc = rn_fail(err, RN_ERR_GENERIC, "%s: nothing was rendered", out_path);
    if (rc == RN_OK)
        rc = fs_write_atomic(out_path, buf, len, err);
    free(buf);
    free(table_html);
    curves_free(&c);
    return rc;
}

static int plot_or_report(enum output_kind kind, const char *cmd, int argc, char **argv)
{
    struct plot_args pa = {0};
    int rc = parse_plot_args(cmd, argc, argv, &pa);
    if (rc != RN_OK || pa.help) {
        free(pa.specs);
        return rc != RN_OK ? rc : cli_help();
    }
    struct cli_runset rs;
    rc = cli_runset_load(pa.db_path, pa.specs, pa.n_specs, &rs);
    free(pa.specs);
    if (rc != RN_OK)
        return rc;
    struct rn_err err = {0};
    rc = render(kind, &rs, pa.out_path, &err);
    if (rc != RN_OK)
        cli_error("%s", err.msg);
    cli_runset_free(&rs);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    return plot_or_report(OUT_SVG, "plot", argc, argv);
}

int cmd_report(int argc, char **argv)
{
    return plot_or_report(OUT_HTML, "report", argc, argv);
}

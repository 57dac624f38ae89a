/* compare: the tables the report commands print, built from loaded runs
 * (query.h) and written in one of several formats.
 *
 *  - compare_build: the report's table, one row per run: final-epoch train and
 *    test loss and accuracy, the best test accuracy with its epoch, the wall
 *    time, and one column per param whose value differs between the runs
 *    (incidental keys such as name and output.* left out);
 *  - list_build: the runs of a database (id, name, status, epochs, final and
 *    best test accuracy, started);
 *  - rtab_write: text (aligned columns), csv (RFC 4180 quoting), json (an
 *    array of row objects, via cJSON), markdown (a pipe table) or html (an
 *    escaped <table> fragment, embedded by the HTML report).
 *
 * Human formats (text, markdown, html) show accuracies as percentages and
 * losses with 4 decimals; data formats (csv, json) carry the stored values
 * (accuracies as fractions) at full precision. Called by the CLI. */
#ifndef RUNNER_COMPARE_H
#define RUNNER_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "runner/err.h"
#include "runner/query.h"

enum rtab_format { RTAB_TEXT = 0, RTAB_CSV, RTAB_JSON, RTAB_MARKDOWN, RTAB_HTML };

/* "text", "csv", "json", "markdown", "html"; false if unknown. */
bool rtab_parse_format(const char *name, enum rtab_format *out);

/* How a human format shows a column's values. */
enum rtab_kind {
    RK_TEXT = 0,   /* as is (control characters shown as '?') */
    RK_INT,        /* decimal */
    RK_LOSS,       /* %.4f */
    RK_ACC,        /* fraction shown as "%.2f%%" of 100x */
    RK_SECONDS,    /* "%.1f s" */
    RK_VALUE       /* a param value: integers, shortest reals, text */
};

/* Where a column appears. */
enum { RTAB_HUMAN = 1, RTAB_DATA = 2, RTAB_ALL = 3 };

struct rtab_col {
    char *key;          /* csv header / json member name */
    char *title;        /* header of the human formats */
    enum rtab_kind kind;
    unsigned show;      /* RTAB_HUMAN, RTAB_DATA or both */
    bool param;         /* json: member of the row's "params" object */
};

struct rtab {
    size_t n_cols, n_rows;
    struct rtab_col *cols;
    struct query_value *cells;  /* n_rows x n_cols, row-major; owned */
    bool has_params;            /* json: every row gets a "params" object */
};

void rtab_free(struct rtab *t);

/* One run of a comparison: the run (with params) and its epochs. */
struct compare_input {
    const struct query_run *run;
    const struct query_epoch *epochs;
    size_t n_epochs;
};

/* The comparison table of n runs. A run without epochs is RN_ERR_USAGE
 * ("run ID (NAME): no epochs recorded yet"). */
int compare_build(const struct compare_input *in, size_t n, struct rtab *out,
                  struct rn_err *err);

/* The listing of runs (as query_list returns them). */
int list_build(const struct query_run *runs, size_t n, struct rtab *out, struct rn_err *err);

/* Write the table to out. RN_ERR_OUTPUT if writing fails (the message
 * names `what`, e.g. "standard output"), RN_ERR_NOMEM. */
int rtab_write(const struct rtab *t, enum rtab_format fmt, FILE *out, const char *what,
               struct rn_err *err);

/* The html format as a malloc'd string (for the HTML report). */
int rtab_html(const struct rtab *t, char **out, struct rn_err *err);

#endif

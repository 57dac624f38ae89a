/* render_internal: what plot_svg.c and report_html.c share — a FILE writer
 * that remembers failures, locale-independent number formatting and XML/HTML
 * text escaping. Not a public header: only src/reports includes it. */
#ifndef RUNNER_REPORTS_RENDER_INTERNAL_H
#define RUNNER_REPORTS_RENDER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "runner/plot.h"

/* Writes to f; after the first failed write `bad` is set and later writes
 * are skipped. The caller checks wr_finish() once at the end. */
struct wr {
    FILE *f;
    bool bad;
    int errnum; /* errno of the first failure, or 0 */
};

void wr_str(struct wr *w, const char *s);
void wr_fmt(struct wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* x with `decimals` digits after the point (0..9), '.' as the separator
 * whatever the locale; values too large for fixed notation are written as
 * mantissa 'e' exponent. A non-finite x is written as 0 (callers never pass
 * one; this keeps "nan" out of the output in any case). */
void wr_num(struct wr *w, double x, int decimals);
/* A coordinate: at most two decimals, trailing zeros dropped. */
void wr_coord(struct wr *w, double x);
/* Text with &, <, >, " and ' escaped, invalid UTF-8 replaced by U+FFFD,
 * control characters (C0, DEL, C1) replaced by a space, and at most max_cp
 * code points (then an ellipsis); max_cp 0 means no limit. */
void wr_text(struct wr *w, const char *s, size_t max_cp);
/* Flush and report: RN_OK, or RN_ERR_OUTPUT naming `what`. */
int wr_finish(struct wr *w, const char *what, struct rn_err *err);

/* The SVG element (no XML declaration), for a standalone file or for
 * inlining in HTML. Arguments are checked by the caller. */
void svg_emit(struct wr *w, const struct plot_run *runs, size_t n_runs, const char *title);
/* RN_OK or RN_ERR_USAGE with err filled when the runs cannot be plotted. */
int plot_check_runs(const struct plot_run *runs, size_t n_runs, struct rn_err *err);

#endif

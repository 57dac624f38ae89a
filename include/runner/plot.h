/* plot: learning curves as a standalone SVG, and the self-contained HTML
 * report that embeds them. Pure rendering: it reads no database and knows
 * nothing about runs beyond the arrays handed in. Called by the CLI
 * (`runner plot`, `runner report`).
 *
 * Every function writes to an open FILE and returns RN_OK, or an rn_status
 * with err filled: RN_ERR_USAGE for bad arguments (no runs, NULL arrays with
 * n > 0), RN_ERR_NOMEM, RN_ERR_OUTPUT when writing to `out` fails. Numbers
 * are formatted independently of the C library's locale. */
#ifndef RUNNER_PLOT_H
#define RUNNER_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "runner/err.h"

/* One run's curves: n points. Accuracies are fractions in [0,1]; any pointer
 * among the metric arrays may be NULL if that series is absent, and a
 * non-finite value is a missing point. `epoch` may be NULL (then 1..n). */
struct plot_run {
    const char *label;
    size_t n;
    const double *epoch, *train_loss, *test_loss, *train_acc, *test_acc;
};

/* Two panels (loss vs epoch, accuracy % vs epoch), train dashed and test
 * solid, one colour per run, legend with the labels. title may be NULL. */
int plot_svg_write(FILE *out, const struct plot_run *runs, size_t n_runs, const char *title,
                   struct rn_err *err);

/* One HTML5 page: title, a generation note, table_html inserted verbatim
 * (it must be a trusted HTML fragment; may be NULL), and the SVG inline. */
int report_html_write(FILE *out, const char *title, const char *table_html,
                      const struct plot_run *runs, size_t n_runs, struct rn_err *err);

/* Axis ticks at "nice" steps (1, 2 or 5 times a power of ten) covering
 * [lo, hi] with about `target` intervals: ticks are lo + i*step for i in
 * 0..n-1, the last one being hi. A zero range is widened around the value;
 * integer_steps forces a step of at least 1 (epochs). `decimals` is how many
 * digits after the point the tick labels need. Exposed for tests. */
struct plot_ticks {
    double lo, hi, step;
    size_t n;
    int decimals;
};
void plot_nice_ticks(double lo, double hi, size_t target, bool integer_steps,
                     struct plot_ticks *t);

#endif

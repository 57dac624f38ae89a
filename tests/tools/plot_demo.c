/* plot_demo: writes a learning-curve SVG or an HTML report from synthetic
 * curves, for the Chromium rendering test and for looking at the output.
 *   plot_demo svg|html OUT [RUNS] [EPOCHS]
 * Curves are deterministic functions of the run and epoch: a decaying loss
 * and a rising accuracy; run 1 has a missing test point when EPOCHS > 3. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/plot.h"

#define MAX_RUNS 64
#define MAX_EPOCHS 1000

static size_t arg_size(const char *s, size_t lo, size_t hi, const char *what)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "plot_demo: %s: expected an integer from %zu to %zu, got '%s'\n", what,
                lo, hi, s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5 || (strcmp(argv[1], "svg") != 0 && strcmp(argv[1], "html") != 0)) {
        fprintf(stderr, "usage: plot_demo svg|html OUT [RUNS] [EPOCHS]\n");
        return 2;
    }
    size_t n_runs = argc > 3 ? arg_size(argv[3], 1, MAX_RUNS, "RUNS") : 2;
    size_t n_ep = argc > 4 ? arg_size(argv[4], 1, MAX_EPOCHS, "EPOCHS") : 20;
    static double buf[MAX_RUNS][5][MAX_EPOCHS];
    static char labels[MAX_RUNS][64];
    struct plot_run runs[MAX_RUNS];
    for (size_t r = 0; r < n_runs; r++) {
        double rate = 0.15 + 0.05 * (double)r, ceil_acc = 0.45 + 0.03 * (double)(r % 5);
        for (size_t e = 0; e < n_ep; e++) {
            double t = (double)(e + 1);
            buf[r][0][e] = t;
            buf[r][1][e] = 0.9 + 1.4 * exp(-rate * t);                        /* train loss */
            buf[r][2][e] = 1.1 + 1.2 * exp(-rate * t) + 0.004 * t;            /* test loss */
            buf[r][3][e] = ceil_acc + 0.15 - 0.35 * exp(-rate * t);           /* train acc */
            buf[r][4][e] = ceil_acc - 0.3 * exp(-rate * t);                   /* test acc */
        }
        if (r == 1 && n_ep > 3)
            buf[r][2][2] = NAN;
        snprintf(labels[r], sizeof labels[r], r == 0 ? "original (run %zu)" :
                 r == 1 ? "augmented <x4> & \"flips\" (run %zu)" : "run %zu", r + 1);
        runs[r] = (struct plot_run){labels[r], n_ep, buf[r][0], buf[r][1], buf[r][2],
                                    buf[r][3], buf[r][4]};
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
        fprintf(stderr, "plot_demo: %s: %s\n", argv[2], strerror(errno));
        return 5;
    }
    struct rn_err err = {0};
    int rc;
    if (strcmp(argv[1], "svg") == 0) {
        rc = plot_svg_write(f, runs, n_runs, "Synthetic learning curves", &err);
    } else {
        const char *table =
            "<table><thead><tr><th>run</th><th>final test acc</th></tr></thead>"
            "<tbody><tr><td>original</td><td>45.00%</td></tr>"
            "<tr><td>augmented</td><td>48.00%</td></tr></tbody></table>";
        rc = report_html_write(f, "Synthetic report", table, runs, n_runs, &err);
    }
    if (fclose(f) != 0 && rc == RN_OK)
        rc = rn_fail(&err, RN_ERR_OUTPUT, "cannot close the file: %s", strerror(errno));
    if (rc != 0) {
        fprintf(stderr, "plot_demo: %s: %s\n", argv[2], err.msg);
        return rc;
    }
    return 0;
}

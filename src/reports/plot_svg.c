/* plot_svg: learning curves as one standalone SVG with two panels, loss and
 * accuracy against the epoch. See include/runner/plot.h. */
#include <math.h>
#include <string.h>

#include "render_internal.h"

/* Geometry, in SVG user units (= CSS pixels). */
#define SVG_W 1000.0
#define PANEL_W 380.0
#define PANEL_H 280.0
#define PANEL_TOP 72.0
#define LEGEND_TOP (PANEL_TOP + PANEL_H + 64.0)
#define LEGEND_ROW 20.0
#define LEGEND_COL_W 460.0
#define LABEL_MAX_CP 60
#define TITLE_MAX_CP 100
#define VALUE_LIMIT 1e300 /* values are clamped to +-this so ranges stay finite */

static const double panel_x[2] = {80.0, 580.0};

/* Okabe-Ito colours (colour-blind safe), without the yellow that is
 * unreadable on white. Past the seventh run the colours repeat with a point
 * marker: none, circle, square, diamond. */
#define N_COLOURS 7
#define N_MARKS 4
static const char *const palette[N_COLOURS] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                               "#E69F00", "#56B4E9", "#000000"};

static const char *colour_of(size_t run) { return palette[run % N_COLOURS]; }
static size_t mark_of(size_t run) { return (run / N_COLOURS) % N_MARKS; }

void plot_nice_ticks(double lo, double hi, size_t target, bool integer_steps,
                     struct plot_ticks *t)
{
    if (!isfinite(lo))
        lo = 0.0;
    if (!isfinite(hi))
        hi = lo;
    lo = fmax(-VALUE_LIMIT, fmin(VALUE_LIMIT, lo));
    hi = fmax(-VALUE_LIMIT, fmin(VALUE_LIMIT, hi));
    if (hi < lo) {
        double s = lo;
        lo = hi;
        hi = s;
    }
    if (target < 1)
        target = 1;
    if (hi == lo) {
        double d = integer_steps || lo == 0.0 ? 1.0 : fabs(lo) * 0.05;
        lo -= d;
        hi += d;
    }
    double raw = (hi - lo) / (double)target;
    double e = floor(log10(raw));
    double p = pow(10.0, e);
    double f = raw / p;
    double nice = f <= 1.0 + 1e-9 ? 1.0 : f <= 2.0 + 1e-9 ? 2.0 : f <= 5.0 + 1e-9 ? 5.0 : 10.0;
    if (nice == 10.0) {
        nice = 1.0;
        e += 1.0;
        p = pow(10.0, e);
    }
    double step = nice * p;
    if (integer_steps && step < 1.0) {
        step = 1.0;
        e = 0.0;
    }
    double a = floor(lo / step + 1e-9), b = ceil(hi / step - 1e-9);
    if (b <= a)
        b = a + 1.0;
    t->step = step;
    t->lo = a * step;
    t->hi = b * step;
    double n = b - a + 1.0;
    t->n = n > 1000.0 ? 1000 : (size_t)n;
    t->decimals = e < 0.0 ? (int)fmin(9.0, -e) : 0;
}

/* ---- data access ------------------------------------------------------ */

static double epoch_at(const struct plot_run *r, size_t i)
{
    return r->epoch ? r->epoch[i] : (double)(i + 1);
}

/* Series 0..3: train loss, test loss, train accuracy, test accuracy. */
static const double *series_of(const struct plot_run *r, int s)
{
    switch (s) {
    case 0: return r->train_loss;
    case 1: return r->test_loss;
    case 2: return r->train_acc;
    default: return r->test_acc;
    }
}

static double clampv(double v) { return fmax(-VALUE_LIMIT, fmin(VALUE_LIMIT, v)); }

/* Range of the finite values of panel p (0 loss, 1 accuracy in %) and of
 * their epochs; false if there are none. */
static bool panel_range(const struct plot_run *runs, size_t n_runs, int p, double *xlo,
                        double *xhi, double *ylo, double *yhi)
{
    bool any = false;
    const double scale = p ? 100.0 : 1.0;
    for (size_t r = 0; r < n_runs; r++) {
        for (int s = 2 * p; s < 2 * p + 2; s++) {
            const double *v = series_of(&runs[r], s);
            for (size_t i = 0; v && i < runs[r].n; i++) {
                double x = epoch_at(&runs[r], i), y = v[i] * scale;
                if (!isfinite(x) || !isfinite(y))
                    continue;
                x = clampv(x);
                y = clampv(y);
                if (!any) {
                    *xlo = *xhi = x;
                    *ylo = *yhi = y;
                    any = true;
                }
                *xlo = fmin(*xlo, x);
                *xhi = fmax(*xhi, x);
                *ylo = fmin(*ylo, y);
                *yhi = fmax(*yhi, y);
            }
        }
    }
    return any;
}

int plot_check_runs(const struct plot_run *runs, size_t n_runs, struct rn_err *err)
{
    if (n_runs == 0 || !runs)
        return rn_fail(err, RN_ERR_USAGE, "no runs to plot");
    return RN_OK;
}

/* ---- drawing ---------------------------------------------------------- */

struct frame {
    double x0, top;
    struct plot_ticks xt, yt;
};

static double px(const struct frame *fr, double x)
{
    return fr->x0 + (clampv(x) - fr->xt.lo) / (fr->xt.hi - fr->xt.lo) * PANEL_W;
}

static double py(const struct frame *fr, double y)
{
    return fr->top + (fr->yt.hi - clampv(y)) / (fr->yt.hi - fr->yt.lo) * PANEL_H;
}

static void wr_xy(struct wr *w, double x, double y)
{
    wr_coord(w, x);
    wr_str(w, " ");
    wr_coord(w, y);
}

static void marker_attrs(struct wr *w, size_t run, bool mid_only)
{
    if (mark_of(run) == 0)
        return;
    if (!mid_only)
        wr_fmt(w, " marker-start=\"url(#rn-mk-%zu)\" marker-end=\"url(#rn-mk-%zu)\"", run, run);
    wr_fmt(w, " marker-mid=\"url(#rn-mk-%zu)\"", run);
}

static void marker_defs(struct wr *w, size_t n_runs)
{
    bool open = false;
    for (size_t r = 0; r < n_runs; r++) {
        size_t m = mark_of(r);
        if (m == 0)
            continue;
        if (!open)
            wr_str(w, "<defs>\n");
        open = true;
        wr_fmt(w,
               "<marker id=\"rn-mk-%zu\" viewBox=\"0 0 10 10\" refX=\"5\" refY=\"5\" "
               "markerWidth=\"4\" markerHeight=\"4\">",
               r);
        const char *c = colour_of(r);
        if (m == 1)
            wr_fmt(w, "<circle cx=\"5\" cy=\"5\" r=\"4\" fill=\"%s\"/>", c);
        else if (m == 2)
            wr_fmt(w, "<rect x=\"1\" y=\"1\" width=\"8\" height=\"8\" fill=\"%s\"/>", c);
        else
            wr_fmt(w, "<path d=\"M5 0 L10 5 L5 10 L0 5 Z\" fill=\"%s\"/>", c);
        wr_str(w, "</marker>\n");
    }
    if (open)
        wr_str(w, "</defs>\n");
}

/* One series as one <path>: a subpath per stretch of finite points (missing
 * values leave gaps); a point alone is drawn as a small ring. */
static void series_path(struct wr *w, const struct frame *fr, const struct plot_run *r,
                        size_t run, int s, double scale)
{
    const double *v = series_of(r, s);
    if (!v)
        return;
    size_t pts = 0;
    for (size_t i = 0; i < r->n; i++)
        if (isfinite(epoch_at(r, i)) && isfinite(v[i]))
            pts++;
    if (pts == 0)
        return;
    const bool train = (s % 2) == 0;
    wr_fmt(w, "<path class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
              "stroke-linejoin=\"round\" stroke-linecap=\"round\"",
           train ? "train" : "test", colour_of(run));
    if (train)
        wr_str(w, " stroke-dasharray=\"6 4\"");
    marker_attrs(w, run, false);
    wr_str(w, " d=\"");
    size_t i = 0;
    bool first = true;
    while (i < r->n) {
        if (!isfinite(epoch_at(r, i)) || !isfinite(v[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < r->n && isfinite(epoch_at(r, j)) && isfinite(v[j]))
            j++;
        if (!first)
            wr_str(w, " ");
        first = false;
        if (j - i == 1) {
            double x = px(fr, epoch_at(r, i)), y = py(fr, v[i] * scale);
            wr_str(w, "M");
            wr_xy(w, x - 2.0, y);
            wr_str(w, " a2 2 0 1 0 4 0 a2 2 0 1 0 -4 0");
        } else {
            for (size_t k = i; k < j; k++) {
                wr_str(w, k == i ? "M" : " L");
                wr_xy(w, px(fr, epoch_at(r, k)), py(fr, v[k] * scale));
            }
        }
        i = j;
    }
    wr_str(w, "\"/>\n");
}

static void panel(struct wr *w, int p, const struct plot_run *runs, size_t n_runs)
{
    static const char *const names[2] = {"loss", "accuracy"};
    static const char *const titles[2] = {"Loss", "Accuracy"};
    static const char *const ytitles[2] = {"cross-entropy loss", "accuracy (%)"};
    struct frame fr = {.x0 = panel_x[p], .top = PANEL_TOP};
    double xlo = 1.0, xhi = 1.0, ylo = 0.0, yhi = p ? 100.0 : 1.0;
    bool any = panel_range(runs, n_runs, p, &xlo, &xhi, &ylo, &yhi);
    plot_nice_ticks(xlo, xhi, 8, true, &fr.xt);
    plot_nice_ticks(ylo, yhi, 6, false, &fr.yt);
    const double bottom = fr.top + PANEL_H, right = fr.x0 + PANEL_W, cx = fr.x0 + PANEL_W / 2;

    wr_fmt(w, "<g class=\"panel\" id=\"panel-%s\">\n", names[p]);
    wr_str(w, "<text x=\"");
    wr_coord(w, cx);
    wr_str(w, "\" y=\"");
    wr_coord(w, fr.top - 12.0);
    wr_fmt(w, "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
           titles[p]);
    /* Grid and tick labels. */
    wr_str(w, "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (size_t i = 0; i < fr.yt.n; i++) {
        double y = py(&fr, fr.yt.lo + (double)i * fr.yt.step);
        wr_str(w, "<line x1=\"");
        wr_coord(w, fr.x0);
        wr_str(w, "\" x2=\"");
        wr_coord(w, right);
        wr_str(w, "\" y1=\"");
        wr_coord(w, y);
        wr_str(w, "\" y2=\"");
        wr_coord(w, y);
        wr_str(w, "\"/>\n");
    }
    for (size_t i = 0; i < fr.xt.n; i++) {
        double x = px(&fr, fr.xt.lo + (double)i * fr.xt.step);
        wr_str(w, "<line x1=\"");
        wr_coord(w, x);
        wr_str(w, "\" x2=\"");
        wr_coord(w, x);
        wr_str(w, "\" y1=\"");
        wr_coord(w, fr.top);
        wr_str(w, "\" y2=\"");
        wr_coord(w, bottom);
        wr_str(w, "\"/>\n");
    }
    wr_str(w, "</g>\n<g class=\"ticks\" fill=\"#333333\">\n");
    for (size_t i = 0; i < fr.yt.n; i++) {
        double v = fr.yt.lo + (double)i * fr.yt.step;
        wr_str(w, "<text class=\"ytick\" x=\"");
        wr_coord(w, fr.x0 - 6.0);
        wr_str(w, "\" y=\"");
        wr_coord(w, py(&fr, v) + 4.0);
        wr_str(w, "\" text-anchor=\"end\">");
        wr_num(w, v, fr.yt.decimals);
        wr_str(w, "</text>\n");
    }
    for (size_t i = 0; i < fr.xt.n; i++) {
        double v = fr.xt.lo + (double)i * fr.xt.step;
        wr_str(w, "<text class=\"xtick\" x=\"");
        wr_coord(w, px(&fr, v));
        wr_str(w, "\" y=\"");
        wr_coord(w, bottom + 16.0);
        wr_str(w, "\" text-anchor=\"middle\">");
        wr_num(w, v, fr.xt.decimals);
        wr_str(w, "</text>\n");
    }
    wr_str(w, "</g>\n");
    /* Frame and axis titles. */
    wr_str(w, "<rect x=\"");
    wr_coord(w, fr.x0);
    wr_str(w, "\" y=\"");
    wr_coord(w, fr.top);
    wr_str(w, "\" width=\"");
    wr_coord(w, PANEL_W);
    wr_str(w, "\" height=\"");
    wr_coord(w, PANEL_H);
    wr_str(w, "\" fill=\"none\" stroke=\"#444444\"/>\n<text x=\"");
    wr_coord(w, cx);
    wr_str(w, "\" y=\"");
    wr_coord(w, bottom + 38.0);
    wr_str(w, "\" text-anchor=\"middle\">epoch</text>\n<text transform=\"translate(");
    wr_coord(w, fr.x0 - 58.0);
    wr_str(w, " ");
    wr_coord(w, fr.top + PANEL_H / 2);
    wr_fmt(w, ") rotate(-90)\" text-anchor=\"middle\">%s</text>\n", ytitles[p]);
    if (!any) {
        wr_str(w, "<text x=\"");
        wr_coord(w, cx);
        wr_str(w, "\" y=\"");
        wr_coord(w, fr.top + PANEL_H / 2);
        wr_str(w, "\" text-anchor=\"middle\" fill=\"#777777\">no data</text>\n");
    }
    /* Curves: train first so the solid test line is drawn on top. */
    for (size_t r = 0; any && r < n_runs; r++)
        for (int s = 2 * p; s < 2 * p + 2; s++)
            series_path(w, &fr, &runs[r], r, s, p ? 100.0 : 1.0);
    wr_str(w, "</g>\n");
}

static void legend(struct wr *w, const struct plot_run *runs, size_t n_runs)
{
    const double y0 = LEGEND_TOP;
    wr_str(w, "<g class=\"legend\">\n");
    wr_str(w, "<path d=\"M80 ");
    wr_coord(w, y0);
    wr_str(w, " h30\" stroke=\"#444444\" stroke-width=\"1.8\" stroke-dasharray=\"6 4\"/>\n"
              "<text x=\"116\" y=\"");
    wr_coord(w, y0 + 4.0);
    wr_str(w, "\">train (dashed)</text>\n<path d=\"M230 ");
    wr_coord(w, y0);
    wr_str(w, " h30\" stroke=\"#444444\" stroke-width=\"1.8\"/>\n<text x=\"266\" y=\"");
    wr_coord(w, y0 + 4.0);
    wr_str(w, "\">test (solid)</text>\n");
    for (size_t r = 0; r < n_runs; r++) {
        double lx = panel_x[0] + (double)(r % 2) * LEGEND_COL_W;
        double ly = y0 + 24.0 + (double)(r / 2) * LEGEND_ROW;
        wr_str(w, "<g class=\"legend-entry\"><path d=\"M");
        wr_xy(w, lx, ly);
        wr_fmt(w, " h14 h14\" stroke=\"%s\" stroke-width=\"3\"", colour_of(r));
        marker_attrs(w, r, true);
        wr_str(w, "/><text x=\"");
        wr_coord(w, lx + 36.0);
        wr_str(w, "\" y=\"");
        wr_coord(w, ly + 4.0);
        wr_str(w, "\">");
        if (runs[r].label && runs[r].label[0])
            wr_text(w, runs[r].label, LABEL_MAX_CP);
        else
            wr_fmt(w, "run %zu", r + 1);
        wr_str(w, "</text></g>\n");
    }
    wr_str(w, "</g>\n");
}

void svg_emit(struct wr *w, const struct plot_run *runs, size_t n_runs, const char *title)
{
    const size_t rows = (n_runs + 1) / 2;
    const double height = LEGEND_TOP + 24.0 + (double)rows * LEGEND_ROW + 12.0;
    if (!title || !title[0])
        title = "Learning curves";
    wr_str(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"");
    wr_coord(w, SVG_W);
    wr_str(w, "\" height=\"");
    wr_coord(w, height);
    wr_str(w, "\" viewBox=\"0 0 ");
    wr_coord(w, SVG_W);
    wr_str(w, " ");
    wr_coord(w, height);
    wr_str(w, "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
              "<title>");
    wr_text(w, title, TITLE_MAX_CP);
    wr_str(w, "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    marker_defs(w, n_runs);
    wr_str(w, "<text x=\"");
    wr_coord(w, SVG_W / 2);
    wr_str(w, "\" y=\"30\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">");
    wr_text(w, title, TITLE_MAX_CP);
    wr_str(w, "</text>\n");
    panel(w, 0, runs, n_runs);
    panel(w, 1, runs, n_runs);
    legend(w, runs, n_runs);
    wr_str(w, "</svg>\n");
}

int plot_svg_write(FILE *out, const struct plot_run *runs, size_t n_runs, const char *title,
                   struct rn_err *err)
{
    int rc = plot_check_runs(runs, n_runs, err);
    if (rc != RN_OK)
        return rc;
    if (!out)
        return rn_fail(err, RN_ERR_USAGE, "no output stream for the SVG");
    struct wr w = {out, false, 0};
    wr_str(&w, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    svg_emit(&w, runs, n_runs, title);
    return wr_finish(&w, "SVG", err);
}

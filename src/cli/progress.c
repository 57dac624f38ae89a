/* progress: the stderr progress display of `runner run`. See progress.h. */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "runner/clock.h"

#define FEATURE_LINE_EVERY 10.0 
void progress_init(struct progress *p, FILE *out, bool quiet)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->quiet = quiet;
    p->tty = !quiet && out && isatty(fileno(out));
    const char *term = getenv("TERM");
    p->dumb = !term || !*term || strcmp(term, "dumb") == 0;
    p->last_draw = -INFINITY;
    p->feat_start = p->train_start = p->epoch_start = clock_seconds();
}

/* "M:SS" or "H:MM:SS"; "?" when unknown. */
static void fmt_dur(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0.0 || s > 360000000.0) {
        snprintf(buf, cap, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%lu:%02lu", t / 60, t % 60);
}

static size_t term_width(const struct progress *p)
{
    struct winsize ws;
    if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        return ws.ws_col;
    return 80;
}

/* Draw text (or, if it does not fit, the shorter alt) as the in-place line,
 * cut to the terminal width so it never wraps (a wrapped line cannot be
 * rewritten with "\r"). */
static void draw(struct progress *p, const char *text, const char *alt)
{
    size_t width = term_width(p) - 1;
    if (strlen(text) > width)
        text = alt;
    size_t len = strlen(text);
    if (len > width)
        len = width;
    fputc('\r', p->out);
    fwrite(text, 1, len, p->out);
    if (p->dumb) {
        for (size_t i = len; i < p->shown; i++)
            fputc(' ', p->out);
    } else {
        fputs("\033[K", p->out);
    }
    fflush(p->out);
    p->shown = len ? len : 1;
}

void progress_clear(struct progress *p)
{
    if (!p->tty || p->shown == 0)
        return;
    if (p->dumb) {
        fputc('\r', p->out);
        for (size_t i = 0; i < p->shown; i++)
            fputc(' ', p->out);
        fputc('\r', p->out);
    } else {
        fputs("\r\033[K", p->out);
    }
    fflush(p->out);
    p->shown = 0;
}

/* True (and the clock noted) when the in-place line may be redrawn now. */
static bool due(struct progress *p, double t)
{
    if (t - p->last_draw < 1.0 / PROGRESS_HZ)
        return false;
    p->last_draw = t;
    return true;
}

/* ---- training ----------------------------------------------------------- */

void progress_train_begin(struct progress *p)
{
    p->train_start = p->epoch_start = clock_seconds();
    p->epochs_done = 0;
    p->last_draw = -INFINITY;
}

void progress_batch(void *ctx, const struct train_progress *tp)
{
    struct progress *p = ctx;
    if (!p->tty || tp->batches == 0)
        return;
    double t = clock_seconds();
    if (!due(p, t))
        return;
    double frac = (double)tp->batch / (double)tp->batches;
    double elapsed = t - p->train_start;
    /* Time per epoch: measured on finished epochs (with their evaluation),
     * else extrapolated from this epoch's batches. */
    double per_epoch = p->epochs_done ? (p->epoch_start - p->train_start) / (double)p->epochs_done
                                      : (t - p->epoch_start) / frac;
    double eta = per_epoch * (1.0 - frac) + per_epoch * (double)(tp->epochs - tp->epoch);
    char el[32], et[32], line[256], alt[256];
    fmt_dur(el, sizeof el, elapsed);
    fmt_dur(et, sizeof et, eta);
    snprintf(line, sizeof line,
             "epoch %zu/%zu  batch %zu/%zu (%.0f%%)  loss %.4f acc %.2f%%  %s elapsed  ETA %s",
             tp->epoch, tp->epochs, tp->batch, tp->batches, 100.0 * frac, tp->loss,
             100.0 * tp->acc, el, et);
    snprintf(alt, sizeof alt, "ep %zu/%zu %.0f%% loss %.3f acc %.1f%% ETA %s", tp->epoch,
             tp->epochs, 100.0 * frac, tp->loss, 100.0 * tp->acc, et);
    draw(p, line, alt);
}

void progress_epoch(struct progress *p, const struct epoch_metrics *m, size_t epochs)
{
    p->epochs_done++;
    p->epoch_start = clock_seconds();
    if (p->quiet)
        return;
    progress_clear(p);
    fprintf(p->out, "epoch %zu/%zu  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%",
            m->epoch, epochs, m->train_loss, 100.0 * m->train_acc, m->test_loss,
            100.0 * m->test_acc);
    if (m->has_val)
        fprintf(p->out, "  val loss %.4f acc %.2f%%", m->val_loss, 100.0 * m->val_acc);
    fprintf(p->out, "  lr %g  %.2fs\n", m->lr, m->seconds);
    /* Let the next epoch's first batch draw at once. */
    p->last_draw = -INFINITY;
}

/* ---- feature stages ----------------------------------------------------- */

void progress_features_begin(struct progress *p)
{
    p->feat_start = clock_seconds();
    p->stage[0] = '\0';
    p->stage_finished = false;
    p->last_draw = -INFINITY;
}

int progress_feature(void *ctx, const char *stage, size_t done, size_t total)
{
    struct progress *p = ctx;
    if (p->quiet)
        return 0;
    double t = clock_seconds();
    if (strncmp(p->stage, stage, sizeof p->stage - 1) != 0 || (p->stage_finished && done < total)) {
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->stage_start = t;
        p->stage_last_line = t;
        p->stage_finished = false;
        p->last_draw = -INFINITY;
    }
    if (done >= total) {
        if (p->stage_finished)
            return 0; /* the end of a stage can be reported twice */
        p->stage_finished = true;
        progress_clear(p);
        fprintf(p->out, "runner: features: %s %zu/%zu (%.0fs)\n", stage, done, total,
                t - p->feat_start);
        return 0;
    }
    if (!p->tty) {
        if (t - p->stage_last_line >= FEATURE_LINE_EVERY) {
            p->stage_last_line = t;
            fprintf(p->out, "runner: features: %s %zu/%zu (%.0fs)\n", stage, done, total,
                    t - p->feat_start);
        }
        return 0;
    }
    if (!due(p, t))
        return 0;
    double frac = total ? (double)done / (double)total : 0.0;
    double in_stage = t - p->stage_start;
    char el[32], et[32], line[256], alt[256];
    fmt_dur(el, sizeof el, t - p->feat_start);
    fmt_dur(et, sizeof et, frac > 0.0 ? in_stage * (1.0 - frac) / frac : NAN);
    snprintf(line, sizeof line, "features: %s %zu/%zu (%.0f%%)  %s elapsed  ETA %s", stage,
             done, total, 100.0 * frac, el, et);
    snprintf(alt, sizeof alt, "%s %.0f%% ETA %s", stage, 100.0 * frac, et);
    draw(p, line, alt);
    return 0;
}

/* tuner: all threads or one, chosen from measured batch times. See
 * include/runner/tuner.h. */
#include "runner/tuner.h"

#include <math.h>
#include <string.h>

void tuner_init(struct tuner *t, size_t max_threads)
{
    memset(t, 0, sizeof *t);
    t->max = max_threads ? max_threads : 1;
    t->best = t->cur = t->max;
    t->phase = TUNER_WARM;
    t->warm_left = 2;
    t->rate[0] = t->rate[1] = -1.0;
    t->exploit = TUNER_EXPLOIT_MIN;
}

/* rate[] index of a choice. */
static size_t slot(const struct tuner *t, size_t threads)
{
    return threads == t->max ? 0 : 1;
}

/* Runs on `threads` from the next batch; the first batch after a switch is
 * not timed. */
static void run_on(struct tuner *t, size_t threads)
{
    t->phase = TUNER_RUN;
    if (threads != t->cur) {
        t->cur = threads;
        t->switches++;
        t->phase = TUNER_SETTLE;
    }
}

static void probe(struct tuner *t)
{
    t->probing = true;
    t->probes++;
    run_on(t, t->best == t->max ? 1 : t->max);
}

/* After a probe: the faster choice, and how long until the next probe. */
static void decide(struct tuner *t)
{
    size_t prev = t->best;
    t->best = t->rate[1] < t->rate[0] ? 1 : t->max;
    double r_best = t->rate[slot(t, t->best)], r_other = t->rate[1 - slot(t, t->best)];
    if (t->best == 1)
        t->exploit = TUNER_EXPLOIT_MIN;
    else if (t->best == prev && r_other > TUNER_CLEAR_MARGIN * r_best)
        t->exploit = 2 * t->exploit < TUNER_EXPLOIT_MAX ? 2 * t->exploit : TUNER_EXPLOIT_MAX;
    else
        t->exploit = TUNER_EXPLOIT_MIN;
    t->windows_left = t->best == 1 ? TUNER_EXPLOIT_ONE : t->exploit;
    t->chosen_rate = r_best;
    t->probing = false;
    run_on(t, t->best);
}

/* Seconds per row of the timed window, without its slowest batch. */
static double window_rate(const struct tuner *t)
{
    if (t->timed > 1 && t->rows > t->worst_rows)
        return (t->sec - t->worst_sec) / (t->rows - t->worst_rows);
    return t->rows > 0.0 ? t->sec / t->rows : 0.0;
}

void tuner_record(struct tuner *t, size_t rows, double seconds)
{
    if (t->max == 1 || rows == 0)
        return;
    if (!(seconds >= 0.0)) /* NaN or a clock that went back: not a time */
        seconds = 0.0;
    switch (t->phase) {
    case TUNER_OFF:
        return;
    case TUNER_WARM: {
        if (--t->warm_left > 0)
            return;
        if (seconds > TUNER_MAX_BATCH_SECONDS) {
            /* Long steps: their products keep all threads busy and the
             * threads meet seldom, so a probe would cost without finding
             * anything; all threads throughout. */
            t->phase = TUNER_OFF;
            return;
        }
        /* ceil(TUNER_WINDOW_SECONDS / seconds), clamped (any seconds >= 0). */
        double w = seconds > 0.0 ? ceil(TUNER_WINDOW_SECONDS / seconds) : (double)TUNER_MAX_WINDOW;
        t->window = w < (double)TUNER_MIN_WINDOW   ? TUNER_MIN_WINDOW
                    : w > (double)TUNER_MAX_WINDOW ? TUNER_MAX_WINDOW
                                                   : (size_t)w;
        /* The first window on all threads; it ends in a probe. */
        t->windows_left = 1;
        t->phase = TUNER_RUN;
        return;
    }
    case TUNER_SETTLE:
        t->phase = TUNER_RUN;
        return;
    case TUNER_RUN:
        break;
    }
    double r = (double)rows;
    t->timed++;
    t->sec += seconds;
    t->rows += r;
    if (t->timed == 1 || seconds * t->worst_rows > t->worst_sec * r) {
        t->worst_sec = seconds;
        t->worst_rows = r;
    }
    if (t->timed < t->window)
        return;
    double rate = window_rate(t);
    t->timed = 0;
    t->sec = t->rows = t->worst_sec = t->worst_rows = 0.0;
    t->rate[slot(t, t->cur)] = rate;
    if (t->probing) {
        decide(t);
        return;
    }
    if (t->chosen_rate <= 0.0)
        t->chosen_rate = rate;
    if (--t->windows_left == 0 || rate > TUNER_TRIGGER * t->chosen_rate)
        probe(t);
}

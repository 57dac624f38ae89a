/* test_tuner: the choice between all threads and one (tuner.h), driven with
 * made-up batch times: the window it sets from the warm-up, that it settles
 * on whichever choice is faster and probes the other only briefly, follows
 * a change of which one is faster, ignores one slow batch in a window,
 * compares per row (batches of different sizes), and never switches with
 * one thread. */
#include <math.h>
#include <stddef.h>

#include "check.h"
#include "runner/tuner.h"

/* Seconds per row of the made-up machine: on all threads or on one. */
struct machine {
    double all, one;
};

/* Runs n batches of `rows` rows; returns how many ran on one thread. */
static size_t drive(struct tuner *t, struct machine mc, size_t n, size_t rows)
{
    size_t on_one = 0;
    for (size_t i = 0; i < n; i++) {
        size_t th = tuner_threads(t);
        CHECK(th == 1 || th == t->max);
        on_one += th == 1;
        tuner_record(t, rows, (double)rows * (th == 1 ? mc.one : mc.all));
    }
    return on_one;
}

/* A tuner for two threads past its two warm-up batches of 64 rows. */
static void warm_up(struct tuner *t, double batch_seconds)
{
    tuner_init(t, 2);
    tuner_record(t, 64, batch_seconds);
    tuner_record(t, 64, batch_seconds);
}

static void test_window(void)
{
    static const struct {
        double seconds;
        size_t window;
    } cases[] = {{70e-6, 58}, {1e-3, 4}, {1.5e-3, 4}, {4e-3 / 300.0, 300}, {1e-7, 1024},
                 {0.0, 1024}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tuner t;
        tuner_init(&t, 2);
        tuner_record(&t, 64, 5.0); /* the first batch only warms up */
        CHECK(t.window == 0 && tuner_threads(&t) == 2);
        tuner_record(&t, 64, cases[i].seconds);
        CHECK_MSG(t.window == cases[i].window, "%g s: window %zu, expected %zu",
                  cases[i].seconds, t.window, cases[i].window);
        CHECK(tuner_threads(&t) == 2);
    }
}

/* Batches longer than TUNER_MAX_BATCH_SECONDS: all threads throughout, even
 * where one thread would be faster. */
static void test_long_batches(void)
{
    struct tuner t;
    tuner_init(&t, 2);
    CHECK(drive(&t, (struct machine){2.1e-3 / 128, 1e-3 / 128}, 1000, 128) == 0);
    CHECK(t.probes == 0 && t.switches == 0 && tuner_threads(&t) == 2);
    tuner_init(&t, 2); /* just under: tuned */
    CHECK(drive(&t, (struct machine){1.9e-3 / 128, 1e-3 / 128}, 1000, 128) > 900);
}

static void test_one_thread(void)
{
    struct tuner t;
    tuner_init(&t, 1);
    CHECK(drive(&t, (struct machine){2e-6, 1e-6}, 5000, 64) == 5000);
    CHECK(t.switches == 0);
    tuner_init(&t, 0); /* 0 counts as 1 */
    CHECK(tuner_threads(&t) == 1);
}

/* All threads faster (the report's net on two cores): one thread only in
 * the probes, which grow rarer while one thread keeps losing clearly. */
static void test_all_faster(void)
{
    struct tuner t;
    tuner_init(&t, 2);
    struct machine mc = {70e-6 / 64, 107e-6 / 64};
    size_t n = 100000, on_one = drive(&t, mc, n, 64);
    CHECK(t.window == 58);
    CHECK(t.best == 2 && t.exploit == TUNER_EXPLOIT_MAX);
    CHECK_NEAR(t.rate[0], mc.all, 1e-15);
    CHECK_NEAR(t.rate[1], mc.one, 1e-15);
    /* Probes after 1, 64, 128, 256, 256, ... windows on all threads: none
     * started by the trigger. */
    size_t expected = 0;
    for (size_t done = 2, ex = 1; done + t.window * ex < n; expected++) {
        done += t.window * ex + 1 + t.window + 1;
        ex = ex == 1 ? TUNER_EXPLOIT_MIN : 2 * ex < TUNER_EXPLOIT_MAX ? 2 * ex : TUNER_EXPLOIT_MAX;
    }
    CHECK_MSG(t.probes == expected, "%zu probes, expected %zu", t.probes, expected);
    CHECK(on_one <= t.probes * (t.window + 1) && on_one + t.window + 1 > t.probes * (t.window + 1));
    CHECK_MSG((double)on_one / (double)n < 0.01, "%zu of %zu on one thread", on_one, n);
}

/* One thread faster (the shared-core phase): all threads only in the
 * probes, one window in TUNER_EXPLOIT_ONE + 1. */
static void test_one_faster(void)
{
    struct tuner t;
    tuner_init(&t, 4);
    size_t n = 100000, on_one = drive(&t, (struct machine){130e-6 / 64, 107e-6 / 64}, n, 64);
    CHECK(t.best == 1);
    double share = (double)(TUNER_EXPLOIT_ONE * t.window) /
                   (double)((TUNER_EXPLOIT_ONE + 1) * t.window + 2);
    CHECK_MSG(fabs((double)on_one / (double)n - share) < 0.01, "%zu of %zu on one thread",
              on_one, n);
}

/* Which is faster changes: the tuner follows at once when the current choice
 * slows down (the trigger), however rare its probes had become, and within
 * TUNER_EXPLOIT_ONE windows when the other one speeds up. */
static void test_follows(void)
{
    struct tuner t;
    tuner_init(&t, 2);
    struct machine fast_all = {1e-6, 1.5e-6}, fast_one = {1.8e-6, 1.5e-6};
    drive(&t, fast_all, 40000, 64);
    CHECK(t.best == 2 && t.exploit == TUNER_EXPLOIT_MAX);
    size_t w = t.window;
    /* Slower by 1.8x: at most the window under way and the next one, then
     * a probe, decide. */
    drive(&t, fast_one, 3 * w + 2, 64);
    CHECK(t.best == 1 && tuner_threads(&t) == 1);
    size_t on_one = drive(&t, fast_one, 10000, 64);
    CHECK(on_one > 9000);
    /* All threads fast again: found by the next probe. */
    drive(&t, fast_all, (TUNER_EXPLOIT_ONE + 1) * w + 3, 64);
    CHECK(t.best == 2 && tuner_threads(&t) == 2);
    CHECK(t.switches > 4);
}

/* A window 1.3x slower than when its choice was chosen starts a probe; one
 * 1.1x slower does not. Either way the choice stays if it is still faster. */
static void test_trigger(void)
{
    struct tuner t;
    tuner_init(&t, 2);
    drive(&t, (struct machine){1e-6, 2e-6}, 5000, 64);
    size_t probes = t.probes, w = t.window;
    CHECK(t.best == 2 && !tuner_probing(&t));
    drive(&t, (struct machine){1.1e-6, 2e-6}, w, 64);
    CHECK(t.probes == probes);
    drive(&t, (struct machine){1.3e-6, 2e-6}, w, 64);
    CHECK(t.probes == probes + 1 && tuner_probing(&t) && tuner_threads(&t) == 1);
    drive(&t, (struct machine){1.3e-6, 2e-6}, w + 1, 64);
    CHECK(t.best == 2 && !tuner_probing(&t));
}

/* One batch of a window that takes 1000 times as long (a preemption) does
 * not make the faster choice look slower. */
static void test_outlier(void)
{
    struct tuner t;
    warm_up(&t, 64e-6);
    size_t w = t.window;
    CHECK(w == 63);
    for (size_t i = 0; i < w; i++) /* the window on all threads, one slow batch */
        tuner_record(&t, 64, i == 10 ? 64e-3 : 64e-6);
    CHECK(tuner_threads(&t) == 1);
    for (size_t i = 0; i < w + 1; i++) /* the probe: one thread 1.5x slower */
        tuner_record(&t, 64, 96e-6);
    CHECK(t.best == 2 && tuner_threads(&t) == 2);
    CHECK_NEAR(t.rate[0], 1e-6, 1e-18);
}

/* Rates are per row: a small last batch (of an epoch) takes less time but
 * is not faster per row. */
static void test_per_row(void)
{
    struct tuner t;
    warm_up(&t, 64e-6);
    size_t w = t.window;
    for (size_t i = 0; i < w; i++) /* all threads: 1 us per row */
        tuner_record(&t, 64, 64e-6);
    tuner_record(&t, 64, 1.0); /* the switch batch is not timed */
    for (size_t i = 0; i < w; i++) /* one thread: 1.25 us per row, small batches */
        tuner_record(&t, 8, 10e-6);
    CHECK(t.best == 2);
    CHECK_NEAR(t.rate[1], 1.25e-6, 1e-18);
}

/* Times that are not times (NaN, negative) count as 0 and break nothing. */
static void test_bad_times(void)
{
    struct tuner t;
    tuner_init(&t, 2);
    for (size_t i = 0; i < 3000; i++)
        tuner_record(&t, 64, i % 3 == 0 ? NAN : i % 3 == 1 ? -1.0 : 1e-4);
    CHECK(t.window == TUNER_MAX_WINDOW || t.window >= TUNER_MIN_WINDOW);
    CHECK(tuner_threads(&t) == 1 || tuner_threads(&t) == 2);
    tuner_record(&t, 0, 1.0); /* an empty batch is ignored */
}

int main(void)
{
    test_window();
    test_one_thread();
    test_long_batches();
    test_all_faster();
    test_one_faster();
    test_follows();
    test_trigger();
    test_outlier();
    test_per_row();
    test_bad_times();
    return check_exit("test_tuner");
}

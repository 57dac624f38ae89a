/* tuner: chooses, batch by batch, whether a training run's steps use all of
 * the model's threads or one, from the measured time of its own batches.
 *
 * Why: on a machine whose cores are shared (a VM's two vCPUs that the host
 * sometimes runs on one physical core), two threads can be slower than one
 * for a while: each gets half the core, and a small step then mostly waits
 * at the points where the threads meet. On this project's 2-vCPU VM that
 * phase comes and goes every few seconds; the report's 512-64-10 took about
 * 70 us a step on two threads, 107 on one and 115-140 on two in that phase.
 * The matrix products are bit-identical for any number of threads, so the
 * choice changes only the speed, never a result.
 *
 * How. From the second batch's time (the first one warms up) the tuner sets
 * a window of batches lasting about TUNER_WINDOW_SECONDS (at least
 * TUNER_MIN_WINDOW batches), and times every window. It times one window
 * on all threads and then one on one thread (a probe), and goes on with the
 * faster choice. It probes the other choice again
 *  - at once when a window of the current choice is more than
 *    TUNER_TRIGGER times slower than when it was chosen (the phase changed);
 *  - on all threads, after TUNER_EXPLOIT_MIN windows, doubling each time the
 *    probe loses by more than TUNER_CLEAR_MARGIN, up to TUNER_EXPLOIT_MAX:
 *    where one thread keeps losing clearly the probes cost little;
 *  - on one thread, after TUNER_EXPLOIT_ONE windows: one thread's speed does
 *    not show when two would be fast again, only a probe does.
 * The first batch after a switch is not timed (a sleeping worker has to wake
 * up), and neither is the slowest batch of a window (one preemption must not
 * decide). With one thread available it never switches, nor when the second
 * batch takes more than TUNER_MAX_BATCH_SECONDS: a step that long is large
 * products that keep every thread busy, with few points where the threads
 * wait for each other, and in the shared-core phase two threads then take
 * about as long as one, so probes would only cost (about 2% of an epoch of
 * the 3072-1024-512-10 net at batch 128, 11 ms a step).
 *
 * The tuner is plain state, fed with times by the caller (train.c); it reads
 * no clock itself, so tests drive it with made-up times. */
#ifndef RUNNER_TUNER_H
#define RUNNER_TUNER_H

#include <stdbool.h>
#include <stddef.h>

#define TUNER_WINDOW_SECONDS 0.004
#define TUNER_MIN_WINDOW ((size_t)4)
#define TUNER_MAX_WINDOW ((size_t)1024)
#define TUNER_EXPLOIT_MIN ((size_t)64)
#define TUNER_EXPLOIT_MAX ((size_t)256)
#define TUNER_EXPLOIT_ONE ((size_t)16)
#define TUNER_CLEAR_MARGIN 1.25
#define TUNER_TRIGGER 1.2
#define TUNER_MAX_BATCH_SECONDS 0.002

struct tuner {
    size_t max;          /* threads available (>= 1) */
    size_t best;         /* the choice found faster: max or 1 */
    size_t cur;          /* threads for the next batch */
    enum { TUNER_WARM, TUNER_SETTLE, TUNER_RUN, TUNER_OFF } phase;
    size_t window;       /* batches per timed window (0 until warmed up) */
    size_t warm_left;    /* warm-up batches left */
    bool probing;        /* cur is not best: this window is a probe */
    size_t windows_left; /* windows on best before the next probe */
    size_t exploit;      /* windows between probes on all threads */
    size_t timed;        /* batches timed so far in the current window */
    double sec, rows;    /* their seconds and rows */
    double worst_sec, worst_rows; /* the slowest of them per row */
    double rate[2];      /* seconds per row: [0] on max threads, [1] on one;
                          * negative until measured */
    double chosen_rate;  /* best's rate when it was chosen */
    size_t switches;     /* how often cur changed */
    size_t probes;       /* probe windows started */
};

void tuner_init(struct tuner *t, size_t max_threads);

/* Threads the next batch runs on. */
static inline size_t tuner_threads(const struct tuner *t)
{
    return t->cur;
}

/* Whether the next batch is part of a probe (runs on the choice that is
 * not the best one, to time it). */
static inline bool tuner_probing(const struct tuner *t)
{
    return t->probing;
}

/* Reports that the batch just run (on tuner_threads threads) had `rows`
 * rows and took `seconds`; may change tuner_threads for the next one. */
void tuner_record(struct tuner *t, size_t rows, double seconds);

#endif

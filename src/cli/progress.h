/* progress: what `runner run` shows on stderr while it works.
 *
 * On a terminal: one status line rewritten in place ("\r" + clear to end of
 * line, at most PROGRESS_HZ times a second) with the epoch, batch progress,
 * running loss/accuracy, elapsed time and ETA — or, while features are
 * computed, the stage, units done and ETA — plus a permanent line at the end
 * of each epoch and each feature stage. Not a terminal: only the permanent
 * lines (one per epoch; feature lines at most every 10 s and at the end of
 * each stage), never "\r" or escape sequences. quiet: nothing at all.
 * Used by cmd_run only; the state lives in the struct, not in globals. */
#ifndef RUNNER_CLI_PROGRESS_H
#define RUNNER_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "runner/results.h"
#include "runner/train.h"

#define PROGRESS_HZ 5.0

struct progress {
    FILE *out;
    bool quiet;
    bool tty;              /* out is a terminal: in-place line */
    bool dumb;             /* TERM unset or "dumb": pad with spaces instead of ESC[K */
    size_t shown;          /* characters of the in-place line on screen, 0 if none */
    double last_draw;      /* when the in-place line was last drawn */
    /* training */
    double train_start, epoch_start;
    size_t epochs_done;
    /* feature stages */
    double feat_start, stage_start, stage_last_line;
    char stage[64];
    bool stage_finished;
};

/* quiet silences everything; otherwise out is checked with isatty. */
void progress_init(struct progress *p, FILE *out, bool quiet);

/* Remove the in-place line (if any), so that a normal line can follow. */
void progress_clear(struct progress *p);

/* Training: call begin just before train_run_hooks; batch is the
 * train_batch_fn (ctx = the struct progress); epoch prints the permanent
 * per-epoch line. */
void progress_train_begin(struct progress *p);
void progress_batch(void *ctx, const struct train_progress *tp);
void progress_epoch(struct progress *p, const struct epoch_metrics *m, size_t epochs);

/* Feature stages: begin just before the feature computation starts (the
 * elapsed times count from there); progress_feature is the fset_progress_fn
 * (ctx = the struct progress). */
void progress_features_begin(struct progress *p);
int progress_feature(void *ctx, const char *stage, size_t done, size_t total);

#endif

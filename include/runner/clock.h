/* clock: wall-clock helpers shared by the CLI, the training loop and the
 * sweep module: a monotonic seconds counter for durations, the UTC time as
 * ISO 8601 text for records, and unique ids for runs and sweeps. None of it
 * feeds any computation of a run. */
#ifndef RUNNER_CLOCK_H
#define RUNNER_CLOCK_H

/* Seconds on the monotonic clock (for durations only). */
double clock_seconds(void);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ". */
void clock_utc_iso(char out[32]);

/* prefix + "YYYYMMDDTHHMMSSZ-xxxxxxxx": the UTC time plus 32 bits drawn from
 * the realtime clock's nanoseconds and the pid, so two processes starting in
 * the same second get different ids. prefix may be "" and is at most 16
 * characters. */
void clock_unique_id(const char *prefix, char out[64]);

#endif

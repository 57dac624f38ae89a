/* err: the error value every library function returns, and the exit codes.
 *
 * Library code never prints or exits. A function that can fail returns an
 * `int` status (RN_OK on success) and fills a `struct rn_err` with a one-line
 * message. Only the CLI (src/cli) prints the message and exits with the code,
 * so the status values below ARE the documented process exit codes. */
#ifndef RUNNER_ERR_H
#define RUNNER_ERR_H

#include <stddef.h>

enum rn_status {
    RN_OK = 0,
    RN_ERR_GENERIC = 1,      /* unexpected internal failure */
    RN_ERR_USAGE = 2,        /* bad command line */
    RN_ERR_CONFIG = 3,       /* experiment file: syntax, unknown key, type, range */
    RN_ERR_DATA = 4,         /* dataset files: missing, truncated, bad labels */
    RN_ERR_OUTPUT = 5,       /* results dir / JSON / SQLite could not be written */
    RN_ERR_DIVERGED = 6,     /* the run diverged (loss not finite); recorded */
    RN_ERR_NOMEM = 7,        /* allocation failed or sizes would overflow */
    RN_ERR_INTERRUPTED = 8   /* stopped by a signal; recorded as interrupted */
};

struct rn_err {
    int code;
    char msg[1024];
};

/* Set err (if non-NULL) to code and a printf-style message; returns code. */
int rn_fail(struct rn_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message: "<prefix>: <old message>"; returns err->code. */
int rn_prefix(struct rn_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checked size arithmetic: return 0 and set *out, or 1 on overflow. */
int rn_mul_size(size_t a, size_t b, size_t *out);
int rn_add_size(size_t a, size_t b, size_t *out);

#endif

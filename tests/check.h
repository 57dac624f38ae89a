/* check: a minimal test harness. Each CHECK that fails prints file:line and
 * the expression and marks the test failed; main returns check_exit(). */
#ifndef RUNNER_TESTS_CHECK_H
#define RUNNER_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures_;
static int check_count_;

#define CHECK(cond)                                                          \
    do {                                                                     \
        check_count_++;                                                      \
        if (!(cond)) {                                                       \
            check_failures_++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        check_count_++;                                                      \
        if (!(cond)) {                                                       \
            check_failures_++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double check_a_ = (a), check_b_ = (b);                                 \
        check_count_++;                                                        \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                           \
            check_failures_++;                                                 \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g\n", \
                    __FILE__, __LINE__, #a, check_a_, #b, check_b_);           \
        }                                                                      \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                          \
    do {                                                                         \
        const char *check_h_ = (hay), *check_n_ = (needle);                      \
        check_count_++;                                                          \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                          \
            check_failures_++;                                                   \
            fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n",        \
                    __FILE__, __LINE__, check_h_ ? check_h_ : "(null)", check_n_); \
        }                                                                        \
    } while (0)

static inline int check_exit(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count_, check_failures_);
    return check_failures_ ? 1 : 0;
}

#endif

/* e2e: helpers for end-to-end tests that run the built `runner` binary on
 * the small generated dataset ($RUNNER_TESTDATA) in a temporary directory. */
#ifndef RUNNER_TESTS_E2E_H
#define RUNNER_TESTS_E2E_H

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__((unused)) const char *e2e_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "e2e: environment variable %s is not set (run through ctest)\n", name);
        exit(2);
    }
    return v;
}

static __attribute__((unused)) char *e2e_tmpdir(void)
{
    static char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "/tmp/runner-e2e-XXXXXX");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        exit(2);
    }
    return tmpl;
}

static __attribute__((unused)) int e2e_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static __attribute__((unused)) void e2e_rmrf(const char *dir)
{
    nftw(dir, e2e_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static __attribute__((unused)) void e2e_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "e2e: cannot write %s\n", path);
        exit(2);
    }
}

/* Whole file as a NUL-terminated string, or NULL if it cannot be read. */
static __attribute__((unused)) char *e2e_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static __attribute__((unused)) int e2e_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Run argv (NULL-terminated) with stdout and stderr sent to files (either
 * may be NULL for /dev/null); returns the exit code, or 128+signal. */
static __attribute__((unused)) int e2e_run(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int fo = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0)
            _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* printf into a malloc'd string. */
static __attribute__((unused)) char *e2e_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) char *e2e_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

#endif

/* runner -m: a sweep. Expands the axes (the file's sweep: section and the
 * command line's comma lists) into runs, checks every run's config before
 * anything starts, records the sweep, then runs each run as a child process
 * (`runner run FILE overrides... --sweep-id ID --quiet`, posix_spawn of this
 * executable, no shell), -j at a time, each writing to the same database.
 * One failing run does not stop the others; the end prints a summary and the
 * exit code is the most serious among the runs. SIGINT, SIGTERM and SIGHUP
 * stop launching and are forwarded to the running children (each child has
 * its own process group, so it gets the signal once, from here). With --emit slurm
 * DIR, writes a Slurm job array instead of running. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "runner/clock.h"
#include "runner/config.h"
#include "runner/fsutil.h"
#include "runner/results.h"
#include "runner/sweep.h"

extern char **environ;

#define REPORT_FD 3 /* where a child writes "run ID" / "skipped ID" */

enum outcome { OUT_PENDING, OUT_RUNNING, OUT_COMPLETED, OUT_SKIPPED, OUT_FAILED, OUT_DIVERGED,
               OUT_INTERRUPTED, OUT_NOT_STARTED };

struct sweep_run {
    char **overrides;      /* "key=value", the name last when the sweep varies */
    size_t n_overrides;
    char *name;
    bool own_threads;      /* the config sets threads itself */
    pid_t pid;
    int report;            /* read end of the report pipe, -1 when closed */
    double started;
    enum outcome outcome;
    int exit_code;         /* of a failed run */
    long long run_id;      /* recorded as, or completed as (skipped) */
    double seconds;
};

/* Set by the signal handler, read by the launch loop: the one piece of
 * process-wide state a signal handler can talk through. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    stop_requested = sig;
}

static size_t online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

static void free_runs(struct sweep_run *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++) {
        sweep_strv_free(runs[i].overrides, runs[i].n_overrides);
        free(runs[i].name);
        if (runs[i].report >= 0)
            close(runs[i].report);
    }
    free(runs);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Load run i's config with its overrides (this checks every value), name it
 * base-suffix when the sweep varies, and keep what launching needs. *db gets
 * the run's database (owned by the caller). */
static int plan_run(const struct run_options *opt, const struct sweep_plan *plan, size_t i,
                    struct sweep_run *r, char **db, struct rn_err *err)
{
    int rc = sweep_run_overrides(plan, i, true, &r->overrides, &r->n_overrides, err);
    if (rc != RN_OK)
        return rc;
    struct experiment cfg;
    /* the name axis (if any) gives the base name: load with it first */
    char **with_name = NULL;
    size_t n_with_name = 0;
    rc = sweep_run_overrides(plan, i, false, &with_name, &n_with_name, err);
    if (rc != RN_OK)
        return rc;
    rc = cfg_load_file_ex(opt->config_path, (const char *const *)with_name, n_with_name, &cfg,
                          err);
    sweep_strv_free(with_name, n_with_name);
    if (rc != RN_OK)
        return rc;
    char suffix[512];
    sweep_run_suffix(plan, i, suffix, sizeof suffix);
    size_t len = strlen(cfg.name) + strlen(suffix) + 1;
    r->name = malloc(len);
    if (r->name)
        snprintf(r->name, len, "%s%s", cfg.name, suffix);
    cfg_free(&cfg);
    if (!r->name)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    /* the name axis, or the sweep's own name, goes last */
    bool named = false;
    for (size_t a = 0; a < plan->n_axes; a++)
        named = named || strcmp(plan->axes[a].path, "name") == 0;
    if (suffix[0] || named) {
        char *q = cfg_yaml_quote(r->name);
        size_t n = q ? strlen(q) + 6 : 0;
        char *o = q ? malloc(n) : NULL;
        char **nv = o ? realloc(r->overrides, (r->n_overrides + 1) * sizeof *nv) : NULL;
        if (!nv) {
            free(q);
            free(o);
            return rn_fail(err, RN_ERR_NOMEM, "out of memory");
        }
        snprintf(o, n, "name=%s", q);
        free(q);
        r->overrides = nv;
        r->overrides[r->n_overrides++] = o;
    }
    /* the final list, as the child will see it */
    rc = cfg_load_file_ex(opt->config_path, (const char *const *)r->overrides, r->n_overrides,
                          &cfg, err);
    if (rc != RN_OK)
        return rc;
    r->own_threads = cfg.threads != 0;
    *db = dup_str(opt->db_path ? opt->db_path : cfg.output.database);
    cfg_free(&cfg);
    if (!*db)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    r->report = -1;
    return RN_OK;
}

/* ---- running ---------------------------------------------------------- */

/* Path of this executable, for the children. */
static int self_exe(char *buf, size_t cap, struct rn_err *err)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1)
        return rn_fail(err, RN_ERR_GENERIC, "cannot find the runner executable (/proc/self/exe)");
    buf[n] = '\0';
    return RN_OK;
}

/* Start run i: a child process with a pipe on REPORT_FD. */
static int launch(const struct run_options *opt, const char *exe, const char *sweep_id,
                  size_t threads, struct sweep_run *r, struct rn_err *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return rn_fail(err, RN_ERR_GENERIC, "cannot create a pipe: %s", strerror(errno));
    /* keep the write end off REPORT_FD itself, so dup2 really copies it */
    if (fds[1] == REPORT_FD) {
        int moved = fcntl(fds[1], F_DUPFD, REPORT_FD + 1);
        close(fds[1]);
        fds[1] = moved;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    if (fds[1] >= 0)
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    char tbuf[32], fdbuf[16];
    snprintf(tbuf, sizeof tbuf, "%zu", threads);
    snprintf(fdbuf, sizeof fdbuf, "%d", REPORT_FD);
    size_t cap = r->n_overrides + 24, k = 0;
    char **argv = calloc(cap, sizeof *argv);
    if (!argv || fds[1] < 0) {
        free(argv);
        close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    }
    argv[k++] = (char *)exe;
    argv[k++] = "run";
    argv[k++] = (char *)opt->config_path;
    for (size_t i = 0; i < r->n_overrides; i++)
        argv[k++] = r->overrides[i];
    argv[k++] = "--sweep-id";
    argv[k++] = (char *)sweep_id;
    argv[k++] = "--quiet";
    argv[k++] = "--report-fd";
    argv[k++] = fdbuf;
    if (opt->db_path) {
        argv[k++] = "--db";
        argv[k++] = (char *)opt->db_path;
    }
    if (opt->results_dir) {
        argv[k++] = "--results-dir";
        argv[k++] = (char *)opt->results_dir;
    }
    if (threads) {
        argv[k++] = "--threads";
        argv[k++] = tbuf;
    }
    if (opt->force)
        argv[k++] = "--force";
    argv[k] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, fds[1], REPORT_FD);
    if (rc == 0)
        rc = posix_spawnattr_init(&attr);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &dfl);
    /* Each child in its own process group: Ctrl-C reaches only this process,
     * which forwards it once to every running child. */
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    if (rc == 0)
        rc = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(argv);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return rn_fail(err, RN_ERR_GENERIC, "cannot start %s: %s", exe, strerror(rc));
    }
    r->pid = pid;
    r->report = fds[0];
    r->outcome = OUT_RUNNING;
    r->started = clock_seconds();
    return RN_OK;
}

/* What a finished child said and how it ended. */
static void finish(struct sweep_run *r, int status)
{
    char buf[128];
    size_t n = 0;
    ssize_t got;
    while (n + 1 < sizeof buf && (got = read(r->report, buf + n, sizeof buf - 1 - n)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)got;
    }
    buf[n] = '\0';
    close(r->report);
    r->report = -1;
    r->seconds = clock_seconds() - r->started;
    long long id = 0;
    bool skipped = sscanf(buf, "skipped %lld", &id) == 1;
    if (!skipped)
        sscanf(buf, "run %lld", &id);
    r->run_id = id;
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        r->exit_code = code;
        r->outcome = code == RN_OK              ? (skipped ? OUT_SKIPPED : OUT_COMPLETED)
                     : code == RN_ERR_DIVERGED    ? OUT_DIVERGED
                     : code == RN_ERR_INTERRUPTED ? OUT_INTERRUPTED
                                                  : OUT_FAILED;
    } else {
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        r->exit_code = 128 + sig;
        r->outcome = (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) ? OUT_INTERRUPTED
                                                                         : OUT_FAILED;
    }
}

static const char *outcome_name(enum outcome o)
{
    switch (o) {
    case OUT_PENDING: return "pending";
    case OUT_RUNNING: return "running";
    case OUT_COMPLETED: return "completed";
    case OUT_SKIPPED: return "skipped";
    case OUT_FAILED: return "failed";
    case OUT_DIVERGED: return "diverged";
    case OUT_INTERRUPTED: return "interrupted";
    case OUT_NOT_STARTED: return "not started";
    }
    return "?";
}

static void describe(const struct sweep_run *r, char *buf, size_t cap)
{
    switch (r->outcome) {
    case OUT_COMPLETED: snprintf(buf, cap, "completed as run %lld", r->run_id); break;
    case OUT_SKIPPED: snprintf(buf, cap, "skipped: completed as run %lld", r->run_id); break;
    case OUT_FAILED:
        if (r->exit_code > 128)
            snprintf(buf, cap, "failed (killed by signal %d)", r->exit_code - 128);
        else
            snprintf(buf, cap, "failed (exit %d)", r->exit_code);
        break;
    case OUT_DIVERGED: snprintf(buf, cap, "diverged (exit %d)", RN_ERR_DIVERGED); break;
    default: snprintf(buf, cap, "%s", outcome_name(r->outcome)); break;
    }
}

/* The most serious code among the runs: interrupted, then failures of the
 * machine or setup (1 internal, 7 memory, 5 output, 4 data, 3 config,
 * 2 usage), then 6 diverged. */
static int sweep_exit_code(const struct sweep_run *runs, size_t n, bool stopped)
{
    static const int order[] = {RN_ERR_INTERRUPTED, RN_ERR_GENERIC, RN_ERR_NOMEM,
                                RN_ERR_OUTPUT, RN_ERR_DATA, RN_ERR_CONFIG, RN_ERR_USAGE,
                                RN_ERR_DIVERGED};
    if (stopped)
        return RN_ERR_INTERRUPTED;
    int worst = RN_OK;
    size_t best_rank = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        int code = runs[i].outcome == OUT_INTERRUPTED ? RN_ERR_INTERRUPTED
                   : runs[i].outcome == OUT_DIVERGED  ? RN_ERR_DIVERGED
                   : runs[i].outcome == OUT_FAILED
                       ? (runs[i].exit_code > 0 && runs[i].exit_code < 9 ? runs[i].exit_code
                                                                         : RN_ERR_GENERIC)
                       : RN_OK;
        for (size_t k = 0; code != RN_OK && k < best_rank; k++)
            if (order[k] == code) {
                best_rank = k;
                worst = code;
            }
    }
    return worst;
}

static void print_summary(const char *sweep_id, const struct sweep_run *runs, size_t n)
{
    size_t count[OUT_NOT_STARTED + 1] = {0};
    size_t width = 4;
    for (size_t i = 0; i < n; i++) {
        count[runs[i].outcome]++;
        if (strlen(runs[i].name) > width)
            width = strlen(runs[i].name);
    }
    if (width > 60)
        width = 60;
    fprintf(stderr, "runner: sweep %s: %zu run%s:", sweep_id, n, n == 1 ? "" : "s");
    const char *sep = " ";
    for (int o = OUT_COMPLETED; o <= OUT_NOT_STARTED; o++)
        if (count[o]) {
            fprintf(stderr, "%s%zu %s", sep, count[o], outcome_name((enum outcome)o));
            sep = ", ";
        }
    fprintf(stderr, "\n  %4s  %-*s  %s\n", "#", (int)width, "name", "outcome");
    for (size_t i = 0; i < n; i++) {
        char what[96];
        describe(&runs[i], what, sizeof what);
        fprintf(stderr, "  %4zu  %-*.*s  %s\n", i + 1, (int)width, (int)width, runs[i].name,
                what);
    }
}

static int run_children(const struct run_options *opt, const char *sweep_id,
                        struct sweep_run *runs, size_t n, struct rn_err *err)
{
    char exe[PATH_MAX];
    int rc = self_exe(exe, sizeof exe, err);
    if (rc != RN_OK)
        return rc;
    size_t jobs = opt->jobs ? opt->jobs : 1;
    size_t cpus = online_cpus(), per_run = cpus / jobs ? cpus / jobs : 1;
    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: waiting returns early */
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    size_t next = 0, running = 0;
    bool forwarded = false;
    while (next < n || running > 0) {
        while (!stop_requested && running < jobs && next < n) {
            struct sweep_run *r = &runs[next];
            size_t threads = opt->threads ? opt->threads : r->own_threads ? 0 : per_run;
            rc = launch(opt, exe, sweep_id, threads, r, err);
            if (rc != RN_OK) {
                cli_error("[%zu/%zu] %s: %s", next + 1, n, r->name, err->msg);
                r->outcome = OUT_FAILED;
                r->exit_code = rc;
                rc = RN_OK;
            } else {
                running++;
                if (!opt->quiet)
                    fprintf(stderr, "runner: [%zu/%zu] started %s\n", next + 1, n, r->name);
            }
            next++;
        }
        if (stop_requested && !forwarded) {
            forwarded = true;
            for (size_t i = 0; i < n; i++)
                if (runs[i].outcome == OUT_RUNNING)
                    kill(runs[i].pid, (int)stop_requested);
            fprintf(stderr, "runner: stopping the sweep: no new runs; %zu running stopped\n",
                    running);
        }
        if (running == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (pid < 0)
            break; /* no children left that we know of */
        for (size_t i = 0; i < n; i++) {
            struct sweep_run *r = &runs[i];
            if (r->outcome != OUT_RUNNING || r->pid != pid)
                continue;
            finish(r, status);
            running--;
            char what[96];
            describe(r, what, sizeof what);
            if (!opt->quiet)
                fprintf(stderr, "runner: [%zu/%zu] %s: %s (%.1fs)\n", i + 1, n, r->name, what,
                        r->seconds);
        }
    }
    for (size_t i = next; i < n; i++)
        runs[i].outcome = OUT_NOT_STARTED;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return RN_OK;
}

/* ---- Slurm ----------------------------------------------------------- */

/* s in single quotes for bash ('\'' for each quote). */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* Only [A-Za-z0-9/._+-]: safe on an #SBATCH line. */
static bool plain_path(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '.' || c == '_' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool only_chars(const char *s, const char *allowed)
{
    return *s && strspn(s, allowed) == strlen(s);
}

static int close_checked(FILE *f, const char *path, struct rn_err *err)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return rn_fail(err, RN_ERR_OUTPUT, "%s: cannot write: %s", path, strerror(errno));
    return RN_OK;
}

static int emit_slurm(const struct run_options *opt, const char *sweep_id,
                      const struct sweep_plan *plan, const struct sweep_run *runs, size_t n,
                      struct rn_err *err)
{
    const char *time_limit = opt->sbatch_time ? opt->sbatch_time : "01:00:00";
    if (!only_chars(time_limit, "0123456789:-"))
        return rn_fail(err, RN_ERR_USAGE,
                       "--sbatch-time: expected a Slurm time such as 01:00:00 or 1-00:00:00, "
                       "got '%s'", time_limit);
    if (opt->sbatch_mem && !only_chars(opt->sbatch_mem, "0123456789KMGTkmgt"))
        return rn_fail(err, RN_ERR_USAGE, "--sbatch-mem: expected a size such as 8G, got '%s'",
                       opt->sbatch_mem);
    if (opt->sbatch_partition &&
        !only_chars(opt->sbatch_partition,
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,-"))
        return rn_fail(err, RN_ERR_USAGE, "--sbatch-partition: expected a partition name, got '%s'",
                       opt->sbatch_partition);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < runs[i].n_overrides; j++)
            if (strpbrk(runs[i].overrides[j], "\t\n\r"))
                return rn_fail(err, RN_ERR_USAGE,
                               "override `%s`: tabs and line breaks cannot go into runs.tsv",
                               runs[i].overrides[j]);
    char exe[PATH_MAX], dir[PATH_MAX], config[PATH_MAX], cwd[PATH_MAX];
    int rc = self_exe(exe, sizeof exe, err);
    if (rc != RN_OK)
        return rc;
    if (!realpath(opt->config_path, config))
        return rn_fail(err, RN_ERR_CONFIG, "%s: %s", opt->config_path, strerror(errno));
    if (strpbrk(config, "\t\n\r"))
        return rn_fail(err, RN_ERR_USAGE, "%s: tabs and line breaks cannot go into runs.tsv",
                       config);
    if (!getcwd(cwd, sizeof cwd))
        return rn_fail(err, RN_ERR_GENERIC, "cannot read the current directory: %s",
                       strerror(errno));
    char sub[PATH_MAX + 32];
    const char *subdirs[] = {"", "/shards", "/results", "/logs"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(sub, sizeof sub, "%s%s", opt->emit_slurm, subdirs[i]);
        rc = fs_mkdirs(sub, err);
        if (rc != RN_OK)
            return rc;
    }
    if (!realpath(opt->emit_slurm, dir))
        return rn_fail(err, RN_ERR_OUTPUT, "%s: %s", opt->emit_slurm, strerror(errno));

    /* runs.tsv: one line per array task, the arguments tab-separated */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/runs.tsv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return rn_fail(err, RN_ERR_OUTPUT, "%s: cannot write: %s", path, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        fputs(config, f);
        for (size_t j = 0; j < runs[i].n_overrides; j++)
            fprintf(f, "\t%s", runs[i].overrides[j]);
        fputc('\n', f);
    }
    rc = close_checked(f, path, err);
    if (rc != RN_OK)
        return rc;

    snprintf(path, sizeof path, "%s/sweep.sbatch", dir);
    f = fopen(path, "w");
    if (!f)
        return rn_fail(err, RN_ERR_OUTPUT, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "#!/bin/bash\n"
               "# Slurm job array of runner sweep %s: %zu runs of %s,\n"
               "# one array task per line of runs.tsv. Written by runner %s (runner -m ... --emit "
               "slurm).\n"
               "#   submit:   sbatch %s/sweep.sbatch\n"
               "#   by hand:  SLURM_ARRAY_TASK_ID=0 bash %s/sweep.sbatch\n"
               "#   merge:    runner merge OUT.db %s/shards/*.db\n"
               "# Each task writes its own database shard (shards/task-N.db) and its JSON\n"
               "# file to results/; no task shares a file with another.\n",
            sweep_id, n, config, RUNNER_VERSION, dir, dir, dir);
    fprintf(f, "#SBATCH --job-name=runner-sweep\n#SBATCH --array=0-%zu\n#SBATCH --time=%s\n",
            n - 1, time_limit);
    fprintf(f, "#SBATCH --cpus-per-task=%zu\n", opt->sbatch_cpus ? opt->sbatch_cpus : 1);
    if (opt->sbatch_mem)
        fprintf(f, "#SBATCH --mem=%s\n", opt->sbatch_mem);
    if (opt->sbatch_partition)
        fprintf(f, "#SBATCH --partition=%s\n", opt->sbatch_partition);
    if (plain_path(dir))
        fprintf(f, "#SBATCH --output=%s/logs/task-%%a.out\n", dir);
    if (plain_path(cwd))
        fprintf(f, "#SBATCH --chdir=%s\n", cwd);
    fputs("set -euo pipefail\n", f);
    fputs("dir=", f);
    put_quoted(f, dir);
    fputs("\nrunner=", f);
    put_quoted(f, exe);
    fputs("\nsweep_id=", f);
    put_quoted(f, sweep_id);
    fprintf(f, "\nn_runs=%zu\n", n);
    fputs("# relative paths in the experiment file are relative to where the sweep was made\n"
          "cd ",
          f);
    put_quoted(f, cwd);
    fputs("\n"
          "task=\"${SLURM_ARRAY_TASK_ID:?is not set (sbatch --array sets it)}\"\n"
          "case \"$task\" in\n"
          "    ''|*[!0-9]*) echo \"sweep.sbatch: SLURM_ARRAY_TASK_ID '$task' is not a number\" >&2; "
          "exit 2 ;;\n"
          "esac\n"
          "if [ \"$task\" -ge \"$n_runs\" ]; then\n"
          "    echo \"sweep.sbatch: SLURM_ARRAY_TASK_ID $task is not in 0..$((n_runs - 1))\" >&2\n"
          "    exit 2\n"
          "fi\n"
          "# the task's arguments: read as data, never evaluated\n"
          "mapfile -t lines < \"$dir/runs.tsv\"\n"
          "IFS=$'\\t' read -r -a args <<< \"${lines[$task]}\"\n",
          f);
    if (opt->threads)
        fprintf(f, "threads=(--threads %zu)\n", opt->threads);
    else
        fputs("threads=()\n"
              "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then threads=(--threads "
              "\"$SLURM_CPUS_PER_TASK\"); fi\n",
              f);
    fprintf(f, "exec \"$runner\" run \"${args[@]}\" --db \"$dir/shards/task-$task.db\" \\\n"
               "    --results-dir \"$dir/results\" --sweep-id \"$sweep_id\" \"${threads[@]}\"%s\n",
            opt->force ? " --force" : "");
    rc = close_checked(f, path, err);
    if (rc == RN_OK && chmod(path, 0755) != 0)
        rc = rn_fail(err, RN_ERR_OUTPUT, "%s: cannot make it executable: %s", path,
                     strerror(errno));
    if (rc != RN_OK)
        return rc;

    snprintf(path, sizeof path, "%s/README", dir);
    f = fopen(path, "w");
    if (!f)
        return rn_fail(err, RN_ERR_OUTPUT, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f,
            "runner sweep %s: %zu runs of %s\n\n"
            "  sbatch %s/sweep.sbatch                  # submit the job array\n"
            "  squeue --me                             # watch it\n"
            "  runner merge OUT.db %s/shards/*.db      # then merge the shards\n\n"
            "runs.tsv       one line per array task (task N = line N+1): the experiment file\n"
            "               and its overrides, tab-separated\n"
            "sweep.sbatch   the job script; SLURM_ARRAY_TASK_ID=N bash sweep.sbatch runs task N\n"
            "               here, without Slurm\n"
            "shards/        task-N.db, one SQLite database per task; sweep.db holds the\n"
            "               sweep's row (its keys and values)\n"
            "results/       the runs' JSON files\n"
            "logs/          the tasks' output (task-N.out)\n",
            sweep_id, n, config, dir, dir);
    rc = close_checked(f, path, err);
    if (rc != RN_OK)
        return rc;

    /* the sweep's row, for runner merge to bring along */
    snprintf(path, sizeof path, "%s/shards/sweep.db", dir);
    cJSON *spec = sweep_spec_json(plan);
    char *spec_text = spec ? cJSON_PrintUnformatted(spec) : NULL;
    cJSON_Delete(spec);
    if (!spec_text)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    char created[32];
    clock_utc_iso(created);
    struct store *st = NULL;
    rc = store_open(path, &st, err);
    if (rc == RN_OK)
        rc = store_sweep_begin(st, sweep_id, created, config, spec_text, n, err);
    store_close(st);
    cJSON_free(spec_text);
    if (rc != RN_OK)
        return rc;
    printf("%s/sweep.sbatch\n", dir);
    fprintf(stderr,
            "runner: sweep %s: %zu runs written to %s (submit: sbatch %s/sweep.sbatch; "
            "then: runner merge OUT.db %s/shards/*.db)\n",
            sweep_id, n, dir, dir, dir);
    return fflush(stdout) == 0 ? RN_OK
                               : rn_fail(err, RN_ERR_OUTPUT, "cannot write to standard output");
}

/* ---- the command ------------------------------------------------------ */

int cmd_sweep(const struct run_options *opt)
{
    struct rn_err err = {0};
    struct experiment base;
    struct sweep_plan plan = {0};
    struct sweep_run *runs = NULL;
    char *db = NULL, *db_dir = NULL;
    size_t n = 0;
    bool summarised = false; /* the runs' outcomes were printed: no error line */
    int rc = cfg_load_file(opt->config_path, &base, &err);
    if (rc != RN_OK) {
        cli_error("%s", err.msg);
        return rc;
    }
    rc = sweep_plan_build(base.sweep, base.n_sweep, opt->overrides, opt->n_overrides, true,
                          &plan, &err);
    cfg_free(&base);
    if (rc != RN_OK)
        goto done;
    n = plan.n_runs;
    runs = calloc(n, sizeof *runs);
    if (!runs) {
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory for %zu runs", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        runs[i].report = -1;
    /* every run's config is checked before anything runs */
    for (size_t i = 0; i < n; i++) {
        char *run_db = NULL;
        rc = plan_run(opt, &plan, i, &runs[i], &run_db, &err);
        if (rc == RN_OK && db && strcmp(db, run_db) != 0)
            rc = rn_fail(&err, RN_ERR_CONFIG,
                         "run %zu of the sweep writes to %s, run 1 to %s; a sweep writes one "
                         "database (use --db)",
                         i + 1, run_db, db);
        if (!db)
            db = run_db;
        else
            free(run_db);
        if (rc != RN_OK) {
            rn_prefix(&err, "sweep run %zu of %zu", i + 1, n);
            goto done;
        }
    }
    char sweep_id[64];
    snprintf(sweep_id, sizeof sweep_id, "%s", opt->sweep_id ? opt->sweep_id : "");
    if (!opt->sweep_id)
        sweep_make_id(sweep_id);
    if (opt->emit_slurm) {
        rc = emit_slurm(opt, opt->sweep_id ? opt->sweep_id : sweep_id, &plan, runs, n, &err);
        goto done;
    }
    const char *id = opt->sweep_id ? opt->sweep_id : sweep_id;

    /* record the sweep, then run it */
    db_dir = fs_dirname(db);
    if (!db_dir) {
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = fs_mkdirs(db_dir, &err);
    cJSON *spec = rc == RN_OK ? sweep_spec_json(&plan) : NULL;
    char *spec_text = spec ? cJSON_PrintUnformatted(spec) : NULL;
    cJSON_Delete(spec);
    if (rc == RN_OK && !spec_text)
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory");
    if (rc == RN_OK) {
        char created[32];
        clock_utc_iso(created);
        struct store *st = NULL;
        rc = store_open(db, &st, &err);
        if (rc == RN_OK)
            rc = store_sweep_begin(st, id, created, opt->config_path, spec_text, n, &err);
        store_close(st);
    }
    cJSON_free(spec_text);
    if (rc != RN_OK)
        goto done;
    if (!opt->quiet)
        fprintf(stderr, "runner: sweep %s: %zu run%s, %zu at a time, database %s\n", id, n,
                n == 1 ? "" : "s", opt->jobs ? opt->jobs : 1, db);
    rc = run_children(opt, id, runs, n, &err);
    if (rc != RN_OK)
        goto done;
    print_summary(id, runs, n);
    rc = sweep_exit_code(runs, n, stop_requested != 0);
    summarised = true;

done:
    if (rc != RN_OK && !summarised)
        cli_error("%s", err.msg);
    free_runs(runs, n);
    sweep_plan_free(&plan);
    free(db);
    free(db_dir);
    return rc;
}

/* runner: command-line entry point. Parses the command line and dispatches;
 * usage goes to stdout for --help and to stderr (exit 2) on misuse. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runner/err.h"

static const char usage_text[] =
    "usage: runner [run] EXPERIMENT.yaml [--db PATH] [--results-dir DIR] [--threads N]\n"
    "                    [--quiet]\n"
    "       runner resume RUN [--db PATH] [--threads N] [--quiet]\n"
    "       runner merge OUT.db SHARD.db...\n"
    "       runner validate EXPERIMENT.yaml...\n"
    "       runner schema\n"
    "       runner --help | --version\n"
    "\n"
    "  run       train the experiment and record it (JSON + SQLite); --threads N\n"
    "            sets the worker threads (default: all CPUs; results are identical\n"
    "            for any N)\n"
    "  resume    continue an interrupted run (id, uid or name) from its last\n"
    "            completed epoch, with the same results as an uninterrupted run\n"
    "  merge     merge runner databases (e.g. Slurm shards) into OUT.db\n"
    "  validate  check experiment files without running them\n"
    "  schema    print the JSON Schema of experiment files\n"
    "\n"
    "Exit codes: 0 ok, 1 internal error, 2 usage, 3 config error, 4 data error,\n"
    "5 output error (results dir / database), 6 run diverged, 7 out of memory,\n"
    "8 interrupted.\n";

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("runner: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("runner: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    va_end(ap);
    return RN_ERR_USAGE;
}

static int parse_run(int argc, char **argv, int i)
{
    struct run_options opt = {0};
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--db") == 0 || strcmp(a, "--results-dir") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            if (a[2] == 'd')
                opt.db_path = argv[++i];
            else
                opt.results_dir = argv[++i];
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            char *end = NULL;
            errno = 0;
            unsigned long long t = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || t < 1 || t > 256)
                return usage_error("--threads: expected an integer from 1 to 256, got '%s'", v);
            opt.threads = (size_t)t;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opt.quiet = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (!opt.config_path) {
            opt.config_path = a;
        } else {
            return usage_error("unexpected argument '%s' (one experiment file per run)", a);
        }
    }
    if (!opt.config_path)
        return usage_error("%s", "missing experiment file");
    return cmd_run(&opt);
}

static int parse_resume(int argc, char **argv, int i)
{
    struct resume_options opt = {0};
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--db") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            opt.db_path = argv[++i];
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            char *end = NULL;
            errno = 0;
            unsigned long long t = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || t < 1 || t > 256)
                return usage_error("--threads: expected an integer from 1 to 256, got '%s'", v);
            opt.threads = (size_t)t;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opt.quiet = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (!opt.run) {
            opt.run = a;
        } else {
            return usage_error("unexpected argument '%s' (one run to resume)", a);
        }
    }
    if (!opt.run)
        return usage_error("%s", "resume needs a run (id, uid or name)");
    return cmd_resume(&opt);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return RN_ERR_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return fflush(stdout) == 0 ? 0 : RN_ERR_OUTPUT;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("runner %s\n", RUNNER_VERSION);
        return fflush(stdout) == 0 ? 0 : RN_ERR_OUTPUT;
    }
    if (strcmp(cmd, "validate") == 0) {
        if (argc < 3)
            return usage_error("%s", "validate needs at least one file");
        return cmd_validate(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "schema") == 0) {
        if (argc != 2)
            return usage_error("%s", "schema takes no arguments");
        return cmd_schema();
    }
    if (strcmp(cmd, "resume") == 0)
        return parse_resume(argc, argv, 2);
    if (strcmp(cmd, "merge") == 0) {
        if (argc < 4)
            return usage_error("%s", "merge needs OUT.db and at least one SHARD.db");
        return cmd_merge(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "run") == 0)
        return parse_run(argc, argv, 2);
    return parse_run(argc, argv, 1);
}

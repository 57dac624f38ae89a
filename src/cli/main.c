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
    "       runner validate EXPERIMENT.yaml...\n"
    "       runner schema\n"
    "       runner list [--db PATH] [--name GLOB] [--status S] [--format F]\n"
    "       runner compare [RUN...] [--db PATH] [--format F]\n"
    "       runner plot [RUN...] -o FILE.svg [--db PATH]\n"
    "       runner report [RUN...] -o FILE.html [--db PATH]\n"
    "       runner --help | --version\n"
    "\n"
    "  run       train the experiment and record it (JSON + SQLite); --threads N\n"
    "            sets the worker threads (default: all CPUs; results are identical\n"
    "            for any N)\n"
    "  validate  check experiment files without running them\n"
    "  schema    print the JSON Schema of experiment files\n"
    "  list      the recorded runs, newest first; --name filters by a GLOB pattern\n"
    "            (* ? [...], case-sensitive), --status by running, completed,\n"
    "            failed, diverged or interrupted\n"
    "  compare   final and best metrics of runs side by side, with the params that\n"
    "            differ\n"
    "  plot      learning curves of runs as a standalone SVG file\n"
    "  report    one self-contained HTML page: the compare table and the curves\n"
    "\n"
    "RUN is a run id or a name (the newest run with that name). Without RUN,\n"
    "compare, plot and report use the newest original run and the newest\n"
    "augmented run with the same settings (see README). --db defaults to\n"
    "results/results.db and is opened read-only. --format is text (default),\n"
    "csv, json, markdown or html; csv and json go to stdout.\n"
    "\n"
    "Exit codes: 0 ok, 1 internal error, 2 usage (also: unknown run, run without\n"
    "epochs), 3 config error, 4 data error, 5 output error (results dir /\n"
    "database, missing or not a runner database), 6 run diverged, 7 out of\n"
    "memory, 8 interrupted.\n";

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("runner: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_help(void)
{
    fputs(usage_text, stdout);
    return fflush(stdout) == 0 ? 0 : RN_ERR_OUTPUT;
}

int cli_usage_error(const char *fmt, ...)
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
                return cli_usage_error("%s needs a value", a);
            if (a[2] == 'd')
                opt.db_path = argv[++i];
            else
                opt.results_dir = argv[++i];
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("%s needs a value", a);
            const char *v = argv[++i];
            char *end = NULL;
            errno = 0;
            unsigned long long t = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || t < 1 || t > 256)
                return cli_usage_error("--threads: expected an integer from 1 to 256, got '%s'", v);
            opt.threads = (size_t)t;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opt.quiet = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("unknown option '%s'", a);
        } else if (!opt.config_path) {
            opt.config_path = a;
        } else {
            return cli_usage_error("unexpected argument '%s' (one experiment file per run)", a);
        }
    }
    if (!opt.config_path)
        return cli_usage_error("%s", "missing experiment file");
    return cmd_run(&opt);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return RN_ERR_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return cli_help();
    if (strcmp(cmd, "--version") == 0) {
        printf("runner %s\n", RUNNER_VERSION);
        return fflush(stdout) == 0 ? 0 : RN_ERR_OUTPUT;
    }
    if (strcmp(cmd, "validate") == 0) {
        if (argc < 3)
            return cli_usage_error("%s", "validate needs at least one file");
        return cmd_validate(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "schema") == 0) {
        if (argc != 2)
            return cli_usage_error("%s", "schema takes no arguments");
        return cmd_schema();
    }
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc - 2, argv + 2);
    if (strcmp(cmd, "plot") == 0)
        return cmd_plot(argc - 2, argv + 2);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return parse_run(argc, argv, 2);
    return parse_run(argc, argv, 1);
}

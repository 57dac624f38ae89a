/* runner: command-line entry point. Parses the command line and dispatches;
 * usage goes to stdout for --help and to stderr (exit 2) on misuse. */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runner/err.h"

static const char usage_text[] =
    "usage: runner [run] EXPERIMENT.yaml [KEY=VALUE...] [--db PATH] [--results-dir DIR]\n"
    "                    [--threads N] [--quiet] [--force] [--sweep-id ID]\n"
    "       runner -m EXPERIMENT.yaml [KEY=V1,V2,...] [-j N] [--force] [--sweep-id ID]\n"
    "                    [--db PATH] [--results-dir DIR] [--threads N]\n"
    "                    [--emit slurm DIR [--sbatch-time T] [--sbatch-cpus N]\n"
    "                     [--sbatch-mem M] [--sbatch-partition P]]\n"
    "       runner resume RUN [--db PATH] [--threads N] [--quiet]\n"
    "       runner merge OUT.db SHARD.db...\n"
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
    "            for any N). KEY=VALUE overrides a key of the file (dotted path,\n"
    "            VALUE in YAML: training.learning_rate=0.05 model.layers=[3072,256,10]).\n"
    "            A run identical to a completed one in the database (same config hash\n"
    "            and data) is skipped unless --force.\n"
    "  -m        sweep: run every combination of the comma lists (and of the file's\n"
    "            sweep: section), -j N at a time (skipping completed runs like run);\n"
    "            --emit slurm DIR writes a Slurm job array (DIR/sweep.sbatch)\n"
    "            instead of running\n"
    "  resume    continue an interrupted run (id, uid or name) from its last\n"
    "            completed epoch, with the same results as an uninterrupted run\n"
    "  merge     merge runner databases (e.g. Slurm shards) into OUT.db\n"
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
    "memory, 8 interrupted. A sweep exits with the most serious code among its\n"
    "runs.\n";

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

/* A whole number in [lo, hi] for option `name`; false (after the usage
 * message) if it is not one. */
static bool parse_count(const char *name, const char *v, unsigned long long lo,
                        unsigned long long hi, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long t = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || t < lo || t > hi) {
        cli_usage_error("%s: expected an integer from %llu to %llu, got '%s'", name, lo, hi, v);
        return false;
    }
    *out = (size_t)t;
    return true;
}

/* Options that take a value; returns the value's index or 0 (usage error). */
static int value_of(int argc, char **argv, int i)
{
    if (i + 1 >= argc) {
        cli_usage_error("%s needs a value", argv[i]);
        return 0;
    }
    return i + 1;
}

static int parse_run(int argc, char **argv, int i)
{
    struct run_options opt = {0};
    opt.jobs = 1;
    bool jobs_given = false;
    /* The KEY=VALUE arguments, in order (at most argc of them). */
    const char **ov = calloc((size_t)argc, sizeof *ov);
    if (!ov) {
        cli_error("out of memory");
        return RN_ERR_NOMEM;
    }
    int rc = RN_OK;
    for (; i < argc && rc == RN_OK; i++) {
        const char *a = argv[i];
        int v;
        if (strcmp(a, "--db") == 0 || strcmp(a, "--results-dir") == 0) {
            if (!(v = value_of(argc, argv, i)))
                rc = RN_ERR_USAGE;
            else if (a[2] == 'd')
                opt.db_path = argv[v];
            else
                opt.results_dir = argv[v];
            i = v ? v : i;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (!(v = value_of(argc, argv, i)) ||
                !parse_count("--threads", argv[v], 1, 256, &opt.threads))
                rc = RN_ERR_USAGE;
            i = v ? v : i;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opt.quiet = true;
        } else if (strcmp(a, "--force") == 0) {
            opt.force = true;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--multirun") == 0) {
            opt.multirun = true;
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
            if (!(v = value_of(argc, argv, i)) || !parse_count("-j", argv[v], 1, 256, &opt.jobs))
                rc = RN_ERR_USAGE;
            jobs_given = true;
            i = v ? v : i;
        } else if (strcmp(a, "--sweep-id") == 0) {
            if (!(v = value_of(argc, argv, i)))
                rc = RN_ERR_USAGE;
            else if (!argv[v][0] || strlen(argv[v]) > 200)
                rc = cli_usage_error("--sweep-id: expected 1 to 200 characters");
            else
                opt.sweep_id = argv[v];
            i = v ? v : i;
        } else if (strcmp(a, "--report-fd") == 0) {
            size_t fd = 0;
            if (!(v = value_of(argc, argv, i)) || !parse_count("--report-fd", argv[v], 3, 1024, &fd))
                rc = RN_ERR_USAGE;
            opt.report_fd = (int)fd;
            i = v ? v : i;
        } else if (strcmp(a, "--emit") == 0) {
            if (i + 2 >= argc)
                rc = cli_usage_error("--emit needs a format and a directory (--emit slurm DIR)");
            else if (strcmp(argv[i + 1], "slurm") != 0)
                rc = cli_usage_error("--emit: unknown format '%s' (known: slurm)", argv[i + 1]);
            else
                opt.emit_slurm = argv[i + 2];
            i += 2;
        } else if (strcmp(a, "--sbatch-time") == 0 || strcmp(a, "--sbatch-mem") == 0 ||
                   strcmp(a, "--sbatch-partition") == 0) {
            if (!(v = value_of(argc, argv, i)))
                rc = RN_ERR_USAGE;
            else if (a[9] == 't')
                opt.sbatch_time = argv[v];
            else if (a[9] == 'm')
                opt.sbatch_mem = argv[v];
            else
                opt.sbatch_partition = argv[v];
            i = v ? v : i;
        } else if (strcmp(a, "--sbatch-cpus") == 0) {
            if (!(v = value_of(argc, argv, i)) ||
                !parse_count("--sbatch-cpus", argv[v], 1, 4096, &opt.sbatch_cpus))
                rc = RN_ERR_USAGE;
            i = v ? v : i;
        } else if (a[0] == '-' && a[1] != '\0') {
            rc = cli_usage_error("unknown option '%s'", a);
        } else if (!opt.config_path) {
            opt.config_path = a;
        } else if (strchr(a, '=')) {
            ov[opt.n_overrides++] = a;
        } else {
            rc = cli_usage_error("unexpected argument '%s' (one experiment file per run; "
                             "overrides are KEY=VALUE)",
                             a);
        }
    }
    opt.overrides = ov;
    if (rc == RN_OK && !opt.config_path)
        rc = cli_usage_error("%s", "missing experiment file");
    if (rc == RN_OK && opt.emit_slurm)
        opt.multirun = true; /* --emit writes a sweep */
    if (rc == RN_OK && !opt.multirun && jobs_given)
        rc = cli_usage_error("%s", "-j runs the runs of a sweep in parallel; it needs -m");
    if (rc == RN_OK && !opt.emit_slurm &&
        (opt.sbatch_time || opt.sbatch_mem || opt.sbatch_partition || opt.sbatch_cpus))
        rc = cli_usage_error("%s", "--sbatch-* options need --emit slurm DIR");
    if (rc == RN_OK && opt.multirun && opt.report_fd > 0)
        rc = cli_usage_error("%s", "--report-fd is for the runs of a sweep, not with -m");
    if (rc == RN_OK)
        rc = opt.multirun ? cmd_sweep(&opt) : cmd_run(&opt);
    free(ov);
    return rc;
}

static int parse_resume(int argc, char **argv, int i)
{
    struct resume_options opt = {0};
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--db") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("%s needs a value", a);
            opt.db_path = argv[++i];
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
        } else if (!opt.run) {
            opt.run = a;
        } else {
            return cli_usage_error("unexpected argument '%s' (one run to resume)", a);
        }
    }
    if (!opt.run)
        return cli_usage_error("%s", "resume needs a run (id, uid or name)");
    return cmd_resume(&opt);
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
    if (strcmp(cmd, "resume") == 0)
        return parse_resume(argc, argv, 2);
    if (strcmp(cmd, "merge") == 0) {
        if (argc < 4)
            return cli_usage_error("%s", "merge needs OUT.db and at least one SHARD.db");
        return cmd_merge(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "run") == 0)
        return parse_run(argc, argv, 2);
    return parse_run(argc, argv, 1);
}

/* cli: subcommands of the runner executable. The only place that prints
 * errors and chooses exit codes (the values of enum rn_status). */
#ifndef RUNNER_CLI_H
#define RUNNER_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct run_options {
    const char *config_path;
    const char *db_path;       /* --db: overrides output.database */
    const char *results_dir;   /* --results-dir: overrides output.dir */
    bool quiet;                /* --quiet: no progress on stderr */
    size_t threads;            /* --threads: worker threads (0 = all online CPUs) */
    const char *const *overrides; /* "dotted.key=VALUE" arguments after the file */
    size_t n_overrides;
    const char *sweep_id;      /* --sweep-id: the run belongs to this sweep (with -m:
                                  record the sweep under this id) */
    bool force;                /* --force: run even if an identical run completed */
    int report_fd;             /* --report-fd N (internal, used by -m): write "run ID" or
                                  "skipped ID" there; -1 = none */
    /* sweeps (cmd_sweep) */
    bool multirun;             /* -m: comma lists in overrides are sweep axes */
    size_t jobs;               /* -j N: runs at once (default 1) */
    const char *emit_slurm;    /* --emit slurm DIR: write a job array instead of running */
    const char *sbatch_time;   /* --sbatch-time, --sbatch-cpus, --sbatch-mem, */
    size_t sbatch_cpus;        /* --sbatch-partition: #SBATCH resources (NULL/0 = */
    const char *sbatch_mem;    /* default: 01:00:00, 1 cpu, Slurm's memory and */
    const char *sbatch_partition; /* partition defaults) */
};

/* Each returns the process exit code. */
int cmd_run(const struct run_options *opt);
/* runner -m: a sweep of runs (cartesian product of the axes), run as child
 * processes, -j at a time, or written out as a Slurm job array. */
int cmd_sweep(const struct run_options *opt);
int cmd_validate(int argc, char **argv);
int cmd_schema(void);
/* runner list / compare / plot / report: argv holds the arguments after the
 * command name. They open the database read-only. */
int cmd_list(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* The database the read-only commands use without --db: the stock
 * experiment files' output.database. */
#define CLI_DEFAULT_DB "results/results.db"

/* Runs picked on a command line (ids or names, or the default pair) with
 * their params and epochs, for compare, plot and report. */
struct query_db;
struct query_run;
struct query_epoch;
struct cli_runset {
    struct query_db *db;
    size_t n;
    struct query_run *runs;
    struct query_epoch **epochs;
    size_t *n_epochs;
};
/* Open db_path read-only, resolve the n_specs specs (none: the default
 * pair), load each run with params and epochs; a run without epochs is an
 * error. Prints the error and returns the exit code, or 0. */
int cli_runset_load(const char *db_path, char **specs, size_t n_specs, struct cli_runset *rs);
void cli_runset_free(struct cli_runset *rs);

/* Print "runner: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the usage text to stdout (for --help); returns the exit code. */
int cli_help(void);
/* Print "runner: <msg>" and the usage text to stderr; returns RN_ERR_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

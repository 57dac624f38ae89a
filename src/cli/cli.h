/* cli: subcommands of the runner executable. The only place that prints
 * errors and chooses exit codes (the values of enum rn_status). */
#ifndef RUNNER_CLI_H
#define RUNNER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct experiment;
struct store;
struct runlog;
struct mlp;
struct train_state;
struct rn_err;

/* A recorded run that `runner resume` continues (cmd_resume.c fills it in
 * from the database; strings are borrowed). cmd_run then rebuilds the run
 * from config_json instead of reading an experiment file. */
struct resume_info {
    int64_t run_id;
    const char *uid;
    const char *config_json;     /* runs.config_json: the resolved config */
    const char *config_hash;     /* runs.config_hash */
    const char *data_files;      /* runs.data_files (JSON text) */
    const char *json_path;       /* the run's JSON file */
    const char *checkpoint_path; /* runs.checkpoint_path, may be NULL */
    uint64_t seed;
    size_t epochs_done;
};

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
                                  "skipped ID" there (N >= 3); 0 = none */
    /* sweeps (cmd_sweep) */
    bool multirun;             /* -m: comma lists in overrides are sweep axes */
    size_t jobs;               /* -j N: runs at once (default 1) */
    const char *emit_slurm;    /* --emit slurm DIR: write a job array instead of running */
    const char *sbatch_time;   /* --sbatch-time, --sbatch-cpus, --sbatch-mem, */
    size_t sbatch_cpus;        /* --sbatch-partition: #SBATCH resources (NULL/0 = */
    const char *sbatch_mem;    /* default: 01:00:00, 1 cpu, Slurm's memory and */
    const char *sbatch_partition; /* partition defaults) */
    const struct resume_info *resume; /* non-NULL: continue this run (runner resume) */
};

struct resume_options {
    const char *run;           /* id, uid or name (newest run of that name) */
    const char *db_path;       /* --db (default results/results.db) */
    size_t threads;
    bool quiet;
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
int cmd_resume(const struct resume_options *opt);
int cmd_merge(int argc, char **argv);

/* Mark the runs of s whose process is gone as interrupted, in the
 * database and in their JSON files (store_mark_stale); a note on stderr
 * unless quiet. Called whenever the runner opens a database to write runs. */
int cli_mark_stale(struct store *s, const char *db_path, bool quiet, struct rn_err *err);

/* Checkpoint file of a run: its JSON path with .json replaced by .ckpt
 * (malloc'd; NULL when out of memory). */
char *cli_checkpoint_path(const char *json_path);

/* For cmd_run when resuming (cmd_resume.c): check that cfg (parsed from the
 * recorded config) and the data files hashed now (data_json) are the ones
 * the run was recorded with. */
int resume_check_identity(const struct resume_info *r, const struct experiment *cfg,
                          const cJSON *data_json, struct rn_err *err);
/* Load the checkpoint of the run's last recorded epoch into m and st (none
 * needed when no epoch was recorded: m and st keep their fresh start). */
int resume_load_state(const struct resume_info *r, struct mlp *m, struct train_state *st,
                      struct rn_err *err);

/* Print "runner: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the usage text to stdout (for --help); returns the exit code. */
int cli_help(void);
/* Print "runner: <msg>" and the usage text to stderr; returns RN_ERR_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

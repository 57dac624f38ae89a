/* cli: subcommands of the runner executable. The only place that prints
 * errors and chooses exit codes (the values of enum rn_status). */
#ifndef RUNNER_CLI_H
#define RUNNER_CLI_H

#include <stdbool.h>

struct run_options {
    const char *config_path;
    const char *db_path;       /* --db: overrides output.database */
    const char *results_dir;   /* --results-dir: overrides output.dir */
    bool quiet;                /* --quiet: no progress on stderr */
    size_t threads;            /* --threads: worker threads (0 = all online CPUs) */
};

/* Each returns the process exit code. */
int cmd_run(const struct run_options *opt);
int cmd_validate(int argc, char **argv);
int cmd_schema(void);

/* Print "runner: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

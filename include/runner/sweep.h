/* sweep: a set of runs made from one experiment file, the cartesian product
 * of axes (a dotted key and its values). Axes come from the file's `sweep:`
 * section and from command-line arguments "key=v1,v2,..." (comma lists at the
 * top level of the value; [a,b] and quoted strings are one value). A
 * command-line axis on a key the file sweeps replaces the file's axis in its
 * place; other command-line axes follow the file's, in command-line order.
 * Runs are numbered from 0 with the first axis varying slowest.
 *
 * Pure bookkeeping on strings: the values are checked when each run's config
 * is loaded with its overrides (cfg_load_file_ex). Called by the CLI. */
#ifndef RUNNER_SWEEP_H
#define RUNNER_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "runner/config.h"
#include "runner/err.h"

#define SWEEP_MAX_RUNS 100000

struct sweep_axis {
    char *path;            /* dotted key, as given */
    char **values;         /* override VALUE spellings */
    size_t n_values;       /* >= 1 */
};

struct sweep_plan {
    struct sweep_axis *axes;
    size_t n_axes;
    size_t n_runs;         /* product of the axes' sizes (1 with no axes) */
};

/* Split an override VALUE at its top-level commas: "0.1,0.01" -> 2 values,
 * "[3072,64,10],[3072,128,10]" -> 2, "\"a,b\"" -> 1. An empty element
 * ("0.1,,0.2", "0.1,") is an error naming `where`. */
int sweep_split_values(const char *value, const char *where, char ***out, size_t *n,
                       struct rn_err *err);

/* Build the plan from the file's axes and the command-line overrides
 * ("key=value"); with split, each command-line value is a comma list (-m),
 * otherwise one value. An argument without "key=" is an error naming it;
 * unknown keys are left to the config loader. More than SWEEP_MAX_RUNS runs
 * is an error. */
int sweep_plan_build(const struct cfg_sweep_axis *file_axes, size_t n_file,
                     const char *const *args, size_t n_args, bool split,
                     struct sweep_plan *out, struct rn_err *err);
void sweep_plan_free(struct sweep_plan *p);

/* The overrides of run `index`: "path=value" for every axis, in axis order,
 * except the axis on `name` when skip_name. *out is a malloc'd array of
 * malloc'd strings (free with sweep_strv_free). */
int sweep_run_overrides(const struct sweep_plan *p, size_t index, bool skip_name, char ***out,
                        size_t *n, struct rn_err *err);
void sweep_strv_free(char **v, size_t n);

/* Name suffix of run `index` from the axes with more than one value (except
 * name): "-lr0.01-seed2". Labels are the key's last segment, or its initials
 * when it has underscores (learning_rate -> lr); values keep [A-Za-z0-9.+-],
 * list commas become 'x' ([3072,64,10] -> 3072x64x10), anything else '_'.
 * Empty when no axis varies. */
void sweep_run_suffix(const struct sweep_plan *p, size_t index, char *buf, size_t cap);

/* {"axes": [{"key": ..., "values": [...]}, ...], "n_runs": N} */
cJSON *sweep_spec_json(const struct sweep_plan *p);

/* A unique sweep id: "sweep-YYYYmmddTHHMMSSZ-xxxxxxxx" (time, pid, clock). */
void sweep_make_id(char out[64]);

#endif

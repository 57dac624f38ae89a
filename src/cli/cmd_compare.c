/* runner compare: the report's table for runs picked by id or name (or the
 * default original/augmented pair), on stdout. Also the loading of such a
 * set of runs, shared with plot and report. Opens the database read-only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runner/compare.h"
#include "runner/query.h"

void cli_runset_free(struct cli_runset *rs)
{
    if (!rs)
        return;
    if (rs->epochs)
        for (size_t i = 0; i < rs->n; i++)
            free(rs->epochs[i]);
    free(rs->epochs);
    free(rs->n_epochs);
    query_runs_free(rs->runs, rs->runs ? rs->n : 0);
    query_close(rs->db);
    memset(rs, 0, sizeof *rs);
}

static int runset_fill(struct cli_runset *rs, char **specs, size_t n_specs, struct rn_err *err)
{
    int64_t pair[2];
    size_t n = n_specs;
    if (n == 0) {
        int rc = query_default_pair(rs->db, pair, err);
        if (rc != RN_OK)
            return rc;
        n = 2;
    }
    rs->runs = calloc(n, sizeof *rs->runs);
    rs->epochs = calloc(n, sizeof *rs->epochs);
    rs->n_epochs = calloc(n, sizeof *rs->n_epochs);
    if (!rs->runs || !rs->epochs || !rs->n_epochs)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory");
    rs->n = n;
    for (size_t i = 0; i < n; i++) {
        int64_t id = n_specs ? 0 : pair[i];
        int rc = n_specs ? query_resolve(rs->db, specs[i], &id, err) : RN_OK;
        if (rc == RN_OK)
            rc = query_load_run(rs->db, id, true, &rs->runs[i], err);
        if (rc == RN_OK)
            rc = query_load_epochs(rs->db, id, &rs->epochs[i], &rs->n_epochs[i], err);
        if (rc == RN_OK && rs->n_epochs[i] == 0)
            rc = rn_fail(err, RN_ERR_USAGE, "%s: run %lld (%s): no epochs recorded yet",
                         query_path(rs->db), (long long)id,
                         rs->runs[i].name ? rs->runs[i].name : "unnamed");
        if (rc != RN_OK)
            return rc;
    }
    return RN_OK;
}

int cli_runset_load(const char *db_path, char **specs, size_t n_specs, struct cli_runset *rs)
{
    memset(rs, 0, sizeof *rs);
    struct rn_err err = {0};
    int rc = query_open(db_path, &rs->db, &err);
    if (rc == RN_OK)
        rc = runset_fill(rs, specs, n_specs, &err);
    if (rc != RN_OK) {
        cli_error("%s", err.msg);
        cli_runset_free(rs);
    }
    return rc;
}

int cmd_compare(int argc, char **argv)
{
    const char *db_path = CLI_DEFAULT_DB;
    enum rtab_format fmt = RTAB_TEXT;
    char **specs = calloc((size_t)argc + 1, sizeof *specs);
    if (!specs) {
        cli_error("out of memory");
        return RN_ERR_NOMEM;
    }
    size_t n_specs = 0;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            specs[n_specs++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            free(specs);
            return cli_help();
        } else if (strcmp(a, "--db") == 0 || strcmp(a, "--format") == 0) {
            if (i + 1 >= argc) {
                free(specs);
                return cli_usage_error("compare: %s needs a value", a);
            }
            const char *v = argv[++i];
            if (a[2] == 'd') {
                db_path = v;
            } else if (!rtab_parse_format(v, &fmt)) {
                free(specs);
                return cli_usage_error("compare: --format: expected text, csv, json, "
                                       "markdown or html, got '%s'",
                                       v);
            }
        } else {
            free(specs);
            return cli_usage_error("compare: unknown option '%s'", a);
        }
    }

    struct cli_runset rs;
    int rc = cli_runset_load(db_path, specs, n_specs, &rs);
    free(specs);
    if (rc != RN_OK)
        return rc;
    struct compare_input *in = calloc(rs.n, sizeof *in);
    struct rn_err err = {0};
    struct rtab table = {0};
    if (!in)
        rc = rn_fail(&err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; in && i < rs.n; i++)
        in[i] = (struct compare_input){&rs.runs[i], rs.epochs[i], rs.n_epochs[i]};
    if (rc == RN_OK)
        rc = compare_build(in, rs.n, &table, &err);
    if (rc == RN_OK)
        rc = rtab_write(&table, fmt, stdout, "standard output", &err);
    if (rc != RN_OK)
        cli_error("%s", err.msg);
    rtab_free(&table);
    free(in);
    cli_runset_free(&rs);
    return rc;
}

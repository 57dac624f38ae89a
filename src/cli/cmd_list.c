/* runner list: the runs of a results database, newest first, as a table,
 * csv or json on stdout. Opens the database read-only. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runner/compare.h"
#include "runner/query.h"

static bool known_status(const char *s)
{
    static const char *const names[] = {"running", "completed", "failed", "diverged",
                                        "interrupted"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

int cmd_list(int argc, char **argv)
{
    const char *db_path = CLI_DEFAULT_DB;
    struct query_filter filter = {0};
    enum rtab_format fmt = RTAB_TEXT;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return cli_help();
        bool takes_value = strcmp(a, "--db") == 0 || strcmp(a, "--name") == 0 ||
                           strcmp(a, "--status") == 0 || strcmp(a, "--format") == 0;
        if (!takes_value)
            return cli_usage_error("list: unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error("list: %s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--db") == 0) {
            db_path = v;
        } else if (strcmp(a, "--name") == 0) {
            filter.name_glob = v;
        } else if (strcmp(a, "--status") == 0) {
            if (!known_status(v))
                return cli_usage_error("list: --status: expected running, completed, failed, "
                                       "diverged or interrupted, got '%s'",
                                       v);
            filter.status = v;
        } else if (!rtab_parse_format(v, &fmt)) {
            return cli_usage_error("list: --format: expected text, csv, json, markdown or "
                                   "html, got '%s'",
                                   v);
        }
    }

    struct rn_err err = {0};
    struct query_db *db = NULL;
    struct query_run *runs = NULL;
    size_t n = 0;
    struct rtab table = {0};
    int rc = query_open(db_path, &db, &err);
    if (rc == RN_OK)
        rc = query_list(db, &filter, &runs, &n, &err);
    if (rc == RN_OK)
        rc = list_build(runs, n, &table, &err);
    if (rc == RN_OK)
        rc = rtab_write(&table, fmt, stdout, "standard output", &err);
    if (rc != RN_OK)
        cli_error("%s", err.msg);
    rtab_free(&table);
    query_runs_free(runs, n);
    query_close(db);
    return rc;
}

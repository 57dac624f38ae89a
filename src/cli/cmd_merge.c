/* runner merge OUT.db SHARD.db...: merge runner databases (e.g. the shards
 * of a Slurm job array) into one, without duplicates (runs match by uid).
 * Every shard is checked before OUT is opened, so a bad shard leaves OUT as
 * it was; each shard then merges in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "runner/fsutil.h"
#include "runner/results.h"

/* Same file? (OUT may not exist yet.) */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int cmd_merge(int argc, char **argv)
{
    struct rn_err err = {0};
    const char *out = argv[0];
    for (int i = 1; i < argc; i++) {
        if (same_file(out, argv[i])) {
            cli_error("merge: %s is the output database; a shard must be another file",
                      argv[i]);
            return RN_ERR_USAGE;
        }
        if (store_check_shard(argv[i], &err) != RN_OK) {
            cli_error("merge: %s (nothing merged)", err.msg);
            return RN_ERR_DATA;
        }
    }
    char *dir = fs_dirname(out);
    if (!dir) {
        cli_error("out of memory");
        return RN_ERR_NOMEM;
    }
    struct store *s = NULL;
    int rc = fs_mkdirs(dir, &err);
    free(dir);
    if (rc == RN_OK)
        rc = store_open(out, &s, &err);
    for (int i = 1; rc == RN_OK && i < argc; i++) {
        struct store_merge_stats st;
        rc = store_merge(s, argv[i], &st, &err);
        if (rc == RN_OK)
            printf("%s: %zu runs added, %zu updated, %zu unchanged; %zu sweeps added or completed\n",
                   argv[i], st.added, st.updated, st.unchanged, st.sweeps);
    }
    store_close(s);
    if (rc != RN_OK) {
        cli_error("merge: %s", err.msg);
        return rc;
    }
    return fflush(stdout) == 0 ? RN_OK : RN_ERR_OUTPUT;
}

/* fsutil: small file helpers shared by results, features and the CLI.
 * Atomic replace = write temp file in the same directory, fsync, rename,
 * fsync the directory, so a reader sees the old file or the new one. */
#ifndef RUNNER_FSUTIL_H
#define RUNNER_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "runner/err.h"

/* Create directory and parents (like mkdir -p); RN_ERR_OUTPUT on failure. */
int fs_mkdirs(const char *path, struct rn_err *err);
/* Atomically replace `path` with `len` bytes of `data`; RN_ERR_OUTPUT on failure. */
int fs_write_atomic(const char *path, const void *data, size_t len, struct rn_err *err);
/* Read a whole file into a malloc'd buffer (NUL-terminated, *len excludes NUL).
 * Fails with `code` and a message naming the file. */
int fs_read_all(const char *path, char **data, size_t *len, int code, struct rn_err *err);
/* fopen(path, "rb") that never blocks in open(): a FIFO without a writer
 * would otherwise hang the caller forever. The file is opened with
 * O_NONBLOCK, which is then cleared, so reads block as usual (a FIFO with no
 * writer reads as end of file). NULL with errno set on failure. */
FILE *fs_fopen_read(const char *path);
/* Directory part of a path ("." if none); caller frees. */
char *fs_dirname(const char *path);

#endif

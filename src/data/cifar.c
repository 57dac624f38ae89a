/* cifar: reader for the official CIFAR-10 binary batches.
 *
 * A batch is read in chunks of records straight into the grown arrays of the
 * set, validating every label and hashing every byte on the way. The new
 * records only become part of the set (set->n grows) once the whole file has
 * been read and checked, so on any error the set holds what it held before. */
#include "runner/cifar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runner/fsutil.h"
#include "runner/hash.h"

#define CHUNK_RECORDS 256 /* records per fread: 786688 bytes */

/* Give the arrays back their size for `n` images after a failed append grew
 * them. Shrinking cannot lose data; if realloc refuses, the larger block is
 * kept (it is still owned by the set and freed by cifar_free). */
static void shrink_to(struct cifar_set *set, size_t n)
{
    if (n == 0) {
        free(set->images);
        free(set->labels);
        set->images = NULL;
        set->labels = NULL;
        set->n = 0;
        return;
    }
    uint8_t *im = realloc(set->images, n * (size_t)CIFAR_IMAGE);
    if (im)
        set->images = im;
    uint8_t *lb = realloc(set->labels, n);
    if (lb)
        set->labels = lb;
    set->n = n;
}

/* Grow the arrays to hold `add` more images (set->n unchanged). */
static int grow(struct cifar_set *set, size_t add, const char *path, struct rn_err *err)
{
    size_t total, bytes;
    if (rn_add_size(set->n, add, &total) || rn_mul_size(total, CIFAR_IMAGE, &bytes))
        return rn_fail(err, RN_ERR_NOMEM, "%s: %zu + %zu images would overflow the image buffer",
                       path, set->n, add);
    uint8_t *im = realloc(set->images, bytes);
    if (!im)
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory for %zu images (%zu bytes)", path,
                       total, bytes);
    set->images = im;
    uint8_t *lb = realloc(set->labels, total);
    if (!lb) {
        shrink_to(set, set->n);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory for %zu labels", path, total);
    }
    set->labels = lb;
    return RN_OK;
}

/* Read all records of an open file into the set's spare capacity at index
 * set->n, hashing as we go if h is non-NULL. Does not change set->n. */
static int read_records(FILE *f, const char *path, struct cifar_set *set, struct sha256 *h,
                        struct rn_err *err)
{
    const size_t expected = (size_t)CIFAR_PER_FILE * CIFAR_RECORD;
    uint8_t *buf = malloc((size_t)CHUNK_RECORDS * CIFAR_RECORD);
    if (!buf)
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory for the read buffer", path);
    size_t done = 0; /* records read so far */
    int rc = RN_OK;
    while (done < CIFAR_PER_FILE) {
        size_t want = CIFAR_PER_FILE - done;
        if (want > CHUNK_RECORDS)
            want = CHUNK_RECORDS;
        size_t bytes = want * CIFAR_RECORD;
        size_t got = fread(buf, 1, bytes, f);
        if (h)
            sha256_update(h, buf, got);
        if (got != bytes) {
            if (ferror(f))
                rc = rn_fail(err, RN_ERR_DATA, "%s: read error after %zu bytes: %s", path,
                             done * CIFAR_RECORD + got, strerror(errno));
            else
                rc = rn_fail(err, RN_ERR_DATA,
                             "%s: size %zu bytes, expected %zu (%d records of %d bytes)", path,
                             done * CIFAR_RECORD + got, expected, CIFAR_PER_FILE, CIFAR_RECORD);
            goto out;
        }
        for (size_t r = 0; r < want; r++) {
            const uint8_t *rec = buf + r * CIFAR_RECORD;
            size_t idx = done + r;
            if (rec[0] > 9) {
                rc = rn_fail(err, RN_ERR_DATA,
                             "%s: record %zu (byte offset %zu): label %u, expected 0..9", path,
                             idx, idx * CIFAR_RECORD, (unsigned)rec[0]);
                goto out;
            }
            set->labels[set->n + idx] = rec[0];
            memcpy(set->images + (set->n + idx) * CIFAR_IMAGE, rec + 1, CIFAR_IMAGE);
        }
        done += want;
    }
    /* Anything after the last record means the file is not a batch. */
    if (fgetc(f) != EOF) {
        rc = rn_fail(err, RN_ERR_DATA,
                     "%s: longer than %zu bytes, expected exactly %d records of %d bytes", path,
                     expected, CIFAR_PER_FILE, CIFAR_RECORD);
    } else if (ferror(f)) {
        rc = rn_fail(err, RN_ERR_DATA, "%s: read error at end of file: %s", path,
                     strerror(errno));
    }
out:
    free(buf);
    return rc;
}

int cifar_read_file(const char *path, struct cifar_set *set, struct cifar_file *info,
                    struct rn_err *err)
{
    const size_t expected = (size_t)CIFAR_PER_FILE * CIFAR_RECORD;
    FILE *f = fs_fopen_read(path);
    if (!f)
        return rn_fail(err, RN_ERR_DATA, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return rn_fail(err, RN_ERR_DATA, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return rn_fail(err, RN_ERR_DATA,
                       "%s: is a directory, expected a file of %zu bytes (%d records of %d bytes)",
                       path, expected, CIFAR_PER_FILE, CIFAR_RECORD);
    }
    /* A regular file's size is known up front: report it exactly. (Other
     * kinds, e.g. pipes, are checked while reading.) */
    if (S_ISREG(st.st_mode) && (st.st_size < 0 || (uintmax_t)st.st_size != expected)) {
        fclose(f);
        return rn_fail(err, RN_ERR_DATA,
                       "%s: size %jd bytes, expected %zu (%d records of %d bytes)", path,
                       (intmax_t)st.st_size, expected, CIFAR_PER_FILE, CIFAR_RECORD);
    }

    char *path_copy = NULL;
    if (info) {
        size_t len = strlen(path);
        path_copy = malloc(len + 1);
        if (!path_copy) {
            fclose(f);
            return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
        }
        memcpy(path_copy, path, len + 1);
    }

    size_t old_n = set->n;
    int rc = grow(set, CIFAR_PER_FILE, path, err);
    if (rc != RN_OK) {
        free(path_copy);
        fclose(f);
        return rc;
    }
    struct sha256 h;
    sha256_init(&h);
    rc = read_records(f, path, set, info ? &h : NULL, err);
    if (fclose(f) != 0 && rc == RN_OK)
        rc = rn_fail(err, RN_ERR_DATA, "%s: close failed: %s", path, strerror(errno));
    if (rc != RN_OK) {
        shrink_to(set, old_n);
        free(path_copy);
        return rc;
    }
    set->n = old_n + CIFAR_PER_FILE;
    if (info) {
        unsigned char dig[32];
        sha256_final(&h, dig);
        info->path = path_copy;
        sha256_to_hex(dig, info->sha256);
    }
    return RN_OK;
}

/* dir + "/" + name, without doubling a trailing slash. */
static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    size_t len;
    if (rn_add_size(a, b, &len) || rn_add_size(len, (size_t)slash + 1, &len))
        return NULL;
    char *p = malloc(len);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (slash)
        p[a] = '/';
    memcpy(p + a + (size_t)slash, name, b + 1);
    return p;
}

/* Read the named files of dir in order, all or nothing. */
static int load_files(const char *dir, const char *const *names, size_t count,
                      struct cifar_set *set, struct cifar_file *files, struct rn_err *err)
{
    size_t old_n = set->n;
    int rc = RN_OK;
    size_t i;
    for (i = 0; i < count; i++) {
        char *path = join_path(dir, names[i]);
        if (!path) {
            rc = rn_fail(err, RN_ERR_NOMEM, "%s/%s: out of memory", dir, names[i]);
            break;
        }
        rc = cifar_read_file(path, set, files ? &files[i] : NULL, err);
        free(path);
        if (rc != RN_OK)
            break;
    }
    if (rc != RN_OK) {
        if (files)
            for (size_t j = 0; j < i; j++)
                cifar_file_free(&files[j]);
        if (set->n != old_n)
            shrink_to(set, old_n);
    }
    return rc;
}

int cifar_load_train(const char *dir, struct cifar_set *set, struct cifar_file *files,
                     struct rn_err *err)
{
    static const char *const names[CIFAR_TRAIN_FILES] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin"};
    return load_files(dir, names, CIFAR_TRAIN_FILES, set, files, err);
}

int cifar_load_test(const char *dir, struct cifar_set *set, struct cifar_file *file,
                    struct rn_err *err)
{
    static const char *const names[1] = {"test_batch.bin"};
    return load_files(dir, names, 1, set, file, err);
}

void cifar_truncate(struct cifar_set *set, size_t n)
{
    if (n == 0 || n >= set->n)
        return;
    shrink_to(set, n);
}

void cifar_free(struct cifar_set *set)
{
    free(set->images);
    free(set->labels);
    set->images = NULL;
    set->labels = NULL;
    set->n = 0;
}

void cifar_file_free(struct cifar_file *f)
{
    free(f->path);
    f->path = NULL;
    f->sha256[0] = '\0';
}

/* test_cifar: the CIFAR-10 batch reader on small generated files in a
 * temporary directory: layout, appending, SHA-256, every error with its
 * message, all-or-nothing on failure, the train/test loaders, truncate. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "runner/cifar.h"

#define FILE_BYTES ((size_t)CIFAR_PER_FILE * CIFAR_RECORD)

static char tmpdir[64];

/* Record i of a generated batch with tag t: label (i + t) % 10, pixel j is
 * (i * 31 + j * 7 + t) & 255. */
static uint8_t gen_label(size_t i, unsigned t)
{
    return (uint8_t)((i + t) % 10);
}

static uint8_t gen_pixel(size_t i, size_t j, unsigned t)
{
    return (uint8_t)((i * 31 + j * 7 + t) & 255);
}

static uint8_t *make_batch(unsigned t)
{
    uint8_t *b = malloc(FILE_BYTES);
    if (!b) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < CIFAR_PER_FILE; i++) {
        uint8_t *rec = b + i * CIFAR_RECORD;
        rec[0] = gen_label(i, t);
        for (size_t j = 0; j < CIFAR_IMAGE; j++)
            rec[1 + j] = gen_pixel(i, j, t);
    }
    return b;
}

static void write_bytes(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write test file: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void path_in(char *out, size_t cap, const char *sub, const char *name)
{
    snprintf(out, cap, "%s%s%s/%s", tmpdir, sub[0] ? "/" : "", sub, name);
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                rm_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        chmod(path, 0600);
        unlink(path);
    }
}

/* The set holds generated batch t at image offset `at`, record range [0, n). */
static int set_matches(const struct cifar_set *s, size_t at, unsigned t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s->labels[at + i] != gen_label(i, t))
            return 0;
        const uint8_t *img = s->images + (at + i) * CIFAR_IMAGE;
        /* A few pixels per image, all pixels of some images. */
        size_t step = (i % 997 == 0) ? 1 : 509;
        for (size_t j = 0; j < CIFAR_IMAGE; j += step)
            if (img[j] != gen_pixel(i, j, t))
                return 0;
        if (img[CIFAR_IMAGE - 1] != gen_pixel(i, CIFAR_IMAGE - 1, t))
            return 0;
    }
    return 1;
}

/* SHA-256 of generated batch t = 3 (computed independently with
 * Python's hashlib). Hashing 30 MB is the slow part under sanitizers, so the
 * tests ask for file info only a few times. */
#define SHA_T3 "ba8fefecdc86db453cce701a1ceff36b0d32588933d8d2096b1c667343b6bf55"

static void test_read_and_append(const char *p0, const char *p1, struct cifar_set *s)
{
    struct rn_err err = {0};
    CHECK(cifar_read_file(p0, s, NULL, &err) == RN_OK);
    CHECK(s->n == CIFAR_PER_FILE);
    CHECK(s->images && s->labels);
    CHECK(set_matches(s, 0, 0, CIFAR_PER_FILE));

    /* Append a second batch; the first stays in place. */
    struct cifar_set two = {0};
    CHECK(cifar_read_file(p0, &two, NULL, &err) == RN_OK);
    CHECK(cifar_read_file(p1, &two, NULL, &err) == RN_OK);
    CHECK(two.n == 2 * CIFAR_PER_FILE);
    CHECK(set_matches(&two, 0, 0, CIFAR_PER_FILE));
    CHECK(set_matches(&two, CIFAR_PER_FILE, 3, CIFAR_PER_FILE));
    cifar_free(&two);
    CHECK(two.n == 0 && two.images == NULL && two.labels == NULL);
    cifar_free(&two); /* twice is harmless */
}

/* Expect cifar_read_file(path) to fail with `code` and a message containing
 * every non-NULL needle, leaving an empty set empty (and info untouched when
 * with_info) and the one-batch set `one` (batch t = 0) exactly as it was. */
static void expect_fail(const char *path, struct cifar_set *one, int with_info, int code,
                        const char *n1, const char *n2)
{
    struct rn_err err = {0};
    struct cifar_set empty = {0};
    struct cifar_file info = {0};
    CHECK(cifar_read_file(path, &empty, with_info ? &info : NULL, &err) == code);
    CHECK(err.code == code);
    CHECK_STR_CONTAINS(err.msg, path);
    if (n1)
        CHECK_STR_CONTAINS(err.msg, n1);
    if (n2)
        CHECK_STR_CONTAINS(err.msg, n2);
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK(empty.n == 0 && empty.images == NULL && empty.labels == NULL);
    CHECK(info.path == NULL && info.sha256[0] == '\0');

    CHECK(cifar_read_file(path, one, NULL, &err) == code);
    CHECK(one->n == CIFAR_PER_FILE);
    CHECK(set_matches(one, 0, 0, CIFAR_PER_FILE));
}

/* Overwrite one byte of a file in place. */
static void poke(const char *path, size_t off, uint8_t v)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fseek(f, (long)off, SEEK_SET) == 0);
    CHECK(fputc(v, f) == v);
    CHECK(fclose(f) == 0);
}

/* Mutates one full-size copy of batch t = 0 in place (writing 30 MB files is
 * a noticeable part of the run time), and leaves it one byte short as
 * `p_short` for the loader tests. */
static void test_errors(const uint8_t *batch, struct cifar_set *one, const char *p_short)
{
    char p[256];
    path_in(p, sizeof p, "", "bad.bin");
    write_bytes(p, batch, FILE_BYTES);

    /* A bad label in the first chunk, one past the first chunk, and one in
     * the very last record. */
    static const size_t bad_at[3] = {17, 300, CIFAR_PER_FILE - 1};
    static const uint8_t bad_val[3] = {12, 10, 255};
    static const char *const want_rec[3] = {": record 17 ", ": record 300 ", ": record 9999 "};
    static const char *const want_lab[3] = {"label 12, expected 0..9", "label 10, expected 0..9",
                                            "label 255, expected 0..9"};
    for (size_t k = 0; k < 3; k++) {
        size_t off = bad_at[k] * CIFAR_RECORD;
        poke(p, off, bad_val[k]);
        expect_fail(p, one, k < 2, RN_ERR_DATA, want_rec[k], want_lab[k]);
        poke(p, off, batch[off]);
    }
    if (geteuid() != 0) { /* root reads anything */
        CHECK(chmod(p, 0) == 0);
        expect_fail(p, one, 1, RN_ERR_DATA, "cannot open", strerror(EACCES));
        CHECK(chmod(p, 0600) == 0);
    }
    /* One byte long. */
    FILE *f = fopen(p, "ab");
    CHECK(f && fputc(0, f) == 0 && fclose(f) == 0);
    expect_fail(p, one, 1, RN_ERR_DATA, "size 30730001 bytes, expected 30730000", NULL);
    /* One byte short: the exact message of the spec. */
    CHECK(truncate(p, (off_t)(FILE_BYTES - 1)) == 0);
    expect_fail(p, one, 1, RN_ERR_DATA,
                ": size 30729999 bytes, expected 30730000 (10000 records of 3073 bytes)", NULL);
    CHECK(rename(p, p_short) == 0);
    /* Empty file. */
    write_bytes(p, batch, 0);
    expect_fail(p, one, 1, RN_ERR_DATA, "size 0 bytes, expected 30730000", NULL);
    unlink(p);

    /* Missing file, a directory, a character device (size known only by
     * reading). */
    expect_fail(p, one, 1, RN_ERR_DATA, "cannot open", strerror(ENOENT));
    char d[256];
    path_in(d, sizeof d, "", "adir");
    CHECK(mkdir(d, 0700) == 0);
    expect_fail(d, one, 1, RN_ERR_DATA, "is a directory", "30730000");
    expect_fail("/dev/null", one, 1, RN_ERR_DATA, "size 0 bytes, expected 30730000", NULL);
}

static void link_in(const char *sub, const char *name, const char *target)
{
    char link[256];
    path_in(link, sizeof link, sub, name);
    CHECK(symlink(target, link) == 0);
}

static void make_subdir(const char *sub)
{
    char d[256];
    snprintf(d, sizeof d, "%s/%s", tmpdir, sub);
    CHECK(mkdir(d, 0700) == 0);
}

static void test_loaders(const char *p0, const char *p1, const char *p_short)
{
    /* Batches 1, 3, 4, 5 -> t = 0; batch 2 and the test batch -> t = 3. */
    make_subdir("full");
    link_in("full", "data_batch_1.bin", p0);
    link_in("full", "data_batch_2.bin", p1);
    link_in("full", "data_batch_3.bin", p0);
    link_in("full", "data_batch_4.bin", p0);
    link_in("full", "data_batch_5.bin", p0);
    link_in("full", "test_batch.bin", p1);

    char dir[256];
    snprintf(dir, sizeof dir, "%s/full/", tmpdir); /* trailing slash */
    struct rn_err err = {0};
    struct cifar_set train = {0}, test = {0};
    CHECK(cifar_load_train(dir, &train, NULL, &err) == RN_OK);
    CHECK(train.n == CIFAR_TRAIN_FILES * CIFAR_PER_FILE);
    for (size_t k = 0; k < CIFAR_TRAIN_FILES; k++)
        CHECK(set_matches(&train, k * CIFAR_PER_FILE, k == 1 ? 3 : 0, CIFAR_PER_FILE));
    cifar_free(&train);

    snprintf(dir, sizeof dir, "%s/full", tmpdir);
    struct cifar_file tf = {0};
    CHECK(cifar_load_test(dir, &test, &tf, &err) == RN_OK);
    CHECK(test.n == CIFAR_PER_FILE);
    CHECK(set_matches(&test, 0, 3, CIFAR_PER_FILE));
    char want[256];
    snprintf(want, sizeof want, "%s/full/test_batch.bin", tmpdir);
    CHECK(tf.path && strcmp(tf.path, want) == 0);
    CHECK_MSG(strcmp(tf.sha256, SHA_T3) == 0, "sha256 %s", tf.sha256);
    cifar_file_free(&tf);
    CHECK(tf.path == NULL);
    cifar_file_free(&tf); /* twice is harmless */

    /* data_batch_2 is short: batch 1 was read before the error, yet nothing
     * stays appended and no file info stays allocated. With info requested
     * batch 1 is hashed, which takes ~2 s in an unoptimised sanitizer build,
     * so that variant runs only in optimised builds (RUNNER_SANITIZE builds
     * are Release by default). */
    make_subdir("partial");
    link_in("partial", "data_batch_1.bin", p0);
    link_in("partial", "data_batch_2.bin", p_short);
    snprintf(dir, sizeof dir, "%s/partial", tmpdir);
    struct cifar_file pf[CIFAR_TRAIN_FILES] = {{0}};
#ifdef __OPTIMIZE__
    struct cifar_file *pfp = pf;
#else
    struct cifar_file *pfp = NULL;
#endif
    CHECK(cifar_load_train(dir, &test, pfp, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "partial/data_batch_2.bin: size 30729999 bytes");
    CHECK(test.n == CIFAR_PER_FILE);
    CHECK(set_matches(&test, 0, 3, CIFAR_PER_FILE));
    for (size_t k = 0; k < CIFAR_TRAIN_FILES; k++)
        CHECK(pf[k].path == NULL);
    /* Same on an empty set, without info. */
    struct cifar_set none = {0};
    CHECK(cifar_load_train(dir, &none, NULL, &err) == RN_ERR_DATA);
    CHECK(none.n == 0 && none.images == NULL && none.labels == NULL);
    CHECK(cifar_load_test(dir, &none, NULL, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "partial/test_batch.bin: cannot open");
    CHECK(none.n == 0 && none.images == NULL);

    /* truncate */
    cifar_truncate(&test, 0);
    CHECK(test.n == CIFAR_PER_FILE);
    cifar_truncate(&test, CIFAR_PER_FILE + 5);
    CHECK(test.n == CIFAR_PER_FILE);
    cifar_truncate(&test, 7);
    CHECK(test.n == 7);
    CHECK(set_matches(&test, 0, 3, 7));
    cifar_free(&test);
}

int main(void)
{
    strcpy(tmpdir, "/tmp/runner_test_cifar_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    uint8_t *b0 = make_batch(0);
    uint8_t *b1 = make_batch(3);
    char p0[256], p1[256], ps[256];
    path_in(p0, sizeof p0, "", "b0.bin");
    path_in(p1, sizeof p1, "", "b1.bin");
    path_in(ps, sizeof ps, "", "short.bin");
    write_bytes(p0, b0, FILE_BYTES);
    write_bytes(p1, b1, FILE_BYTES);
    free(b1);

    struct cifar_set one = {0};
    test_read_and_append(p0, p1, &one);
    test_errors(b0, &one, ps);
    cifar_free(&one);
    test_loaders(p0, p1, ps);

    free(b0);
    rm_tree(tmpdir);
    return check_exit("test_cifar");
}

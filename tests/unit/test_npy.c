/* test_npy: the .npy reader and writer in a temporary directory: round
 * trips with payload digests, corrupt and truncated cache files, hand-made
 * headers (every accepted variant and every rejection with its message),
 * writer errors, and, when /usr/bin/python3 has numpy, files numpy made
 * and numpy loading the files the writer made. */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "runner/npy.h"

#ifndef PYTHON /* overridable to test the no-numpy path */
#define PYTHON "/usr/bin/python3"
#endif

static char tmpdir[64];

static void die(const char *what)
{
    fprintf(stderr, "test_npy: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Path of `name` in the temp dir; four rotating buffers. */
static const char *tp(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void write_bytes(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(tp(name), "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        die(name);
}

static unsigned char *read_bytes(const char *name, size_t *n)
{
    FILE *f = fopen(tp(name), "rb");
    if (!f)
        die(name);
    static unsigned char buf[1 << 20];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unsigned char *out = malloc(*n ? *n : 1);
    if (!out)
        die("malloc");
    memcpy(out, buf, *n);
    return out;
}

/* A .npy file with the given version and header dict (space-padded and
 * '\n'-terminated to a multiple of `align`), followed by `payload`. */
static void make_npy_v(const char *name, unsigned major, unsigned minor, const char *dict,
                       const void *payload, size_t plen, size_t align)
{
    size_t lenbytes = major == 1 ? 2 : 4, dlen = strlen(dict);
    size_t total = 8 + lenbytes + dlen + 1;
    total += (align - total % align) % align;
    size_t hlen = total - 8 - lenbytes;
    unsigned char *b = malloc(total + plen);
    if (!b)
        die("malloc");
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = (unsigned char)minor;
    for (size_t k = 0; k < lenbytes; k++)
        b[8 + k] = (unsigned char)(hlen >> (8 * k));
    memcpy(b + 8 + lenbytes, dict, dlen);
    memset(b + 8 + lenbytes + dlen, ' ', hlen - dlen - 1);
    b[total - 1] = '\n';
    if (plen)
        memcpy(b + total, payload, plen);
    write_bytes(name, b, total + plen);
    free(b);
}

static void make_npy(const char *name, const char *dict, const void *payload, size_t plen)
{
    make_npy_v(name, 1, 0, dict, payload, plen, 64);
}

static void put_le(unsigned char *p, uint64_t v, size_t size)
{
    for (size_t k = 0; k < size; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void put_f32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_le(p, u, 4);
}

static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_le(p, u, 8);
}

/* The value the round-trip and numpy tests use for element k. */
static float gen_value(size_t k)
{
    return (float)((double)(k % 1000) * 0.125 - 50.0);
}

/* A non-NULL value the readers must overwrite on failure. */
static float sentinel_f;
static uint8_t sentinel_u;

static void expect_matrix_fail(const char *name, int code, const char *needle)
{
    struct rn_err err = {0};
    size_t r = 7, c = 7;
    float *d = &sentinel_f;
    int rc = npy_read_matrix(tp(name), &r, &c, &d, NULL, &err);
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", name, rc, code, err.msg);
    CHECK_MSG(d == NULL && r == 0 && c == 0, "%s: outputs not cleared", name);
    CHECK_STR_CONTAINS(err.msg, needle);
    CHECK_STR_CONTAINS(err.msg, name);
    CHECK_MSG(!strchr(err.msg, '\n'), "%s: message has a newline", name);
    if (d != &sentinel_f)
        free(d);
}

static void expect_labels_fail(const char *name, unsigned classes, const char *needle)
{
    struct rn_err err = {0};
    size_t n = 7;
    uint8_t *l = &sentinel_u;
    int rc = npy_read_labels(tp(name), classes, &n, &l, NULL, &err);
    CHECK_MSG(rc == RN_ERR_DATA, "%s: rc %d (%s)", name, rc, err.msg);
    CHECK_MSG(l == NULL && n == 0, "%s: outputs not cleared", name);
    CHECK_STR_CONTAINS(err.msg, needle);
    CHECK_STR_CONTAINS(err.msg, name);
    if (l != &sentinel_u)
        free(l);
}

/* Read `name` as features and compare with rows x cols of `want`. */
static void expect_matrix(const char *name, size_t rows, size_t cols, const float *want)
{
    struct rn_err err = {0};
    size_t r, c;
    float *d;
    int rc = npy_read_matrix(tp(name), &r, &c, &d, NULL, &err);
    CHECK_MSG(rc == RN_OK, "%s: %s", name, err.msg);
    if (rc)
        return;
    CHECK_MSG(r == rows && c == cols, "%s: shape (%zu, %zu)", name, r, c);
    if (r == rows && c == cols)
        CHECK_MSG(memcmp(d, want, rows * cols * sizeof(float)) == 0, "%s: values differ", name);
    free(d);
}

static void expect_labels(const char *name, unsigned classes, size_t n, const uint8_t *want)
{
    struct rn_err err = {0};
    size_t got;
    uint8_t *l;
    int rc = npy_read_labels(tp(name), classes, &got, &l, NULL, &err);
    CHECK_MSG(rc == RN_OK, "%s: %s", name, err.msg);
    if (rc)
        return;
    CHECK_MSG(got == n && memcmp(l, want, n) == 0, "%s: labels differ", name);
    free(l);
}

/* Number of entries in tmpdir whose name contains `part`. */
static int count_entries(const char *part)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        die(tmpdir);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part))
            k++;
    closedir(d);
    return k;
}

static void test_roundtrip(void)
{
    /* 300 x 301 floats cross the 64 KiB I/O chunks in the middle of rows. */
    size_t rows = 300, cols = 301, total = rows * cols;
    float *m = malloc(total * sizeof *m);
    if (!m)
        die("malloc");
    for (size_t k = 0; k < total; k++)
        m[k] = gen_value(k);
    m[0] = FLT_MAX;
    m[1] = -FLT_MAX;
    m[2] = FLT_MIN;
    m[3] = FLT_MIN / 4; /* subnormal */
    m[4] = -0.0f;
    m[5] = 0.1f;
    struct rn_err err = {0};
    char sha[65];
    CHECK_MSG(npy_write_matrix(tp("rt.npy"), rows, cols, m, sha, &err) == RN_OK, "%s", err.msg);
    CHECK(strlen(sha) == 64);

    struct npy_info info;
    CHECK_MSG(npy_inspect(tp("rt.npy"), NPY_FEATURES, &info, &err) == RN_OK, "%s", err.msg);
    CHECK(info.major == 1 && info.minor == 0);
    CHECK(strcmp(info.descr, "<f4") == 0 && info.itemsize == 4);
    CHECK(info.rows == rows && info.cols == cols);
    CHECK(info.data_offset % 64 == 0);
    CHECK(info.data_bytes == total * 4);
    struct stat st;
    CHECK(stat(tp("rt.npy"), &st) == 0 && (size_t)st.st_size == info.data_offset + total * 4);
    /* A feature file is not a label file. */
    CHECK(npy_inspect(tp("rt.npy"), NPY_LABELS, &info, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "integer labels");

    expect_matrix("rt.npy", rows, cols, m);

    /* Verified read: digest reported, matching expectation accepted in
     * either case, a different one rejected. */
    struct npy_digest dig = {0};
    size_t r, c;
    float *d;
    CHECK(npy_read_matrix(tp("rt.npy"), &r, &c, &d, &dig, &err) == RN_OK);
    CHECK(strcmp(dig.hex, sha) == 0);
    free(d);
    char upper[65];
    for (int k = 0; k < 65; k++)
        upper[k] = (char)(sha[k] >= 'a' && sha[k] <= 'f' ? sha[k] - 'a' + 'A' : sha[k]);
    dig.expect = upper;
    CHECK(npy_read_matrix(tp("rt.npy"), &r, &c, &d, &dig, &err) == RN_OK);
    free(d);
    char wrong[65];
    memcpy(wrong, sha, 65);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    dig.expect = wrong;
    CHECK(npy_read_matrix(tp("rt.npy"), &r, &c, &d, &dig, &err) == RN_ERR_DATA);
    CHECK(d == NULL);
    CHECK_STR_CONTAINS(err.msg, "does not match");
    dig.expect = "abc";
    CHECK(npy_read_matrix(tp("rt.npy"), &r, &c, &d, &dig, &err) == RN_ERR_DATA);

    /* Overwriting replaces the file whole; no temporary is left behind. */
    CHECK(npy_write_matrix(tp("rt.npy"), 2, 3, m + 100, NULL, &err) == RN_OK);
    expect_matrix("rt.npy", 2, 3, m + 100);
    CHECK(count_entries(".tmp") == 0);
    /* A single-element matrix. */
    CHECK(npy_write_matrix(tp("one.npy"), 1, 1, m + 7, NULL, &err) == RN_OK);
    expect_matrix("one.npy", 1, 1, m + 7);
    free(m);

    /* Labels: 70000 of them cross the I/O chunks too. */
    size_t n = 70000;
    uint8_t *lab = malloc(n);
    if (!lab)
        die("malloc");
    for (size_t k = 0; k < n; k++)
        lab[k] = (uint8_t)(k * 7 % 10);
    CHECK(npy_write_labels(tp("lab.npy"), n, lab, sha, &err) == RN_OK);
    CHECK(npy_inspect(tp("lab.npy"), NPY_LABELS, &info, &err) == RN_OK);
    CHECK(strcmp(info.descr, "|u1") == 0 && info.rows == n && info.cols == 1);
    CHECK(info.data_offset % 64 == 0);
    expect_labels("lab.npy", 10, n, lab);
    struct npy_digest ldig = {sha, {0}};
    size_t got;
    uint8_t *l;
    CHECK(npy_read_labels(tp("lab.npy"), 10, &got, &l, &ldig, &err) == RN_OK);
    CHECK(strcmp(ldig.hex, sha) == 0);
    free(l);
    expect_labels_fail("lab.npy", 5, "label at index 1 is 7; expected 0..4");
    CHECK(npy_read_labels(tp("lab.npy"), 0, &got, &l, NULL, &err) == RN_ERR_GENERIC);
    CHECK(npy_read_labels(tp("lab.npy"), 257, &got, &l, NULL, &err) == RN_ERR_GENERIC);
    /* All 256 byte values with num_classes 256. */
    for (size_t k = 0; k < 256; k++)
        lab[k] = (uint8_t)k;
    CHECK(npy_write_labels(tp("lab256.npy"), 256, lab, NULL, &err) == RN_OK);
    expect_labels("lab256.npy", 256, 256, lab);
    free(lab);
}

/* A cache file that was damaged after it was written. */
static void test_corrupt(void)
{
    float m[4 * 5];
    for (size_t k = 0; k < 20; k++)
        m[k] = gen_value(k);
    struct rn_err err = {0};
    char sha[65];
    CHECK(npy_write_matrix(tp("c.npy"), 4, 5, m, sha, &err) == RN_OK);
    size_t n;
    unsigned char *b = read_bytes("c.npy", &n);
    size_t off = n - 20 * 4;
    struct npy_digest dig = {sha, {0}};
    size_t r, c;
    float *d;

    /* One flipped bit in a finite value: only the digest can tell. */
    b[off + 9] ^= 0x01;
    write_bytes("c_flip.npy", b, n);
    CHECK(npy_read_matrix(tp("c_flip.npy"), &r, &c, &d, NULL, &err) == RN_OK);
    free(d);
    CHECK(npy_read_matrix(tp("c_flip.npy"), &r, &c, &d, &dig, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "does not match");
    b[off + 9] ^= 0x01;

    /* A NaN: without a digest it is a NaN, with one the digest explains it. */
    put_f32(b + off + 4 * 7, NAN); /* row 1, column 2 */
    write_bytes("c_nan.npy", b, n);
    expect_matrix_fail("c_nan.npy", RN_ERR_DATA, "row 1, column 2 is NaN");
    CHECK(npy_read_matrix(tp("c_nan.npy"), &r, &c, &d, &dig, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "does not match");
    /* ... and with a digest that matches the damaged file, it is a NaN again. */
    struct npy_digest any = {0};
    CHECK(npy_read_matrix(tp("c_nan.npy"), &r, &c, &d, &any, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "NaN");

    /* Truncated (a crash mid-copy) and extended. */
    write_bytes("c_trunc.npy", b, n - 3);
    expect_matrix_fail("c_trunc.npy", RN_ERR_DATA, "truncated");
    write_bytes("c_hdr.npy", b, 30);
    expect_matrix_fail("c_hdr.npy", RN_ERR_DATA, "header length");
    write_bytes("c_tiny.npy", b, 9);
    expect_matrix_fail("c_tiny.npy", RN_ERR_DATA, "truncated .npy header");
    unsigned char *b2 = malloc(n + 1);
    if (!b2)
        die("malloc");
    memcpy(b2, b, n);
    b2[n] = 0;
    write_bytes("c_extra.npy", b2, n + 1);
    expect_matrix_fail("c_extra.npy", RN_ERR_DATA, "1 trailing bytes");
    free(b2);
    free(b);
}

static void test_handmade_ok(void)
{
    float want[6] = {1.5f, -2.0f, 0.25f, 1e30f, -1e-30f, 3.0f};
    unsigned char p4[24], p8[48];
    for (int k = 0; k < 6; k++) {
        put_f32(p4 + 4 * k, want[k]);
        put_f64(p8 + 8 * k, (double)want[k]);
    }
    make_npy("h_f4.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", p4, 24);
    expect_matrix("h_f4.npy", 2, 3, want);
    make_npy("h_f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", p8, 48);
    expect_matrix("h_f8.npy", 3, 2, want);
    /* float64 that is not exactly a float32 rounds to nearest. */
    unsigned char p1[8];
    put_f64(p1, 0.1);
    make_npy("h_f8r.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", p1, 8);
    float tenth = 0.1f;
    expect_matrix("h_f8r.npy", 1, 1, &tenth);
    /* Any key order, double quotes, no trailing comma, tabs, no padding
     * alignment, a trailing comma inside the shape, versions 2.0 and 3.0. */
    make_npy("h_order.npy", "{\"shape\": (2, 3,), 'descr':\t\"<f4\" ,'fortran_order':False}",
             p4, 24);
    expect_matrix("h_order.npy", 2, 3, want);
    make_npy_v("h_align1.npy", 1, 0, "{'descr':'<f4','fortran_order':False,'shape':(2,3)}", p4,
               24, 1);
    expect_matrix("h_align1.npy", 2, 3, want);
    make_npy_v("h_v2.npy", 2, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
               p4, 24, 64);
    expect_matrix("h_v2.npy", 2, 3, want);
    struct npy_info info;
    struct rn_err err = {0};
    CHECK(npy_inspect(tp("h_v2.npy"), NPY_FEATURES, &info, &err) == RN_OK && info.major == 2);
    make_npy_v("h_v3.npy", 3, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
               p4, 24, 64);
    expect_matrix("h_v3.npy", 2, 3, want);

    /* Every integer label dtype, and a (n, 1) column. */
    static const struct {
        const char *descr;
        size_t size;
    } lt[] = {{"|u1", 1}, {"|i1", 1}, {"<u1", 1}, {"<i2", 2}, {"<u2", 2},
              {"<i4", 4}, {"<u4", 4}, {"<i8", 8}, {"<u8", 8}};
    uint8_t lw[5] = {0, 9, 3, 1, 7};
    for (size_t t = 0; t < sizeof lt / sizeof lt[0]; t++) {
        unsigned char pl[40];
        for (int k = 0; k < 5; k++)
            put_le(pl + lt[t].size * (size_t)k, lw[k], lt[t].size);
        char dict[128], name[32];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (5,), }",
                 lt[t].descr);
        snprintf(name, sizeof name, "h_lab%zu.npy", t);
        make_npy(name, dict, pl, 5 * lt[t].size);
        expect_labels(name, 10, 5, lw);
    }
    unsigned char pc[40];
    for (int k = 0; k < 5; k++)
        put_le(pc + 8 * k, lw[k], 8);
    make_npy("h_labcol.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (5, 1), }", pc,
             40);
    expect_labels("h_labcol.npy", 10, 5, lw);
}

struct bad_case {
    const char *name;
    const char *dict;
    size_t plen;
    const char *needle;
};

static void test_handmade_bad(void)
{
    static unsigned char zeros[4096];
#define GOOD_DICT "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
    const char *good = GOOD_DICT;

    /* Magic and version. */
    write_bytes("b_empty.npy", "", 0);
    expect_matrix_fail("b_empty.npy", RN_ERR_DATA, "bad magic");
    write_bytes("b_magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}              \n", 26);
    expect_matrix_fail("b_magic.npy", RN_ERR_DATA, "bad magic");
    write_bytes("b_text.npy", "descr,shape\n1,2\n", 16);
    expect_matrix_fail("b_text.npy", RN_ERR_DATA, "not a .npy file");
    make_npy_v("b_v4.npy", 4, 0, good, zeros, 48, 64);
    expect_matrix_fail("b_v4.npy", RN_ERR_DATA, "version 4.0; expected 1.0, 2.0 or 3.0");
    make_npy_v("b_v11.npy", 1, 1, good, zeros, 48, 64);
    expect_matrix_fail("b_v11.npy", RN_ERR_DATA, "version 1.1");
    make_npy_v("b_v0.npy", 0, 0, good, zeros, 48, 64);
    expect_matrix_fail("b_v0.npy", RN_ERR_DATA, "version 0.0");
    /* A v2 header length of 4 GB in a small file is not trusted. */
    write_bytes("b_hlen.npy", "\x93NUMPY\x02\x00\xff\xff\xff\xff{}\n", 15);
    expect_matrix_fail("b_hlen.npy", RN_ERR_DATA, "header length 4294967295 is larger");

    static const struct bad_case cases[] = {
        /* Dict syntax. */
        {"d_nobrace.npy", "'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)", 48,
         "expected '{'"},
        {"d_lead.npy", " {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}", 48,
         "expected '{'"},
        {"d_empty.npy", "", 48, "expected '{'"},
        {"d_emptydict.npy", "{}", 48, "no 'descr' key"},
        {"d_noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", 48, "no 'shape' key"},
        {"d_nodescr.npy", "{'fortran_order': False, 'shape': (3, 4), }", 48, "no 'descr' key"},
        {"d_nofort.npy", "{'descr': '<f4', 'shape': (3, 4), }", 48, "no 'fortran_order' key"},
        {"d_dup.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}",
         48, "duplicate key"},
        {"d_unknown.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1}", 48,
         "unexpected key 'x'"},
        {"d_nocomma.npy", "{'descr': '<f4' 'fortran_order': False, 'shape': (3, 4)}", 48,
         "expected ',' or '}'"},
        {"d_twocommas.npy", "{'descr': '<f4',, 'fortran_order': False, 'shape': (3, 4)}", 48,
         "expected a quoted string"},
        {"d_nocolon.npy", "{'descr' '<f4', 'fortran_order': False, 'shape': (3, 4)}", 48,
         "expected ':'"},
        {"d_longstr.npy", "{'descr': '<f4", 48, "string too long"},
        {"d_valquote.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (3, 4)}", 48,
         "expected ',' or '}'"},
        {"d_open.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)", 48,
         "expected ',' or '}'"},
        {"d_after.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)} x", 48,
         "unexpected text after '}'"},
        {"d_unquoted.npy", "{descr: '<f4', 'fortran_order': False, 'shape': (3, 4)}", 48,
         "expected a quoted string"},
        {"d_escape.npy", "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3, 4)}", 48,
         "unsupported character"},
        {"d_fort0.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 4)}", 48,
         "must be True or False"},
        {"d_fortx.npy", "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (3, 4)}", 48,
         "must be True or False"},
        {"d_list.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4]}", 48,
         "must be a tuple"},
        {"d_paren.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12)}", 48,
         "trailing comma"},
        {"d_float.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0, 4)}", 48,
         "not a plain integer"},
        {"d_long.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L)}", 48,
         "not a plain integer"},
        {"d_zero.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (03, 4)}", 48,
         "leading zero"},
        {"d_shapeopen.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4}", 48,
         "expected ',' or ')'"},
        {"d_struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}", 12,
         "structured dtype"},
        /* Shapes. */
        {"s_neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }", 48,
         "negative dimension"},
        {"s_huge.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 4), }", 48,
         "too large"},
        {"s_prod.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 48,
         "overflows"},
        {"s_bytes.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 2147483648), }", 48,
         "overflows"},
        {"s_big.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
         48, "needs 4000000000000: file truncated"},
        {"s_1d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }", 48,
         "has 1 dimensions; expected 2"},
        {"s_3d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 2), }", 48,
         "(2, 3, 2) has 3 dimensions"},
        {"s_0d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4,
         "has 0 dimensions"},
        {"s_empty.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", 0,
         "is empty"},
        {"s_empty2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }", 0,
         "is empty"},
        /* Dtype and order. */
        {"t_be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }", 48,
         "'>f4' is big-endian; expected little-endian float32"},
        {"t_i4.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), }", 48,
         "dtype '<i4'; expected little-endian float32 '<f4' or float64 '<f8'"},
        {"t_f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }", 24,
         "dtype '<f2'"},
        {"t_obj.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (3, 4), }", 96,
         "dtype '|O'"},
        {"t_fort.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 48,
         "fortran_order is True; expected C order"},
        /* Payload size. */
        {"p_short.npy", GOOD_DICT, 44, "data is 44 bytes but shape (3, 4) of '<f4' needs 48"},
        {"p_long.npy", GOOD_DICT, 52, "4 trailing bytes"},
        {"p_none.npy", GOOD_DICT, 0, "truncated"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        make_npy(cases[k].name, cases[k].dict, zeros, cases[k].plen);
        expect_matrix_fail(cases[k].name, RN_ERR_DATA, cases[k].needle);
    }
    make_npy_v("d_unterminated.npy", 1, 0, "{'descr': '<f4", zeros, 48, 1);
    expect_matrix_fail("d_unterminated.npy", RN_ERR_DATA, "unterminated string");
    /* The header's own message names the offset in the dict. */
    struct rn_err err = {0};
    size_t r, c;
    float *d;
    npy_read_matrix(tp("d_nocolon.npy"), &r, &c, &d, NULL, &err);
    CHECK_STR_CONTAINS(err.msg, "at byte 9");

    /* Non-finite and out-of-range values name row and column. */
    unsigned char p[96];
    memset(p, 0, sizeof p);
    put_f32(p + 4 * (2 * 4 + 0), -INFINITY);
    make_npy("v_inf.npy", good, p, 48);
    expect_matrix_fail("v_inf.npy", RN_ERR_DATA, "row 2, column 0 is -inf");
    memset(p, 0, sizeof p);
    put_f32(p + 4 * 11, INFINITY);
    make_npy("v_pinf.npy", good, p, 48);
    expect_matrix_fail("v_pinf.npy", RN_ERR_DATA, "row 2, column 3 is +inf");
    const char *g8 = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
    memset(p, 0, sizeof p);
    put_f64(p + 8 * 5, NAN);
    make_npy("v_nan8.npy", g8, p, 96);
    expect_matrix_fail("v_nan8.npy", RN_ERR_DATA, "row 1, column 1 is NaN");
    memset(p, 0, sizeof p);
    put_f64(p + 8 * 6, -1e300);
    make_npy("v_range8.npy", g8, p, 96);
    expect_matrix_fail("v_range8.npy", RN_ERR_DATA, "-1e+300 at row 1, column 2 is outside");
    memset(p, 0, sizeof p);
    put_f64(p + 8 * 6, (double)FLT_MAX);
    make_npy("v_max8.npy", g8, p, 96);
    float fmax[12] = {0};
    fmax[6] = FLT_MAX;
    expect_matrix("v_max8.npy", 3, 4, fmax);

    /* Not a file. */
    expect_matrix_fail("missing.npy", RN_ERR_DATA, "cannot open");
    mkdir(tp("adir.npy"), 0777);
    expect_matrix_fail("adir.npy", RN_ERR_DATA, "not a regular file");
}

static void test_labels_bad(void)
{
    unsigned char p[64];
    memset(p, 0, sizeof p);
    p[3] = 10;
    make_npy("l_range.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", p, 6);
    expect_labels_fail("l_range.npy", 10, "label at index 3 is 10; expected 0..9");
    memset(p, 0, sizeof p);
    put_le(p + 8 * 2, UINT64_MAX, 8);
    make_npy("l_neg.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (6,), }", p, 48);
    expect_labels_fail("l_neg.npy", 10, "label at index 2 is -1;");
    memset(p, 0, sizeof p);
    put_le(p + 8 * 1, (uint64_t)1 << 63, 8);
    make_npy("l_min.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (6,), }", p, 48);
    expect_labels_fail("l_min.npy", 10, "is -9223372036854775808");
    make_npy("l_u8.npy", "{'descr': '<u8', 'fortran_order': False, 'shape': (6,), }", p, 48);
    expect_labels_fail("l_u8.npy", 10, "is 9223372036854775808");
    memset(p, 0, sizeof p);
    p[4] = 0xff;
    make_npy("l_i1.npy", "{'descr': '|i1', 'fortran_order': False, 'shape': (6,), }", p, 6);
    expect_labels_fail("l_i1.npy", 10, "label at index 4 is -1");
    memset(p, 0, sizeof p);
    put_le(p + 2 * 5, 0x8000, 2);
    make_npy("l_i2.npy", "{'descr': '<i2', 'fortran_order': False, 'shape': (6,), }", p, 12);
    expect_labels_fail("l_i2.npy", 10, "label at index 5 is -32768");
    memset(p, 0, sizeof p);
    make_npy("l_f4.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", p, 24);
    expect_labels_fail("l_f4.npy", 10, "dtype '<f4'; expected little-endian integer labels");
    make_npy("l_be.npy", "{'descr': '>i4', 'fortran_order': False, 'shape': (6,), }", p, 24);
    expect_labels_fail("l_be.npy", 10, "'>i4' is big-endian");
    make_npy("l_2col.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }", p, 24);
    expect_labels_fail("l_2col.npy", 10, "(3, 2); expected (n,) or (n, 1)");
    make_npy("l_row.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 6), }", p, 24);
    expect_labels_fail("l_row.npy", 10, "expected (n,) or (n, 1)");
    make_npy("l_empty.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", p, 0);
    expect_labels_fail("l_empty.npy", 10, "is empty");
    make_npy("l_short.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", p, 23);
    expect_labels_fail("l_short.npy", 10, "truncated");
    make_npy("l_fort.npy", "{'descr': '<i4', 'fortran_order': True, 'shape': (6,), }", p, 24);
    expect_labels_fail("l_fort.npy", 10, "fortran_order is True");
}

static void test_writer_errors(void)
{
    float m[6] = {1, 2, 3, 4, 5, 6};
    struct rn_err err = {0};
    m[4] = NAN;
    CHECK(npy_write_matrix(tp("w_nan.npy"), 2, 3, m, NULL, &err) == RN_ERR_DATA);
    CHECK_STR_CONTAINS(err.msg, "row 1, column 1 is not finite");
    CHECK(access(tp("w_nan.npy"), F_OK) != 0);
    m[4] = 5;
    CHECK(npy_write_matrix(tp("no/such/dir/w.npy"), 2, 3, m, NULL, &err) == RN_ERR_OUTPUT);
    CHECK_STR_CONTAINS(err.msg, "no/such/dir/w.npy");
    uint8_t l[3] = {1, 2, 3};
    CHECK(npy_write_labels(tp("no/such/dir/l.npy"), 3, l, NULL, &err) == RN_ERR_OUTPUT);
    CHECK(npy_write_matrix(tp("w_ovf.npy"), SIZE_MAX / 2, 3, m, NULL, &err) == RN_ERR_NOMEM);
    CHECK(count_entries(".tmp") == 0);
}

static int have_numpy(void)
{
    if (access(PYTHON, X_OK) != 0)
        return 0;
    return system(PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int run_python(const char *script_name, const char *script)
{
    write_bytes(script_name, script, strlen(script));
    char cmd[512];
    snprintf(cmd, sizeof cmd, PYTHON " '%s' '%s'", tp(script_name), tmpdir);
    return system(cmd);
}

static const char numpy_gen[] =
    "import sys, hashlib\n"
    "import numpy as np\n"
    "d = sys.argv[1] + '/'\n"
    "a = np.arange(12, dtype=np.float64).reshape(3, 4) * 0.5 - 2.0\n"
    "np.save(d + 'np_f4.npy', a.astype(np.float32))\n"
    "np.save(d + 'np_f8.npy', a)\n"
    "np.save(d + 'np_lab_i8.npy', np.arange(6, dtype=np.int64) % 10)\n"
    "np.save(d + 'np_lab_u1.npy', (np.arange(6) % 10).astype(np.uint8))\n"
    "np.save(d + 'np_lab_col.npy', (np.arange(6) % 10).astype(np.int32).reshape(6, 1))\n"
    "np.save(d + 'np_lab_big.npy', np.array([0, 1, 10], dtype=np.int64))\n"
    "np.save(d + 'np_lab_f.npy', np.arange(6, dtype=np.float32))\n"
    "np.save(d + 'np_fortran.npy', np.asfortranarray(a.astype(np.float32)))\n"
    "np.save(d + 'np_be.npy', a.astype('>f4'))\n"
    "np.save(d + 'np_3d.npy', np.zeros((2, 3, 4), np.float32))\n"
    "np.save(d + 'np_1d.npy', np.zeros(12, np.float32))\n"
    "np.save(d + 'np_i4.npy', a.astype(np.int32))\n"
    "np.save(d + 'np_obj.npy', np.array([1, 'x'], dtype=object), allow_pickle=True)\n"
    "np.save(d + 'np_empty.npy', np.zeros((0, 4), np.float32))\n"
    "b = a.copy(); b[1, 2] = np.nan\n"
    "np.save(d + 'np_nan.npy', b)\n"
    "np.save(d + 'np_slice.npy', a.astype(np.float32)[:, ::2])\n"
    "for v in (2, 3):\n"
    "    with open(d + 'np_v%d.npy' % v, 'wb') as f:\n"
    "        np.lib.format.write_array(f, a.astype(np.float32), version=(v, 0))\n"
    "r = np.random.default_rng(7).standard_normal((777, 129)).astype(np.float32)\n"
    "np.save(d + 'np_rand.npy', r)\n"
    "with open(d + 'np_rand.sha', 'w') as f:\n"
    "    f.write(hashlib.sha256(r.tobytes()).hexdigest())\n";

static const char numpy_check[] =
    "import sys\n"
    "import numpy as np\n"
    "d = sys.argv[1] + '/'\n"
    "a = np.load(d + 'w_f4.npy')\n"
    "k = np.arange(37 * 129, dtype=np.float64).reshape(37, 129)\n"
    "want = ((k % 1000) * 0.125 - 50.0).astype(np.float32)\n"
    "assert a.dtype == np.float32 and a.shape == (37, 129), (a.dtype, a.shape)\n"
    "assert a.flags.c_contiguous and np.array_equal(a, want)\n"
    "l = np.load(d + 'w_lab.npy')\n"
    "assert l.dtype == np.uint8 and l.shape == (50,), (l.dtype, l.shape)\n"
    "assert np.array_equal(l, np.arange(50) % 10)\n"
    "for name in ('w_f4.npy', 'w_lab.npy'):\n"
    "    with open(d + name, 'rb') as f:\n"
    "        assert np.lib.format.read_magic(f) == (1, 0)\n"
    "        np.lib.format.read_array_header_1_0(f)\n"
    "        assert f.tell() % 64 == 0, f.tell()\n"
    "m = np.load(d + 'w_f4.npy', mmap_mode='r')\n"
    "assert m[36, 128] == want[36, 128]\n"
    "print('numpy loaded the writer files')\n";

static void test_numpy(void)
{
    if (!have_numpy()) {
        printf("numpy not available: skipping numpy-made files\n");
        return;
    }
    /* numpy reads what we write. */
    size_t rows = 37, cols = 129;
    float *m = malloc(rows * cols * sizeof *m);
    if (!m)
        die("malloc");
    for (size_t k = 0; k < rows * cols; k++)
        m[k] = gen_value(k);
    uint8_t lab[50];
    for (size_t k = 0; k < 50; k++)
        lab[k] = (uint8_t)(k % 10);
    struct rn_err err = {0};
    CHECK(npy_write_matrix(tp("w_f4.npy"), rows, cols, m, NULL, &err) == RN_OK);
    CHECK(npy_write_labels(tp("w_lab.npy"), 50, lab, NULL, &err) == RN_OK);
    CHECK_MSG(run_python("check.py", numpy_check) == 0, "numpy rejected the writer's files");
    free(m);

    /* We read what numpy writes. */
    if (run_python("gen.py", numpy_gen) != 0) {
        CHECK_MSG(0, "numpy could not generate the test files");
        return;
    }
    float a[12];
    for (int k = 0; k < 12; k++)
        a[k] = (float)(k * 0.5 - 2.0);
    expect_matrix("np_f4.npy", 3, 4, a);
    expect_matrix("np_f8.npy", 3, 4, a);
    expect_matrix("np_v2.npy", 3, 4, a);
    expect_matrix("np_v3.npy", 3, 4, a);
    float sl[6] = {a[0], a[2], a[4], a[6], a[8], a[10]};
    expect_matrix("np_slice.npy", 3, 2, sl);
    uint8_t lw[6] = {0, 1, 2, 3, 4, 5};
    expect_labels("np_lab_i8.npy", 10, 6, lw);
    expect_labels("np_lab_u1.npy", 10, 6, lw);
    expect_labels("np_lab_col.npy", 10, 6, lw);
    expect_labels_fail("np_lab_big.npy", 10, "label at index 2 is 10");
    expect_labels_fail("np_lab_f.npy", 10, "dtype '<f4'");
    expect_matrix_fail("np_fortran.npy", RN_ERR_DATA, "fortran_order is True");
    expect_matrix_fail("np_be.npy", RN_ERR_DATA, "big-endian");
    expect_matrix_fail("np_3d.npy", RN_ERR_DATA, "3 dimensions");
    expect_matrix_fail("np_1d.npy", RN_ERR_DATA, "1 dimensions");
    expect_matrix_fail("np_i4.npy", RN_ERR_DATA, "dtype '<i4'");
    expect_matrix_fail("np_obj.npy", RN_ERR_DATA, "dtype '|O'");
    expect_matrix_fail("np_empty.npy", RN_ERR_DATA, "empty");
    expect_matrix_fail("np_nan.npy", RN_ERR_DATA, "row 1, column 2 is NaN");

    /* The payload digest is numpy's tobytes() digest. */
    size_t n;
    unsigned char *want = read_bytes("np_rand.sha", &n);
    char hex[65] = {0};
    memcpy(hex, want, n < 64 ? n : 64);
    free(want);
    struct npy_digest dig = {hex, {0}};
    size_t r, c;
    float *d;
    CHECK_MSG(npy_read_matrix(tp("np_rand.npy"), &r, &c, &d, &dig, &err) == RN_OK, "%s",
              err.msg);
    CHECK(r == 777 && c == 129);
    free(d);
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
        unlink(path);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_npy.XXXXXX");
    if (!mkdtemp(tmpdir))
        die("mkdtemp");
    test_roundtrip();
    test_corrupt();
    test_handmade_ok();
    test_handmade_bad();
    test_labels_bad();
    test_writer_errors();
    test_numpy();
    rm_tree(tmpdir);
    return check_exit("test_npy");
}

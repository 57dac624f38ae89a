/* npy: reading and writing NumPy .npy files (format documented in
 * numpy/lib/format.py; policy in include/runner/npy.h).
 *
 * A file is: magic "\x93NUMPY", major, minor, header length (2 bytes LE for
 * 1.0, 4 bytes LE for 2.0/3.0), the header (a Python dict literal padded
 * with spaces and ending in '\n'), then the raw payload. The header is parsed
 * here with a small strict parser: numpy's own writer is the model, anything
 * it would not write (or could not read back) is rejected. */
#include "runner/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/fsutil.h"
#include "runner/hash.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER ((size_t)1 << 20) /* numpy refuses > 10000 by default */
#define NPY_MAX_DIMS 64                  /* numpy 2.x allows 64 */
#define NPY_CHUNK ((size_t)1 << 16)      /* I/O buffer, a multiple of every itemsize */
#define NPY_ALIGN 64                     /* writer: data offset multiple */

/* ---------------------------------------------------------------------- */
/* Header parsing                                                         */

/* The header as written, before any policy is applied. */
struct npy_hdr {
    unsigned major, minor;
    char descr[32];
    int fortran;
    size_t ndim;
    size_t shape[NPY_MAX_DIMS];
    size_t data_offset;
};

struct lex {
    const char *s; /* header text (not NUL-terminated) */
    size_t n, i;
    const char *path;
    struct rn_err *err;
};

static int lex_bad(struct lex *lx, const char *what)
{
    return rn_fail(lx->err, RN_ERR_DATA,
                   "%s: malformed .npy header dict at byte %zu: %s (expected "
                   "{'descr': ..., 'fortran_order': ..., 'shape': (...)})",
                   lx->path, lx->i, what);
}

static int lex_peek(const struct lex *lx)
{
    return lx->i < lx->n ? (unsigned char)lx->s[lx->i] : -1;
}

static void lex_ws(struct lex *lx)
{
    while (lx->i < lx->n && (lx->s[lx->i] == ' ' || lx->s[lx->i] == '\t'))
        lx->i++;
}

/* A '...' or "..." literal of printable ASCII without escapes. */
static int lex_string(struct lex *lx, char *out, size_t cap)
{
    int q = lex_peek(lx);
    if (q != '\'' && q != '"')
        return lex_bad(lx, "expected a quoted string");
    lx->i++;
    size_t len = 0;
    for (;;) {
        int c = lex_peek(lx);
        if (c < 0 || c == '\n')
            return lex_bad(lx, "unterminated string");
        if (c == q)
            break;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return lex_bad(lx, "unsupported character in string");
        if (len + 1 >= cap)
            return lex_bad(lx, "string too long");
        out[len++] = (char)c;
        lx->i++;
    }
    lx->i++;
    out[len] = '\0';
    return RN_OK;
}

static int is_ident_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* Match the identifier `w` as a whole word. */
static int lex_word(struct lex *lx, const char *w)
{
    size_t k = strlen(w);
    if (lx->n - lx->i < k || memcmp(lx->s + lx->i, w, k) != 0)
        return 0;
    if (lx->i + k < lx->n && is_ident_char((unsigned char)lx->s[lx->i + k]))
        return 0;
    lx->i += k;
    return 1;
}

static int lex_bool(struct lex *lx, int *out)
{
    if (lex_word(lx, "True"))
        *out = 1;
    else if (lex_word(lx, "False"))
        *out = 0;
    else
        return lex_bad(lx, "'fortran_order' must be True or False");
    return RN_OK;
}

/* A non-negative decimal integer as Python writes it (no sign, no leading
 * zeros, no underscores). */
static int lex_dim(struct lex *lx, size_t *out)
{
    int c = lex_peek(lx);
    if (c == '-')
        return rn_fail(lx->err, RN_ERR_DATA,
                       "%s: negative dimension in .npy shape; expected sizes >= 0",
                       lx->path);
    if (c < '0' || c > '9')
        return lex_bad(lx, "expected a dimension (a non-negative integer)");
    size_t v = 0, start = lx->i;
    while ((c = lex_peek(lx)) >= '0' && c <= '9') {
        if (v > (SIZE_MAX - (size_t)(c - '0')) / 10)
            return rn_fail(lx->err, RN_ERR_DATA,
                           "%s: dimension in .npy shape is too large (overflows size_t)",
                           lx->path);
        v = v * 10 + (size_t)(c - '0');
        lx->i++;
    }
    if (lx->s[start] == '0' && lx->i - start > 1) {
        lx->i = start;
        return lex_bad(lx, "dimension with a leading zero");
    }
    if (is_ident_char(c) || c == '.')
        return lex_bad(lx, "dimension is not a plain integer");
    *out = v;
    return RN_OK;
}

/* "()", "(n,)", "(a, b)", "(a, b,)" ... ; "(n)" is an int, not a tuple. */
static int lex_shape(struct lex *lx, struct npy_hdr *h)
{
    if (lex_peek(lx) != '(')
        return lex_bad(lx, "'shape' must be a tuple");
    lx->i++;
    lex_ws(lx);
    h->ndim = 0;
    if (lex_peek(lx) == ')') {
        lx->i++;
        return RN_OK;
    }
    for (;;) {
        if (h->ndim == NPY_MAX_DIMS)
            return lex_bad(lx, "too many dimensions");
        int rc = lex_dim(lx, &h->shape[h->ndim]);
        if (rc)
            return rc;
        h->ndim++;
        lex_ws(lx);
        int c = lex_peek(lx);
        if (c == ',') {
            lx->i++;
            lex_ws(lx);
            if (lex_peek(lx) == ')') {
                lx->i++;
                return RN_OK;
            }
        } else if (c == ')') {
            if (h->ndim == 1)
                return lex_bad(lx, "a one-element shape needs a trailing comma: (n,)");
            lx->i++;
            return RN_OK;
        } else {
            return lex_bad(lx, "expected ',' or ')' in 'shape'");
        }
    }
}

static int parse_dict(struct lex *lx, struct npy_hdr *h)
{
    enum { HAVE_DESCR = 1, HAVE_FORTRAN = 2, HAVE_SHAPE = 4 };
    unsigned have = 0;
    if (lex_peek(lx) != '{')
        return lex_bad(lx, "expected '{'");
    lx->i++;
    lex_ws(lx);
    while (lex_peek(lx) != '}') {
        char key[32];
        size_t key_at = lx->i;
        int rc = lex_string(lx, key, sizeof key);
        if (rc)
            return rc;
        lex_ws(lx);
        if (lex_peek(lx) != ':')
            return lex_bad(lx, "expected ':' after a key");
        lx->i++;
        lex_ws(lx);
        unsigned bit;
        if (strcmp(key, "descr") == 0) {
            bit = HAVE_DESCR;
            if (lex_peek(lx) == '[')
                return rn_fail(lx->err, RN_ERR_DATA,
                               "%s: .npy holds a structured dtype; expected a plain "
                               "numeric array",
                               lx->path);
            rc = lex_string(lx, h->descr, sizeof h->descr);
        } else if (strcmp(key, "fortran_order") == 0) {
            bit = HAVE_FORTRAN;
            rc = lex_bool(lx, &h->fortran);
        } else if (strcmp(key, "shape") == 0) {
            bit = HAVE_SHAPE;
            rc = lex_shape(lx, h);
        } else {
            return rn_fail(lx->err, RN_ERR_DATA,
                           "%s: unexpected key '%s' in .npy header; expected only 'descr', "
                           "'fortran_order' and 'shape'",
                           lx->path, key);
        }
        if (rc)
            return rc;
        if (have & bit) {
            lx->i = key_at;
            return lex_bad(lx, "duplicate key");
        }
        have |= bit;
        lex_ws(lx);
        int c = lex_peek(lx);
        if (c == ',') {
            lx->i++;
            lex_ws(lx);
        } else if (c != '}') {
            return lex_bad(lx, "expected ',' or '}'");
        }
    }
    lx->i++;
    while (lx->i < lx->n) {
        char c = lx->s[lx->i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return lex_bad(lx, "unexpected text after '}'");
        lx->i++;
    }
    static const char *const names[] = {"descr", "fortran_order", "shape"};
    for (unsigned b = 0; b < 3; b++)
        if (!(have & (1u << b)))
            return rn_fail(lx->err, RN_ERR_DATA,
                           "%s: .npy header has no '%s' key; expected 'descr', "
                           "'fortran_order' and 'shape'",
                           lx->path, names[b]);
    return RN_OK;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Read and parse everything up to the payload; f is left at data_offset.
 * fsize is the file's size, used to check the header length before trusting
 * it. */
static int read_header(FILE *f, const char *path, size_t fsize, struct npy_hdr *h,
                       struct rn_err *err)
{
    unsigned char pre[12];
    memset(h, 0, sizeof *h);
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        if (ferror(f))
            return rn_fail(err, RN_ERR_DATA, "%s: read error", path);
        return rn_fail(err, RN_ERR_DATA,
                       "%s: bad magic: not a .npy file (expected it to start with "
                       "\\x93NUMPY)",
                       path);
    }
    h->major = pre[6];
    h->minor = pre[7];
    if (h->major < 1 || h->major > 3 || h->minor != 0)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: unsupported .npy format version %u.%u; expected 1.0, 2.0 or 3.0",
                       path, h->major, h->minor);
    size_t lenbytes = h->major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes)
        return rn_fail(err, RN_ERR_DATA, "%s: truncated .npy header", path);
    size_t hlen = h->major == 1 ? (size_t)pre[8] | (size_t)pre[9] << 8 : (size_t)le32(pre + 8);
    size_t prefix = 8 + lenbytes;
    if (fsize < prefix || hlen > fsize - prefix)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: .npy header length %zu is larger than the rest of the file "
                       "(%zu bytes): truncated file",
                       path, hlen, fsize < prefix ? (size_t)0 : fsize - prefix);
    if (hlen > NPY_MAX_HEADER)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: .npy header length %zu is too large; expected at most %zu", path,
                       hlen, NPY_MAX_HEADER);
    char *text = malloc(hlen ? hlen : 1);
    if (!text)
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return rn_fail(err, RN_ERR_DATA, "%s: truncated .npy header", path);
    }
    struct lex lx = {text, hlen, 0, path, err};
    int rc = parse_dict(&lx, h);
    free(text);
    h->data_offset = prefix + hlen;
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Policy: dtype, order, shape, sizes                                     */

struct dtype_desc {
    const char *descr;
    size_t size;
    char kind; /* 'f' float, 'i' signed, 'u' unsigned */
};

static const struct dtype_desc dtypes[] = {
    {"<f4", 4, 'f'}, {"<f8", 8, 'f'}, {"|u1", 1, 'u'}, {"<u1", 1, 'u'}, {"|i1", 1, 'i'},
    {"<i1", 1, 'i'}, {"<i2", 2, 'i'}, {"<u2", 2, 'u'}, {"<i4", 4, 'i'}, {"<u4", 4, 'u'},
    {"<i8", 8, 'i'}, {"<u8", 8, 'u'},
};

static const struct dtype_desc *find_dtype(const char *descr)
{
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
        if (strcmp(dtypes[k].descr, descr) == 0)
            return &dtypes[k];
    return NULL;
}

/* "(3, 4)", "(5,)", "()"; ends in ", ...)" if it does not fit (cap >= 16). */
static void fmt_shape(const size_t *shape, size_t ndim, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "(");
    for (size_t d = 0; d < ndim; d++) {
        char part[32];
        size_t m = (size_t)snprintf(part, sizeof part, "%s%zu", d ? ", " : "", shape[d]);
        if (len + m + 6 >= cap) {
            snprintf(out + len, cap - len, ", ...)");
            return;
        }
        memcpy(out + len, part, m);
        len += m;
    }
    snprintf(out + len, cap - len, ndim == 1 ? ",)" : ")");
}

#define LABEL_DTYPES "'|u1', '|i1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8'"

static int check_kind(const char *path, const struct npy_hdr *h, size_t fsize,
                      enum npy_kind kind, struct npy_info *info, struct rn_err *err)
{
    const struct dtype_desc *dt = find_dtype(h->descr);
    int want_float = kind == NPY_FEATURES;
    if (!dt || (dt->kind == 'f') != want_float) {
        int big = h->descr[0] == '>';
        if (want_float)
            return rn_fail(err, RN_ERR_DATA,
                           "%s: dtype '%s'%s; expected little-endian float32 '<f4' or "
                           "float64 '<f8' features",
                           path, h->descr, big ? " is big-endian" : "");
        return rn_fail(err, RN_ERR_DATA,
                       "%s: dtype '%s'%s; expected little-endian integer labels (" LABEL_DTYPES
                       ")",
                       path, h->descr, big ? " is big-endian" : "");
    }
    if (h->fortran)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: fortran_order is True; expected C order (save "
                       "np.ascontiguousarray(x))",
                       path);
    char shp[128];
    fmt_shape(h->shape, h->ndim, shp, sizeof shp);
    size_t rows, cols;
    if (want_float) {
        if (h->ndim != 2)
            return rn_fail(err, RN_ERR_DATA,
                           "%s: shape %s has %zu dimensions; expected 2 (rows, cols)", path, shp,
                           h->ndim);
        rows = h->shape[0];
        cols = h->shape[1];
        if (rows == 0 || cols == 0)
            return rn_fail(err, RN_ERR_DATA,
                           "%s: shape %s is empty; expected at least one row and one column",
                           path, shp);
    } else {
        if (!(h->ndim == 1 || (h->ndim == 2 && h->shape[1] == 1)))
            return rn_fail(err, RN_ERR_DATA, "%s: label shape %s; expected (n,) or (n, 1)",
                           path, shp);
        rows = h->shape[0];
        cols = 1;
        if (rows == 0)
            return rn_fail(err, RN_ERR_DATA, "%s: label shape %s is empty; expected n >= 1",
                           path, shp);
    }
    size_t count, bytes, end, out_bytes;
    if (rn_mul_size(rows, cols, &count) || rn_mul_size(count, dt->size, &bytes) ||
        rn_add_size(h->data_offset, bytes, &end) ||
        rn_mul_size(count, want_float ? sizeof(float) : 1, &out_bytes))
        return rn_fail(err, RN_ERR_DATA,
                       "%s: shape %s with dtype '%s' overflows the addressable size", path, shp,
                       h->descr);
    size_t avail = fsize - h->data_offset; /* read_header checked fsize >= offset */
    if (avail < bytes)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: data is %zu bytes but shape %s of '%s' needs %zu: file truncated",
                       path, avail, shp, h->descr, bytes);
    if (avail > bytes)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: %zu trailing bytes after the data; shape %s of '%s' needs exactly "
                       "%zu",
                       path, avail - bytes, shp, h->descr, bytes);
    memset(info, 0, sizeof *info);
    info->major = h->major;
    info->minor = h->minor;
    snprintf(info->descr, sizeof info->descr, "%s", dt->descr);
    info->itemsize = dt->size;
    info->rows = rows;
    info->cols = cols;
    info->data_offset = h->data_offset;
    info->data_bytes = bytes;
    return RN_OK;
}

/* Open, validate header and size; on success *fp is positioned at the data. */
static int open_npy(const char *path, enum npy_kind kind, FILE **fp, struct npy_info *info,
                    struct rn_err *err)
{
    *fp = NULL;
    FILE *f = fs_fopen_read(path);
    if (!f)
        return rn_fail(err, RN_ERR_DATA, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return rn_fail(err, RN_ERR_DATA, "%s: not a regular file; expected a .npy file", path);
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX) {
        fclose(f);
        return rn_fail(err, RN_ERR_DATA, "%s: file too large for this platform", path);
    }
    struct npy_hdr h;
    int rc = read_header(f, path, (size_t)st.st_size, &h, err);
    if (!rc)
        rc = check_kind(path, &h, (size_t)st.st_size, kind, info, err);
    if (rc) {
        fclose(f);
        return rc;
    }
    *fp = f;
    return RN_OK;
}

int npy_inspect(const char *path, enum npy_kind kind, struct npy_info *info, struct rn_err *err)
{
    FILE *f;
    int rc = open_npy(path, kind, &f, info, err);
    if (rc)
        return rc;
    fclose(f);
    return RN_OK;
}

/* ---------------------------------------------------------------------- */
/* Reading the payload                                                    */

/* Read exactly n bytes of payload into buf and hash them. */
static int read_chunk(FILE *f, const char *path, unsigned char *buf, size_t n,
                      struct sha256 *sha, struct rn_err *err)
{
    if (fread(buf, 1, n, f) != n)
        return rn_fail(err, RN_ERR_DATA, "%s: %s while reading the data", path,
                       ferror(f) ? "read error" : "unexpected end of file");
    if (sha)
        sha256_update(sha, buf, n);
    return RN_OK;
}

/* After the payload: the file must end, and the digest must match. */
static int finish_payload(FILE *f, const char *path, struct sha256 *sha,
                          struct npy_digest *dig, struct rn_err *err)
{
    if (fgetc(f) != EOF)
        return rn_fail(err, RN_ERR_DATA, "%s: file grew while reading: trailing bytes", path);
    if (ferror(f))
        return rn_fail(err, RN_ERR_DATA, "%s: read error", path);
    if (!dig)
        return RN_OK;
    unsigned char d[32];
    sha256_final(sha, d);
    sha256_to_hex(d, dig->hex);
    if (dig->expect) {
        int same = strlen(dig->expect) == 64;
        for (size_t k = 0; same && k < 64; k++) {
            char c = dig->expect[k];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            same = c == dig->hex[k];
        }
        if (!same)
            return rn_fail(err, RN_ERR_DATA,
                           "%s: data SHA-256 %s does not match the expected %.64s: file "
                           "corrupt or replaced",
                           path, dig->hex, dig->expect);
    }
    return RN_OK;
}

int npy_read_matrix(const char *path, size_t *rows, size_t *cols, float **data,
                    struct npy_digest *dig, struct rn_err *err)
{
    *rows = *cols = 0;
    *data = NULL;
    struct npy_info info;
    FILE *f;
    int rc = open_npy(path, NPY_FEATURES, &f, &info, err);
    if (rc)
        return rc;
    size_t total = info.rows * info.cols; /* checked in check_kind */
    float *out = malloc(total * sizeof(float));
    unsigned char *buf = malloc(NPY_CHUNK);
    if (!out || !buf) {
        free(out);
        free(buf);
        fclose(f);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory for %zu x %zu features", path,
                       info.rows, info.cols);
    }
    struct sha256 sha;
    sha256_init(&sha);
    int f8 = info.itemsize == 8;
    size_t per = NPY_CHUNK / info.itemsize;
    size_t bad_at = SIZE_MAX; /* first element that is not a finite float32 */
    double bad_val = 0;
    for (size_t done = 0; done < total && !rc;) {
        size_t k = total - done < per ? total - done : per;
        rc = read_chunk(f, path, buf, k * info.itemsize, dig ? &sha : NULL, err);
        for (size_t j = 0; j < k && !rc; j++) {
            float v;
            if (f8) {
                uint64_t u = le64(buf + 8 * j);
                double d;
                memcpy(&d, &u, sizeof d);
                if (!(fabs(d) <= FLT_MAX)) { /* NaN, inf, or outside float32 */
                    if (bad_at == SIZE_MAX) {
                        bad_at = done + j;
                        bad_val = d;
                    }
                    d = 0;
                }
                v = (float)d;
            } else {
                uint32_t u = le32(buf + 4 * j);
                memcpy(&v, &u, sizeof v);
                if (!isfinite(v) && bad_at == SIZE_MAX) {
                    bad_at = done + j;
                    bad_val = v;
                }
            }
            out[done + j] = v;
        }
        done += k;
        /* Without a digest to check there is no reason to read on. */
        if (bad_at != SIZE_MAX && !(dig && dig->expect))
            break;
    }
    free(buf);
    if (!rc && (bad_at == SIZE_MAX || (dig && dig->expect)))
        rc = finish_payload(f, path, &sha, dig, err);
    fclose(f);
    if (!rc && bad_at != SIZE_MAX) {
        size_t r = bad_at / info.cols, c = bad_at % info.cols;
        if (isnan(bad_val))
            rc = rn_fail(err, RN_ERR_DATA,
                         "%s: value at row %zu, column %zu is NaN; expected finite features "
                         "(indices from 0)",
                         path, r, c);
        else if (isinf(bad_val))
            rc = rn_fail(err, RN_ERR_DATA,
                         "%s: value at row %zu, column %zu is %sinf; expected finite features "
                         "(indices from 0)",
                         path, r, c, bad_val < 0 ? "-" : "+");
        else
            rc = rn_fail(err, RN_ERR_DATA,
                         "%s: value %g at row %zu, column %zu is outside the float32 range "
                         "(indices from 0)",
                         path, bad_val, r, c);
    }
    if (rc) {
        free(out);
        return rc;
    }
    *rows = info.rows;
    *cols = info.cols;
    *data = out;
    return RN_OK;
}

int npy_read_labels(const char *path, unsigned num_classes, size_t *n, uint8_t **labels,
                    struct npy_digest *dig, struct rn_err *err)
{
    *n = 0;
    *labels = NULL;
    if (num_classes < 1 || num_classes > 256)
        return rn_fail(err, RN_ERR_GENERIC, "%s: num_classes %u out of range 1..256", path,
                       num_classes);
    struct npy_info info;
    FILE *f;
    int rc = open_npy(path, NPY_LABELS, &f, &info, err);
    if (rc)
        return rc;
    const struct dtype_desc *dt = find_dtype(info.descr);
    size_t total = info.rows;
    uint8_t *out = malloc(total);
    unsigned char *buf = malloc(NPY_CHUNK);
    if (!out || !buf) {
        free(out);
        free(buf);
        fclose(f);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory for %zu labels", path, total);
    }
    struct sha256 sha;
    sha256_init(&sha);
    size_t size = info.itemsize, per = NPY_CHUNK / size;
    unsigned bits = (unsigned)(8 * size);
    uint64_t mask = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
    size_t bad_at = SIZE_MAX;
    int bad_neg = 0;
    uint64_t bad_mag = 0;
    for (size_t done = 0; done < total && !rc;) {
        size_t k = total - done < per ? total - done : per;
        rc = read_chunk(f, path, buf, k * size, dig ? &sha : NULL, err);
        for (size_t j = 0; j < k && !rc; j++) {
            const unsigned char *p = buf + size * j;
            uint64_t v = 0;
            for (size_t b = size; b-- > 0;)
                v = v << 8 | p[b];
            int neg = dt->kind == 'i' && (v >> (bits - 1)) & 1;
            if (neg || v >= num_classes) {
                if (bad_at == SIZE_MAX) {
                    bad_at = done + j;
                    bad_neg = neg;
                    bad_mag = neg ? (~v + 1) & mask : v;
                }
                v = 0;
            }
            out[done + j] = (uint8_t)v;
        }
        done += k;
        if (bad_at != SIZE_MAX && !(dig && dig->expect))
            break;
    }
    free(buf);
    if (!rc && (bad_at == SIZE_MAX || (dig && dig->expect)))
        rc = finish_payload(f, path, &sha, dig, err);
    fclose(f);
    if (!rc && bad_at != SIZE_MAX)
        rc = rn_fail(err, RN_ERR_DATA,
                     "%s: label at index %zu is %s%llu; expected 0..%u (indices from 0)", path,
                     bad_at, bad_neg ? "-" : "", (unsigned long long)bad_mag, num_classes - 1);
    if (rc) {
        free(out);
        return rc;
    }
    *n = total;
    *labels = out;
    return RN_OK;
}

/* ---------------------------------------------------------------------- */
/* Writing                                                                */

/* Magic, version 1.0, length, dict, space padding and '\n', so that the
 * whole header is a multiple of NPY_ALIGN bytes. Returns its length. */
static size_t build_header(unsigned char *out, size_t cap, const char *descr,
                           const size_t *shape, size_t ndim)
{
    char shp[128], dict[256];
    fmt_shape(shape, ndim, shp, sizeof shp);
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shp);
    if (len < 0 || (size_t)len >= sizeof dict)
        return 0;
    size_t dlen = (size_t)len;
    size_t total = 10 + dlen + 1;
    total += (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
    if (total > cap)
        return 0;
    size_t hlen = total - 10;
    memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
    out[6] = 1;
    out[7] = 0;
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    memcpy(out + 10, dict, dlen);
    memset(out + 10 + dlen, ' ', total - 10 - dlen - 1);
    out[total - 1] = '\n';
    return total;
}

/* Stream a header and `count` elements to a temp file, then rename it over
 * `path`. itemsize 4: `src` is floats, encoded little-endian; 1: bytes. */
static int write_npy(const char *path, const char *descr, const size_t *shape, size_t ndim,
                     const void *src, size_t itemsize, size_t count, char sha256_hex[65],
                     struct rn_err *err)
{
    size_t bytes;
    if (rn_mul_size(count, itemsize, &bytes))
        return rn_fail(err, RN_ERR_NOMEM, "%s: matrix size overflows", path);
    unsigned char head[512];
    size_t hbytes = build_header(head, sizeof head, descr, shape, ndim);
    if (hbytes == 0)
        return rn_fail(err, RN_ERR_GENERIC, "%s: cannot format the .npy header", path);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    char *dir = fs_dirname(path);
    unsigned char *buf = malloc(NPY_CHUNK);
    if (!tmp || !dir || !buf) {
        free(tmp);
        free(dir);
        free(buf);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int rc = RN_OK;
    FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0 || !(f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        rc = rn_fail(err, RN_ERR_OUTPUT, "%s: cannot write: %s", path, strerror(e));
        goto out;
    }
    struct sha256 sha;
    sha256_init(&sha);
    int ok = fwrite(head, 1, hbytes, f) == hbytes;
    for (size_t done = 0; ok && done < count;) {
        size_t k = count - done < NPY_CHUNK / itemsize ? count - done : NPY_CHUNK / itemsize;
        if (itemsize == 4) {
            const float *f32 = src;
            for (size_t j = 0; j < k; j++) {
                uint32_t u;
                memcpy(&u, &f32[done + j], sizeof u);
                unsigned char *p = buf + 4 * j;
                p[0] = (unsigned char)u;
                p[1] = (unsigned char)(u >> 8);
                p[2] = (unsigned char)(u >> 16);
                p[3] = (unsigned char)(u >> 24);
            }
        } else {
            memcpy(buf, (const unsigned char *)src + done, k);
        }
        sha256_update(&sha, buf, k * itemsize);
        ok = fwrite(buf, 1, k * itemsize, f) == k * itemsize;
        done += k;
    }
    if (ok)
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        rc = rn_fail(err, RN_ERR_OUTPUT, "%s: write failed: %s", path, strerror(e));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        rc = rn_fail(err, RN_ERR_OUTPUT, "%s: cannot replace: %s", path, strerror(e));
        goto out;
    }
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: the rename is already visible */
        close(dfd);
    }
    if (sha256_hex) {
        unsigned char d[32];
        sha256_final(&sha, d);
        sha256_to_hex(d, sha256_hex);
    }
out:
    free(tmp);
    free(dir);
    free(buf);
    return rc;
}

int npy_write_matrix(const char *path, size_t rows, size_t cols, const float *data,
                     char sha256_hex[65], struct rn_err *err)
{
    size_t count;
    if (rn_mul_size(rows, cols, &count))
        return rn_fail(err, RN_ERR_NOMEM, "%s: %zu x %zu matrix size overflows", path, rows,
                       cols);
    for (size_t k = 0; k < count; k++)
        if (!isfinite(data[k]))
            return rn_fail(err, RN_ERR_DATA,
                           "%s: value at row %zu, column %zu is not finite; refusing to write "
                           "features the reader would reject (indices from 0)",
                           path, k / cols, k % cols);
    size_t shape[2] = {rows, cols};
    return write_npy(path, "<f4", shape, 2, data, 4, count, sha256_hex, err);
}

int npy_write_labels(const char *path, size_t n, const uint8_t *labels, char sha256_hex[65],
                     struct rn_err *err)
{
    size_t shape[1] = {n};
    return write_npy(path, "|u1", shape, 1, labels, 1, n, sha256_hex, err);
}

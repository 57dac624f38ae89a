/* npy: NumPy .npy files for feature matrices and label vectors.
 *
 * Readers: the `npy` feature source (bring-your-own features: train, test and
 * optionally augmented-train matrices with integer label files) and the
 * feature cache (a verified read: npy_digest). Writers: the feature cache, so
 * that cached features open in numpy with np.load. npy_inspect lets a caller
 * (the npy source, `runner validate`) check shapes and agreement between a
 * label file and a feature file without reading the data.
 *
 * Accepted files (anything else is RN_ERR_DATA with a one-line message that
 * names the file and what was expected):
 *   - format version 1.0, 2.0 or 3.0; the header is a Python dict literal
 *     with exactly the keys 'descr', 'fortran_order', 'shape' in any order
 *     (quotes ' or ", optional trailing comma, space/newline padding);
 *   - fortran_order False (C order), little-endian;
 *   - features: dtype '<f4' or '<f8' (converted to float32), shape (rows, cols)
 *     with rows, cols >= 1, every value finite (and, for '<f8', within the
 *     float32 range); an error names the row and column (counted from 0);
 *   - labels: dtype '|u1', '|i1' (also written '<u1', '<i1'), '<i2', '<u2',
 *     '<i4', '<u4', '<i8' or '<u8'; shape (n,) or (n, 1) with n >= 1 (a column
 *     vector is accepted because sklearn/torch pipelines often save one);
 *     every value in 0..num_classes-1; an error names the index;
 *   - the file size is exactly header + product(shape) * itemsize (truncated
 *     files and trailing bytes are both rejected), all sizes checked for
 *     overflow before anything is allocated.
 *
 * Writers produce version 1.0 files, header padded with spaces so the data
 * starts on a 64-byte boundary (as numpy does), streamed to a temporary file
 * in the same directory, fsync'd and renamed into place: a reader sees the old
 * file or the complete new one. Write errors are RN_ERR_OUTPUT.
 *
 * Digests: the SHA-256 covers the payload bytes exactly as stored in the file
 * (not the header), so the digest a writer reports equals the one a reader of
 * that file computes. */
#ifndef RUNNER_NPY_H
#define RUNNER_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "runner/err.h"

enum npy_kind {
    NPY_FEATURES,   /* 2-D float matrix */
    NPY_LABELS      /* 1-D (or (n, 1)) integer vector */
};

/* What npy_inspect learned from a header (already validated for `kind`). */
struct npy_info {
    unsigned major, minor;   /* format version */
    char descr[8];           /* dtype as written, e.g. "<f4" */
    size_t itemsize;         /* bytes per stored element */
    size_t rows, cols;       /* labels: rows = n, cols = 1 */
    size_t data_offset;      /* bytes before the payload */
    size_t data_bytes;       /* rows * cols * itemsize == file size - data_offset */
};

/* Optional integrity check for the readers. Pass NULL to skip hashing. */
struct npy_digest {
    const char *expect;      /* in: NULL, or the 64 hex chars the payload must hash to */
    char hex[65];            /* out: SHA-256 of the payload bytes as stored */
};

/* Validate the header and the file size for `kind`; no data is read. */
int npy_inspect(const char *path, enum npy_kind kind, struct npy_info *info,
                struct rn_err *err);

/* Read a feature matrix: *data gets rows * cols floats, row-major (caller
 * frees). If dig is non-NULL, dig->hex gets the payload digest, and if
 * dig->expect is set a mismatch is RN_ERR_DATA (reported in preference to a
 * bad value, since a corrupt file explains both). On failure *data is NULL and
 * *rows, *cols are 0. */
int npy_read_matrix(const char *path, size_t *rows, size_t *cols, float **data,
                    struct npy_digest *dig, struct rn_err *err);

/* Read a label vector with values in 0..num_classes-1 (1 <= num_classes <=
 * 256): *labels gets *n bytes (caller frees). dig as for npy_read_matrix. On
 * failure *labels is NULL and *n is 0. */
int npy_read_labels(const char *path, unsigned num_classes, size_t *n, uint8_t **labels,
                    struct npy_digest *dig, struct rn_err *err);

/* Atomically write a (rows, cols) '<f4' matrix. Every value must be finite
 * (RN_ERR_DATA naming row and column otherwise, nothing written), since the
 * reader would reject the file. sha256_hex (may be NULL) gets the payload
 * digest. */
int npy_write_matrix(const char *path, size_t rows, size_t cols, const float *data,
                     char sha256_hex[65], struct rn_err *err);

/* Atomically write an (n,) '|u1' label vector; sha256_hex as above. */
int npy_write_labels(const char *path, size_t n, const uint8_t *labels, char sha256_hex[65],
                     struct rn_err *err);

#endif

/* e2e_npy: small learnable feature sets as .npy files, for the end-to-end
 * tests that use `features.kind: npy` (fast even under sanitizers). */
#ifndef RUNNER_TESTS_E2E_NPY_H
#define RUNNER_TESTS_E2E_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "e2e.h"
#include "runner/npy.h"
#include "runner/rng.h"

/* Writes DIR/NAME.npy (n x dim float32) and DIR/NAME_labels.npy: row i has
 * label i % 10 and N(0, 1) features from rng_init(seed, stream), plus `shift`
 * on the features j with j / group == label. Exits 2 if a file cannot be
 * written. */
static __attribute__((unused)) void e2e_write_npy_set(const char *dir, const char *name,
                                                      size_t n, size_t dim, uint64_t seed,
                                                      uint64_t stream, size_t group,
                                                      float shift)
{
    float *x = malloc(n * dim * sizeof *x);
    uint8_t *y = malloc(n ? n : 1);
    if (!x || !y) {
        fprintf(stderr, "out of memory for %s\n", name);
        exit(2);
    }
    struct rng r;
    rng_init(&r, seed, stream);
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint8_t)(i % 10);
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = (float)rng_normal(&r) + (j / group == y[i] ? shift : 0.0f);
    }
    char *px = e2e_fmt("%s/%s.npy", dir, name), *py = e2e_fmt("%s/%s_labels.npy", dir, name);
    struct rn_err err = {0};
    if (npy_write_matrix(px, n, dim, x, NULL, &err) || npy_write_labels(py, n, y, NULL, &err)) {
        fprintf(stderr, "cannot write %s: %s\n", px, err.msg);
        exit(2);
    }
    free(px);
    free(py);
    free(x);
    free(y);
}

#endif

/* fuzz_npy: libFuzzer target for the .npy reader (features.kind npy reads
 * files from anywhere). bytes -> a temporary file -> npy_read_matrix and
 * npy_read_labels -> data or an error; on failure the outputs must be
 * empty. Built by -DRUNNER_FUZZ=ON. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "runner/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz-npy-%d.npy", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    struct rn_err err = {0};
    size_t rows = 1, cols = 1, n = 1;
    float *x = NULL;
    uint8_t *y = NULL;
    if (npy_read_matrix(path, &rows, &cols, &x, NULL, &err) != RN_OK) {
        if (x || rows || cols)
            __builtin_trap();
    }
    free(x);
    if (npy_read_labels(path, 10, &n, &y, NULL, &err) != RN_OK) {
        if (y || n)
            __builtin_trap();
    } else {
        for (size_t i = 0; i < n; i++)
            if (y[i] > 9)
                __builtin_trap();
    }
    free(y);
    unlink(path);
    return 0;
}

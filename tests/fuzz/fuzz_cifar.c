/* fuzz_cifar: libFuzzer target for the CIFAR-10 batch reader.
 * bytes -> cifar_read_file -> a set of images or an error. A batch must be
 * exactly 10000 records (30.7 MB), far beyond a fuzzer's input, so the input
 * is offered two ways, chosen by its first byte:
 *   even: as a regular file (the size check up front);
 *   odd:  through a pipe, so the reader streams it record by record (label
 *         checks, partial records, end of input) as it does for any
 *         non-regular file; inputs up to the pipe buffer (64 KiB).
 * On success the set must hold whole records with labels 0..9; on failure it
 * must be left as it was (empty). Built by -DRUNNER_FUZZ=ON. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/cifar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_set(const struct cifar_set *s, int rc)
{
    if (rc != RN_OK) {
        if (s->n != 0)
            __builtin_trap();
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->labels[i] > 9)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int via_pipe = data[0] & 1;
    data++;
    size--;
    struct cifar_set set = {0};
    struct cifar_file info = {0};
    struct rn_err err = {0};
    char path[64];
    int rc;
    if (via_pipe) {
        if (size > 65536)
            return 0;
        int fds[2];
        if (pipe(fds) != 0)
            abort();
        fcntl(fds[1], F_SETPIPE_SZ, 1 << 17);
        if (size && write(fds[1], data, size) != (ssize_t)size)
            abort();
        close(fds[1]);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
        rc = cifar_read_file(path, &set, &info, &err);
        close(fds[0]);
    } else {
        static char tmpl[64];
        if (!tmpl[0]) {
            snprintf(tmpl, sizeof tmpl, "/tmp/fuzz-cifar-%d.bin", (int)getpid());
        }
        FILE *f = fopen(tmpl, "wb");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
            abort();
        rc = cifar_read_file(tmpl, &set, &info, &err);
        unlink(tmpl);
    }
    check_set(&set, rc);
    cifar_free(&set);
    cifar_file_free(&info);
    return 0;
}

/* cifar: the official CIFAR-10 binary layout -> uint8 images + labels.
 *
 * A file is a sequence of 10000 records; a record is 1 label byte (0..9)
 * followed by 3072 pixel bytes, channel-planar: 1024 R, 1024 G, 1024 B, each
 * plane row-major 32x32. Images are kept in exactly that planar layout.
 * Errors name the file. Called by the CLI; nothing above it is known. */
#ifndef RUNNER_CIFAR_H
#define RUNNER_CIFAR_H

#include <stddef.h>
#include <stdint.h>

#include "runner/err.h"

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE) /* 1024 */
#define CIFAR_IMAGE (3 * CIFAR_PLANE)         /* 3072 bytes per image */
#define CIFAR_RECORD (1 + CIFAR_IMAGE)        /* 3073 bytes per record */
#define CIFAR_PER_FILE 10000
#define CIFAR_TRAIN_FILES 5

struct cifar_set {
    size_t n;          /* number of images */
    uint8_t *images;   /* n * CIFAR_IMAGE bytes, planar RGB */
    uint8_t *labels;   /* n labels in 0..9 */
};

/* One data file that was read, for the run's identity. */
struct cifar_file {
    char *path;
    char sha256[65];
};

/* Read one batch file and append its records to `set` (which may be empty:
 * zero-initialised). The file must hold exactly CIFAR_PER_FILE records.
 * If `info` is non-NULL it receives the path and SHA-256 of the file. */
int cifar_read_file(const char *path, struct cifar_set *set, struct cifar_file *info,
                    struct rn_err *err);

/* data_batch_1..5.bin from dir -> 50000 images. files[] (may be NULL) gets
 * CIFAR_TRAIN_FILES entries. */
int cifar_load_train(const char *dir, struct cifar_set *set, struct cifar_file *files,
                     struct rn_err *err);
/* test_batch.bin from dir -> 10000 images. */
int cifar_load_test(const char *dir, struct cifar_set *set, struct cifar_file *file,
                    struct rn_err *err);

/* Keep only the first n images (no-op if n == 0 or n >= set->n). */
void cifar_truncate(struct cifar_set *set, size_t n);
void cifar_free(struct cifar_set *set);
void cifar_file_free(struct cifar_file *f);

#endif

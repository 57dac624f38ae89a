/* feature_sets: the feature stage of a run. Turns the run's images (or the
 * user's .npy files) into the train / validation / test matrices the model
 * sees, according to features.kind:
 *   raw     per-channel standardised pixels (features.h), never cached;
 *   kmeans  Coates-Lee-Ng features (kmeans.h) learned from the original
 *           training images only, column-standardised with statistics of the
 *           original training rows (standardize.h), cached on disk as .npy;
 *   npy     matrices and labels read from the user's .npy files (npy.h),
 *           optionally column-standardised the same way.
 * The cache key is a SHA-256 over everything that determines the features:
 * data file digests, the features/augmentation/data settings and the seed.
 * A cache entry is a directory of .npy files plus a manifest with each
 * file's payload digest; a damaged entry is detected, reported and rebuilt.
 * Called by the CLI between augmentation and training. */
#ifndef RUNNER_FEATURE_SETS_H
#define RUNNER_FEATURE_SETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runner/cifar.h"
#include "runner/config.h"
#include "runner/err.h"
#include "runner/features.h"

struct fset {
    struct feat_matrix train, val, test;  /* val has 0 rows without a hold-out */
    uint8_t *train_y, *val_y, *test_y;    /* owned label copies */
    size_t n_train_orig;                  /* leading train rows from original images */
};

/* The images of a run after the hold-out split and augmentation. */
struct fset_images {
    const struct cifar_set *train_orig;   /* original training images */
    const struct cifar_set *train;        /* originals followed by augmented copies */
    const struct cifar_set *val;          /* hold-out (n may be 0) */
    const struct cifar_set *test;
    const struct cifar_file *files;       /* data files read, for the cache key */
    size_t n_files;
};

/* What the cache did, for the run's log. */
struct fset_cache {
    bool used;          /* the source is cacheable and features.cache is on */
    bool hit;           /* features were loaded from the cache */
    char key[65];       /* hex SHA-256 cache key */
    char path[1024];    /* cache entry directory */
    char note[1100];    /* why an entry was not used (e.g. damaged), or "" */
};

/* Progress of long stages: stage name, units done, total. Return non-zero
 * to stop (the call then fails with RN_ERR_INTERRUPTED). */
typedef int (*fset_progress_fn)(void *ctx, const char *stage, size_t done, size_t total);

/* Build features from images (features.kind raw or kmeans). */
int fset_from_images(const struct experiment *cfg, const struct fset_images *in,
                     size_t threads, fset_progress_fn progress, void *ctx, struct fset *out,
                     struct fset_cache *cache, struct rn_err *err);

/* Read features.kind npy: train (+ augmented rows appended), test, and hold
 * out data.validation original training rows chosen by the split stream. */
int fset_from_npy(const struct experiment *cfg, struct fset *out, struct rn_err *err);

/* The cache key for a run (exposed for tests). */
int fset_cache_key(const struct experiment *cfg, const struct cifar_file *files,
                   size_t n_files, char out[65], struct rn_err *err);

void fset_free(struct fset *fs);

#endif

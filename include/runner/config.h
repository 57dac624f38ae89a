/* config: experiment YAML (libyaml) -> a validated `struct experiment`.
 *
 * The parser works from one table of known keys (path, type, range, default,
 * description). The same table produces the JSON Schema
 * (schemas/experiment.schema.json, `runner schema`) and the resolved config
 * recorded with every run. Errors name FILE:LINE:COLUMN and the key path, and
 * nothing is allocated for the caller when parsing fails. Rules across keys
 * (layer sizes against the feature source, ranges that depend on each other,
 * files required by features.kind npy) are checked after parsing, at the line
 * of the key that breaks them. Optional file names (features.npy.*) are NULL
 * when unset, and null in the resolved config.
 *
 * Called by the CLI; every later stage reads its own section struct. */
#ifndef RUNNER_CONFIG_H
#define RUNNER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runner/err.h"

#define CFG_NUM_CLASSES 10
#define CFG_RAW_DIM 3072   /* 3 x 32 x 32 */
#define CFG_KMEANS_POOLS 4 /* k-means features: sum-pooled over the 4 image quadrants */

enum cfg_activation { CFG_ACT_RELU = 0, CFG_ACT_TANH = 1, CFG_ACT_SIGMOID = 2 };
enum cfg_feature_kind { CFG_FEAT_RAW = 0, CFG_FEAT_KMEANS = 1, CFG_FEAT_NPY = 2 };
enum cfg_encoder { CFG_ENC_TRIANGLE = 0, CFG_ENC_SOFT_THRESHOLD = 1 };
enum cfg_lr_schedule { CFG_LR_CONSTANT = 0, CFG_LR_STEP = 1, CFG_LR_COSINE = 2 };

struct cfg_data {
    char *dir;            /* data.dir: CIFAR-10 binary batches directory */
    size_t validation;    /* data.validation: training images held out (0 = none) */
    size_t train_limit;   /* data.train_limit: use only the first N training images (0 = all) */
    size_t test_limit;    /* data.test_limit: use only the first N test images (0 = all) */
};

/* features.kmeans: the single-layer k-means front end (Coates, Lee and Ng,
 * 2011), learned from the original training images only. Read only when
 * features.kind is kmeans. The parser guarantees centroids <= patches, and
 * the ranges leave at least 2 patch positions per image axis
 * (floor((32 - patch_size) / stride) + 1 >= 2), so every quadrant pools at
 * least one position. */
struct cfg_kmeans {
    size_t centroids;      /* features.kmeans.centroids: K; features are 4K-d */
    size_t patch_size;     /* features.kmeans.patch_size: w = h, 2..16 px */
    size_t stride;         /* features.kmeans.stride: between encoded patch positions */
    size_t patches;        /* features.kmeans.patches: random patches k-means learns from */
    size_t iterations;     /* features.kmeans.iterations: k-means iterations */
    double norm_epsilon;   /* features.kmeans.norm_epsilon: (x-mean)/sqrt(var+eps), 0-255 */
    double zca_epsilon;    /* features.kmeans.zca_epsilon: ZCA whitening regulariser */
    enum cfg_encoder encoder; /* features.kmeans.encoder */
    double alpha;          /* features.kmeans.alpha: soft threshold max(0, w.x - alpha) */
};

/* features.npy: bring-your-own features. Read only when features.kind is npy;
 * otherwise ignored (they may be set, and are still recorded in the resolved
 * config). Unset = NULL. With kind npy the parser guarantees train,
 * train_labels, test and test_labels are set, augmented and augmented_labels
 * are both set or both NULL, and both are set when augmentation.enabled (the
 * augmented rows then come from these files, not from the image transforms).
 * The files themselves are not opened by the parser. */
struct cfg_npy {
    char *train;            /* features.npy.train: (n, d) float32/float64 */
    char *train_labels;     /* features.npy.train_labels: (n,) integer */
    char *test;             /* features.npy.test */
    char *test_labels;      /* features.npy.test_labels */
    char *augmented;        /* features.npy.augmented: extra training rows, or NULL */
    char *augmented_labels; /* features.npy.augmented_labels, or NULL */
};

struct cfg_features {
    enum cfg_feature_kind kind; /* features.kind */
    bool standardize;      /* features.standardize: kmeans/npy columns by training-set
                              mean and std (raw always uses per-channel standardisation) */
    bool cache;            /* features.cache: keep computed kmeans features on disk */
    char *cache_dir;       /* features.cache_dir */
    struct cfg_kmeans kmeans;
    struct cfg_npy npy;
};

struct cfg_augment {
    bool enabled;          /* augmentation.enabled */
    size_t copies;         /* augmentation.copies: augmented copies per training image */
    bool rotation;         /* augmentation.rotation.enabled */
    double max_degrees;    /* augmentation.rotation.max_degrees: angle ~ U[-max, max] */
    bool cutout;           /* augmentation.cutout.enabled */
    size_t cutout_max;     /* augmentation.cutout.max_size: w, h ~ U{0..max} px */
    unsigned cutout_fill;  /* augmentation.cutout.fill: 0..255 */
    bool crop;             /* augmentation.crop.enabled */
    size_t crop_padding;   /* augmentation.crop.padding: zero padding before a 32x32 crop */
    bool contrast;         /* augmentation.contrast.enabled */
    double contrast_min;   /* augmentation.contrast.min: a ~ U[min, max] */
    double contrast_max;   /* augmentation.contrast.max */
    double flip_prob;      /* augmentation.contrast.flip_probability */
};

struct cfg_model {
    size_t *layers;        /* model.layers: sizes, input first, CFG_NUM_CLASSES last */
    size_t n_layers;       /* number of entries in layers (>= 2) */
    enum cfg_activation activation; /* model.activation */
};

struct cfg_training {
    size_t epochs;         /* training.epochs */
    size_t batch_size;     /* training.batch_size */
    double learning_rate;  /* training.learning_rate */
    double momentum;       /* training.momentum */
    double weight_decay;   /* training.weight_decay */
    bool shuffle;          /* training.shuffle */
    enum cfg_lr_schedule lr_schedule; /* training.lr_schedule: see cfg_lr_at */
    size_t lr_step_epochs; /* training.lr_step_epochs: step schedule period */
    double lr_gamma;       /* training.lr_gamma: step schedule factor, (0, 1] */
    double lr_min;         /* training.lr_min: cosine end point, <= learning_rate */
    double dropout_input;  /* training.dropout_input: inverted dropout on the input, [0, 1) */
    double dropout_hidden; /* training.dropout_hidden: on every hidden layer, [0, 1) */
};

struct cfg_output {
    char *dir;             /* output.dir: where run JSON files go */
    char *database;        /* output.database: SQLite results database */
};

/* Where a key was found in the source file (1-based line and column), or
 * which override set it (override > 0: the 1-based index into
 * experiment.overrides; line and column are then 0). */
struct cfg_mark {
    char *path;            /* dotted key path, e.g. "training.batch_size" */
    size_t line, column;
    size_t override;
};

/* One axis of the file's `sweep:` section: a dotted key and its values, each
 * spelled as the VALUE of an override "path=VALUE" (plain scalars as written,
 * quoted strings double-quoted, lists as [a,b,c]). Every value has been
 * checked against the key exactly like the key in the file. */
struct cfg_sweep_axis {
    char *path;
    char **values;
    size_t n_values;       /* >= 1 */
    size_t line, column;   /* of the key inside sweep: */
};

struct experiment {
    char *source;          /* file name the config came from (for messages) */
    char *name;            /* name: run name (default: file name without extension) */
    uint64_t seed;         /* seed */
    size_t threads;        /* threads: worker threads, 0 = all online CPUs */
    struct cfg_data data;
    struct cfg_features features;
    struct cfg_augment augment;
    struct cfg_model model;
    struct cfg_training training;
    struct cfg_output output;
    struct cfg_mark *marks; /* every key present in the file or set by an override */
    size_t n_marks;
    char **overrides;      /* the overrides applied, "path=VALUE" as given, in order */
    size_t n_overrides;
    struct cfg_sweep_axis *sweep; /* the file's sweep: section (not part of the config, */
    size_t n_sweep;               /* the resolved JSON or the hash); NULL/0 if none */
};

/* Parse and validate a YAML file. On failure returns RN_ERR_CONFIG (or
 * RN_ERR_NOMEM) with "FILE:LINE:COL: key.path: what was expected" and leaves
 * *out zeroed. */
int cfg_load_file(const char *path, struct experiment *out, struct rn_err *err);
/* Same, from memory; `source` names the input in messages. */
int cfg_load_string(const char *text, size_t len, const char *source,
                    struct experiment *out, struct rn_err *err);
/* Same as cfg_load_file / cfg_load_string, then apply `overrides`
 * ("dotted.path=VALUE", in order) after the file is read and before the
 * checks across keys. VALUE is read as a YAML scalar or flow list and checked
 * exactly like the key in the file; an error names "override N (`ARG`)"
 * instead of FILE:LINE:COL. An unknown path lists close matches ("did you
 * mean training.learning_rate?"); a section, an empty key or value and a key
 * overridden twice are errors. A later check across keys that fails at an
 * overridden key names the override. The overrides are kept in
 * out->overrides. */
int cfg_load_file_ex(const char *path, const char *const *overrides, size_t n_overrides,
                     struct experiment *out, struct rn_err *err);
int cfg_load_string_ex(const char *text, size_t len, const char *source,
                       const char *const *overrides, size_t n_overrides,
                       struct experiment *out, struct rn_err *err);
void cfg_free(struct experiment *cfg);

/* Is `path` a key that an override or a sweep axis may set? RN_OK, or
 * RN_ERR_CONFIG with "<where>: <path>: unknown key; did you mean ...?" (or
 * "... is a section ..."). `where` prefixes the message. */
int cfg_check_key(const char *path, const char *where, struct rn_err *err);

/* s as a double-quoted YAML scalar (escapes \\, \", control characters), for
 * building an override VALUE that is read back as exactly s. Caller frees;
 * NULL when out of memory. */
char *cfg_yaml_quote(const char *s);

/* Feature dimension the configured feature source produces: 3072 for raw,
 * CFG_KMEANS_POOLS * features.kmeans.centroids for kmeans, and 0 for npy,
 * meaning "known only after reading the files". For kmeans and raw the parser
 * has checked model.layers[0] against it. For npy it has not: the CLI checks
 * the column count of features.npy.train (and test, augmented) against
 * model.layers[0] once it has read the headers, and reports a mismatch with
 * cfg_fail_at(cfg, "model.layers[0]", err, ...). */
size_t cfg_feature_dim(const struct experiment *cfg);

/* Learning rate for 1-based `epoch` of t's schedule (pure; epoch 0 counts as
 * 1, and epochs past t->epochs as the last one for cosine):
 *   constant: learning_rate;
 *   step:     learning_rate * lr_gamma^floor((epoch - 1) / lr_step_epochs);
 *   cosine:   lr_min + (learning_rate - lr_min) * (1 + cos(pi * (epoch - 1) / epochs)) / 2. */
double cfg_lr_at(const struct cfg_training *t, size_t epoch);

/* Location of a key in the file; returns false if the key was not in the file
 * (it then has its default value) and sets line = column = 0. */
bool cfg_find_mark(const struct experiment *cfg, const char *path, size_t *line,
                   size_t *column);

/* Build a config error for a key discovered to be wrong after parsing (e.g.
 * batch size larger than the data): "FILE:LINE:COL: path: message". If the key
 * was not in the file, the location is "FILE: path (default)". */
int cfg_fail_at(const struct experiment *cfg, const char *path, struct rn_err *err,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The fully resolved config (every key, defaults filled in) as JSON, in the
 * table's fixed key order. Caller owns the result. */
cJSON *cfg_to_json(const struct experiment *cfg);

/* Hex SHA-256 of the resolved config without `name`, `output`, `threads`,
 * `features.cache` and `features.cache_dir` (they do not change what is
 * computed). */
void cfg_hash(const struct experiment *cfg, char out[65]);

/* JSON Schema (draft 2020-12) of the experiment file, made from the key table. */
cJSON *cfg_schema(void);

#endif

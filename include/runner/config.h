/* config: experiment YAML (libyaml) -> a validated `struct experiment`.
 *
 * The parser works from one table of known keys (path, type, range, default,
 * description). The same table produces the JSON Schema
 * (schemas/experiment.schema.json, `runner schema`) and the resolved config
 * recorded with every run. Errors name FILE:LINE:COLUMN and the key path, and
 * nothing is allocated for the caller when parsing fails.
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
#define CFG_RAW_DIM 3072 /* 3 x 32 x 32 */

enum cfg_activation { CFG_ACT_RELU = 0, CFG_ACT_TANH = 1, CFG_ACT_SIGMOID = 2 };
enum cfg_feature_kind { CFG_FEAT_RAW = 0 };

struct cfg_data {
    char *dir;            /* data.dir: CIFAR-10 binary batches directory */
    size_t validation;    /* data.validation: training images held out (0 = none) */
    size_t train_limit;   /* data.train_limit: use only the first N training images (0 = all) */
    size_t test_limit;    /* data.test_limit: use only the first N test images (0 = all) */
};

struct cfg_features {
    enum cfg_feature_kind kind; /* features.kind */
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
};

struct cfg_output {
    char *dir;             /* output.dir: where run JSON files go */
    char *database;        /* output.database: SQLite results database */
};

/* Where a key was found in the source file (1-based line and column). */
struct cfg_mark {
    char *path;            /* dotted key path, e.g. "training.batch_size" */
    size_t line, column;
};

struct experiment {
    char *source;          /* file name the config came from (for messages) */
    char *name;            /* name: run name (default: file name without extension) */
    uint64_t seed;         /* seed */
    struct cfg_data data;
    struct cfg_features features;
    struct cfg_augment augment;
    struct cfg_model model;
    struct cfg_training training;
    struct cfg_output output;
    struct cfg_mark *marks; /* every key present in the file */
    size_t n_marks;
};

/* Parse and validate a YAML file. On failure returns RN_ERR_CONFIG (or
 * RN_ERR_NOMEM) with "FILE:LINE:COL: key.path: what was expected" and leaves
 * *out zeroed. */
int cfg_load_file(const char *path, struct experiment *out, struct rn_err *err);
/* Same, from memory; `source` names the input in messages. */
int cfg_load_string(const char *text, size_t len, const char *source,
                    struct experiment *out, struct rn_err *err);
void cfg_free(struct experiment *cfg);

/* Feature dimension the configured feature source produces (3072 for raw). */
size_t cfg_feature_dim(const struct experiment *cfg);

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

/* Hex SHA-256 of the resolved config without `name` and `output` (they do not
 * change what is computed). */
void cfg_hash(const struct experiment *cfg, char out[65]);

/* JSON Schema (draft 2020-12) of the experiment file, made from the key table. */
cJSON *cfg_schema(void);

#endif

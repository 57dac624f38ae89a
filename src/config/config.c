/* config: experiment YAML -> struct experiment, driven by one table of keys.
 *
 * `keys[]` below is the only place a key is described. Parsing (event API of
 * libyaml, so anchors and aliases can be seen and refused), defaults, the
 * resolved JSON (cfg_to_json, cfg_hash) and the JSON Schema (cfg_schema) all
 * walk it in order. See include/runner/config.h. */
#include "runner/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "runner/fsutil.h"
#include "runner/hash.h"

#define MAX_PARAMS ((size_t)1 << 28)
#define MAX_LAYER_SIZE 1048576u
#define SEED_MAX ((uint64_t)INT64_MAX)
#define MAX_PATH_LEN 4096u
#define JSON_EXACT_INT ((uint64_t)1 << 53) /* larger integers go out as raw text */
#define PI 3.14159265358979323846

/* ---- the table of keys ------------------------------------------------- */

enum key_type { KT_SECTION, KT_STRING, KT_INT, KT_NUMBER, KT_BOOL, KT_ENUM, KT_LAYERS };

/* How a value is stored in struct experiment. */
enum slot { SL_NONE, SL_STR, SL_SIZE, SL_U64, SL_UINT, SL_BOOL, SL_DOUBLE, SL_ACTIVATION,
            SL_FEATURE, SL_ENCODER, SL_LR_SCHEDULE, SL_LAYERS };

/* One condition of a conditional requirement: key `path` (an enum or boolean
 * key) has the value spelled `value`. The value must differ from the key's
 * default, so a condition can only hold when the key is in the file (the
 * schema's if/then relies on it, and errors point at that key). */
struct key_cond {
    const char *path;
    const char *value;
};

struct key_def {
    const char *path;        /* dotted path; sections come before their keys */
    enum key_type type;
    enum slot slot;
    size_t offset;           /* offsetof(struct experiment, ...) */
    bool required;
    uint64_t imin, imax;     /* integers and list items: range; strings: length */
    double dmin, dmax;       /* numbers: range */
    bool min_excl, max_excl; /* numbers: open ends of the range */
    uint64_t idef;           /* integer, bool (0/1) or enum index default */
    double ddef;             /* number default */
    const char *sdef;        /* string default; NULL = computed (name) or, if nullable, none */
    bool nullable;           /* strings: null (or leaving the key out) means "not set" */
    const struct key_cond *when; /* nullable strings: must be set when all of these hold
                                    ({NULL} terminated); keys sharing one array are one rule */
    size_t min_items;        /* lists */
    const char *const *names; /* enums, NULL-terminated */
    const char *desc;
};

static const char *const activation_names[] = {"relu", "tanh", "sigmoid", NULL};
static const char *const feature_names[] = {"raw", "kmeans", "npy", NULL};
static const char *const encoder_names[] = {"triangle", "soft_threshold", NULL};
static const char *const lr_schedule_names[] = {"constant", "step", "cosine", NULL};

static const struct key_cond when_npy[] = {{"features.kind", "npy"}, {NULL, NULL}};
static const struct key_cond when_npy_augmented[] = {
    {"features.kind", "npy"}, {"augmentation.enabled", "true"}, {NULL, NULL}};

#define OFF(f) offsetof(struct experiment, f)
#define SECTION(p, d) {.path = (p), .type = KT_SECTION, .desc = (d)}
#define STRING(p, f, lo, hi, def, d)                                                   \
    {.path = (p), .type = KT_STRING, .slot = SL_STR, .offset = OFF(f), .imin = (lo), \
     .imax = (hi), .sdef = (def), .desc = (d)}
/* A string that may be left unset (NULL); required when `cond` holds (or NULL). */
#define OPT_STRING(p, f, cond, d)                                                      \
    {.path = (p), .type = KT_STRING, .slot = SL_STR, .offset = OFF(f), .imin = 1,       \
     .imax = MAX_PATH_LEN, .nullable = true, .when = (cond), .desc = (d)}
#define INT(p, sl, f, lo, hi, def, d)                                                 \
    {.path = (p), .type = KT_INT, .slot = (sl), .offset = OFF(f), .imin = (lo),       \
     .imax = (hi), .idef = (def), .desc = (d)}
#define NUMBER(p, f, lo, lox, hi, hix, def, d)                                          \
    {.path = (p), .type = KT_NUMBER, .slot = SL_DOUBLE, .offset = OFF(f), .dmin = (lo), \
     .min_excl = (lox), .dmax = (hi), .max_excl = (hix), .ddef = (def), .desc = (d)}
#define BOOL(p, f, def, d)                                                                \
    {.path = (p), .type = KT_BOOL, .slot = SL_BOOL, .offset = OFF(f), .idef = (def),      \
     .desc = (d)}
#define ENUM(p, sl, f, nm, def, d)                                                       \
    {.path = (p), .type = KT_ENUM, .slot = (sl), .offset = OFF(f), .names = (nm),     \
     .idef = (def), .desc = (d)}

static const struct key_def keys[] = {
    STRING("name", name, 1, 200, NULL,
           "Run name, recorded with the results. Default: the experiment file name "
           "without directory and extension."),
    INT("seed", SL_U64, seed, 0, SEED_MAX, 1,
        "Seed from which every random stream (weight init, shuffling, augmentation) "
        "is derived."),
    INT("threads", SL_SIZE, threads, 0, 256, 0,
        "Worker threads for feature extraction and training (0 = all online CPUs). "
        "Training times its own mini-batches and runs them on one thread while that "
        "measures faster (on shared cores). Results are bit-identical for any value, so it "
        "is not part of the run's identity (config hash); runner --threads N overrides it."),
    SECTION("data", "Where the CIFAR-10 images come from and how many are used."),
    STRING("data.dir", data.dir, 1, MAX_PATH_LEN, "data/cifar-10-batches-bin",
           "Directory holding the CIFAR-10 binary batches (data_batch_1..5.bin, "
           "test_batch.bin)."),
    INT("data.validation", SL_SIZE, data.validation, 0, 49999, 0,
        "Training images held out for validation (0 = none); must be fewer than the "
        "training images used."),
    INT("data.train_limit", SL_SIZE, data.train_limit, 0, 50000, 0,
        "Use only the first N training images (0 = all 50000)."),
    INT("data.test_limit", SL_SIZE, data.test_limit, 0, 10000, 0,
        "Use only the first N test images (0 = all 10000)."),
    SECTION("features", "What the network sees."),
    ENUM("features.kind", SL_FEATURE, features.kind, feature_names, CFG_FEAT_RAW,
         "Feature source: raw = the 3072 pixel values of an image (3 x 32 x 32), "
         "standardised per channel; kmeans = 4 x features.kmeans.centroids features learned "
         "by k-means from the training images (see features.kmeans); npy = your own "
         "feature matrices, read from .npy files (see features.npy)."),
    BOOL("features.standardize", features.standardize, true,
         "Standardise every kmeans or npy feature column with the mean and standard "
         "deviation of the training rows (raw features always get their per-channel "
         "standardisation)."),
    BOOL("features.cache", features.cache, true,
         "Keep computed kmeans features on disk in features.cache_dir, keyed by a hash of "
         "the data, feature and augmentation settings and the seed, and reuse them when "
         "the key matches (raw and npy features are not cached)."),
    STRING("features.cache_dir", features.cache_dir, 1, MAX_PATH_LEN, "cache",
           "Directory of the feature cache (.npy files)."),
    SECTION("features.kmeans",
            "The k-means front end (Coates, Lee and Ng, 2011), learned from the original "
            "training images only. Used when features.kind is kmeans, ignored otherwise. "
            "The defaults are the paper's."),
    INT("features.kmeans.centroids", SL_SIZE, features.kmeans.centroids, 1, 16384, 1600,
        "Number of centroids K; the features are 4K-dimensional (sum-pooled over the 4 "
        "image quadrants). At most features.kmeans.patches."),
    INT("features.kmeans.patch_size", SL_SIZE, features.kmeans.patch_size, 2, 16, 6,
        "Width and height of a patch in pixels (a patch is patch_size x patch_size x 3)."),
    INT("features.kmeans.stride", SL_SIZE, features.kmeans.stride, 1, 16, 1,
        "Step in pixels between the patch positions encoded for each image."),
    INT("features.kmeans.patches", SL_SIZE, features.kmeans.patches, 1000, 10000000, 400000,
        "Random training-image patches k-means learns from."),
    INT("features.kmeans.iterations", SL_SIZE, features.kmeans.iterations, 1, 1000, 50,
        "k-means iterations (empty clusters are re-seeded)."),
    NUMBER("features.kmeans.norm_epsilon", features.kmeans.norm_epsilon, 0, true, 1e6, false,
           10,
           "Patch normalisation: subtract the patch mean, divide by sqrt(variance + "
           "norm_epsilon), on the 0-255 pixel scale."),
    NUMBER("features.kmeans.zca_epsilon", features.kmeans.zca_epsilon, 0, true, 1e6, false,
           0.1, "ZCA whitening regulariser, added to the eigenvalues of the patch covariance."),
    ENUM("features.kmeans.encoder", SL_ENCODER, features.kmeans.encoder, encoder_names,
         CFG_ENC_TRIANGLE,
         "Patch encoding: triangle = max(0, mean_j(z_j) - z_k), z_k the distance to "
         "centroid k; soft_threshold = max(0, c_k . x - alpha)."),
    NUMBER("features.kmeans.alpha", features.kmeans.alpha, 0, false, 100, false, 0.25,
           "Threshold of the soft_threshold encoder."),
    SECTION("features.npy",
            "Bring-your-own features: NumPy .npy files (float32 or float64, 2-D, C order, "
            "little-endian; labels as integer .npy files with values 0..9). Used when "
            "features.kind is npy, ignored otherwise. The feature width must equal "
            "model.layers[0]; that is checked when the files are read."),
    OPT_STRING("features.npy.train", features.npy.train, when_npy,
               "Training feature matrix (n x d); required when features.kind is npy."),
    OPT_STRING("features.npy.train_labels", features.npy.train_labels, when_npy,
               "Training labels (n values); required when features.kind is npy."),
    OPT_STRING("features.npy.test", features.npy.test, when_npy,
               "Test feature matrix (m x d); required when features.kind is npy."),
    OPT_STRING("features.npy.test_labels", features.npy.test_labels, when_npy,
               "Test labels (m values); required when features.kind is npy."),
    OPT_STRING("features.npy.augmented", features.npy.augmented, when_npy_augmented,
               "Augmented training rows (k x d), added to the training set when "
               "augmentation.enabled is true, and then required: with features.kind npy the "
               "augmented rows come from this file, not from the image transforms. Give it "
               "together with features.npy.augmented_labels."),
    OPT_STRING("features.npy.augmented_labels", features.npy.augmented_labels,
               when_npy_augmented,
               "Labels of the augmented rows (k values); given together with "
               "features.npy.augmented."),
    SECTION("augmentation",
            "Augmented copies of the training images. Each copy gets one transform, "
            "picked uniformly among the enabled ones."),
    BOOL("augmentation.enabled", augment.enabled, false,
         "Add augmented copies to the training set (needs at least one transform "
         "enabled)."),
    INT("augmentation.copies", SL_SIZE, augment.copies, 1, 16, 1,
        "Augmented copies per training image."),
    SECTION("augmentation.rotation", "Rotation about the image centre (bilinear, zero "
                                     "outside the source)."),
    BOOL("augmentation.rotation.enabled", augment.rotation, true, "Use rotation."),
    NUMBER("augmentation.rotation.max_degrees", augment.max_degrees, 0, false, 180, false,
           180, "Angle ~ U[-max_degrees, max_degrees] degrees."),
    SECTION("augmentation.cutout", "A rectangle inside the image filled with one value."),
    BOOL("augmentation.cutout.enabled", augment.cutout, true, "Use cutout."),
    INT("augmentation.cutout.max_size", SL_SIZE, augment.cutout_max, 0, 32, 16,
        "Width and height ~ U{0..max_size} pixels."),
    INT("augmentation.cutout.fill", SL_UINT, augment.cutout_fill, 0, 255, 0,
        "Fill value, in every channel."),
    SECTION("augmentation.crop", "Zero padding, then a random 32x32 window."),
    BOOL("augmentation.crop.enabled", augment.crop, true, "Use crop."),
    INT("augmentation.crop.padding", SL_SIZE, augment.crop_padding, 0, 16, 2,
        "Zero padding in pixels on every side before cropping."),
    SECTION("augmentation.contrast",
            "Contrast change x' = clip(a(x-128)+128, 0, 255), a ~ U[min, max], then a "
            "horizontal flip with probability flip_probability."),
    BOOL("augmentation.contrast.enabled", augment.contrast, true, "Use contrast."),
    NUMBER("augmentation.contrast.min", augment.contrast_min, 0, true, 10, false, 0.5,
           "Smallest contrast factor a; at most augmentation.contrast.max."),
    NUMBER("augmentation.contrast.max", augment.contrast_max, 0, true, 10, false, 2.0,
           "Largest contrast factor a."),
    NUMBER("augmentation.contrast.flip_probability", augment.flip_prob, 0, false, 1, false,
           0.5, "Probability of a horizontal flip after the contrast change."),
    SECTION("model", "The multilayer perceptron."),
    {.path = "model.layers", .type = KT_LAYERS, .slot = SL_LAYERS, .offset = OFF(model.layers),
     .required = true, .imin = 1, .imax = MAX_LAYER_SIZE, .min_items = 2,
     .desc = "Layer sizes, input first: the first must equal the feature dimension "
             "(3072 for raw), the last must be 10 (the classes). At least 2 entries and "
             "at most 2^28 parameters (weights and biases) in total."},
    ENUM("model.activation", SL_ACTIVATION, model.activation, activation_names, CFG_ACT_RELU,
         "Activation of the hidden layers."),
    SECTION("training", "Mini-batch stochastic gradient descent."),
    INT("training.epochs", SL_SIZE, training.epochs, 1, 100000, 120,
        "Passes over the training set."),
    INT("training.batch_size", SL_SIZE, training.batch_size, 1, 65536, 64,
        "Images per mini-batch."),
    NUMBER("training.learning_rate", training.learning_rate, 0, true, 10, false, 0.01,
           "SGD step size (at the first epoch, under training.lr_schedule)."),
    ENUM("training.lr_schedule", SL_LR_SCHEDULE, training.lr_schedule, lr_schedule_names,
         CFG_LR_CONSTANT,
         "Learning rate at epoch e = 1..epochs: constant = learning_rate; step = "
         "learning_rate x lr_gamma^floor((e-1) / lr_step_epochs); cosine = lr_min + "
         "(learning_rate - lr_min) x (1 + cos(pi (e-1) / epochs)) / 2."),
    INT("training.lr_step_epochs", SL_SIZE, training.lr_step_epochs, 1, 100000, 30,
        "Step schedule: epochs between two multiplications by lr_gamma."),
    NUMBER("training.lr_gamma", training.lr_gamma, 0, true, 1, false, 0.1,
           "Step schedule: factor applied every lr_step_epochs epochs."),
    NUMBER("training.lr_min", training.lr_min, 0, false, 10, false, 0,
           "Cosine schedule: the rate it anneals towards (reached just after the last "
           "epoch); at most learning_rate."),
    NUMBER("training.momentum", training.momentum, 0, false, 1, true, 0,
           "Momentum coefficient (0 = plain SGD)."),
    NUMBER("training.weight_decay", training.weight_decay, 0, false, 1, true, 0,
           "L2 weight decay coefficient (0 = none)."),
    NUMBER("training.dropout_input", training.dropout_input, 0, false, 1, true, 0,
           "Inverted dropout on the input features while training: each is zeroed with "
           "this probability and the rest scaled by 1/(1-p) (0 = off)."),
    NUMBER("training.dropout_hidden", training.dropout_hidden, 0, false, 1, true, 0,
           "Inverted dropout on the output of every hidden layer while training (0 = "
           "off)."),
    BOOL("training.shuffle", training.shuffle, true,
         "Reshuffle the training set before every epoch."),
    SECTION("output", "Where results are written."),
    STRING("output.dir", output.dir, 1, MAX_PATH_LEN, "results",
           "Directory for the per-run JSON files."),
    STRING("output.database", output.database, 1, MAX_PATH_LEN, "results/results.db",
           "SQLite results database."),
};

#define N_KEYS (sizeof keys / sizeof keys[0])

static const struct key_def *key_by_path(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* Length of the parent part of a dotted path ("a.b.c" -> 3, "a" -> 0). */
static size_t parent_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static const char *last_segment(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static bool is_child_of(const struct key_def *k, const char *parent)
{
    size_t n = parent_len(k->path);
    return n == strlen(parent) && strncmp(k->path, parent, n) == 0;
}

/* The key named (key, len) directly inside section `parent` ("" = top level). */
static const struct key_def *child_key(const char *parent, const char *key, size_t len)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *last = last_segment(keys[i].path);
        if (is_child_of(&keys[i], parent) && strlen(last) == len && memcmp(last, key, len) == 0)
            return &keys[i];
    }
    return NULL;
}

/* ---- reading and writing struct fields -------------------------------- */

static void *slot_ptr(struct experiment *e, const struct key_def *k)
{
    return (char *)e + k->offset;
}

static const void *slot_cptr(const struct experiment *e, const struct key_def *k)
{
    return (const char *)e + k->offset;
}

static void set_int(struct experiment *e, const struct key_def *k, uint64_t v)
{
    void *p = slot_ptr(e, k);
    switch (k->slot) {
    case SL_SIZE: *(size_t *)p = (size_t)v; break;
    case SL_U64: *(uint64_t *)p = v; break;
    case SL_UINT: *(unsigned *)p = (unsigned)v; break;
    case SL_BOOL: *(bool *)p = v != 0; break;
    case SL_ACTIVATION: *(enum cfg_activation *)p = (enum cfg_activation)v; break;
    case SL_FEATURE: *(enum cfg_feature_kind *)p = (enum cfg_feature_kind)v; break;
    case SL_ENCODER: *(enum cfg_encoder *)p = (enum cfg_encoder)v; break;
    case SL_LR_SCHEDULE: *(enum cfg_lr_schedule *)p = (enum cfg_lr_schedule)v; break;
    default: break;
    }
}

static uint64_t get_int(const struct experiment *e, const struct key_def *k)
{
    const void *p = slot_cptr(e, k);
    switch (k->slot) {
    case SL_SIZE: return *(const size_t *)p;
    case SL_U64: return *(const uint64_t *)p;
    case SL_UINT: return *(const unsigned *)p;
    case SL_BOOL: return *(const bool *)p;
    case SL_ACTIVATION: return (uint64_t)*(const enum cfg_activation *)p;
    case SL_FEATURE: return (uint64_t)*(const enum cfg_feature_kind *)p;
    case SL_ENCODER: return (uint64_t)*(const enum cfg_encoder *)p;
    case SL_LR_SCHEDULE: return (uint64_t)*(const enum cfg_lr_schedule *)p;
    default: return 0;
    }
}

static void set_string(struct experiment *e, const struct key_def *k, char *s)
{
    char **p = slot_ptr(e, k);
    free(*p);
    *p = s;
}

static char *dup_mem(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *dup_str(const char *s)
{
    return dup_mem(s, strlen(s));
}

/* ---- messages ----------------------------------------------------------- */

/* "FILE:LINE:COL: path: what" (or without "path: " when path is empty). */
static int fail_loc(struct rn_err *err, const char *src, size_t line, size_t col,
                    const char *path, const char *what)
{
    if (path && *path)
        return rn_fail(err, RN_ERR_CONFIG, "%s:%zu:%zu: %s: %s", src, line, col, path, what);
    return rn_fail(err, RN_ERR_CONFIG, "%s:%zu:%zu: %s", src, line, col, what);
}

/* Copy a scalar for a message: escaped, cut after about 60 bytes. */
static void show_text(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0, limit = 60;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= limit && (c & 0xC0) != 0x80) {
            if (o + 4 <= cap)
                memcpy(buf + o, "...", 4);
            else
                buf[o] = '\0';
            return;
        }
        char tmp[8];
        size_t n;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c == '\n') {
            memcpy(tmp, "\\n", 2);
            n = 2;
        } else if (c == '\t') {
            memcpy(tmp, "\\t", 2);
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            n = 4;
        } else {
            tmp[0] = (char)c;
            n = 1;
        }
        if (o + n + 1 > cap)
            break;
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o] = '\0';
}

/* Line and column (1-based, columns in characters) of a byte offset. */
static void offset_to_linecol(const char *text, size_t len, size_t off, size_t *line,
                              size_t *col)
{
    size_t i = 0;
    *line = 1;
    *col = 1;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* a byte order mark takes no column */
    for (; i < off && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || (c == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
            (*line)++;
            *col = 1;
        } else if (c != '\r' && (c & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* Characters in valid UTF-8 text (bytes that do not continue a character). */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- scalar classification --------------------------------------------- */

static bool is_null_word(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && strncasecmp(s, "null", 4) == 0);
}

static int bool_word(const char *s)
{
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return 1;
        if (strcasecmp(s, f[i]) == 0)
            return 0;
    }
    return -1;
}

static bool is_nonfinite_word(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    static const char *const w[] = {".nan", ".inf", "nan", "inf", "infinity", ".infinity"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (strcasecmp(s, w[i]) == 0)
            return true;
    return false;
}

static size_t count_digits(const char *s, int (*is)(int))
{
    size_t n = 0;
    while (s[n] && is((unsigned char)s[n]))
        n++;
    return n;
}

static int is_dec(int c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(int c)
{
    return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* [-+]?[0-9]+ (any leading zeros). */
static bool int_syntax(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    size_t n = count_digits(s, is_dec);
    return n > 0 && s[n] == '\0';
}

/* [-+]?(digits(.digits*)?|.digits)([eE][-+]?digits)? */
static bool float_syntax(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    size_t a = count_digits(s, is_dec);
    s += a;
    size_t b = 0;
    if (*s == '.') {
        s++;
        b = count_digits(s, is_dec);
        s += b;
    }
    if (a == 0 && b == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        size_t c = count_digits(s, is_dec);
        if (c == 0)
            return false;
        s += c;
    }
    return *s == '\0';
}

/* A plain scalar a YAML loader would not read as a string. */
static bool plain_is_not_string(const char *s, size_t len)
{
    if (is_null_word(s, len) || bool_word(s) >= 0 || is_nonfinite_word(s) || float_syntax(s))
        return true;
    const char *t = (*s == '+' || *s == '-') ? s + 1 : s;
    if (t[0] == '0' && (t[1] == 'x' || t[1] == 'o')) {
        size_t n = count_digits(t + 2, is_hex);
        return n > 0 && t[2 + n] == '\0';
    }
    return false;
}

/* ---- the parser --------------------------------------------------------- */

struct parser {
    yaml_parser_t yp;
    yaml_event_t ev;
    bool have_ev;
    bool yp_ready; /* yaml_parser_initialize succeeded */
    const char *text;
    size_t len;
    const char *src;
    struct experiment *cfg;
    size_t marks_cap;
    struct rn_err *err;
    size_t override_index; /* > 0: parsing the VALUE of override N; src names it */
};

/* "SRC:LINE:COL: path: what" for the file, "override N (`ARG`): path: what"
 * for an override (its position inside the value does not help). */
static int fail_src(struct parser *p, size_t line, size_t col, const char *path,
                    const char *what)
{
    if (!p->override_index)
        return fail_loc(p->err, p->src, line, col, path, what);
    if (path && *path)
        return rn_fail(p->err, RN_ERR_CONFIG, "%s: %s: %s", p->src, path, what);
    return rn_fail(p->err, RN_ERR_CONFIG, "%s: %s", p->src, what);
}

static int fail_mark(struct parser *p, yaml_mark_t m, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_mark(struct parser *p, yaml_mark_t m, const char *path, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fail_src(p, m.line + 1, m.column + 1, path, what);
}

static int nomem(struct parser *p)
{
    return rn_fail(p->err, RN_ERR_NOMEM, "%s: out of memory", p->src);
}

static int syntax_error(struct parser *p)
{
    yaml_parser_t *y = &p->yp;
    if (y->error == YAML_MEMORY_ERROR)
        return nomem(p);
    const char *problem = y->problem ? y->problem : "unknown error";
    char what[700];
    size_t line, col;
    if (y->error == YAML_READER_ERROR) {
        offset_to_linecol(p->text, p->len, y->problem_offset, &line, &col);
        if (y->problem_value >= 0)
            snprintf(what, sizeof what, "YAML error: %s (character #x%X)", problem,
                     (unsigned)y->problem_value);
        else
            snprintf(what, sizeof what, "YAML error: %s", problem);
    } else {
        line = y->problem_mark.line + 1;
        col = y->problem_mark.column + 1;
        if (y->context)
            snprintf(what, sizeof what, "YAML syntax error: %s (%s at line %zu, column %zu)",
                     problem, y->context, (size_t)y->context_mark.line + 1,
                     (size_t)y->context_mark.column + 1);
        else
            snprintf(what, sizeof what, "YAML syntax error: %s", problem);
    }
    return fail_src(p, line, col, NULL, what);
}

/* Parse the next event into p->ev, refusing anchors, aliases and tags.
 * `path` names where we are, for messages. */
static int next_event(struct parser *p, const char *path)
{
    if (p->have_ev) {
        yaml_event_delete(&p->ev);
        p->have_ev = false;
    }
    if (!yaml_parser_parse(&p->yp, &p->ev))
        return syntax_error(p);
    p->have_ev = true;
    const yaml_event_t *e = &p->ev;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (e->type) {
    case YAML_ALIAS_EVENT:
        return fail_mark(p, e->start_mark, path, "anchors and aliases are not supported");
    case YAML_SCALAR_EVENT:
        anchor = e->data.scalar.anchor;
        tag = e->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = e->data.sequence_start.anchor;
        tag = e->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = e->data.mapping_start.anchor;
        tag = e->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor)
        return fail_mark(p, e->start_mark, path, "anchors and aliases are not supported");
    if (tag) {
        char shown[200];
        show_text(shown, sizeof shown, (const char *)tag, strlen((const char *)tag));
        return fail_mark(p, e->start_mark, path,
                         "tags are not supported (found \"%s\")", shown);
    }
    return RN_OK;
}

static bool ev_plain(const yaml_event_t *e)
{
    return e->type == YAML_SCALAR_EVENT && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *ev_text(const yaml_event_t *e)
{
    return (const char *)e->data.scalar.value;
}

/* What a value is, for "got ..." in messages. */
static void describe(const yaml_event_t *e, char *buf, size_t cap)
{
    if (e->type == YAML_MAPPING_START_EVENT) {
        snprintf(buf, cap, "a mapping");
    } else if (e->type == YAML_SEQUENCE_START_EVENT) {
        snprintf(buf, cap, "a list");
    } else if (e->type == YAML_SCALAR_EVENT) {
        char shown[300];
        size_t len = e->data.scalar.length;
        show_text(shown, sizeof shown, ev_text(e), len);
        if (ev_plain(e) && is_null_word(ev_text(e), len))
            snprintf(buf, cap, "null");
        else if (ev_plain(e))
            snprintf(buf, cap, "\"%s\"", shown);
        else
            snprintf(buf, cap, "the quoted string \"%s\"", shown);
    } else {
        snprintf(buf, cap, "nothing");
    }
}

static int wrong_type(struct parser *p, const char *path, const char *expected)
{
    char got[400];
    describe(&p->ev, got, sizeof got);
    return fail_mark(p, p->ev.start_mark, path, "expected %s, got %s", expected, got);
}

static int add_mark(struct parser *p, const char *path, yaml_mark_t m)
{
    struct experiment *c = p->cfg;
    if (c->n_marks == p->marks_cap) {
        size_t cap = p->marks_cap ? p->marks_cap * 2 : 32;
        size_t bytes;
        if (rn_mul_size(cap, sizeof *c->marks, &bytes))
            return nomem(p);
        struct cfg_mark *nm = realloc(c->marks, bytes);
        if (!nm)
            return nomem(p);
        c->marks = nm;
        p->marks_cap = cap;
    }
    char *d = dup_str(path);
    if (!d)
        return nomem(p);
    if (p->override_index)
        c->marks[c->n_marks++] = (struct cfg_mark){d, 0, 0, p->override_index};
    else
        c->marks[c->n_marks++] = (struct cfg_mark){d, m.line + 1, m.column + 1, 0};
    return RN_OK;
}

static const struct cfg_mark *find_mark(const struct experiment *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->n_marks; i++)
        if (strcmp(cfg->marks[i].path, path) == 0)
            return &cfg->marks[i];
    return NULL;
}

/* Plain decimal integer in [k->imin, k->imax] (k = the key or list's item range). */
static int parse_int_scalar(struct parser *p, const struct key_def *k, const char *path,
                            uint64_t *out)
{
    const yaml_event_t *e = &p->ev;
    if (!ev_plain(e) || is_null_word(ev_text(e), e->data.scalar.length))
        return wrong_type(p, path, "an integer");
    const char *s = ev_text(e);
    if (!int_syntax(s))
        return wrong_type(p, path, "an integer");
    const char *digits = (*s == '+' || *s == '-') ? s + 1 : s;
    if (digits[0] == '0' && digits[1] != '\0')
        return fail_mark(p, e->start_mark, path,
                         "expected a decimal integer without leading zeros, got \"%s\"", s);
    char *end = NULL;
    bool in_range;
    uint64_t v = 0;
    errno = 0;
    if (*s == '-') {
        long long x = strtoll(s, &end, 10);
        in_range = errno == 0 && *end == '\0' && x == 0;
        v = 0;
    } else {
        unsigned long long x = strtoull(s, &end, 10);
        in_range = errno == 0 && *end == '\0';
        v = (uint64_t)x;
    }
    if (!in_range || v < k->imin || v > k->imax)
        return fail_mark(p, e->start_mark, path,
                         "expected an integer in [%llu, %llu], got %s",
                         (unsigned long long)k->imin, (unsigned long long)k->imax, s);
    *out = v;
    return RN_OK;
}

static int parse_number(struct parser *p, const struct key_def *k, double *out)
{
    const yaml_event_t *e = &p->ev;
    if (!ev_plain(e) || is_null_word(ev_text(e), e->data.scalar.length))
        return wrong_type(p, k->path, "a number");
    const char *s = ev_text(e);
    char shown[300];
    show_text(shown, sizeof shown, s, e->data.scalar.length);
    if (is_nonfinite_word(s))
        return fail_mark(p, e->start_mark, k->path, "expected a finite number, got %s", shown);
    if (!float_syntax(s))
        return wrong_type(p, k->path, "a number");
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (*end != '\0')
        return wrong_type(p, k->path, "a number");
    if (!isfinite(d) || (errno == ERANGE && fabs(d) > 1.0))
        return fail_mark(p, e->start_mark, k->path,
                         "expected a finite number, got %s (too large for a double)", shown);
    if (d == 0)
        d = 0; /* no negative zero in the resolved config */
    bool low = k->min_excl ? !(d > k->dmin) : !(d >= k->dmin);
    bool high = k->max_excl ? !(d < k->dmax) : !(d <= k->dmax);
    if (low || high)
        return fail_mark(p, e->start_mark, k->path, "expected a number in %c%.15g, %.15g%c, got %s",
                         k->min_excl ? '(' : '[', k->dmin, k->dmax, k->max_excl ? ')' : ']',
                         shown);
    *out = d;
    return RN_OK;
}

static int parse_bool(struct parser *p, const struct key_def *k, bool *out)
{
    const yaml_event_t *e = &p->ev;
    int b = -1;
    if (ev_plain(e))
        b = bool_word(ev_text(e));
    if (b < 0)
        return wrong_type(p, k->path, "a boolean (true or false)");
    *out = b == 1;
    return RN_OK;
}

static int parse_enum(struct parser *p, const struct key_def *k, uint64_t *out)
{
    const yaml_event_t *e = &p->ev;
    bool null = ev_plain(e) && is_null_word(ev_text(e), e->data.scalar.length);
    if (e->type == YAML_SCALAR_EVENT && !null) {
        for (size_t i = 0; k->names[i]; i++) {
            if (strlen(k->names[i]) == e->data.scalar.length &&
                strcmp(k->names[i], ev_text(e)) == 0) {
                *out = i;
                return RN_OK;
            }
        }
    }
    char expected[200] = "one of";
    for (size_t i = 0; k->names[i]; i++) {
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof expected - n, "%s \"%s\"", i ? "," : "", k->names[i]);
    }
    return wrong_type(p, k->path, expected);
}

static int parse_string(struct parser *p, const struct key_def *k)
{
    const yaml_event_t *e = &p->ev;
    if (e->type != YAML_SCALAR_EVENT)
        return wrong_type(p, k->path, k->nullable ? "a string or null" : "a string");
    const char *s = ev_text(e);
    size_t len = e->data.scalar.length;
    if (ev_plain(e) && is_null_word(s, len)) {
        if (!k->nullable)
            return wrong_type(p, k->path, "a string");
        set_string(p->cfg, k, NULL); /* not set */
        return RN_OK;
    }
    if (ev_plain(e) && plain_is_not_string(s, len)) {
        char shown[300];
        show_text(shown, sizeof shown, s, len);
        return fail_mark(p, e->start_mark, k->path,
                         "expected a string, got %s (quote it to make it a string)", shown);
    }
    if (memchr(s, '\0', len))
        return fail_mark(p, e->start_mark, k->path,
                         "expected a string without NUL characters, got one containing \\0");
    size_t chars = utf8_chars(s, len);
    if (chars < k->imin)
        return fail_mark(p, e->start_mark, k->path, "expected a non-empty string, got \"\"");
    if (chars > k->imax)
        return fail_mark(p, e->start_mark, k->path,
                         "expected a string of at most %llu characters, got %zu characters",
                         (unsigned long long)k->imax, chars);
    char *d = dup_mem(s, len);
    if (!d)
        return nomem(p);
    set_string(p->cfg, k, d);
    return RN_OK;
}

/* Current event: SEQUENCE_START of model.layers. */
static int parse_layers(struct parser *p, const struct key_def *k)
{
    struct cfg_model *m = &p->cfg->model;
    yaml_mark_t start = p->ev.start_mark;
    size_t cap = 0;
    char path[128];
    for (;;) {
        snprintf(path, sizeof path, "%s[%zu]", k->path, m->n_layers);
        int rc = next_event(p, path);
        if (rc)
            return rc;
        if (p->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        uint64_t v;
        rc = parse_int_scalar(p, k, path, &v);
        if (rc)
            return rc;
        rc = add_mark(p, path, p->ev.start_mark);
        if (rc)
            return rc;
        if (m->n_layers == cap) {
            size_t ncap = cap ? cap * 2 : 8, bytes;
            size_t *nl =
                rn_mul_size(ncap, sizeof *nl, &bytes) ? NULL : realloc(m->layers, bytes);
            if (!nl)
                return nomem(p);
            m->layers = nl;
            cap = ncap;
        }
        m->layers[m->n_layers++] = (size_t)v;
    }
    if (m->n_layers < k->min_items)
        return fail_mark(p, start, k->path,
                         "expected a list of at least %zu layer sizes, got %zu", k->min_items,
                         m->n_layers);
    return RN_OK;
}

static int parse_mapping(struct parser *p, const char *section);

/* Parse the value of key k whose first event is the current one. */
static int parse_current(struct parser *p, const struct key_def *k)
{
    int rc;
    const yaml_event_t *e = &p->ev;
    uint64_t v = 0;
    switch (k->type) {
    case KT_SECTION:
        if (e->type != YAML_MAPPING_START_EVENT)
            return wrong_type(p, k->path, "a mapping");
        return parse_mapping(p, k->path);
    case KT_LAYERS:
        if (e->type != YAML_SEQUENCE_START_EVENT)
            return wrong_type(p, k->path, "a list of integers");
        return parse_layers(p, k);
    case KT_STRING:
        return parse_string(p, k);
    case KT_INT:
        rc = parse_int_scalar(p, k, k->path, &v);
        if (rc == RN_OK)
            set_int(p->cfg, k, v);
        return rc;
    case KT_NUMBER:
        return parse_number(p, k, (double *)slot_ptr(p->cfg, k));
    case KT_BOOL:
        return parse_bool(p, k, (bool *)slot_ptr(p->cfg, k));
    case KT_ENUM:
        rc = parse_enum(p, k, &v);
        if (rc == RN_OK)
            set_int(p->cfg, k, v);
        return rc;
    }
    return RN_OK;
}

/* Parse the value of key k (its first event not yet read). */
static int parse_value(struct parser *p, const struct key_def *k)
{
    int rc = next_event(p, k->path);
    if (rc)
        return rc;
    return parse_current(p, k);
}

static int parse_sweep(struct parser *p, yaml_mark_t kmark);

static void list_keys(const char *section, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_KEYS && o < cap; i++) {
        if (!is_child_of(&keys[i], section))
            continue;
        int n = snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", last_segment(keys[i].path));
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* Current event: MAPPING_START of `section` ("" = the document). */
static int parse_mapping(struct parser *p, const char *section)
{
    for (;;) {
        int rc = next_event(p, section);
        if (rc)
            return rc;
        const yaml_event_t *e = &p->ev;
        if (e->type == YAML_MAPPING_END_EVENT)
            return RN_OK;
        if (e->type != YAML_SCALAR_EVENT) {
            char got[64];
            describe(e, got, sizeof got);
            return fail_mark(p, e->start_mark, section, "expected a key name, got %s", got);
        }
        const char *key = ev_text(e);
        size_t klen = e->data.scalar.length;
        yaml_mark_t kmark = e->start_mark;
        if (ev_plain(e) && strcmp(key, "<<") == 0)
            return fail_mark(p, kmark, section, "merge keys (<<) are not supported");
        if (!*section && klen == 5 && memcmp(key, "sweep", 5) == 0) {
            rc = parse_sweep(p, kmark);
            if (rc)
                return rc;
            continue;
        }
        const struct key_def *k = child_key(section, key, klen);
        if (!k) {
            char shown[200], path[300], valid[400];
            show_text(shown, sizeof shown, key, klen);
            snprintf(path, sizeof path, "%s%s%s", section, *section ? "." : "", shown);
            list_keys(section, valid, sizeof valid);
            return fail_mark(p, kmark, path, "unknown key; valid keys %s%s: %s",
                             *section ? "in " : "at the top level", section, valid);
        }
        const struct cfg_mark *first = find_mark(p->cfg, k->path);
        if (first)
            return fail_mark(p, kmark, k->path,
                             "duplicate key (first given at line %zu, column %zu)",
                             first->line, first->column);
        rc = add_mark(p, k->path, kmark);
        if (rc)
            return rc;
        rc = parse_value(p, k);
        if (rc)
            return rc;
    }
}

/* Byte offset of the first invalid UTF-8 sequence, or len if none. */
static size_t utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (n >= len - i)
            return i;
        for (size_t j = 1; j <= n; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (cp >= 0xD800 && cp <= 0xDFFF) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += n + 1;
    }
    return len;
}

/* The whole stream: exactly one document whose root is a mapping. */
static int parse_stream(struct parser *p)
{
    size_t bad = utf8_invalid_at(p->text, p->len);
    if (bad < p->len) {
        size_t line, col;
        char what[128];
        offset_to_linecol(p->text, p->len, bad, &line, &col);
        snprintf(what, sizeof what, "invalid UTF-8 (byte 0x%02X); the file must be UTF-8 text",
                 (unsigned char)p->text[bad]);
        return fail_loc(p->err, p->src, line, col, NULL, what);
    }
    if (!yaml_parser_initialize(&p->yp))
        return nomem(p);
    p->yp_ready = true;
    yaml_parser_set_input_string(&p->yp, (const unsigned char *)p->text, p->len);
    yaml_parser_set_encoding(&p->yp, YAML_UTF8_ENCODING);
    int rc = next_event(p, ""); /* STREAM_START */
    if (rc)
        return rc;
    rc = next_event(p, "");
    if (rc)
        return rc;
    if (p->ev.type == YAML_STREAM_END_EVENT)
        return fail_loc(p->err, p->src, 1, 1, NULL,
                        "expected a mapping of keys, got an empty file");
    rc = next_event(p, ""); /* the root node, after DOCUMENT_START */
    if (rc)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        char got[400];
        describe(&p->ev, got, sizeof got);
        if (p->ev.type == YAML_SCALAR_EVENT && ev_plain(&p->ev) &&
            p->ev.data.scalar.length == 0)
            snprintf(got, sizeof got, "an empty document");
        char what[500];
        snprintf(what, sizeof what, "expected a mapping of keys, got %s", got);
        return fail_loc(p->err, p->src, 1, 1, NULL, what);
    }
    rc = parse_mapping(p, "");
    if (rc)
        return rc;
    rc = next_event(p, ""); /* DOCUMENT_END */
    if (rc)
        return rc;
    rc = next_event(p, "");
    if (rc)
        return rc;
    if (p->ev.type != YAML_STREAM_END_EVENT)
        return fail_mark(p, p->ev.start_mark, NULL,
                         "more than one YAML document; an experiment file holds exactly one");
    return RN_OK;
}

/* ---- close matches for unknown keys ------------------------------------- */

/* Levenshtein distance of two short strings (SIZE_MAX if either is long). */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* How close segment s (n bytes) is to a key's segment t (m bytes): 0 equal,
 * 1 the initials of t ("lr" for learning_rate), 2 a prefix of t ("train"),
 * 2 + d for d small edits; SIZE_MAX = not close. */
static size_t segment_cost(const char *s, size_t n, const char *t, size_t m)
{
    if (n == m && memcmp(s, t, n) == 0)
        return 0;
    char ini[32];
    size_t k = 0;
    for (size_t i = 0; i < m && k + 1 < sizeof ini; i++)
        if (i == 0 || t[i - 1] == '_')
            ini[k++] = t[i];
    if (n >= 2 && k == n && memcmp(s, ini, n) == 0)
        return 1;
    if (n >= 2 && n < m && memcmp(s, t, n) == 0)
        return 2;
    size_t d = edit_distance(s, n, t, m);
    size_t limit = m <= 4 ? 1 : m <= 8 ? 2 : 3;
    return d <= limit ? 2 + d : SIZE_MAX;
}

/* Split a dotted path into at most 8 segments; returns the count (0 if more). */
static size_t split_path(const char *path, const char *seg[8], size_t len[8])
{
    size_t n = 0;
    const char *s = path;
    for (;;) {
        if (n == 8)
            return 0;
        const char *dot = strchr(s, '.');
        seg[n] = s;
        len[n] = dot ? (size_t)(dot - s) : strlen(s);
        n++;
        if (!dot)
            return n;
        s = dot + 1;
    }
}

/* Cost of reading `path` as `key`, segment by segment (a path with fewer
 * segments is matched against the key's last ones, 2 per missing section),
 * or by edits of the whole path; SIZE_MAX = not close. */
static size_t path_cost(const char *path, const char *key)
{
    const char *ps[8], *ks[8];
    size_t pl[8], kl[8];
    size_t np = split_path(path, ps, pl), nk = split_path(key, ks, kl);
    size_t cost = SIZE_MAX;
    if (np && nk && np <= nk) {
        cost = 2 * (nk - np);
        for (size_t i = 0; i < np && cost != SIZE_MAX; i++) {
            size_t c = segment_cost(ps[i], pl[i], ks[nk - np + i], kl[nk - np + i]);
            cost = c == SIZE_MAX ? SIZE_MAX : cost + c;
        }
    }
    size_t d = edit_distance(path, strlen(path), key, strlen(key));
    if (d <= 3 && 2 + d < cost)
        cost = 2 + d;
    return cost;
}

/* "did you mean a, b or c?" with up to 3 keys closest to path (ties in table
 * order), or "" if none is close. */
static void suggest_keys(const char *path, char *buf, size_t cap)
{
    size_t best[3], cost[3], n = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].type == KT_SECTION)
            continue;
        size_t c = path_cost(path, keys[i].path);
        if (c == SIZE_MAX)
            continue;
        size_t at = n < 3 ? n : 3;
        while (at > 0 && cost[at - 1] > c)
            at--;
        if (at >= 3)
            continue;
        for (size_t j = (n < 3 ? n : 2); j > at; j--) {
            best[j] = best[j - 1];
            cost[j] = cost[j - 1];
        }
        best[at] = i;
        cost[at] = c;
        if (n < 3)
            n++;
    }
    while (n > 1 && cost[n - 1] > cost[0] + 1)
        n--; /* only the near-best */
    buf[0] = '\0';
    if (n == 0)
        return;
    size_t o = (size_t)snprintf(buf, cap, "did you mean ");
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                              keys[best[i]].path);
    if (o < cap)
        snprintf(buf + o, cap - o, "?");
}

int cfg_check_key(const char *path, const char *where, struct rn_err *err)
{
    char shown[200];
    show_text(shown, sizeof shown, path, strlen(path));
    const struct key_def *k = key_by_path(path);
    if (k && k->type != KT_SECTION)
        return RN_OK;
    char valid[400];
    if (k) {
        list_keys(k->path, valid, sizeof valid);
        return rn_fail(err, RN_ERR_CONFIG,
                       "%s: %s: is a section; set its keys one by one (%s.KEY=VALUE), "
                       "keys: %s",
                       where, shown, k->path, valid);
    }
    char hint[400];
    suggest_keys(path, hint, sizeof hint);
    if (hint[0])
        return rn_fail(err, RN_ERR_CONFIG, "%s: %s: unknown key; %s", where, shown, hint);
    /* No close match: list the keys of the section it names, if any. */
    size_t plen = parent_len(path);
    char parent[128] = "";
    if (plen < sizeof parent) {
        memcpy(parent, path, plen);
        parent[plen] = '\0';
    }
    const struct key_def *sec = plen ? key_by_path(parent) : NULL;
    if (sec && sec->type == KT_SECTION) {
        list_keys(parent, valid, sizeof valid);
        return rn_fail(err, RN_ERR_CONFIG, "%s: %s: unknown key; valid keys in %s: %s", where,
                       shown, parent, valid);
    }
    list_keys("", valid, sizeof valid);
    return rn_fail(err, RN_ERR_CONFIG,
                   "%s: %s: unknown key; valid keys are dotted paths from: %s", where, shown,
                   valid);
}

/* ---- the sweep: section ---------------------------------------------------- */

static int set_defaults(struct experiment *cfg);

static char *quote_yaml(const char *s, size_t len);

char *cfg_yaml_quote(const char *s)
{
    return quote_yaml(s, strlen(s));
}

/* A string as a double-quoted YAML scalar. */
static char *quote_yaml(const char *s, size_t len)
{
    size_t cap;
    if (rn_mul_size(len, 4, &cap) || rn_add_size(cap, 3, &cap))
        return NULL;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n') {
            memcpy(o, "\\n", 2);
            o += 2;
        } else if (c == '\t') {
            memcpy(o, "\\t", 2);
            o += 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(o, 5, "\\x%02x", c);
            o += 4;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* The override spelling of a list of layer sizes: "[3072,64,10]". */
static char *layers_text(const struct cfg_model *m)
{
    size_t cap = 3 + m->n_layers * 21;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '[';
    for (size_t i = 0; i < m->n_layers; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%zu", i ? "," : "", m->layers[i]);
    snprintf(out + o, cap - o, "]");
    return out;
}

/* Read one value of a sweep axis (current event = its first event), check it
 * against k on a scratch experiment, and return its override spelling. */
static int sweep_value(struct parser *p, const struct key_def *k, char **text)
{
    *text = NULL;
    struct experiment scratch;
    memset(&scratch, 0, sizeof scratch);
    if (set_defaults(&scratch) != RN_OK) {
        cfg_free(&scratch);
        return nomem(p);
    }
    struct experiment *real = p->cfg;
    size_t real_cap = p->marks_cap;
    p->cfg = &scratch;
    p->marks_cap = 0;
    const yaml_event_t *e = &p->ev;
    if (e->type == YAML_SCALAR_EVENT)
        *text = ev_plain(e) ? dup_mem(ev_text(e), e->data.scalar.length)
                            : quote_yaml(ev_text(e), e->data.scalar.length);
    int rc = parse_current(p, k);
    if (rc == RN_OK && k->type == KT_LAYERS)
        *text = layers_text(&scratch.model);
    p->cfg = real;
    p->marks_cap = real_cap;
    cfg_free(&scratch);
    if (rc == RN_OK && !*text)
        rc = nomem(p);
    if (rc != RN_OK) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* Current event: the key "sweep" at the top level. The value is a mapping
 * of dotted keys to non-empty lists of values. */
static int parse_sweep(struct parser *p, yaml_mark_t kmark)
{
    const struct cfg_mark *first = find_mark(p->cfg, "sweep");
    if (first)
        return fail_mark(p, kmark, "sweep", "duplicate key (first given at line %zu, column %zu)",
                         first->line, first->column);
    int rc = add_mark(p, "sweep", kmark);
    if (rc == RN_OK)
        rc = next_event(p, "sweep");
    if (rc)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return wrong_type(p, "sweep", "a mapping of dotted keys to lists of values");
    yaml_mark_t start = p->ev.start_mark;
    struct experiment *c = p->cfg;
    for (;;) {
        rc = next_event(p, "sweep");
        if (rc)
            return rc;
        if (p->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (p->ev.type != YAML_SCALAR_EVENT)
            return wrong_type(p, "sweep", "a dotted key such as training.learning_rate");
        char key[300], where[64];
        show_text(key, sizeof key, ev_text(&p->ev), p->ev.data.scalar.length);
        yaml_mark_t km = p->ev.start_mark;
        char path[320];
        snprintf(path, sizeof path, "sweep.%s", key);
        snprintf(where, sizeof where, "%s:%zu:%zu", p->src, (size_t)km.line + 1,
                 (size_t)km.column + 1);
        if (cfg_check_key(key, where, p->err) != RN_OK) {
            /* "WHERE: key: unknown key; ..." -> "FILE:L:C: sweep.key: unknown key; ..." */
            char msg[sizeof p->err->msg];
            size_t skip = strlen(where) + 2 + strlen(key) + 2;
            snprintf(msg, sizeof msg, "%s",
                     strlen(p->err->msg) > skip ? p->err->msg + skip : p->err->msg);
            return fail_mark(p, km, path, "%s", msg);
        }
        const struct key_def *k = key_by_path(key);
        for (size_t i = 0; i < c->n_sweep; i++)
            if (strcmp(c->sweep[i].path, k->path) == 0)
                return fail_mark(p, km, path, "duplicate key (first given at line %zu, column %zu)",
                                 c->sweep[i].line, c->sweep[i].column);
        struct cfg_sweep_axis *na = realloc(c->sweep, (c->n_sweep + 1) * sizeof *na);
        if (!na)
            return nomem(p);
        c->sweep = na;
        struct cfg_sweep_axis *ax = &c->sweep[c->n_sweep];
        memset(ax, 0, sizeof *ax);
        ax->path = dup_str(k->path);
        if (!ax->path)
            return nomem(p);
        ax->line = km.line + 1;
        ax->column = km.column + 1;
        c->n_sweep++;
        rc = next_event(p, path);
        if (rc)
            return rc;
        if (p->ev.type != YAML_SEQUENCE_START_EVENT)
            return wrong_type(p, path, "a list of values (e.g. [0.1, 0.01])");
        yaml_mark_t lmark = p->ev.start_mark;
        for (;;) {
            rc = next_event(p, path);
            if (rc)
                return rc;
            if (p->ev.type == YAML_SEQUENCE_END_EVENT)
                break;
            char *text;
            rc = sweep_value(p, k, &text);
            if (rc)
                return rc;
            char **nv = realloc(ax->values, (ax->n_values + 1) * sizeof *nv);
            if (!nv) {
                free(text);
                return nomem(p);
            }
            ax->values = nv;
            ax->values[ax->n_values++] = text;
        }
        if (ax->n_values == 0)
            return fail_mark(p, lmark, path, "expected a non-empty list of values, got []");
    }
    if (c->n_sweep == 0)
        return fail_mark(p, start, "sweep", "expected at least one key to sweep, got none");
    return RN_OK;
}

/* ---- overrides ---------------------------------------------------------------- */

/* Drop every mark of key k (for model.layers also its items). */
static void drop_marks(struct experiment *cfg, const struct key_def *k)
{
    size_t n = strlen(k->path), j = 0;
    for (size_t i = 0; i < cfg->n_marks; i++) {
        const char *m = cfg->marks[i].path;
        bool match = strncmp(m, k->path, n) == 0 && (m[n] == '\0' || m[n] == '[');
        if (match)
            free(cfg->marks[i].path);
        else
            cfg->marks[j++] = cfg->marks[i];
    }
    cfg->n_marks = j;
}

/* Apply override number idx (1-based) of cfg->overrides. */
static int apply_override(struct experiment *cfg, size_t idx, size_t *marks_cap,
                          struct rn_err *err)
{
    const char *arg = cfg->overrides[idx - 1];
    char shown[200], where[260];
    show_text(shown, sizeof shown, arg, strlen(arg));
    snprintf(where, sizeof where, "override %zu (`%s`)", idx, shown);
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return rn_fail(err, RN_ERR_CONFIG,
                       "%s: expected KEY=VALUE with a dotted key path before '=' "
                       "(e.g. training.learning_rate=0.05)",
                       where);
    char *key = dup_mem(arg, (size_t)(eq - arg));
    if (!key)
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", where);
    int rc = cfg_check_key(key, where, err);
    for (size_t j = 0; rc == RN_OK && j + 1 < idx; j++) {
        const char *o = cfg->overrides[j];
        size_t n = strlen(key);
        if (strncmp(o, key, n) == 0 && o[n] == '=')
            rc = rn_fail(err, RN_ERR_CONFIG, "%s: %s: already set by override %zu", where, key,
                         j + 1);
    }
    const char *value = eq + 1;
    size_t vlen = strlen(value);
    if (rc == RN_OK && strspn(value, " ") == vlen)
        rc = rn_fail(err, RN_ERR_CONFIG,
                     "%s: %s: expected a value after '=' (null for none, \"\" for an empty "
                     "string)",
                     where, key);
    if (rc == RN_OK && utf8_invalid_at(value, vlen) < vlen)
        rc = rn_fail(err, RN_ERR_CONFIG, "%s: %s: invalid UTF-8 in the value", where, key);
    if (rc != RN_OK) {
        free(key);
        return rc;
    }
    const struct key_def *k = key_by_path(key);
    free(key);
    drop_marks(cfg, k);
    if (k->type == KT_LAYERS) {
        free(cfg->model.layers);
        cfg->model.layers = NULL;
        cfg->model.n_layers = 0;
    }
    struct parser q = {.text = value, .len = vlen, .src = where, .cfg = cfg, .err = err,
                       .marks_cap = *marks_cap, .override_index = idx};
    if (!yaml_parser_initialize(&q.yp))
        return nomem(&q);
    q.yp_ready = true;
    yaml_parser_set_input_string(&q.yp, (const unsigned char *)value, vlen);
    yaml_parser_set_encoding(&q.yp, YAML_UTF8_ENCODING);
    rc = next_event(&q, k->path); /* STREAM_START */
    if (rc == RN_OK)
        rc = next_event(&q, k->path);
    if (rc == RN_OK && q.ev.type != YAML_DOCUMENT_START_EVENT)
        rc = fail_mark(&q, q.ev.start_mark, k->path,
                       "expected a value after '=' (null for none, \"\" for an empty string)");
    if (rc == RN_OK)
        rc = add_mark(&q, k->path, q.ev.start_mark);
    if (rc == RN_OK)
        rc = parse_value(&q, k);
    if (rc == RN_OK)
        rc = next_event(&q, k->path); /* DOCUMENT_END */
    if (rc == RN_OK)
        rc = next_event(&q, k->path);
    if (rc == RN_OK && q.ev.type != YAML_STREAM_END_EVENT)
        rc = fail_mark(&q, q.ev.start_mark, k->path, "expected one value, got more");
    if (q.have_ev)
        yaml_event_delete(&q.ev);
    yaml_parser_delete(&q.yp);
    *marks_cap = q.marks_cap;
    return rc;
}

/* ---- defaults and checks across keys ------------------------------------ */

/* File name without directory and last extension. */
static char *source_stem(const char *source)
{
    const char *base = strrchr(source, '/');
    base = base ? base + 1 : source;
    const char *dot = strrchr(base, '.');
    size_t n = (dot && dot != base) ? (size_t)(dot - base) : strlen(base);
    return dup_mem(base, n);
}

static int set_defaults(struct experiment *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        switch (k->type) {
        case KT_STRING:
            if (k->sdef) {
                char *d = dup_str(k->sdef);
                if (!d)
                    return RN_ERR_NOMEM;
                set_string(cfg, k, d);
            }
            break;
        case KT_INT:
        case KT_BOOL:
        case KT_ENUM:
            set_int(cfg, k, k->idef);
            break;
        case KT_NUMBER:
            *(double *)slot_ptr(cfg, k) = k->ddef;
            break;
        case KT_SECTION:
        case KT_LAYERS:
            break;
        }
    }
    return RN_OK;
}

static int vfail_at(const struct experiment *cfg, const char *path, struct rn_err *err,
                    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static int vfail_at(const struct experiment *cfg, const char *path, struct rn_err *err,
                    const char *fmt, va_list ap)
{
    char what[900];
    vsnprintf(what, sizeof what, fmt, ap);
    const char *src = cfg->source ? cfg->source : "(config)";
    const struct cfg_mark *m = find_mark(cfg, path);
    if (m && m->override && m->override <= cfg->n_overrides)
        return rn_fail(err, RN_ERR_CONFIG, "override %zu (`%s`): %s: %s", m->override,
                       cfg->overrides[m->override - 1], path, what);
    if (m)
        return fail_loc(err, src, m->line, m->column, path, what);
    return rn_fail(err, RN_ERR_CONFIG, "%s: %s (default): %s", src, path, what);
}

int cfg_fail_at(const struct experiment *cfg, const char *path, struct rn_err *err,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_at(cfg, path, err, fmt, ap);
    va_end(ap);
    return rc;
}

static int check_layers(const struct experiment *cfg, struct rn_err *err)
{
    const struct cfg_model *m = &cfg->model;
    size_t dim = cfg_feature_dim(cfg), last = m->n_layers - 1;
    char path[64];
    /* dim 0 (npy): known once the files are read; the CLI checks it then. */
    if (dim != 0 && m->layers[0] != dim) {
        if (cfg->features.kind == CFG_FEAT_KMEANS)
            return cfg_fail_at(cfg, "model.layers[0]", err,
                               "expected %zu (the feature dimension of features.kind kmeans: "
                               "%d x features.kmeans.centroids = %d x %zu), got %zu",
                               dim, CFG_KMEANS_POOLS, CFG_KMEANS_POOLS,
                               cfg->features.kmeans.centroids, m->layers[0]);
        return cfg_fail_at(cfg, "model.layers[0]", err,
                           "expected %zu (the feature dimension of features.kind %s), got %zu",
                           dim, feature_names[cfg->features.kind], m->layers[0]);
    }
    if (m->layers[last] != CFG_NUM_CLASSES) {
        snprintf(path, sizeof path, "model.layers[%zu]", last);
        return cfg_fail_at(cfg, path, err, "expected %d (the number of classes), got %zu",
                           CFG_NUM_CLASSES, m->layers[last]);
    }
    size_t total = 0;
    bool overflow = false;
    for (size_t i = 0; i + 1 < m->n_layers && !overflow; i++) {
        size_t w;
        overflow = rn_mul_size(m->layers[i], m->layers[i + 1], &w) ||
                   rn_add_size(total, w, &total) ||
                   rn_add_size(total, m->layers[i + 1], &total);
    }
    if (overflow)
        return cfg_fail_at(cfg, "model.layers", err,
                           "expected at most %zu parameters in total, got more than %zu",
                           MAX_PARAMS, (size_t)SIZE_MAX);
    if (total > MAX_PARAMS)
        return cfg_fail_at(cfg, "model.layers", err,
                           "expected at most %zu parameters in total, got %zu", MAX_PARAMS,
                           total);
    return RN_OK;
}

/* The value of an enum or boolean key as spelled in a file ("npy", "true"). */
static const char *value_word(const struct experiment *cfg, const struct key_def *k)
{
    uint64_t v = get_int(cfg, k);
    if (k->type == KT_BOOL)
        return v ? "true" : "false";
    if (k->type == KT_ENUM)
        for (uint64_t i = 0; k->names[i]; i++)
            if (i == v)
                return k->names[i];
    return "";
}

static bool conds_hold(const struct experiment *cfg, const struct key_cond *c)
{
    for (; c->path; c++) {
        const struct key_def *k = key_by_path(c->path);
        if (!k || strcmp(value_word(cfg, k), c->value) != 0)
            return false;
    }
    return true;
}

/* Conditionally required strings: reported at the last condition's key (the
 * one that made the key necessary), naming the missing key. */
static int check_when(const struct experiment *cfg, struct rn_err *err)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        if (!k->when || *(char *const *)slot_cptr(cfg, k) || !conds_hold(cfg, k->when))
            continue;
        char because[300] = "";
        size_t n_conds = 0;
        for (const struct key_cond *c = k->when; c->path; c++, n_conds++) {
            size_t o = strlen(because);
            snprintf(because + o, sizeof because - o, "%s%s is %s", n_conds ? " and " : "",
                     c->path, c->value);
        }
        return cfg_fail_at(cfg, k->when[n_conds - 1].path, err,
                           "expected %s to be set when %s, got none", k->path, because);
    }
    return RN_OK;
}

static int check_features(const struct experiment *cfg, struct rn_err *err)
{
    const struct cfg_features *f = &cfg->features;
    const struct cfg_kmeans *km = &f->kmeans;
    if (km->centroids > km->patches) {
        if (find_mark(cfg, "features.kmeans.centroids"))
            return cfg_fail_at(cfg, "features.kmeans.centroids", err,
                               "expected at most features.kmeans.patches (%zu), got %zu",
                               km->patches, km->centroids);
        return cfg_fail_at(cfg, "features.kmeans.patches", err,
                           "expected at least features.kmeans.centroids (%zu), got %zu",
                           km->centroids, km->patches);
    }
    if (f->kind != CFG_FEAT_NPY)
        return RN_OK; /* features.npy is ignored */
    const struct cfg_npy *n = &f->npy;
    if (!n->augmented != !n->augmented_labels) {
        const char *given = n->augmented ? "features.npy.augmented"
                                         : "features.npy.augmented_labels";
        const char *other = n->augmented ? "features.npy.augmented_labels"
                                         : "features.npy.augmented";
        return cfg_fail_at(cfg, given, err,
                           "expected %s to be set too (both or neither), got none", other);
    }
    return check_when(cfg, err);
}

static int check_all(const struct experiment *cfg, struct rn_err *err)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].required && !find_mark(cfg, keys[i].path))
            return rn_fail(err, RN_ERR_CONFIG, "%s: %s: required key is missing", cfg->source,
                           keys[i].path);
    if (!find_mark(cfg, "name")) { /* the default, from the file name */
        const struct key_def *k = key_by_path("name");
        size_t chars = utf8_chars(cfg->name, strlen(cfg->name));
        if (chars < k->imin)
            return cfg_fail_at(cfg, "name", err,
                               "expected a non-empty name, and the file name gives none; "
                               "set name");
        if (chars > k->imax)
            return cfg_fail_at(cfg, "name", err,
                               "expected at most %llu characters, and the file name gives "
                               "%zu; set name",
                               (unsigned long long)k->imax, chars);
    }
    int rc = check_layers(cfg, err);
    if (rc)
        return rc;
    const struct cfg_augment *a = &cfg->augment;
    if (a->contrast_min > a->contrast_max) {
        if (find_mark(cfg, "augmentation.contrast.min"))
            return cfg_fail_at(cfg, "augmentation.contrast.min", err,
                               "expected at most augmentation.contrast.max (%g), got %g",
                               a->contrast_max, a->contrast_min);
        return cfg_fail_at(cfg, "augmentation.contrast.max", err,
                           "expected at least augmentation.contrast.min (%g), got %g",
                           a->contrast_min, a->contrast_max);
    }
    if (a->enabled && !a->rotation && !a->cutout && !a->crop && !a->contrast)
        return cfg_fail_at(cfg, "augmentation.enabled", err,
                           "expected at least one of rotation, cutout, crop, contrast to be "
                           "enabled, got none");
    const struct cfg_data *d = &cfg->data;
    if (d->train_limit > 0 && d->validation >= d->train_limit)
        return cfg_fail_at(cfg, "data.validation", err,
                           "expected fewer than data.train_limit (%zu) images, got %zu",
                           d->train_limit, d->validation);
    rc = check_features(cfg, err);
    if (rc)
        return rc;
    const struct cfg_training *t = &cfg->training;
    if (t->lr_min > t->learning_rate) /* lr_min is in the file: its default is 0 */
        return cfg_fail_at(cfg, "training.lr_min", err,
                           "expected at most training.learning_rate (%g), got %g",
                           t->learning_rate, t->lr_min);
    return RN_OK;
}

/* ---- public entry points ------------------------------------------------ */

void cfg_free(struct experiment *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].slot == SL_STR)
            free(*(char **)slot_ptr(cfg, &keys[i]));
    free(cfg->model.layers);
    for (size_t i = 0; i < cfg->n_marks; i++)
        free(cfg->marks[i].path);
    free(cfg->marks);
    for (size_t i = 0; i < cfg->n_overrides; i++)
        free(cfg->overrides[i]);
    free(cfg->overrides);
    for (size_t i = 0; i < cfg->n_sweep; i++) {
        free(cfg->sweep[i].path);
        for (size_t j = 0; j < cfg->sweep[i].n_values; j++)
            free(cfg->sweep[i].values[j]);
        free(cfg->sweep[i].values);
    }
    free(cfg->sweep);
    memset(cfg, 0, sizeof *cfg);
}

int cfg_load_string(const char *text, size_t len, const char *source, struct experiment *out,
                    struct rn_err *err)
{
    return cfg_load_string_ex(text, len, source, NULL, 0, out, err);
}

/* Keep copies of the overrides in cfg (messages and the run record use them). */
static int copy_overrides(struct experiment *cfg, const char *const *ov, size_t n)
{
    if (n == 0)
        return RN_OK;
    cfg->overrides = calloc(n, sizeof *cfg->overrides);
    if (!cfg->overrides)
        return RN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        cfg->overrides[i] = dup_str(ov[i]);
        if (!cfg->overrides[i])
            return RN_ERR_NOMEM;
        cfg->n_overrides++;
    }
    return RN_OK;
}

int cfg_load_string_ex(const char *text, size_t len, const char *source,
                       const char *const *overrides, size_t n_overrides,
                       struct experiment *out, struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    if (!source)
        source = "(string)";
    if (!text) {
        text = "";
        len = 0;
    }
    struct parser p = {.text = text, .len = len, .src = source, .cfg = out, .err = err};
    int rc = RN_OK;
    out->source = dup_str(source);
    out->name = source_stem(source);
    if (!out->source || !out->name || set_defaults(out) != RN_OK)
        rc = nomem(&p);
    if (rc == RN_OK)
        rc = parse_stream(&p);
    if (p.have_ev)
        yaml_event_delete(&p.ev);
    if (p.yp_ready)
        yaml_parser_delete(&p.yp);
    if (rc == RN_OK && copy_overrides(out, overrides, n_overrides) != RN_OK)
        rc = nomem(&p);
    for (size_t i = 0; rc == RN_OK && i < n_overrides; i++)
        rc = apply_override(out, i + 1, &p.marks_cap, err);
    if (rc == RN_OK)
        rc = check_all(out, err);
    if (rc != RN_OK)
        cfg_free(out);
    return rc;
}

int cfg_load_file(const char *path, struct experiment *out, struct rn_err *err)
{
    return cfg_load_file_ex(path, NULL, 0, out, err);
}

int cfg_load_file_ex(const char *path, const char *const *overrides, size_t n_overrides,
                     struct experiment *out, struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    int rc = fs_read_all(path, &text, &len, RN_ERR_CONFIG, err);
    if (rc)
        return rc;
    rc = cfg_load_string_ex(text, len, path, overrides, n_overrides, out, err);
    free(text);
    return rc;
}

size_t cfg_feature_dim(const struct experiment *cfg)
{
    switch (cfg->features.kind) {
    case CFG_FEAT_RAW: return CFG_RAW_DIM;
    case CFG_FEAT_KMEANS: return CFG_KMEANS_POOLS * cfg->features.kmeans.centroids;
    case CFG_FEAT_NPY: return 0;
    }
    return CFG_RAW_DIM;
}

double cfg_lr_at(const struct cfg_training *t, size_t epoch)
{
    double lr = t->learning_rate;
    size_t e = epoch ? epoch - 1 : 0; /* 0-based */
    switch (t->lr_schedule) {
    case CFG_LR_CONSTANT: return lr;
    case CFG_LR_STEP:
        if (t->lr_step_epochs == 0)
            return lr;
        return lr * pow(t->lr_gamma, (double)(e / t->lr_step_epochs));
    case CFG_LR_COSINE:
        if (t->epochs == 0)
            return lr;
        if (e >= t->epochs)
            e = t->epochs - 1;
        return t->lr_min +
               (lr - t->lr_min) * (1 + cos(PI * (double)e / (double)t->epochs)) / 2;
    }
    return lr;
}

bool cfg_find_mark(const struct experiment *cfg, const char *path, size_t *line,
                   size_t *column)
{
    const struct cfg_mark *m = find_mark(cfg, path);
    *line = m ? m->line : 0;
    *column = m ? m->column : 0;
    return m != NULL;
}

/* ---- JSON: resolved config and schema ------------------------------------ */

/* An integer as a JSON number; above 2^53 (seeds) as exact raw text. */
static cJSON *json_u64(uint64_t v)
{
    if (v <= JSON_EXACT_INT)
        return cJSON_CreateNumber((double)v);
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

/* Add item under `name`; frees item and returns false on failure. */
static bool put(cJSON *obj, const char *name, cJSON *item)
{
    if (!obj || !item || !cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* The object holding key k, reached from root through the sections of its
 * path; `via` names the member holding the children at each level
 * ("properties" in the schema, NULL in the config). */
static cJSON *parent_object(cJSON *root, const char *path, const char *via)
{
    cJSON *o = root;
    const char *s = path;
    for (;;) {
        if (via)
            o = cJSON_GetObjectItemCaseSensitive(o, via);
        const char *dot = strchr(s, '.');
        if (!dot || !o)
            return o;
        char seg[64];
        size_t n = (size_t)(dot - s);
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, s, n);
        seg[n] = '\0';
        o = cJSON_GetObjectItemCaseSensitive(o, seg);
        s = dot + 1;
    }
}

static cJSON *value_json(const struct experiment *cfg, const struct key_def *k)
{
    switch (k->type) {
    case KT_SECTION: return cJSON_CreateObject();
    case KT_STRING: {
        const char *s = *(char *const *)slot_cptr(cfg, k);
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    case KT_INT: return json_u64(get_int(cfg, k));
    case KT_NUMBER: return cJSON_CreateNumber(*(const double *)slot_cptr(cfg, k));
    case KT_BOOL: return cJSON_CreateBool(get_int(cfg, k) != 0);
    case KT_ENUM: {
        uint64_t i = get_int(cfg, k), n = 0;
        while (k->names[n])
            n++;
        return i < n ? cJSON_CreateString(k->names[i]) : cJSON_CreateNull();
    }
    case KT_LAYERS: {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; a && i < cfg->model.n_layers; i++) {
            cJSON *n = cJSON_CreateNumber((double)cfg->model.layers[i]);
            if (!n || !cJSON_AddItemToArray(a, n)) {
                cJSON_Delete(n);
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    }
    return NULL;
}

cJSON *cfg_to_json(const struct experiment *cfg)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; root && i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        cJSON *parent = parent_object(root, k->path, NULL);
        if (!put(parent, last_segment(k->path), value_json(cfg, k))) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

void cfg_hash(const struct experiment *cfg, char out[65])
{
    out[0] = '\0';
    cJSON *j = cfg_to_json(cfg);
    if (!j)
        return;
    /* What does not change the computed result stays out of the hash. */
    cJSON_DeleteItemFromObjectCaseSensitive(j, "name");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "output");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "threads");
    cJSON *feat = cJSON_GetObjectItemCaseSensitive(j, "features");
    if (feat) {
        cJSON_DeleteItemFromObjectCaseSensitive(feat, "cache");
        cJSON_DeleteItemFromObjectCaseSensitive(feat, "cache_dir");
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        return;
    sha256_hex(s, strlen(s), out);
    cJSON_free(s);
}

static cJSON *default_json(const struct key_def *k)
{
    switch (k->type) {
    case KT_STRING:
        if (k->nullable)
            return cJSON_CreateNull();
        return k->sdef ? cJSON_CreateString(k->sdef) : NULL;
    case KT_INT: return json_u64(k->idef);
    case KT_NUMBER: return cJSON_CreateNumber(k->ddef);
    case KT_BOOL: return cJSON_CreateBool(k->idef != 0);
    case KT_ENUM: return cJSON_CreateString(k->names[k->idef]);
    case KT_SECTION:
    case KT_LAYERS: return NULL;
    }
    return NULL;
}

static bool put_number(cJSON *o, const char *name, double v)
{
    return put(o, name, cJSON_CreateNumber(v));
}

/* The schema of one key (without its default). */
static cJSON *key_schema(const struct key_def *k)
{
    cJSON *s = cJSON_CreateObject();
    bool ok = put(s, "description", cJSON_CreateString(k->desc));
    switch (k->type) {
    case KT_SECTION:
        ok = ok && put(s, "type", cJSON_CreateString("object")) &&
             put(s, "additionalProperties", cJSON_CreateFalse()) &&
             put(s, "properties", cJSON_CreateObject());
        break;
    case KT_STRING: {
        const char *types[] = {"string", "null"};
        ok = ok &&
             put(s, "type", k->nullable ? cJSON_CreateStringArray(types, 2)
                                        : cJSON_CreateString("string")) &&
             put_number(s, "minLength", (double)k->imin) &&
             put_number(s, "maxLength", (double)k->imax);
        break;
    }
    case KT_INT:
        ok = ok && put(s, "type", cJSON_CreateString("integer")) &&
             put(s, "minimum", json_u64(k->imin)) && put(s, "maximum", json_u64(k->imax));
        break;
    case KT_NUMBER:
        ok = ok && put(s, "type", cJSON_CreateString("number")) &&
             put_number(s, k->min_excl ? "exclusiveMinimum" : "minimum", k->dmin) &&
             put_number(s, k->max_excl ? "exclusiveMaximum" : "maximum", k->dmax);
        break;
    case KT_BOOL:
        ok = ok && put(s, "type", cJSON_CreateString("boolean"));
        break;
    case KT_ENUM: {
        size_t n = 0;
        while (k->names[n])
            n++;
        ok = ok && put(s, "type", cJSON_CreateString("string")) &&
             put(s, "enum", cJSON_CreateStringArray(k->names, (int)n));
        break;
    }
    case KT_LAYERS: {
        cJSON *items = cJSON_CreateObject();
        ok = ok && put(s, "type", cJSON_CreateString("array")) &&
             put_number(s, "minItems", (double)k->min_items) && put(s, "items", items) &&
             put(items, "type", cJSON_CreateString("integer")) &&
             put(items, "minimum", json_u64(k->imin)) &&
             put(items, "maximum", json_u64(k->imax));
        break;
    }
    }
    cJSON *def = default_json(k);
    if (def)
        ok = ok && put(s, "default", def);
    if (!ok) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

/* Add `name` to o's "required" array unless it is there already. */
static bool require(cJSON *o, const char *name)
{
    cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "required");
    if (!req && !put(o, "required", req = cJSON_CreateArray()))
        return false;
    const cJSON *it;
    cJSON_ArrayForEach(it, req) {
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0)
            return true;
    }
    cJSON *s = cJSON_CreateString(name);
    if (!s || !cJSON_AddItemToArray(req, s)) {
        cJSON_Delete(s);
        return false;
    }
    return true;
}

/* Mark a required key and every section above it as required. */
static bool require_path(cJSON *root, const char *path)
{
    cJSON *o = root;
    const char *s = path;
    for (;;) {
        const char *dot = strchr(s, '.');
        char seg[64];
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n >= sizeof seg)
            return false;
        memcpy(seg, s, n);
        seg[n] = '\0';
        if (!require(o, seg))
            return false;
        if (!dot)
            return true;
        o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "properties"),
                                             seg);
        if (!o)
            return false;
        s = dot + 1;
    }
}

/* The schema object of `path` inside `o` (a schema of an object), creating
 * "properties" entries on the way and marking every segment required. */
static cJSON *schema_at(cJSON *o, const char *path)
{
    const char *s = path;
    for (;;) {
        const char *dot = strchr(s, '.');
        char seg[64];
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, s, n);
        seg[n] = '\0';
        cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
        if (!props && !put(o, "properties", props = cJSON_CreateObject()))
            return NULL;
        cJSON *child = cJSON_GetObjectItemCaseSensitive(props, seg);
        if (!child && !put(props, seg, child = cJSON_CreateObject()))
            return NULL;
        if (!require(o, seg))
            return NULL;
        if (!dot)
            return child;
        o = child;
        s = dot + 1;
    }
}

/* {"if": the conditions hold, "then": every key sharing `when` is a string}. */
static cJSON *conditional_schema(const struct key_cond *when)
{
    cJSON *rule = cJSON_CreateObject(), *if_ = cJSON_CreateObject(),
          *then = cJSON_CreateObject();
    bool ok = put(rule, "if", if_) && put(rule, "then", then);
    for (const struct key_cond *c = when; ok && c->path; c++) {
        const struct key_def *k = key_by_path(c->path);
        cJSON *leaf = schema_at(if_, c->path);
        ok = k && leaf &&
             put(leaf, "const", k->type == KT_BOOL ? cJSON_CreateBool(strcmp(c->value, "true") == 0)
                                                   : cJSON_CreateString(c->value));
    }
    for (size_t i = 0; ok && i < N_KEYS; i++) {
        if (keys[i].when != when)
            continue;
        cJSON *leaf = schema_at(then, keys[i].path);
        ok = leaf && put(leaf, "type", cJSON_CreateString("string"));
    }
    if (!ok) {
        cJSON_Delete(rule);
        return NULL;
    }
    return rule;
}

/* The sweep: section: dotted key paths of the table (not sections) mapped
 * to non-empty lists. */
static cJSON *sweep_schema(void)
{
    size_t cap = 8;
    for (size_t i = 0; i < N_KEYS; i++)
        cap += 2 * strlen(keys[i].path) + 1;
    char *pattern = malloc(cap);
    if (!pattern)
        return NULL;
    size_t o = 0;
    o += (size_t)snprintf(pattern, cap, "^(");
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].type == KT_SECTION)
            continue;
        if (pattern[o - 1] != '(')
            pattern[o++] = '|';
        for (const char *c = keys[i].path; *c; c++) {
            if (*c == '.')
                pattern[o++] = '\\';
            pattern[o++] = *c;
        }
    }
    snprintf(pattern + o, cap - o, ")$");
    /* every item is attached to s as soon as it is made (put frees it on
     * failure), so deleting s frees everything */
    cJSON *s = cJSON_CreateObject(), *pp = NULL, *list = NULL;
    bool ok = put(s, "description",
                  cJSON_CreateString(
                      "A sweep (runner -m FILE): each key is the dotted path of a key of this "
                      "file (such as training.learning_rate), each value a non-empty list of "
                      "values for it, checked like the key; the runs are the cartesian product, "
                      "first key varying slowest. Not part of any run's config or config "
                      "hash.")) &&
              put(s, "type", cJSON_CreateString("object")) &&
              put(s, "additionalProperties", cJSON_CreateFalse()) &&
              put(s, "minProperties", cJSON_CreateNumber(1)) &&
              put(s, "patternProperties", pp = cJSON_CreateObject()) &&
              put(pp, pattern, list = cJSON_CreateObject()) &&
              put(list, "type", cJSON_CreateString("array")) &&
              put(list, "minItems", cJSON_CreateNumber(1));
    free(pattern);
    if (!ok) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

cJSON *cfg_schema(void)
{
    cJSON *root = cJSON_CreateObject();
    const char *draft = "https://json-schema.org/draft/2020-12/schema";
    bool ok = put(root, "$schema", cJSON_CreateString(draft)) &&
              put(root, "title", cJSON_CreateString("runner experiment")) &&
              put(root, "description",
                  cJSON_CreateString("An experiment file for runner: one MLP trained on "
                                     "CIFAR-10. Generated from the key table in "
                                     "src/config/config.c (runner schema).")) &&
              put(root, "type", cJSON_CreateString("object")) &&
              put(root, "additionalProperties", cJSON_CreateFalse()) &&
              put(root, "properties", cJSON_CreateObject());
    for (size_t i = 0; ok && i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        ok = put(parent_object(root, k->path, "properties"), last_segment(k->path),
                 key_schema(k));
    }
    for (size_t i = 0; ok && i < N_KEYS; i++)
        if (keys[i].required)
            ok = require_path(root, keys[i].path);
    if (ok)
        ok = put(cJSON_GetObjectItemCaseSensitive(root, "properties"), "sweep", sweep_schema());
    /* Conditional requirements, one if/then per distinct condition list. */
    cJSON *all_of = NULL;
    for (size_t i = 0; ok && i < N_KEYS; i++) {
        const struct key_cond *w = keys[i].when;
        bool first = w != NULL;
        for (size_t j = 0; first && j < i; j++)
            first = keys[j].when != w;
        if (!first)
            continue;
        if (!all_of)
            ok = put(root, "allOf", all_of = cJSON_CreateArray());
        cJSON *rule = ok ? conditional_schema(w) : NULL;
        ok = rule && cJSON_AddItemToArray(all_of, rule);
        if (!ok)
            cJSON_Delete(rule);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

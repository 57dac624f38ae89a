/* Tests for config: valid files and defaults, the shipped experiments, every
 * class of error (code, FILE:LINE:COL and key path), the resolved JSON and
 * hash, and the schema file kept in step with the key table. */
#include "runner/config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* The minimal valid model section, appended to most snippets. */
#define LAYERS "model:\n  layers: [3072, 10]\n"

static const char *source_dir(void)
{
    const char *d = getenv("RUNNER_SOURCE_DIR");
    return d && *d ? d : ".";
}

static int load(const char *yaml, struct experiment *c, struct rn_err *e)
{
    return cfg_load_string(yaml, strlen(yaml), "dir/t.yaml", c, e);
}

static bool all_zero(const struct experiment *c)
{
    const unsigned char *p = (const unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        if (p[i])
            return false;
    return true;
}

/* Parse `len` bytes that must fail with RN_ERR_CONFIG and a message holding
 * every fragment; the struct must come back zeroed. */
static void expect_fail_n(int line, const char *yaml, size_t len, const char *const *frags)
{
    struct experiment c;
    struct rn_err e = {0};
    int rc = cfg_load_string(yaml, len, "dir/t.yaml", &c, &e);
    CHECK_MSG(rc == RN_ERR_CONFIG, "line %d: rc = %d (%s)", line, rc, e.msg);
    CHECK_MSG(all_zero(&c), "line %d: struct not zeroed on error", line);
    for (size_t i = 0; frags[i]; i++)
        CHECK_MSG(strstr(e.msg, frags[i]) != NULL, "line %d: \"%s\" lacks \"%s\"", line, e.msg,
                  frags[i]);
    cfg_free(&c);
}

#define EXPECT_FAIL(yaml, ...) \
    expect_fail_n(__LINE__, (yaml), strlen(yaml), (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_FAIL_N(yaml, len, ...) \
    expect_fail_n(__LINE__, (yaml), (len), (const char *const[]){__VA_ARGS__, NULL})

static void expect_ok(int line, const char *yaml)
{
    struct experiment c;
    struct rn_err e = {0};
    int rc = load(yaml, &c, &e);
    CHECK_MSG(rc == RN_OK, "line %d: %s", line, e.msg);
    cfg_free(&c);
}

#define EXPECT_OK(yaml) expect_ok(__LINE__, (yaml))

static void test_full_file(void)
{
    const char *yaml =
        "# every key, none at its default\n"
        "name: full run\n"
        "seed: 9223372036854775807\n"
        "data:\n"
        "  dir: /tmp/cifar\n"
        "  validation: 100\n"
        "  train_limit: 1000\n"
        "  test_limit: 500\n"
        "features:\n"
        "  kind: kmeans\n"
        "  standardize: false\n"
        "  cache: no\n"
        "  cache_dir: /tmp/fc\n"
        "  kmeans:\n"
        "    centroids: 128\n"
        "    patch_size: 8\n"
        "    stride: 2\n"
        "    patches: 5000\n"
        "    iterations: 10\n"
        "    norm_epsilon: 5\n"
        "    zca_epsilon: 0.01\n"
        "    encoder: soft_threshold\n"
        "    alpha: 0.5\n"
        "  npy: {train: a.npy, train_labels: al.npy, test: b.npy, test_labels: bl.npy,\n"
        "        augmented: c.npy, augmented_labels: cl.npy}\n"
        "augmentation:\n"
        "  enabled: yes\n"
        "  copies: 3\n"
        "  rotation: {enabled: Off, max_degrees: 12.5}\n"
        "  cutout:\n"
        "    enabled: TRUE\n"
        "    max_size: 8\n"
        "    fill: 255\n"
        "  crop:\n"
        "    enabled: no\n"
        "    padding: 4\n"
        "  contrast:\n"
        "    enabled: on\n"
        "    min: 0.25\n"
        "    max: 4\n"
        "    flip_probability: 1\n"
        "model:\n"
        "  layers:\n"
        "    - 512\n"
        "    - 128\n"
        "    - 32\n"
        "    - 10\n"
        "  activation: tanh\n"
        "training:\n"
        "  epochs: 7\n"
        "  batch_size: 32\n"
        "  learning_rate: 1e-3\n"
        "  lr_schedule: cosine\n"
        "  lr_step_epochs: 10\n"
        "  lr_gamma: 0.5\n"
        "  lr_min: 1e-4\n"
        "  momentum: 0.9\n"
        "  weight_decay: .0005\n"
        "  dropout_input: 0.2\n"
        "  dropout_hidden: 0.5\n"
        "  shuffle: false\n"
        "output:\n"
        "  dir: out\n"
        "  database: 'out/r.db'\n";
    struct experiment c;
    struct rn_err e = {0};
    int rc = load(yaml, &c, &e);
    CHECK_MSG(rc == RN_OK, "%s", e.msg);
    if (rc)
        return;
    CHECK(strcmp(c.source, "dir/t.yaml") == 0);
    CHECK(strcmp(c.name, "full run") == 0);
    CHECK(c.seed == (uint64_t)INT64_MAX);
    CHECK(strcmp(c.data.dir, "/tmp/cifar") == 0);
    CHECK(c.data.validation == 100 && c.data.train_limit == 1000 && c.data.test_limit == 500);
    CHECK(c.features.kind == CFG_FEAT_KMEANS);
    CHECK(!c.features.standardize && !c.features.cache);
    CHECK(strcmp(c.features.cache_dir, "/tmp/fc") == 0);
    const struct cfg_kmeans *km = &c.features.kmeans;
    CHECK(km->centroids == 128 && km->patch_size == 8 && km->stride == 2);
    CHECK(km->patches == 5000 && km->iterations == 10);
    CHECK(km->norm_epsilon == 5 && km->zca_epsilon == 0.01 && km->alpha == 0.5);
    CHECK(km->encoder == CFG_ENC_SOFT_THRESHOLD);
    const struct cfg_npy *np = &c.features.npy;
    CHECK(strcmp(np->train, "a.npy") == 0 && strcmp(np->train_labels, "al.npy") == 0);
    CHECK(strcmp(np->test, "b.npy") == 0 && strcmp(np->test_labels, "bl.npy") == 0);
    CHECK(strcmp(np->augmented, "c.npy") == 0 && strcmp(np->augmented_labels, "cl.npy") == 0);
    CHECK(c.augment.enabled && c.augment.copies == 3);
    CHECK(!c.augment.rotation && c.augment.max_degrees == 12.5);
    CHECK(c.augment.cutout && c.augment.cutout_max == 8 && c.augment.cutout_fill == 255);
    CHECK(!c.augment.crop && c.augment.crop_padding == 4);
    CHECK(c.augment.contrast && c.augment.contrast_min == 0.25 && c.augment.contrast_max == 4);
    CHECK(c.augment.flip_prob == 1);
    CHECK(c.model.n_layers == 4);
    CHECK(c.model.layers[0] == 512 && c.model.layers[1] == 128 && c.model.layers[2] == 32 &&
          c.model.layers[3] == 10);
    CHECK(c.model.activation == CFG_ACT_TANH);
    CHECK(c.training.epochs == 7 && c.training.batch_size == 32);
    CHECK(c.training.learning_rate == 1e-3 && c.training.momentum == 0.9);
    CHECK(c.training.weight_decay == 0.0005 && !c.training.shuffle);
    CHECK(c.training.lr_schedule == CFG_LR_COSINE && c.training.lr_step_epochs == 10);
    CHECK(c.training.lr_gamma == 0.5 && c.training.lr_min == 1e-4);
    CHECK(c.training.dropout_input == 0.2 && c.training.dropout_hidden == 0.5);
    CHECK(strcmp(c.output.dir, "out") == 0 && strcmp(c.output.database, "out/r.db") == 0);
    CHECK(cfg_feature_dim(&c) == 512);

    size_t line = 99, col = 99;
    CHECK(cfg_find_mark(&c, "name", &line, &col) && line == 2 && col == 1);
    CHECK(cfg_find_mark(&c, "training.batch_size", &line, &col) && line == 51 && col == 3);
    CHECK(cfg_find_mark(&c, "augmentation.rotation.max_degrees", &line, &col) && line == 29 &&
          col == 28);
    CHECK(cfg_find_mark(&c, "model.layers[2]", &line, &col) && line == 46 && col == 7);
    CHECK(cfg_find_mark(&c, "augmentation", &line, &col) && line == 26 && col == 1);
    CHECK(cfg_find_mark(&c, "features.kmeans.encoder", &line, &col) && line == 22 && col == 5);
    CHECK(cfg_find_mark(&c, "features.npy.augmented_labels", &line, &col) && line == 25 &&
          col == 27);
    CHECK(cfg_find_mark(&c, "training.dropout_hidden", &line, &col) && line == 60 && col == 3);
    CHECK(!cfg_find_mark(&c, "model.layers[4]", &line, &col) && line == 0 && col == 0);

    rc = cfg_fail_at(&c, "training.batch_size", &e, "larger than the %d images", 20);
    CHECK(rc == RN_ERR_CONFIG && e.code == RN_ERR_CONFIG);
    CHECK(strcmp(e.msg, "dir/t.yaml:51:3: training.batch_size: larger than the 20 images") ==
          0);
    cfg_free(&c);
    CHECK(all_zero(&c));
}

static void test_defaults(void)
{
    struct experiment c;
    struct rn_err e = {0};
    int rc = load(LAYERS, &c, &e);
    CHECK_MSG(rc == RN_OK, "%s", e.msg);
    if (rc)
        return;
    CHECK(strcmp(c.name, "t") == 0);
    CHECK(c.seed == 1);
    CHECK(strcmp(c.data.dir, "data/cifar-10-batches-bin") == 0);
    CHECK(c.data.validation == 0 && c.data.train_limit == 0 && c.data.test_limit == 0);
    CHECK(c.features.kind == CFG_FEAT_RAW && cfg_feature_dim(&c) == 3072);
    CHECK(c.features.standardize && c.features.cache);
    CHECK(strcmp(c.features.cache_dir, "cache") == 0);
    const struct cfg_kmeans *km = &c.features.kmeans;
    CHECK(km->centroids == 1600 && km->patch_size == 6 && km->stride == 1);
    CHECK(km->patches == 400000 && km->iterations == 50);
    CHECK(km->norm_epsilon == 10 && km->zca_epsilon == 0.1);
    CHECK(km->encoder == CFG_ENC_TRIANGLE && km->alpha == 0.25);
    const struct cfg_npy *np = &c.features.npy;
    CHECK(!np->train && !np->train_labels && !np->test && !np->test_labels);
    CHECK(!np->augmented && !np->augmented_labels);
    CHECK(!c.augment.enabled && c.augment.copies == 1);
    CHECK(c.augment.rotation && c.augment.max_degrees == 180);
    CHECK(c.augment.cutout && c.augment.cutout_max == 16 && c.augment.cutout_fill == 0);
    CHECK(c.augment.crop && c.augment.crop_padding == 2);
    CHECK(c.augment.contrast && c.augment.contrast_min == 0.5 && c.augment.contrast_max == 2.0);
    CHECK(c.augment.flip_prob == 0.5);
    CHECK(c.model.n_layers == 2 && c.model.layers[0] == 3072 && c.model.layers[1] == 10);
    CHECK(c.model.activation == CFG_ACT_RELU);
    CHECK(c.training.epochs == 120 && c.training.batch_size == 64);
    CHECK(c.training.learning_rate == 0.01 && c.training.momentum == 0);
    CHECK(c.training.weight_decay == 0 && c.training.shuffle);
    CHECK(c.training.lr_schedule == CFG_LR_CONSTANT && c.training.lr_step_epochs == 30);
    CHECK(c.training.lr_gamma == 0.1 && c.training.lr_min == 0);
    CHECK(c.training.dropout_input == 0 && c.training.dropout_hidden == 0);
    CHECK(strcmp(c.output.dir, "results") == 0);
    CHECK(strcmp(c.output.database, "results/results.db") == 0);
    CHECK(c.n_marks == 4); /* model, model.layers, and its two items */

    size_t line = 5, col = 5;
    CHECK(!cfg_find_mark(&c, "seed", &line, &col) && line == 0 && col == 0);
    rc = cfg_fail_at(&c, "training.batch_size", &e, "too big");
    CHECK(rc == RN_ERR_CONFIG);
    CHECK(strcmp(e.msg, "dir/t.yaml: training.batch_size (default): too big") == 0);
    cfg_free(&c);

    /* The name comes from the source's file name, without extension. */
    const char *names[][2] = {{"a/b/run-1.yaml", "run-1"}, {"x.y.yml", "x.y"},
                              {"plain", "plain"}, {".hidden", ".hidden"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        rc = cfg_load_string(LAYERS, strlen(LAYERS), names[i][0], &c, &e);
        CHECK_MSG(rc == RN_OK && strcmp(c.name, names[i][1]) == 0, "%s -> %s (%s)",
                  names[i][0], c.name ? c.name : "(null)", e.msg);
        cfg_free(&c);
    }
    rc = cfg_load_string(LAYERS, strlen(LAYERS), "dir/", &c, &e);
    CHECK(rc == RN_ERR_CONFIG && all_zero(&c));
    CHECK_STR_CONTAINS(e.msg, "dir/: name (default): expected a non-empty name");
    cfg_free(&c);

    /* cfg_free is safe on a zeroed struct and twice. */
    memset(&c, 0, sizeof c);
    cfg_free(&c);
    cfg_free(&c);
}

static void load_experiment(const char *file, struct experiment *c)
{
    char path[4096];
    struct rn_err e = {0};
    snprintf(path, sizeof path, "%s/experiments/%s", source_dir(), file);
    int rc = cfg_load_file(path, c, &e);
    CHECK_MSG(rc == RN_OK, "%s: %s", path, e.msg);
}

static bool experiment_exists(const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/experiments/%s", source_dir(), file);
    return access(path, R_OK) == 0;
}

/* An original/augmented pair: named after their files, augmentation off and
 * on, and nothing outside the augmentation section differs (equal resolved
 * configs once name and augmentation match). The experiments are loaded
 * into o and a. */
static bool check_pair(const char *orig, const char *aug, struct experiment *o,
                       struct experiment *a)
{
    load_experiment(orig, o);
    load_experiment(aug, a);
    if (!o->name || !a->name) {
        cfg_free(o);
        cfg_free(a);
        return false;
    }
    CHECK_MSG(strncmp(o->name, orig, strlen(o->name)) == 0 &&
                  strcmp(orig + strlen(o->name), ".yaml") == 0,
              "%s: name %s", orig, o->name);
    CHECK_MSG(strncmp(a->name, aug, strlen(a->name)) == 0 &&
                  strcmp(aug + strlen(a->name), ".yaml") == 0,
              "%s: name %s", aug, a->name);
    CHECK_MSG(!o->augment.enabled && a->augment.enabled, "%s, %s: augmentation", orig, aug);
    cJSON *jo = cfg_to_json(o), *ja = cfg_to_json(a);
    CHECK(jo && ja);
    if (jo && ja) {
        cJSON_ReplaceItemInObject(jo, "name", cJSON_CreateString("x"));
        cJSON_ReplaceItemInObject(ja, "name", cJSON_CreateString("x"));
        cJSON_ReplaceItemInObject(jo, "augmentation", cJSON_CreateNull());
        cJSON_ReplaceItemInObject(ja, "augmentation", cJSON_CreateNull());
        CHECK_MSG(cJSON_Compare(jo, ja, 1), "%s and %s differ in more than name and "
                  "augmentation", orig, aug);
    }
    cJSON_Delete(jo);
    cJSON_Delete(ja);
    char ho[65], ha[65];
    cfg_hash(o, ho);
    cfg_hash(a, ha);
    CHECK(strlen(ho) == 64 && strcmp(ho, ha) != 0);
    return true;
}

static void test_experiments(void)
{
    /* Every shipped experiment parses. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/experiments", source_dir());
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    size_t n_files = 0;
    for (struct dirent *ent; d && (ent = readdir(d)) != NULL;) {
        size_t n = strlen(ent->d_name);
        if (n < 6 || strcmp(ent->d_name + n - 5, ".yaml") != 0)
            continue;
        struct experiment c;
        load_experiment(ent->d_name, &c);
        cfg_free(&c);
        n_files++;
    }
    if (d)
        closedir(d);
    CHECK(n_files >= 2);

    struct experiment o, a;
    if (check_pair("original.yaml", "augmented.yaml", &o, &a)) {
        cfg_free(&o);
        cfg_free(&a);
    }
    /* The report's setup on raw pixels. */
    if (check_pair("raw-original.yaml", "raw-augmented.yaml", &o, &a)) {
        const struct experiment *raw[] = {&o, &a};
        for (size_t i = 0; i < 2; i++) {
            const struct experiment *c = raw[i];
            CHECK(c->features.kind == CFG_FEAT_RAW);
            CHECK(c->model.n_layers == 3 && c->model.layers[0] == 3072 &&
                  c->model.layers[1] == 64 && c->model.layers[2] == 10);
            CHECK(c->model.activation == CFG_ACT_RELU);
            CHECK(c->training.learning_rate == 0.01 && c->training.epochs == 120);
            CHECK(c->training.momentum == 0 && c->training.lr_schedule == CFG_LR_CONSTANT);
        }
        CHECK(!o.augment.enabled && a.augment.enabled);
        cfg_free(&o);
        cfg_free(&a);
    }
    /* The report's exact network on 512-d k-means features (K = 128), plain
     * SGD with a constant rate, once the stock files are there. */
    if (!experiment_exists("report-original.yaml") &&
        !experiment_exists("report-augmented.yaml"))
        return;
    if (!check_pair("report-original.yaml", "report-augmented.yaml", &o, &a))
        return;
    const struct experiment *both[] = {&o, &a};
    for (size_t i = 0; i < 2; i++) {
        const struct experiment *c = both[i];
        CHECK(c->features.kind == CFG_FEAT_KMEANS && c->features.kmeans.centroids == 128);
        CHECK(cfg_feature_dim(c) == 512);
        CHECK(c->model.n_layers == 3 && c->model.layers[0] == 512 &&
              c->model.layers[1] == 64 && c->model.layers[2] == 10);
        CHECK(c->model.activation == CFG_ACT_RELU);
        CHECK(c->training.learning_rate == 0.01 && c->training.epochs == 120);
        CHECK(c->training.lr_schedule == CFG_LR_CONSTANT && c->training.momentum == 0);
        CHECK(c->training.weight_decay == 0 && c->training.dropout_input == 0 &&
              c->training.dropout_hidden == 0);
        CHECK(c->augment.copies == 1);
    }
    /* report-augmented: each image's mirror image (contrast factor 1, always
     * flipped, no other transform). */
    CHECK(!a.augment.rotation && !a.augment.cutout && !a.augment.crop && a.augment.contrast &&
          a.augment.contrast_min == 1.0 && a.augment.contrast_max == 1.0 &&
          a.augment.flip_prob == 1.0);
    cfg_free(&o);
    cfg_free(&a);
    /* report-transforms: the same run with the report's four transforms and
     * parameters. */
    if (!check_pair("report-original.yaml", "report-transforms.yaml", &o, &a))
        return;
    CHECK(a.augment.copies == 1 && a.augment.rotation && a.augment.max_degrees == 180 &&
          a.augment.cutout && a.augment.cutout_max == 16 && a.augment.crop &&
          a.augment.crop_padding == 2 && a.augment.contrast && a.augment.contrast_min == 0.5 &&
          a.augment.contrast_max == 2.0 && a.augment.flip_prob == 0.5);
    cfg_free(&o);
    cfg_free(&a);
}

static void test_unknown_keys(void)
{
    EXPECT_FAIL(LAYERS "seeed: 1\n", "dir/t.yaml:3:1: seeed: unknown key",
                "valid keys at the top level: name, seed, threads, data, features, augmentation, model, "
                "training, output");
    EXPECT_FAIL(LAYERS "training:\n  epoch: 5\n", "dir/t.yaml:4:3: training.epoch: unknown key",
                "valid keys in training: epochs, batch_size, learning_rate, lr_schedule, "
                "lr_step_epochs, lr_gamma, lr_min, momentum, weight_decay, dropout_input, "
                "dropout_hidden, shuffle");
    EXPECT_FAIL(LAYERS "features: {dim: 5}\n", "dir/t.yaml:3:12: features.dim: unknown key",
                "valid keys in features: kind, standardize, cache, cache_dir, kmeans, npy");
    EXPECT_FAIL(LAYERS "features: {kmeans: {k: 5}}\n",
                "dir/t.yaml:3:21: features.kmeans.k: unknown key",
                "valid keys in features.kmeans: centroids, patch_size, stride, patches, "
                "iterations, norm_epsilon, zca_epsilon, encoder, alpha");
    EXPECT_FAIL(LAYERS "features:\n  npy:\n    labels: y.npy\n",
                "dir/t.yaml:5:5: features.npy.labels: unknown key",
                "valid keys in features.npy: train, train_labels, test, test_labels, "
                "augmented, augmented_labels");
    EXPECT_FAIL(LAYERS "augmentation:\n  rotation:\n    degrees: 5\n",
                "dir/t.yaml:5:5: augmentation.rotation.degrees: unknown key",
                "valid keys in augmentation.rotation: enabled, max_degrees");
    /* Keys are case-sensitive; a quoted unknown key is still unknown. */
    EXPECT_FAIL(LAYERS "Seed: 1\n", "dir/t.yaml:3:1: Seed: unknown key");
    EXPECT_FAIL(LAYERS "\"<<\": 1\n", "dir/t.yaml:3:1: <<: unknown key");
    EXPECT_FAIL(LAYERS "? [a]\n: 1\n", "dir/t.yaml:3:3: expected a key name, got a list");
}

static void test_integers(void)
{
    EXPECT_FAIL(LAYERS "training:\n  epochs: abc\n",
                "dir/t.yaml:4:11: training.epochs: expected an integer, got \"abc\"");
    EXPECT_FAIL(LAYERS "training:\n  epochs: \"5\"\n",
                "dir/t.yaml:4:11: training.epochs: expected an integer, got the quoted string "
                "\"5\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 1.5}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer, got \"1.5\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 0x10}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer, got \"0x10\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 10abc}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer, got \"10abc\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 1e3}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer, got \"1e3\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 1_000}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer, got \"1_000\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 010}\n",
                "dir/t.yaml:3:20: training.epochs: expected a decimal integer without leading "
                "zeros, got \"010\"");
    EXPECT_FAIL(LAYERS "training: {epochs: 0}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer in [1, 100000], got 0");
    EXPECT_FAIL(LAYERS "training: {epochs: -3}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer in [1, 100000], got -3");
    EXPECT_FAIL(LAYERS "training: {batch_size: 65537}\n",
                "dir/t.yaml:3:24: training.batch_size: expected an integer in [1, 65536], got "
                "65537");
    EXPECT_FAIL(LAYERS "seed: 9223372036854775808\n",
                "dir/t.yaml:3:7: seed: expected an integer in [0, 9223372036854775807], got "
                "9223372036854775808");
    EXPECT_FAIL(LAYERS "seed: 99999999999999999999999\n",
                "dir/t.yaml:3:7: seed: expected an integer in [0, 9223372036854775807], got "
                "99999999999999999999999");
    EXPECT_FAIL(LAYERS "seed: -99999999999999999999999\n",
                "dir/t.yaml:3:7: seed: expected an integer in [0, 9223372036854775807], got "
                "-99999999999999999999999");
    EXPECT_FAIL(LAYERS "augmentation: {cutout: {fill: 256}}\n",
                "dir/t.yaml:3:31: augmentation.cutout.fill: expected an integer in [0, 255], "
                "got 256");
    EXPECT_FAIL(LAYERS "augmentation: {copies: 17}\n",
                "dir/t.yaml:3:24: augmentation.copies: expected an integer in [1, 16], got 17");
    EXPECT_FAIL(LAYERS "data: {validation: 50000}\n",
                "dir/t.yaml:3:20: data.validation: expected an integer in [0, 49999], got "
                "50000");
    EXPECT_FAIL(LAYERS "data: {test_limit: 10001}\n",
                "dir/t.yaml:3:20: data.test_limit: expected an integer in [0, 10000], got "
                "10001");
    EXPECT_OK(LAYERS "seed: +7\n");
    EXPECT_OK(LAYERS "seed: 0\n");
    EXPECT_OK(LAYERS "seed: -0\n");
}

static void test_numbers(void)
{
    EXPECT_FAIL(LAYERS "training: {learning_rate: .nan}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got .nan");
    EXPECT_FAIL(LAYERS "training: {learning_rate: .NaN}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got .NaN");
    EXPECT_FAIL(LAYERS "training: {learning_rate: .inf}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got .inf");
    EXPECT_FAIL(LAYERS "training: {learning_rate: -.Inf}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got -.Inf");
    EXPECT_FAIL(LAYERS "training: {learning_rate: nan}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got nan");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 1e400}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got 1e400 "
                "(too large for a double)");
    EXPECT_FAIL(LAYERS "training: {learning_rate: -1e400}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a finite number, got "
                "-1e400 (too large for a double)");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 0}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number in (0, 10], got 0");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 1e-400}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number in (0, 10], got "
                "1e-400");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 10.5}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number in (0, 10], got "
                "10.5");
    EXPECT_FAIL(LAYERS "training: {momentum: 1}\n",
                "dir/t.yaml:3:22: training.momentum: expected a number in [0, 1), got 1");
    EXPECT_FAIL(LAYERS "training: {weight_decay: -0.1}\n",
                "dir/t.yaml:3:26: training.weight_decay: expected a number in [0, 1), got "
                "-0.1");
    EXPECT_FAIL(LAYERS "augmentation: {rotation: {max_degrees: 181}}\n",
                "dir/t.yaml:3:40: augmentation.rotation.max_degrees: expected a number in [0, "
                "180], got 181");
    EXPECT_FAIL(LAYERS "augmentation: {contrast: {min: 0}}\n",
                "dir/t.yaml:3:32: augmentation.contrast.min: expected a number in (0, 10], "
                "got 0");
    EXPECT_FAIL(LAYERS "augmentation: {contrast: {flip_probability: 1.01}}\n",
                "dir/t.yaml:3:45: augmentation.contrast.flip_probability: expected a number "
                "in [0, 1], got 1.01");
    EXPECT_FAIL(LAYERS "training: {learning_rate: \"0.1\"}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number, got the quoted "
                "string \"0.1\"");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 0x1p-3}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number, got \"0x1p-3\"");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 1e}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number, got \"1e\"");
    EXPECT_FAIL(LAYERS "training: {learning_rate: 0.1.2}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number, got \"0.1.2\"");
    EXPECT_FAIL(LAYERS "training: {learning_rate: fast}\n",
                "dir/t.yaml:3:27: training.learning_rate: expected a number, got \"fast\"");
    EXPECT_OK(LAYERS "training: {learning_rate: 10, momentum: .5, weight_decay: 0.}\n");
    EXPECT_OK(LAYERS "training: {learning_rate: +1E-2}\n");

    /* No negative zero in the resolved config. */
    struct experiment c;
    struct rn_err e = {0};
    CHECK(load(LAYERS "training: {momentum: -0.0}\n", &c, &e) == RN_OK);
    CHECK(c.training.momentum == 0 && !signbit(c.training.momentum));
    cfg_free(&c);
}

static void test_bools_enums_strings(void)
{
    EXPECT_FAIL(LAYERS "training: {shuffle: maybe}\n",
                "dir/t.yaml:3:21: training.shuffle: expected a boolean (true or false), got "
                "\"maybe\"");
    EXPECT_FAIL(LAYERS "training: {shuffle: \"true\"}\n",
                "dir/t.yaml:3:21: training.shuffle: expected a boolean (true or false), got "
                "the quoted string \"true\"");
    EXPECT_FAIL(LAYERS "training: {shuffle: 1}\n",
                "dir/t.yaml:3:21: training.shuffle: expected a boolean (true or false), got "
                "\"1\"");
    EXPECT_OK(LAYERS "training: {shuffle: YES}\naugmentation: {enabled: On}\n");
    EXPECT_OK(LAYERS "training: {shuffle: False}\naugmentation: {enabled: OFF}\n");

    EXPECT_FAIL("model:\n  layers: [3072, 10]\n  activation: gelu\n",
                "dir/t.yaml:3:15: model.activation: expected one of \"relu\", \"tanh\", "
                "\"sigmoid\", got \"gelu\"");
    EXPECT_FAIL("model:\n  layers: [3072, 10]\n  activation: ReLU\n",
                "dir/t.yaml:3:15: model.activation: expected one of \"relu\", \"tanh\", "
                "\"sigmoid\", got \"ReLU\"");
    EXPECT_FAIL(LAYERS "features: {kind: pca}\n",
                "dir/t.yaml:3:18: features.kind: expected one of \"raw\", \"kmeans\", \"npy\", "
                "got \"pca\"");
    EXPECT_OK("model: {layers: [3072, 10], activation: \"sigmoid\"}\n");

    EXPECT_FAIL(LAYERS "name: 123\n",
                "dir/t.yaml:3:7: name: expected a string, got 123 (quote it to make it a "
                "string)");
    EXPECT_FAIL(LAYERS "name: true\n",
                "dir/t.yaml:3:7: name: expected a string, got true (quote it to make it a "
                "string)");
    EXPECT_FAIL(LAYERS "name: 1.5e3\n",
                "dir/t.yaml:3:7: name: expected a string, got 1.5e3 (quote it to make it a "
                "string)");
    EXPECT_FAIL(LAYERS "name: 0x1F\n",
                "dir/t.yaml:3:7: name: expected a string, got 0x1F (quote it to make it a "
                "string)");
    EXPECT_FAIL(LAYERS "name: \"\"\n", "dir/t.yaml:3:7: name: expected a non-empty string");
    EXPECT_FAIL(LAYERS "name: \"a\\0b\"\n",
                "dir/t.yaml:3:7: name: expected a string without NUL characters, got one "
                "containing \\0");
    EXPECT_FAIL(LAYERS "name: [a]\n",
                "dir/t.yaml:3:7: name: expected a string, got a list");
    EXPECT_FAIL(LAYERS "output: {dir: ''}\n",
                "dir/t.yaml:3:15: output.dir: expected a non-empty string, got \"\"");
    EXPECT_OK(LAYERS "name: \"123\"\n");
    EXPECT_OK(LAYERS "name: run 7, lr=0.1\n");
    EXPECT_OK(LAYERS "name: café\n");

    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%sname: %0200d\n", LAYERS, 0);
    yaml[strlen(LAYERS) + 6] = 'x'; /* 200 characters, not a number */
    EXPECT_OK(yaml);
    snprintf(yaml, sizeof yaml, "%sname: x%0200d\n", LAYERS, 0);
    EXPECT_FAIL(yaml,
                "dir/t.yaml:3:7: name: expected a string of at most 200 characters, got 201 "
                "characters");
    /* 200 two-byte characters are 200 characters, not 400. */
    size_t o = (size_t)snprintf(yaml, sizeof yaml, "%sname: ", LAYERS);
    for (int i = 0; i < 200; i++, o += 2)
        memcpy(yaml + o, "\xC3\xA9", 2);
    yaml[o] = '\0';
    EXPECT_OK(yaml);
}

static void test_nulls_and_nesting(void)
{
    EXPECT_FAIL(LAYERS "seed:\n", "dir/t.yaml:3:6: seed: expected an integer, got null");
    EXPECT_FAIL(LAYERS "seed: ~\n",
                "dir/t.yaml:3:7: seed: expected an integer, got null");
    EXPECT_FAIL(LAYERS "name: null\n",
                "dir/t.yaml:3:7: name: expected a string, got null");
    EXPECT_FAIL(LAYERS "training: {shuffle: NULL}\n",
                "dir/t.yaml:3:21: training.shuffle: expected a boolean (true or false), got "
                "null");
    EXPECT_FAIL(LAYERS "data:\n", "dir/t.yaml:3:6: data: expected a mapping, got null");
    EXPECT_FAIL("model:\n  layers:\n",
                "dir/t.yaml:2:10: model.layers: expected a list of integers, got null");
    EXPECT_FAIL(LAYERS "seed:\n  value: 3\n",
                "dir/t.yaml:4:3: seed: expected an integer, got a mapping");
    EXPECT_FAIL(LAYERS "training: 5\n",
                "dir/t.yaml:3:11: training: expected a mapping, got \"5\"");
    EXPECT_FAIL(LAYERS "augmentation: true\n",
                "dir/t.yaml:3:15: augmentation: expected a mapping, got \"true\"");
    EXPECT_FAIL(LAYERS "augmentation:\n  rotation:\n    enabled:\n      deeper: 1\n",
                "dir/t.yaml:6:7: augmentation.rotation.enabled: expected a boolean");
    EXPECT_FAIL(LAYERS "training: {epochs: [1]}\n",
                "dir/t.yaml:3:20: training.epochs: expected an integer, got a list");
}

static void test_layers(void)
{
    EXPECT_FAIL("model:\n  layers: 5\n",
                "dir/t.yaml:2:11: model.layers: expected a list of integers, got \"5\"");
    EXPECT_FAIL("model:\n  layers: [3072]\n",
                "dir/t.yaml:2:11: model.layers: expected a list of at least 2 layer sizes, "
                "got 1");
    EXPECT_FAIL("model:\n  layers: []\n",
                "dir/t.yaml:2:11: model.layers: expected a list of at least 2 layer sizes, "
                "got 0");
    EXPECT_FAIL("model:\n  layers: [100, 10]\n",
                "dir/t.yaml:2:12: model.layers[0]: expected 3072 (the feature dimension of "
                "features.kind raw), got 100");
    EXPECT_FAIL("model:\n  layers: [3072, 64, 5]\n",
                "dir/t.yaml:2:22: model.layers[2]: expected 10 (the number of classes), got 5");
    EXPECT_FAIL("model:\n  layers: [3072, 0, 10]\n",
                "dir/t.yaml:2:18: model.layers[1]: expected an integer in [1, 1048576], got 0");
    EXPECT_FAIL("model:\n  layers: [3072, 2000000, 10]\n",
                "dir/t.yaml:2:18: model.layers[1]: expected an integer in [1, 1048576], got "
                "2000000");
    EXPECT_FAIL("model:\n  layers:\n    - 3072\n    - [1]\n    - 10\n",
                "dir/t.yaml:4:7: model.layers[1]: expected an integer, got a list");
    EXPECT_FAIL("model:\n  layers: [3072, 64.0, 10]\n",
                "dir/t.yaml:2:18: model.layers[1]: expected an integer, got \"64.0\"");
    EXPECT_FAIL("model:\n  layers: [3072, \"64\", 10]\n",
                "dir/t.yaml:2:18: model.layers[1]: expected an integer, got the quoted string "
                "\"64\"");
    /* 3072*100000 + 100000 + 100000*10 + 10 parameters. */
    EXPECT_FAIL("model:\n  layers: [3072, 100000, 10]\n",
                "dir/t.yaml:2:3: model.layers: expected at most 268435456 parameters in total, "
                "got 308300010");
    EXPECT_FAIL("model:\n  layers: [3072, 1048576, 1048576, 1048576, 1048576, 10]\n",
                "dir/t.yaml:2:3: model.layers: expected at most 268435456 parameters in "
                "total, got 3301770788874");
    /* Just under the limit: 3072*87000 + 87000 + 87000*10 + 10 = 268213010. */
    EXPECT_OK("model:\n  layers: [3072, 87000, 10]\n");
    EXPECT_OK("model:\n  layers: [3072, 512, 256, 128, 64, 32, 10]\n");
}

/* `path: value` written as nested block mappings after LAYERS; the message
 * must be exactly "dir/t.yaml:LINE:COL: path: tail" with LINE:COL at the value. */
static void expect_bad_value(int line, const char *path, const char *value, const char *tail)
{
    char yaml[1024], want[1024];
    size_t o = (size_t)snprintf(yaml, sizeof yaml, "%s", LAYERS);
    size_t depth = 0;
    const char *seg = path;
    for (const char *dot; (dot = strchr(seg, '.')) != NULL; seg = dot + 1, depth++)
        o += (size_t)snprintf(yaml + o, sizeof yaml - o, "%*s%.*s:\n", (int)(2 * depth), "",
                              (int)(dot - seg), seg);
    snprintf(yaml + o, sizeof yaml - o, "%*s%s: %s\n", (int)(2 * depth), "", seg, value);
    snprintf(want, sizeof want, "dir/t.yaml:%zu:%zu: %s: %s", 3 + depth,
             2 * depth + strlen(seg) + 3, path, tail);
    struct experiment c;
    struct rn_err e = {0};
    int rc = load(yaml, &c, &e);
    CHECK_MSG(rc == RN_ERR_CONFIG && strcmp(e.msg, want) == 0 && all_zero(&c),
              "line %d: got \"%s\", want \"%s\"", line, e.msg, want);
    cfg_free(&c);
}

#define EXPECT_BAD(path, value, tail) expect_bad_value(__LINE__, (path), (value), (tail))

static void test_new_keys_values(void)
{
    /* Integers: both ends of every range. */
    EXPECT_BAD("features.kmeans.centroids", "0", "expected an integer in [1, 16384], got 0");
    EXPECT_BAD("features.kmeans.centroids", "16385",
               "expected an integer in [1, 16384], got 16385");
    EXPECT_BAD("features.kmeans.centroids", "12.0", "expected an integer, got \"12.0\"");
    EXPECT_BAD("features.kmeans.patch_size", "1", "expected an integer in [2, 16], got 1");
    EXPECT_BAD("features.kmeans.patch_size", "17", "expected an integer in [2, 16], got 17");
    EXPECT_BAD("features.kmeans.stride", "0", "expected an integer in [1, 16], got 0");
    EXPECT_BAD("features.kmeans.stride", "17", "expected an integer in [1, 16], got 17");
    EXPECT_BAD("features.kmeans.patches", "999",
               "expected an integer in [1000, 10000000], got 999");
    EXPECT_BAD("features.kmeans.patches", "10000001",
               "expected an integer in [1000, 10000000], got 10000001");
    EXPECT_BAD("features.kmeans.iterations", "0", "expected an integer in [1, 1000], got 0");
    EXPECT_BAD("features.kmeans.iterations", "1001",
               "expected an integer in [1, 1000], got 1001");
    EXPECT_BAD("training.lr_step_epochs", "0", "expected an integer in [1, 100000], got 0");
    EXPECT_BAD("training.lr_step_epochs", "100001",
               "expected an integer in [1, 100000], got 100001");
    /* Numbers. */
    EXPECT_BAD("features.kmeans.norm_epsilon", "0",
               "expected a number in (0, 1000000], got 0");
    EXPECT_BAD("features.kmeans.norm_epsilon", "1.5e6",
               "expected a number in (0, 1000000], got 1.5e6");
    EXPECT_BAD("features.kmeans.zca_epsilon", "-0.1",
               "expected a number in (0, 1000000], got -0.1");
    EXPECT_BAD("features.kmeans.zca_epsilon", ".inf", "expected a finite number, got .inf");
    EXPECT_BAD("features.kmeans.alpha", "-0.01", "expected a number in [0, 100], got -0.01");
    EXPECT_BAD("features.kmeans.alpha", "100.5", "expected a number in [0, 100], got 100.5");
    EXPECT_BAD("training.lr_gamma", "0", "expected a number in (0, 1], got 0");
    EXPECT_BAD("training.lr_gamma", "1.01", "expected a number in (0, 1], got 1.01");
    EXPECT_BAD("training.lr_min", "-1e-9", "expected a number in [0, 10], got -1e-9");
    EXPECT_BAD("training.lr_min", "11", "expected a number in [0, 10], got 11");
    EXPECT_BAD("training.dropout_input", "1", "expected a number in [0, 1), got 1");
    EXPECT_BAD("training.dropout_input", "-0.5", "expected a number in [0, 1), got -0.5");
    EXPECT_BAD("training.dropout_hidden", "1.0", "expected a number in [0, 1), got 1.0");
    EXPECT_BAD("training.dropout_hidden", "half", "expected a number, got \"half\"");
    /* Enums and booleans. */
    EXPECT_BAD("features.kind", "KMeans",
               "expected one of \"raw\", \"kmeans\", \"npy\", got \"KMeans\"");
    EXPECT_BAD("features.kmeans.encoder", "hard",
               "expected one of \"triangle\", \"soft_threshold\", got \"hard\"");
    EXPECT_BAD("features.kmeans.encoder", "~",
               "expected one of \"triangle\", \"soft_threshold\", got null");
    EXPECT_BAD("training.lr_schedule", "linear",
               "expected one of \"constant\", \"step\", \"cosine\", got \"linear\"");
    EXPECT_BAD("features.cache", "maybe", "expected a boolean (true or false), got \"maybe\"");
    EXPECT_BAD("features.standardize", "1", "expected a boolean (true or false), got \"1\"");
    /* Strings: cache_dir must be a non-empty string; the npy files may be null. */
    EXPECT_BAD("features.cache_dir", "''", "expected a non-empty string, got \"\"");
    EXPECT_BAD("features.cache_dir", "null", "expected a string, got null");
    EXPECT_BAD("features.npy.train", "123",
               "expected a string, got 123 (quote it to make it a string)");
    EXPECT_BAD("features.npy.train", "[a.npy]", "expected a string or null, got a list");
    EXPECT_BAD("features.npy.test_labels", "\"\"", "expected a non-empty string, got \"\"");
    EXPECT_BAD("features.npy.augmented", "{a: 1}", "expected a string or null, got a mapping");
    EXPECT_OK(LAYERS "features: {npy: {train: null, test: ~, augmented: }}\n");

    struct experiment c;
    struct rn_err e = {0};
    CHECK(load(LAYERS "features:\n  npy:\n    train: \"f 1.npy\"\n    test: null\n", &c, &e) ==
          RN_OK);
    CHECK(c.features.npy.train && strcmp(c.features.npy.train, "f 1.npy") == 0);
    CHECK(!c.features.npy.test);
    cfg_free(&c);
}

static void test_feature_rules(void)
{
    struct experiment c;
    struct rn_err e = {0};

    /* kmeans: 4K inputs, checked against model.layers[0]. */
    CHECK(load("features: {kind: kmeans, kmeans: {centroids: 128}}\n"
               "model: {layers: [512, 64, 10]}\n", &c, &e) == RN_OK);
    CHECK(c.features.kind == CFG_FEAT_KMEANS && cfg_feature_dim(&c) == 512);
    cfg_free(&c);
    EXPECT_FAIL("features: {kind: kmeans, kmeans: {centroids: 128}}\n"
                "model: {layers: [3072, 64, 10]}\n",
                "dir/t.yaml:2:18: model.layers[0]: expected 512 (the feature dimension of "
                "features.kind kmeans: 4 x features.kmeans.centroids = 4 x 128), got 3072");
    EXPECT_FAIL("features: {kind: kmeans}\n" LAYERS,
                "dir/t.yaml:3:12: model.layers[0]: expected 6400 (the feature dimension of "
                "features.kind kmeans: 4 x features.kmeans.centroids = 4 x 1600), got 3072");
    EXPECT_OK("features: {kind: kmeans, kmeans: {centroids: 16384}}\n"
              "model: {layers: [65536, 10]}\n");
    EXPECT_OK("features: {kind: kmeans, kmeans: {centroids: 1}}\nmodel: {layers: [4, 10]}\n");
    /* With kind raw, features.kmeans is ignored: 3072 inputs. */
    EXPECT_OK(LAYERS "features: {kind: raw, kmeans: {centroids: 128}}\n");
    /* The parameter limit counts the k-means width: 65536*4097 + 4097 + 40970 + 10. */
    EXPECT_FAIL("features: {kind: kmeans, kmeans: {centroids: 16384}}\n"
                "model: {layers: [65536, 4097, 10]}\n",
                "dir/t.yaml:2:9: model.layers: expected at most 268435456 parameters in "
                "total, got 268546069");

    /* centroids <= patches, reported at centroids when given, else at patches. */
    EXPECT_FAIL(LAYERS "features:\n  kmeans:\n    centroids: 2000\n    patches: 1000\n",
                "dir/t.yaml:5:5: features.kmeans.centroids: expected at most "
                "features.kmeans.patches (1000), got 2000");
    EXPECT_FAIL(LAYERS "features:\n  kmeans:\n    patches: 1000\n",
                "dir/t.yaml:5:5: features.kmeans.patches: expected at least "
                "features.kmeans.centroids (1600), got 1000");
    EXPECT_OK(LAYERS "features: {kmeans: {centroids: 1000, patches: 1000}}\n");
    EXPECT_OK(LAYERS "features: {kmeans: {patch_size: 16, stride: 16}}\n");

    /* npy: the four files are required, each named, at features.kind. */
    const char *npy4 = "    train: x.npy\n    train_labels: y.npy\n"
                       "    test: tx.npy\n    test_labels: ty.npy\n";
    const char *names[] = {"train", "train_labels", "test", "test_labels"};
    for (size_t miss = 0; miss < 4; miss++) {
        char yaml[1024], want[256];
        size_t o = (size_t)snprintf(yaml, sizeof yaml, "model:\n  layers: [512, 10]\n"
                                                        "features:\n  kind: npy\n  npy:\n");
        for (size_t i = 0; i < 4; i++)
            if (i != miss)
                o += (size_t)snprintf(yaml + o, sizeof yaml - o, "    %s: f%zu.npy\n",
                                      names[i], i);
        snprintf(want, sizeof want,
                 "dir/t.yaml:4:3: features.kind: expected features.npy.%s to be set when "
                 "features.kind is npy, got none",
                 names[miss]);
        CHECK_MSG(load(yaml, &c, &e) == RN_ERR_CONFIG && strcmp(e.msg, want) == 0 &&
                      all_zero(&c),
                  "%s", e.msg);
        cfg_free(&c);
    }
    EXPECT_FAIL("model: {layers: [512, 10]}\nfeatures: {kind: npy}\n",
                "dir/t.yaml:2:12: features.kind: expected features.npy.train to be set when "
                "features.kind is npy, got none");
    EXPECT_FAIL("model: {layers: [512, 10]}\nfeatures: {kind: npy, npy: {train: null}}\n",
                "dir/t.yaml:2:12: features.kind: expected features.npy.train to be set");

    /* With all four the input width is unknown until the files are read. */
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "model:\n  layers: [7, 10]\nfeatures:\n  kind: npy\n  npy:\n%s",
             npy4);
    CHECK(load(yaml, &c, &e) == RN_OK);
    CHECK(c.features.kind == CFG_FEAT_NPY && cfg_feature_dim(&c) == 0);
    CHECK(strcmp(c.features.npy.train, "x.npy") == 0 && !c.features.npy.augmented);
    size_t line, col;
    CHECK(cfg_find_mark(&c, "model.layers[0]", &line, &col) && line == 2 && col == 12);
    CHECK(cfg_fail_at(&c, "model.layers[0]", &e, "expected %d (the columns of %s), got %zu",
                      512, c.features.npy.train, c.model.layers[0]) == RN_ERR_CONFIG);
    CHECK(strcmp(e.msg, "dir/t.yaml:2:12: model.layers[0]: expected 512 (the columns of "
                        "x.npy), got 7") == 0);
    cfg_free(&c);
    /* The classes are still checked. */
    snprintf(yaml, sizeof yaml, "model:\n  layers: [512, 5]\nfeatures:\n  kind: npy\n  npy:\n%s",
             npy4);
    EXPECT_FAIL(yaml, "dir/t.yaml:2:17: model.layers[1]: expected 10 (the number of classes)");

    /* augmented and augmented_labels: both or neither (when kind is npy). */
    snprintf(yaml, sizeof yaml, LAYERS "features:\n  kind: npy\n  npy:\n%s    augmented: a.npy\n",
             npy4);
    EXPECT_FAIL(yaml, "dir/t.yaml:10:5: features.npy.augmented: expected "
                      "features.npy.augmented_labels to be set too (both or neither), got none");
    snprintf(yaml, sizeof yaml,
             LAYERS "features:\n  kind: npy\n  npy:\n%s    augmented_labels: al.npy\n", npy4);
    EXPECT_FAIL(yaml, "dir/t.yaml:10:5: features.npy.augmented_labels: expected "
                      "features.npy.augmented to be set too (both or neither), got none");
    EXPECT_OK(LAYERS "features: {kind: raw, npy: {augmented: a.npy}}\n"); /* ignored */

    /* Augmentation with npy features: the augmented rows come from the file. */
    snprintf(yaml, sizeof yaml,
             LAYERS "augmentation:\n  enabled: true\nfeatures:\n  kind: npy\n  npy:\n%s", npy4);
    EXPECT_FAIL(yaml, "dir/t.yaml:4:3: augmentation.enabled: expected features.npy.augmented "
                      "to be set when features.kind is npy and augmentation.enabled is true, got "
                      "none");
    snprintf(yaml, sizeof yaml,
             LAYERS "augmentation:\n  enabled: true\nfeatures:\n  kind: npy\n  npy:\n%s"
                    "    augmented: a.npy\n    augmented_labels: al.npy\n",
             npy4);
    CHECK(load(yaml, &c, &e) == RN_OK);
    CHECK(c.augment.enabled && strcmp(c.features.npy.augmented_labels, "al.npy") == 0);
    cfg_free(&c);
    snprintf(yaml, sizeof yaml,
             LAYERS "augmentation:\n  enabled: false\nfeatures:\n  kind: npy\n  npy:\n%s"
                    "    augmented: a.npy\n    augmented_labels: al.npy\n",
             npy4);
    EXPECT_OK(yaml);
    EXPECT_OK(LAYERS "augmentation: {enabled: true}\nfeatures: {kind: kmeans, "
                     "kmeans: {centroids: 768}}\n");
}

static void test_lr_schedule(void)
{
    /* lr_min <= learning_rate. */
    EXPECT_FAIL(LAYERS "training:\n  learning_rate: 0.01\n  lr_min: 0.02\n",
                "dir/t.yaml:5:3: training.lr_min: expected at most training.learning_rate "
                "(0.01), got 0.02");
    EXPECT_FAIL(LAYERS "training: {lr_min: 0.5}\n",
                "dir/t.yaml:3:12: training.lr_min: expected at most training.learning_rate "
                "(0.01), got 0.5");
    EXPECT_OK(LAYERS "training: {learning_rate: 0.5, lr_min: 0.5, lr_schedule: cosine}\n");

    /* cfg_lr_at on each schedule. */
    struct cfg_training t = {.epochs = 4, .learning_rate = 0.1, .lr_gamma = 0.5,
                             .lr_step_epochs = 3, .lr_min = 0.001};
    t.lr_schedule = CFG_LR_CONSTANT;
    CHECK(cfg_lr_at(&t, 1) == 0.1 && cfg_lr_at(&t, 4) == 0.1 && cfg_lr_at(&t, 1000) == 0.1);
    t.lr_schedule = CFG_LR_STEP;
    const double step[] = {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125};
    for (size_t ep = 0; ep < sizeof step / sizeof step[0]; ep++) /* epoch 0 counts as 1 */
        CHECK_NEAR(cfg_lr_at(&t, ep), step[ep], 1e-15);
    t.lr_gamma = 1;
    CHECK(cfg_lr_at(&t, 100) == 0.1);
    t.lr_schedule = CFG_LR_COSINE;
    const double pi = 3.14159265358979323846;
    CHECK_NEAR(cfg_lr_at(&t, 1), 0.1, 1e-15);
    CHECK_NEAR(cfg_lr_at(&t, 2), 0.001 + 0.099 * (1 + cos(pi / 4)) / 2, 1e-15);
    CHECK_NEAR(cfg_lr_at(&t, 3), 0.001 + 0.099 / 2, 1e-15);
    CHECK_NEAR(cfg_lr_at(&t, 4), 0.001 + 0.099 * (1 + cos(3 * pi / 4)) / 2, 1e-15);
    CHECK(cfg_lr_at(&t, 5) == cfg_lr_at(&t, 4) && cfg_lr_at(&t, 0) == cfg_lr_at(&t, 1));
    for (size_t ep = 1; ep < 4; ep++)
        CHECK(cfg_lr_at(&t, ep + 1) < cfg_lr_at(&t, ep) && cfg_lr_at(&t, ep + 1) > t.lr_min);
    t.epochs = 1;
    CHECK(cfg_lr_at(&t, 1) == 0.1);
    t.epochs = 0; /* a zeroed struct must not divide by zero */
    CHECK(cfg_lr_at(&t, 1) == 0.1);
    struct cfg_training z = {.learning_rate = 0.2, .lr_schedule = CFG_LR_STEP};
    CHECK(cfg_lr_at(&z, 7) == 0.2);

    /* From a parsed file. */
    struct experiment c;
    struct rn_err e = {0};
    CHECK(load(LAYERS "training: {learning_rate: 0.4, lr_schedule: step, lr_step_epochs: 2, "
                      "lr_gamma: 0.5}\n",
               &c, &e) == RN_OK);
    CHECK(c.training.lr_schedule == CFG_LR_STEP);
    CHECK(cfg_lr_at(&c.training, 2) == 0.4 && cfg_lr_at(&c.training, 5) == 0.1);
    cfg_free(&c);
    CHECK(load(LAYERS "training: {epochs: 10, learning_rate: 0.2, lr_schedule: cosine}\n", &c,
               &e) == RN_OK);
    CHECK_NEAR(cfg_lr_at(&c.training, 6), 0.1, 1e-15); /* halfway, towards lr_min = 0 */
    CHECK_NEAR(cfg_lr_at(&c.training, 10), 0.2 * (1 + cos(0.9 * pi)) / 2, 1e-15);
    cfg_free(&c);
}

static void test_missing_and_cross_field(void)
{
    struct experiment c;
    struct rn_err e = {0};
    CHECK(load("seed: 3\n", &c, &e) == RN_ERR_CONFIG && all_zero(&c));
    CHECK(strcmp(e.msg, "dir/t.yaml: model.layers: required key is missing") == 0);
    CHECK(load("model:\n  activation: tanh\n", &c, &e) == RN_ERR_CONFIG);
    CHECK(strcmp(e.msg, "dir/t.yaml: model.layers: required key is missing") == 0);
    CHECK(load("model: {}\n", &c, &e) == RN_ERR_CONFIG);
    CHECK(strcmp(e.msg, "dir/t.yaml: model.layers: required key is missing") == 0);

    EXPECT_FAIL(LAYERS "augmentation:\n  contrast:\n    min: 3\n    max: 2\n",
                "dir/t.yaml:5:5: augmentation.contrast.min: expected at most "
                "augmentation.contrast.max (2), got 3");
    EXPECT_FAIL(LAYERS "augmentation:\n  contrast:\n    max: 0.3\n",
                "dir/t.yaml:5:5: augmentation.contrast.max: expected at least "
                "augmentation.contrast.min (0.5), got 0.3");
    EXPECT_OK(LAYERS "augmentation: {contrast: {min: 1.5, max: 1.5}}\n");
    EXPECT_FAIL(LAYERS "augmentation:\n  enabled: true\n  rotation: {enabled: false}\n"
                       "  cutout: {enabled: false}\n  crop: {enabled: false}\n"
                       "  contrast: {enabled: false}\n",
                "dir/t.yaml:4:3: augmentation.enabled: expected at least one of rotation, "
                "cutout, crop, contrast to be enabled, got none");
    /* All transforms off is fine while augmentation itself is off. */
    EXPECT_OK(LAYERS "augmentation:\n  rotation: {enabled: false}\n  cutout: {enabled: false}\n"
                     "  crop: {enabled: false}\n  contrast: {enabled: false}\n");
    EXPECT_OK(LAYERS "augmentation: {enabled: true, rotation: {enabled: false}, "
                     "cutout: {enabled: false}, crop: {enabled: false}}\n");
    EXPECT_FAIL(LAYERS "data:\n  train_limit: 100\n  validation: 100\n",
                "dir/t.yaml:5:3: data.validation: expected fewer than data.train_limit (100) "
                "images, got 100");
    EXPECT_OK(LAYERS "data: {train_limit: 100, validation: 99}\n");
    EXPECT_OK(LAYERS "data: {validation: 49999}\n");
}

static void test_yaml_structure(void)
{
    EXPECT_FAIL("model:\n\tlayers: [3072, 10]\n",
                "dir/t.yaml:2:1: YAML syntax error: found character that cannot start any "
                "token");
    EXPECT_FAIL("model:\n  layers: [3072, 10\n", "dir/t.yaml:3:1: YAML syntax error",
                "did not find expected ',' or ']'");
    EXPECT_FAIL("model:\n  layers: [3072, 10]\n   activation: relu\n",
                "dir/t.yaml:3:4: YAML syntax error: did not find expected key");
    EXPECT_FAIL("model: {layers: [3072, 10]\n", "dir/t.yaml:2:1: YAML syntax error");
    EXPECT_FAIL("name: 'abc\n",
                "dir/t.yaml:2:1: YAML syntax error: found unexpected end of stream (while "
                "scanning a quoted scalar at line 1, column 7)");

    EXPECT_FAIL("", "dir/t.yaml:1:1: expected a mapping of keys, got an empty file");
    EXPECT_FAIL("# only a comment\n\n",
                "dir/t.yaml:1:1: expected a mapping of keys, got an empty file");
    EXPECT_FAIL("---\n", "dir/t.yaml:1:1: expected a mapping of keys, got an empty document");
    EXPECT_FAIL("- 3072\n- 10\n", "dir/t.yaml:1:1: expected a mapping of keys, got a list");
    EXPECT_FAIL("hello\n", "dir/t.yaml:1:1: expected a mapping of keys, got \"hello\"");
    EXPECT_FAIL(LAYERS "---\nseed: 2\n",
                "dir/t.yaml:3:1: more than one YAML document");
    EXPECT_FAIL("---\n" LAYERS "...\n---\n", "dir/t.yaml:5:1: more than one YAML document");
    EXPECT_OK("%YAML 1.1\n---\n" LAYERS "...\n");

    EXPECT_FAIL(LAYERS "seed: 1\nseed: 2\n",
                "dir/t.yaml:4:1: seed: duplicate key (first given at line 3, column 1)");
    EXPECT_FAIL(LAYERS "training: {epochs: 1, epochs: 2}\n",
                "dir/t.yaml:3:23: training.epochs: duplicate key (first given at line 3, "
                "column 12)");
    EXPECT_FAIL(LAYERS "training:\n  epochs: 1\ntraining:\n  batch_size: 2\n",
                "dir/t.yaml:5:1: training: duplicate key (first given at line 3, column 1)");
    EXPECT_FAIL("model:\n  layers: [3072, 10]\n  layers: [3072, 10]\n",
                "dir/t.yaml:3:3: model.layers: duplicate key (first given at line 2, column "
                "3)");

    EXPECT_FAIL(LAYERS "training: &t\n  epochs: 5\n",
                "dir/t.yaml:3:11: training: anchors and aliases are not supported");
    EXPECT_FAIL(LAYERS "data: {validation: &v 5, test_limit: *v}\n",
                "dir/t.yaml:3:20: data.validation: anchors and aliases are not supported");
    EXPECT_FAIL(LAYERS "seed: *v\n",
                "dir/t.yaml:3:7: seed: anchors and aliases are not supported");
    EXPECT_FAIL("model:\n  layers: [3072, *x, 10]\n",
                "dir/t.yaml:2:18: model.layers[1]: anchors and aliases are not supported");
    EXPECT_FAIL(LAYERS "training:\n  <<: {epochs: 5}\n",
                "dir/t.yaml:4:3: training: merge keys (<<) are not supported");
    EXPECT_FAIL(LAYERS "<<: *base\n", "dir/t.yaml:3:1: merge keys (<<) are not supported");
    EXPECT_FAIL(LAYERS "seed: !!int 5\n", "dir/t.yaml:3:7: seed: tags are not supported");

    /* Line endings: CRLF counts as one line break. */
    EXPECT_FAIL("model:\r\n  layers: [3072, 10]\r\nseed: abc\r\n",
                "dir/t.yaml:3:7: seed: expected an integer, got \"abc\"");
    EXPECT_OK("\xEF\xBB\xBF" LAYERS); /* a UTF-8 byte order mark is fine */
}

static void test_encoding(void)
{
    EXPECT_FAIL(LAYERS "name: caf\xE9\n",
                "dir/t.yaml:3:10: invalid UTF-8 (byte 0xE9)");
    EXPECT_FAIL("name: \xC3\xA9\xFF\n" LAYERS, "dir/t.yaml:1:8: invalid UTF-8 (byte 0xFF)");
    EXPECT_FAIL(LAYERS "name: \xC0\xAF\n", "dir/t.yaml:3:7: invalid UTF-8"); /* overlong */
    EXPECT_FAIL(LAYERS "name: \xED\xA0\x80\n", /* a surrogate */
                "dir/t.yaml:3:7: invalid UTF-8 (byte 0xED); the file must be UTF-8 text");
    EXPECT_FAIL(LAYERS "name: \xF4\x90\x80\x80\n", /* above U+10FFFF */
                "dir/t.yaml:3:7: invalid UTF-8 (byte 0xF4); the file must be UTF-8 text");
    EXPECT_FAIL(LAYERS "name: ab\xE2\x82", "dir/t.yaml:3:9: invalid UTF-8");    /* truncated */
    EXPECT_FAIL(LAYERS "seed: 1\x01\n", "dir/t.yaml:3:8: YAML error: control characters");
    EXPECT_FAIL_N(LAYERS "seed: 1\0\n", strlen(LAYERS) + 9, "dir/t.yaml:3:8:");
    /* UTF-16 is not UTF-8. */
    EXPECT_FAIL_N("\xFF\xFEs\0e\0", 6, "dir/t.yaml:1:1: invalid UTF-8");
}

static void test_files(void)
{
    struct experiment c;
    struct rn_err e = {0};
    CHECK(cfg_load_file("/nonexistent/x.yaml", &c, &e) == RN_ERR_CONFIG && all_zero(&c));
    CHECK_STR_CONTAINS(e.msg, "/nonexistent/x.yaml");

    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    fputs(LAYERS "name: caf\xE9\n", f);
    fclose(f);
    CHECK(cfg_load_file(path, &c, &e) == RN_ERR_CONFIG && all_zero(&c));
    char want[128];
    snprintf(want, sizeof want, "%s:3:10: invalid UTF-8", path);
    CHECK_STR_CONTAINS(e.msg, want);

    f = fopen(path, "w");
    fputs(LAYERS "seed: 5\n", f);
    fclose(f);
    CHECK(cfg_load_file(path, &c, &e) == RN_OK);
    CHECK(c.seed == 5 && c.source && strcmp(c.source, path) == 0);
    CHECK(c.name && strcmp(c.name, strrchr(path, '/') + 1) == 0);
    cfg_free(&c);
    unlink(path);
}

static void test_json_and_hash(void)
{
    const char *yaml = "name: j\nseed: 9223372036854775807\n"
                       "model: {layers: [3072, 32, 10], activation: sigmoid}\n"
                       "training: {learning_rate: 0.05, momentum: 0.9}\n"
                       "augmentation: {enabled: true, contrast: {min: 0.75}}\n";
    struct experiment c, d;
    struct rn_err e = {0};
    CHECK(load(yaml, &c, &e) == RN_OK);
    cJSON *j = cfg_to_json(&c);
    CHECK(j != NULL);
    if (!j) {
        cfg_free(&c);
        return;
    }
    /* Every key, in the table's order. */
    const char *top[] = {"name",         "seed",  "threads",  "data",  "features",
                         "augmentation", "model", "training", "output"};
    const cJSON *it = j->child;
    for (size_t i = 0; i < 9; i++, it = it ? it->next : NULL)
        CHECK_MSG(it && strcmp(it->string, top[i]) == 0, "key %zu: %s", i,
                  it ? it->string : "-");
    CHECK(it == NULL);
    const cJSON *aug = cJSON_GetObjectItemCaseSensitive(j, "augmentation");
    CHECK(cJSON_GetArraySize(aug) == 6);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(aug, "enabled")));
    const cJSON *con = cJSON_GetObjectItemCaseSensitive(aug, "contrast");
    CHECK(cJSON_GetObjectItemCaseSensitive(con, "min")->valuedouble == 0.75);
    CHECK(cJSON_GetObjectItemCaseSensitive(con, "max")->valuedouble == 2.0);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(model, "layers");
    CHECK(cJSON_GetArraySize(layers) == 3 && cJSON_GetArrayItem(layers, 1)->valuedouble == 32);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(model, "activation")->valuestring,
                 "sigmoid") == 0);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "training");
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "learning_rate")->valuedouble == 0.05);
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "epochs")->valuedouble == 120);
    CHECK(cJSON_GetArraySize(tr) == 12);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(tr, "lr_schedule")->valuestring,
                 "constant") == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "lr_step_epochs")->valuedouble == 30);
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "lr_gamma")->valuedouble == 0.1);
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "lr_min")->valuedouble == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "dropout_input")->valuedouble == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(tr, "dropout_hidden")->valuedouble == 0);
    /* features: every key, the npy files as null while unset. */
    const cJSON *feat = cJSON_GetObjectItemCaseSensitive(j, "features");
    const char *fkeys[] = {"kind", "standardize", "cache", "cache_dir", "kmeans", "npy"};
    it = feat ? feat->child : NULL;
    for (size_t i = 0; i < 6; i++, it = it ? it->next : NULL)
        CHECK_MSG(it && strcmp(it->string, fkeys[i]) == 0, "features key %zu", i);
    CHECK(it == NULL);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(feat, "kind")->valuestring, "raw") == 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(feat, "standardize")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(feat, "cache")));
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(feat, "cache_dir")->valuestring, "cache") ==
          0);
    const cJSON *km = cJSON_GetObjectItemCaseSensitive(feat, "kmeans");
    CHECK(cJSON_GetArraySize(km) == 9);
    CHECK(cJSON_GetObjectItemCaseSensitive(km, "centroids")->valuedouble == 1600);
    CHECK(cJSON_GetObjectItemCaseSensitive(km, "patches")->valuedouble == 400000);
    CHECK(cJSON_GetObjectItemCaseSensitive(km, "norm_epsilon")->valuedouble == 10);
    CHECK(cJSON_GetObjectItemCaseSensitive(km, "zca_epsilon")->valuedouble == 0.1);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(km, "encoder")->valuestring, "triangle") ==
          0);
    const cJSON *npy = cJSON_GetObjectItemCaseSensitive(feat, "npy");
    CHECK(cJSON_GetArraySize(npy) == 6);
    cJSON_ArrayForEach(it, npy) {
        CHECK_MSG(cJSON_IsNull(it), "features.npy.%s is not null", it->string);
    }
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(j, "output"), "database")->valuestring,
                 "results/results.db") == 0);

    /* The printed JSON is exact (the seed too) and reads back as the same config. */
    char *txt = cJSON_PrintUnformatted(j);
    CHECK(txt && strstr(txt, "\"seed\":9223372036854775807,"));
    CHECK(txt && load(txt, &d, &e) == RN_OK);
    cJSON *j2 = cfg_to_json(&d);
    char *txt2 = j2 ? cJSON_PrintUnformatted(j2) : NULL;
    CHECK(txt && txt2 && strcmp(txt, txt2) == 0);
    char h1[65], h2[65];
    cfg_hash(&c, h1);
    cfg_hash(&d, h2);
    CHECK(strlen(h1) == 64 && strcmp(h1, h2) == 0);
    free(txt2);
    cJSON_Delete(j2);
    cfg_free(&d);
    free(txt);
    cJSON_Delete(j);

    /* name, output and threads do not change the hash; the learning rate and
     * seed do. */
    char h[65];
    CHECK(load("name: other\noutput: {dir: o, database: o/x.db}\nthreads: 2\n"
               "seed: 9223372036854775807\n"
               "model: {layers: [3072, 32, 10], activation: sigmoid}\n"
               "training: {learning_rate: 0.05, momentum: 0.9}\n"
               "augmentation: {enabled: true, contrast: {min: 0.75}}\n",
               &d, &e) == RN_OK);
    cfg_hash(&d, h);
    CHECK(strcmp(h, h1) == 0);
    cfg_free(&d);
    CHECK(load("name: j\nseed: 9223372036854775807\n"
               "model: {layers: [3072, 32, 10], activation: sigmoid}\n"
               "training: {learning_rate: 0.050000001, momentum: 0.9}\n"
               "augmentation: {enabled: true, contrast: {min: 0.75}}\n",
               &d, &e) == RN_OK);
    cfg_hash(&d, h);
    CHECK(strlen(h) == 64 && strcmp(h, h1) != 0);
    cfg_free(&d);
    CHECK(load("name: j\nseed: 9223372036854775806\n"
               "model: {layers: [3072, 32, 10], activation: sigmoid}\n"
               "training: {learning_rate: 0.05, momentum: 0.9}\n"
               "augmentation: {enabled: true, contrast: {min: 0.75}}\n",
               &d, &e) == RN_OK);
    cfg_hash(&d, h);
    CHECK(strcmp(h, h1) != 0);
    cfg_free(&d);

    /* Every new key is in the hash: one changed value each gives a new hash. */
    const char *base = "name: j\nseed: 9223372036854775807\n"
                       "model: {layers: [3072, 32, 10], activation: sigmoid}\n"
                       "augmentation: {enabled: true, contrast: {min: 0.75}}\n";
    const char *changes[] = {
        "training: {learning_rate: 0.05, momentum: 0.9, lr_schedule: step}\n",
        "training: {learning_rate: 0.05, momentum: 0.9, lr_step_epochs: 31}\n",
        "training: {learning_rate: 0.05, momentum: 0.9, lr_gamma: 0.2}\n",
        "training: {learning_rate: 0.05, momentum: 0.9, lr_min: 0.001}\n",
        "training: {learning_rate: 0.05, momentum: 0.9, dropout_input: 0.1}\n",
        "training: {learning_rate: 0.05, momentum: 0.9, dropout_hidden: 0.1}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {standardize: false}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {kmeans: {centroids: 100}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {kmeans: {patch_size: 5}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {kmeans: {stride: 2}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {kmeans: {patches: 500000}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {kmeans: {iterations: 5}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\n"
        "features: {kmeans: {norm_epsilon: 1}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\n"
        "features: {kmeans: {zca_epsilon: 1}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\n"
        "features: {kmeans: {encoder: soft_threshold}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {kmeans: {alpha: 0.5}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {npy: {train: a}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {npy: {test_labels: a}}\n",
        "training: {learning_rate: 0.05, momentum: 0.9}\n"
        "features: {npy: {augmented: a, augmented_labels: b}}\n",
    };
    char seen[sizeof changes / sizeof changes[0]][65] = {{0}};
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", base, changes[i]);
        int rc = load(text, &d, &e);
        CHECK_MSG(rc == RN_OK, "%s", e.msg);
        if (rc)
            continue;
        cfg_hash(&d, seen[i]);
        CHECK_MSG(strlen(seen[i]) == 64 && strcmp(seen[i], h1) != 0, "change %zu: same hash", i);
        for (size_t k = 0; k < i; k++)
            CHECK_MSG(strcmp(seen[i], seen[k]) != 0, "changes %zu and %zu: same hash", k, i);
        cfg_free(&d);
    }
    /* Cache settings change where features are kept, not what is computed. */
    {
        const char *same[] = {
            "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {cache: false}\n",
            "training: {learning_rate: 0.05, momentum: 0.9}\nfeatures: {cache_dir: c2}\n",
        };
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
            char text[1024], hh[65];
            snprintf(text, sizeof text, "%s%s", base, same[i]);
            int rc = load(text, &d, &e);
            CHECK_MSG(rc == RN_OK, "%s", e.msg);
            if (rc)
                continue;
            cfg_hash(&d, hh);
            CHECK_MSG(strcmp(hh, h1) == 0, "cache change %zu altered the hash", i);
            cfg_free(&d);
        }
    }
    /* The defaults written out give the same hash as leaving them out. */
    snprintf(h, sizeof h, "%s", h1);
    char text[2048];
    snprintf(text, sizeof text,
             "%straining: {learning_rate: 0.05, momentum: 0.9, lr_schedule: constant, "
             "lr_step_epochs: 30, lr_gamma: 0.1, lr_min: 0, dropout_input: 0, "
             "dropout_hidden: 0.0}\n"
             "features: {kind: raw, standardize: true, cache: true, cache_dir: cache,\n"
             "  kmeans: {centroids: 1600, patch_size: 6, stride: 1, patches: 400000,\n"
             "    iterations: 50, norm_epsilon: 10, zca_epsilon: 0.1, encoder: triangle,\n"
             "    alpha: 0.25},\n"
             "  npy: {train: null, train_labels: null, test: null, test_labels: null,\n"
             "    augmented: null, augmented_labels: null}}\n",
             base);
    CHECK(load(text, &d, &e) == RN_OK);
    cfg_hash(&d, h);
    CHECK_MSG(strcmp(h, h1) == 0, "%s", e.msg);
    cfg_free(&d);
    cfg_free(&c);

    /* A config with every string set reads back from its resolved JSON. */
    CHECK(load("model: {layers: [64, 10]}\naugmentation: {enabled: true}\n"
               "features:\n  kind: npy\n  npy: {train: a.npy, train_labels: b.npy, test: c.npy,\n"
               "    test_labels: d.npy, augmented: e.npy, augmented_labels: f.npy}\n",
               &c, &e) == RN_OK);
    j = cfg_to_json(&c);
    txt = j ? cJSON_PrintUnformatted(j) : NULL;
    CHECK(txt && load(txt, &d, &e) == RN_OK);
    cfg_hash(&c, h1);
    cfg_hash(&d, h2);
    CHECK(strcmp(h1, h2) == 0 && d.features.kind == CFG_FEAT_NPY);
    CHECK(d.features.npy.augmented_labels && strcmp(d.features.npy.augmented_labels, "f.npy") == 0);
    free(txt);
    cJSON_Delete(j);
    cfg_free(&d);
    cfg_free(&c);
}

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

/* Nested object holding only `leaf` at `path`, plus model.layers. */
static cJSON *doc_with(const char *path, cJSON *leaf)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    int sizes[] = {3072, 10};
    cJSON_AddItemToObject(model, "layers", cJSON_CreateIntArray(sizes, 2));
    cJSON *o = root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *seg = buf;
    for (char *dot; (dot = strchr(seg, '.')) != NULL; seg = dot + 1) {
        *dot = '\0';
        cJSON *next = cJSON_GetObjectItemCaseSensitive(o, seg);
        o = next ? next : cJSON_AddObjectToObject(o, seg);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, seg);
    cJSON_AddItemToObject(o, seg, leaf);
    return root;
}

static int load_json(const cJSON *doc, struct experiment *c, struct rn_err *e)
{
    char *txt = cJSON_Print(doc); /* JSON is YAML (flow style) */
    int rc = load(txt, c, e);
    free(txt);
    return rc;
}

/* Every leaf at its default is accepted and resolves to that default; an
 * unknown key at every object level is refused. */
static void walk_schema(const cJSON *obj, const char *prefix, cJSON *defaults)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(obj, "properties");
    CHECK_MSG(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(obj, "additionalProperties")),
              "%s: additionalProperties is not false", prefix);
    char path[256];
    snprintf(path, sizeof path, "%s%sno_such_key", prefix, *prefix ? "." : "");
    struct experiment c;
    struct rn_err e = {0};
    cJSON *doc = doc_with(path, cJSON_CreateNumber(1));
    CHECK_MSG(load_json(doc, &c, &e) == RN_ERR_CONFIG && strstr(e.msg, path) &&
                  strstr(e.msg, "unknown key"),
              "%s: %s", path, e.msg);
    cJSON_Delete(doc);
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", p->string);
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(p, "type");
        const char *type = cJSON_GetStringValue(types);
        bool nullable = false;
        if (cJSON_IsArray(types)) { /* ["string", "null"]: optional strings */
            type = cJSON_GetStringValue(cJSON_GetArrayItem(types, 0));
            nullable = cJSON_GetArraySize(types) == 2 && type && strcmp(type, "string") == 0 &&
                       strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(types, 1)), "null") == 0;
            CHECK_MSG(nullable, "%s: unexpected type list", path);
        }
        CHECK_MSG(type != NULL, "%s has no type", path);
        CHECK_MSG(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p, "description")),
                  "%s has no description", path);
        if (type && strcmp(type, "object") == 0) {
            walk_schema(p, path, cJSON_GetObjectItemCaseSensitive(defaults, p->string));
            continue;
        }
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "default");
        cJSON *value = def ? cJSON_Duplicate(def, 1) : NULL;
        if (!value && strcmp(path, "name") == 0)
            value = cJSON_CreateString("a name");
        if (!value && strcmp(path, "model.layers") == 0) {
            int sizes[] = {3072, 64, 10};
            value = cJSON_CreateIntArray(sizes, 3);
        }
        CHECK_MSG(value != NULL, "%s: no default to try", path);
        if (!value)
            continue;
        doc = doc_with(path, cJSON_Duplicate(value, 1));
        int rc = load_json(doc, &c, &e);
        CHECK_MSG(rc == RN_OK, "%s = default: %s", path, e.msg);
        if (rc == RN_OK) {
            size_t line, col;
            CHECK_MSG(cfg_find_mark(&c, path, &line, &col), "%s: no mark", path);
            cJSON *j = cfg_to_json(&c), *got = j;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", path);
            for (char *s = strtok(buf, "."); s; s = strtok(NULL, "."))
                got = cJSON_GetObjectItemCaseSensitive(got, s);
            CHECK_MSG(got && cJSON_Compare(got, value, 1), "%s: resolved value differs", path);
            if (def && got)
                CHECK_MSG(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(defaults, p->string),
                                        def, 1),
                          "%s: default in schema differs from the config's default", path);
            cJSON_Delete(j);
        }
        cfg_free(&c);
        cJSON_Delete(doc);
        cJSON_Delete(value);
        if (nullable) { /* also a set value, which must resolve to itself */
            CHECK_MSG(def && cJSON_IsNull(def), "%s: nullable without a null default", path);
            doc = doc_with(path, cJSON_CreateString("some/file.npy"));
            rc = load_json(doc, &c, &e);
            CHECK_MSG(rc == RN_OK, "%s = a string: %s", path, e.msg);
            cJSON *j = rc == RN_OK ? cfg_to_json(&c) : NULL, *got = j;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", path);
            for (char *t = strtok(buf, "."); t && got; t = strtok(NULL, "."))
                got = cJSON_GetObjectItemCaseSensitive(got, t);
            CHECK_MSG(got && strcmp(cJSON_GetStringValue(got), "some/file.npy") == 0,
                      "%s: set value not resolved", path);
            cJSON_Delete(j);
            cfg_free(&c);
            cJSON_Delete(doc);
        }
    }
}

/* The schema object of dotted `path` below `obj`, following "properties". */
static const cJSON *schema_prop(const cJSON *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok(buf, "."); t && obj; t = strtok(NULL, "."))
        obj = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "properties"),
                                               t);
    return obj;
}

/* Every "const" in an if-clause differs from that key's default: otherwise the
 * condition would hold with the key left out, which "required" cannot see. */
static void check_if_consts(const cJSON *schema, const cJSON *clause, const char *prefix)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(clause, "properties")) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", p->string);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(p, "const");
        if (!k) {
            check_if_consts(schema, p, path);
            continue;
        }
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(schema_prop(schema, path), "default");
        CHECK_MSG(def && !cJSON_Compare(def, k, 1), "%s: condition equals the default", path);
    }
}

/* The conditional requirements: npy files with features.kind npy, the
 * augmented pair with augmentation on as well. */
static void test_schema_conditions(const cJSON *s)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    CHECK(cJSON_GetArraySize(all) == 2);
    const char *then_keys[2][5] = {{"train", "train_labels", "test", "test_labels", NULL},
                                   {"augmented", "augmented_labels", NULL}};
    for (int i = 0; i < 2 && i < cJSON_GetArraySize(all); i++) {
        const cJSON *rule = cJSON_GetArrayItem(all, i);
        const cJSON *if_ = cJSON_GetObjectItemCaseSensitive(rule, "if");
        const cJSON *then = cJSON_GetObjectItemCaseSensitive(rule, "then");
        check_if_consts(s, if_, "");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(schema_prop(if_, "features.kind"),
                                                             "const");
        CHECK(kind && strcmp(cJSON_GetStringValue(kind), "npy") == 0);
        const cJSON *en = schema_prop(if_, "augmentation.enabled");
        CHECK(i == 0 ? en == NULL : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(en, "const")));
        const cJSON *npy = schema_prop(then, "features.npy");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(npy, "required");
        int n = 0;
        for (; then_keys[i][n]; n++) {
            CHECK(strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(req, n)), then_keys[i][n]) == 0);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(
                schema_prop(npy, then_keys[i][n]), "type");
            CHECK(t && strcmp(cJSON_GetStringValue(t), "string") == 0);
        }
        CHECK(cJSON_GetArraySize(req) == n);
    }
}

static void test_schema(void)
{
    cJSON *s = cfg_schema();
    CHECK(s != NULL);
    if (!s)
        return;
    /* schemas/experiment.schema.json is cfg_schema() exactly (compared after
     * printing, as the seed's maximum is printed as exact raw digits). */
    char path[4096];
    snprintf(path, sizeof path, "%s/schemas/experiment.schema.json", source_dir());
    cJSON *file = read_json(path);
    char *txt = cJSON_Print(s);
    cJSON *printed = txt ? cJSON_Parse(txt) : NULL;
    CHECK_MSG(file != NULL, "cannot read %s", path);
    CHECK_MSG(file && printed && cJSON_Compare(file, printed, 1),
              "%s differs from cfg_schema(); regenerate it", path);
    CHECK(txt && strstr(txt, "\"maximum\":\t9223372036854775807"));
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "$schema")),
                 "https://json-schema.org/draft/2020-12/schema") == 0);
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    CHECK(cJSON_GetArraySize(req) == 1 &&
          strcmp(cJSON_GetArrayItem(req, 0)->valuestring, "model") == 0);
    free(txt);
    cJSON_Delete(printed);
    cJSON_Delete(file);

    /* The resolved defaults, to compare with each schema default. */
    struct experiment c;
    struct rn_err e = {0};
    CHECK(load(LAYERS, &c, &e) == RN_OK);
    cJSON *defaults = cfg_to_json(&c);
    cfg_free(&c);
    walk_schema(s, "", defaults);
    cJSON_Delete(defaults);
    test_schema_conditions(s);
    cJSON_Delete(s);
}

int main(void)
{
    test_full_file();
    test_defaults();
    test_experiments();
    test_unknown_keys();
    test_integers();
    test_numbers();
    test_bools_enums_strings();
    test_nulls_and_nesting();
    test_layers();
    test_new_keys_values();
    test_feature_rules();
    test_lr_schedule();
    test_missing_and_cross_field();
    test_yaml_structure();
    test_encoding();
    test_files();
    test_json_and_hash();
    test_schema();
    return check_exit("config");
}

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
        "features: {kind: raw}\n"
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
        "    - 3072\n"
        "    - 128\n"
        "    - 32\n"
        "    - 10\n"
        "  activation: tanh\n"
        "training:\n"
        "  epochs: 7\n"
        "  batch_size: 32\n"
        "  learning_rate: 1e-3\n"
        "  momentum: 0.9\n"
        "  weight_decay: .0005\n"
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
    CHECK(c.features.kind == CFG_FEAT_RAW);
    CHECK(c.augment.enabled && c.augment.copies == 3);
    CHECK(!c.augment.rotation && c.augment.max_degrees == 12.5);
    CHECK(c.augment.cutout && c.augment.cutout_max == 8 && c.augment.cutout_fill == 255);
    CHECK(!c.augment.crop && c.augment.crop_padding == 4);
    CHECK(c.augment.contrast && c.augment.contrast_min == 0.25 && c.augment.contrast_max == 4);
    CHECK(c.augment.flip_prob == 1);
    CHECK(c.model.n_layers == 4);
    CHECK(c.model.layers[0] == 3072 && c.model.layers[1] == 128 && c.model.layers[2] == 32 &&
          c.model.layers[3] == 10);
    CHECK(c.model.activation == CFG_ACT_TANH);
    CHECK(c.training.epochs == 7 && c.training.batch_size == 32);
    CHECK(c.training.learning_rate == 1e-3 && c.training.momentum == 0.9);
    CHECK(c.training.weight_decay == 0.0005 && !c.training.shuffle);
    CHECK(strcmp(c.output.dir, "out") == 0 && strcmp(c.output.database, "out/r.db") == 0);
    CHECK(cfg_feature_dim(&c) == CFG_RAW_DIM);

    size_t line = 99, col = 99;
    CHECK(cfg_find_mark(&c, "name", &line, &col) && line == 2 && col == 1);
    CHECK(cfg_find_mark(&c, "training.batch_size", &line, &col) && line == 35 && col == 3);
    CHECK(cfg_find_mark(&c, "augmentation.rotation.max_degrees", &line, &col) && line == 13 &&
          col == 28);
    CHECK(cfg_find_mark(&c, "model.layers[2]", &line, &col) && line == 30 && col == 7);
    CHECK(cfg_find_mark(&c, "augmentation", &line, &col) && line == 10 && col == 1);
    CHECK(!cfg_find_mark(&c, "model.layers[4]", &line, &col) && line == 0 && col == 0);

    rc = cfg_fail_at(&c, "training.batch_size", &e, "larger than the %d images", 20);
    CHECK(rc == RN_ERR_CONFIG && e.code == RN_ERR_CONFIG);
    CHECK(strcmp(e.msg, "dir/t.yaml:35:3: training.batch_size: larger than the 20 images") ==
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
    load_experiment("original.yaml", &o);
    load_experiment("augmented.yaml", &a);
    if (!o.name || !a.name) {
        cfg_free(&o);
        cfg_free(&a);
        return;
    }
    const struct experiment *both[] = {&o, &a};
    for (size_t i = 0; i < 2; i++) {
        const struct experiment *c = both[i];
        CHECK(c->seed == 42 && c->features.kind == CFG_FEAT_RAW);
        CHECK(c->model.n_layers == 3 && c->model.layers[0] == 3072 &&
              c->model.layers[1] == 64 && c->model.layers[2] == 10);
        CHECK(c->model.activation == CFG_ACT_RELU);
        CHECK(c->training.learning_rate == 0.01 && c->training.epochs == 120);
        CHECK(c->training.batch_size == 64 && c->training.momentum == 0);
        CHECK(c->augment.copies == 1 && c->augment.rotation && c->augment.cutout &&
              c->augment.crop && c->augment.contrast);
    }
    CHECK(strcmp(o.name, "original") == 0 && strcmp(a.name, "augmented") == 0);
    CHECK(!o.augment.enabled && a.augment.enabled);

    /* Nothing else differs: equal resolved configs once name and enabled match. */
    cJSON *jo = cfg_to_json(&o), *ja = cfg_to_json(&a);
    CHECK(jo && ja);
    if (jo && ja) {
        cJSON_ReplaceItemInObject(jo, "name", cJSON_CreateString("x"));
        cJSON_ReplaceItemInObject(ja, "name", cJSON_CreateString("x"));
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(jo, "augmentation"), "enabled",
                                  cJSON_CreateTrue());
        CHECK(cJSON_Compare(jo, ja, 1));
    }
    cJSON_Delete(jo);
    cJSON_Delete(ja);
    char ho[65], ha[65];
    cfg_hash(&o, ho);
    cfg_hash(&a, ha);
    CHECK(strlen(ho) == 64 && strcmp(ho, ha) != 0);
    cfg_free(&o);
    cfg_free(&a);
}

static void test_unknown_keys(void)
{
    EXPECT_FAIL(LAYERS "seeed: 1\n", "dir/t.yaml:3:1: seeed: unknown key",
                "valid keys at the top level: name, seed, data, features, augmentation, model, "
                "training, output");
    EXPECT_FAIL(LAYERS "training:\n  epoch: 5\n", "dir/t.yaml:4:3: training.epoch: unknown key",
                "valid keys in training: epochs, batch_size, learning_rate, momentum, "
                "weight_decay, shuffle");
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
                "dir/t.yaml:3:18: features.kind: expected one of \"raw\", got \"pca\"");
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
    const char *top[] = {"name", "seed", "data", "features", "augmentation", "model",
                         "training", "output"};
    const cJSON *it = j->child;
    for (size_t i = 0; i < 8; i++, it = it ? it->next : NULL)
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

    /* name and output do not change the hash; the learning rate and seed do. */
    char h[65];
    CHECK(load("name: other\noutput: {dir: o, database: o/x.db}\n"
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
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "type"));
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
    test_missing_and_cross_field();
    test_yaml_structure();
    test_encoding();
    test_files();
    test_json_and_hash();
    test_schema();
    return check_exit("config");
}

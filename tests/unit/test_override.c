/* Tests for overrides (cfg_load_string_ex): values read as YAML and checked
 * exactly like the same key in a file, every error with its "override N
 * (`ARG`)" location, close-match suggestions, and checks across keys that
 * point at the override that broke them. */
#include "runner/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define BASE                                                                           \
    "name: base\nseed: 3\nmodel:\n  layers: [3072, 64, 10]\ntraining:\n  epochs: 5\n" \
    "  learning_rate: 0.1\n"

static int load_ov(const char *yaml, const char *const *ov, size_t n, struct experiment *c,
                   struct rn_err *e)
{
    return cfg_load_string_ex(yaml, strlen(yaml), "t.yaml", ov, n, c, e);
}

static bool all_zero(const struct experiment *c)
{
    const unsigned char *p = (const unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        if (p[i])
            return false;
    return true;
}

/* One override on BASE that must fail with a message holding `want`. */
static void expect_fail(int line, const char *ov, const char *want)
{
    struct experiment c;
    struct rn_err e = {0};
    const char *list[] = {ov};
    int rc = load_ov(BASE, list, 1, &c, &e);
    CHECK_MSG(rc == RN_ERR_CONFIG, "line %d: rc %d (%s)", line, rc, e.msg);
    CHECK_MSG(strstr(e.msg, want) != NULL, "line %d: \"%s\" lacks \"%s\"", line, e.msg, want);
    CHECK_MSG(all_zero(&c), "line %d: struct not zeroed", line);
    cfg_free(&c);
}
#define FAIL(ov, want) expect_fail(__LINE__, (ov), (want))

static void test_apply(void)
{
    struct experiment c;
    struct rn_err e = {0};
    const char *ov[] = {"training.learning_rate=0.05", "model.layers=[3072, 256, 10]", "seed=7",
                        "training.lr_schedule=cosine", "training.shuffle=false",
                        "name=\"a, b\"", "training.lr_min=1e-3", "features.npy.train=null"};
    int rc = load_ov(BASE, ov, 8, &c, &e);
    CHECK_MSG(rc == RN_OK, "%s", e.msg);
    if (rc != RN_OK)
        return;
    CHECK(c.training.learning_rate == 0.05);
    CHECK(c.model.n_layers == 3 && c.model.layers[1] == 256 && c.model.layers[2] == 10);
    CHECK(c.seed == 7);
    CHECK(c.training.lr_schedule == CFG_LR_COSINE);
    CHECK(!c.training.shuffle);
    CHECK(strcmp(c.name, "a, b") == 0);
    CHECK(c.training.lr_min == 1e-3);
    CHECK(c.features.npy.train == NULL);
    CHECK(c.training.epochs == 5); /* the file's value where not overridden */
    CHECK(c.n_overrides == 8 && strcmp(c.overrides[1], "model.layers=[3072, 256, 10]") == 0);
    /* the mark of an overridden key names the override, not the file */
    size_t line = 9, col = 9;
    CHECK(!cfg_find_mark(&c, "seed", &line, &col) || (line == 0 && col == 0));
    cfg_free(&c);

    /* a block list and a key the file does not have */
    const char *ov2[] = {"model.layers=[3072,10]", "augmentation.enabled=true"};
    rc = load_ov(BASE, ov2, 2, &c, &e);
    CHECK_MSG(rc == RN_OK && c.model.n_layers == 2 && c.augment.enabled, "%s", e.msg);
    cfg_free(&c);

    /* no overrides: same as cfg_load_string */
    rc = load_ov(BASE, NULL, 0, &c, &e);
    CHECK(rc == RN_OK && c.n_overrides == 0 && c.training.learning_rate == 0.1);
    cfg_free(&c);

    /* the required key may come from an override */
    const char *ov3[] = {"model.layers=[3072,10]"};
    const char *no_model = "name: x\n";
    rc = cfg_load_string_ex(no_model, strlen(no_model), "t.yaml", ov3, 1, &c, &e);
    CHECK_MSG(rc == RN_OK, "%s", e.msg);
    cfg_free(&c);
}

/* An override's message equals the file's for the same value, with the
 * override in place of FILE:LINE:COL. */
static void test_same_messages(void)
{
    const char *cases[][2] = {
        {"training.epochs", "abc"},   {"training.epochs", "0"},
        {"training.learning_rate", "20"}, {"training.learning_rate", ".nan"},
        {"training.shuffle", "maybe"}, {"model.activation", "gelu"},
        {"seed", "-1"},               {"name", "1e3"},
        {"model.layers", "[3072, x, 10]"}, {"model.layers", "[3072]"},
        {"training.momentum", "1"},   {"data.dir", "[a]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512], ov[128];
        /* the key in the file, in flow style on one line */
        const char *key = cases[i][0], *val = cases[i][1];
        const char *dot = strchr(key, '.');
        if (dot)
            snprintf(yaml, sizeof yaml, "model: {layers: [3072, 10]}\n%.*s: {%s: %s}\n",
                     (int)(dot - key), key, dot + 1, val);
        else
            snprintf(yaml, sizeof yaml, "model: {layers: [3072, 10]}\n%s: %s\n", key, val);
        if (strcmp(key, "model.layers") == 0)
            snprintf(yaml, sizeof yaml, "model: {layers: %s}\n", val);
        else if (strncmp(key, "model.", 6) == 0)
            snprintf(yaml, sizeof yaml, "model: {layers: [3072, 10], %s: %s}\n", key + 6, val);
        snprintf(ov, sizeof ov, "%s=%s", key, val);
        struct experiment c;
        struct rn_err ef = {0}, eo = {0};
        int rf = load_ov(yaml, NULL, 0, &c, &ef);
        cfg_free(&c);
        const char *list[] = {ov};
        int ro = load_ov("model: {layers: [3072, 10]}\n", list, 1, &c, &eo);
        cfg_free(&c);
        CHECK_MSG(rf == RN_ERR_CONFIG && ro == RN_ERR_CONFIG, "%s: %d %d", ov, rf, ro);
        /* file: "t.yaml:L:C: what"; override: "override 1 (`ov`): what" */
        const char *wf = strstr(ef.msg, ": ");
        char prefix[200];
        snprintf(prefix, sizeof prefix, "override 1 (`%s`): ", ov);
        CHECK_MSG(strncmp(eo.msg, prefix, strlen(prefix)) == 0, "%s", eo.msg);
        /* skip "t.yaml:L:C" */
        const char *f = ef.msg;
        for (int colons = 0; *f && colons < 3; f++)
            colons += *f == ':';
        CHECK_MSG(wf && strcmp(f + 1, eo.msg + strlen(prefix)) == 0, "file \"%s\" vs \"%s\"",
                  ef.msg, eo.msg);
    }
}

static void test_errors(void)
{
    FAIL("train.lr=0.05", "override 1 (`train.lr=0.05`): train.lr: unknown key; did you mean "
                          "training.learning_rate");
    FAIL("lr=0.05", "did you mean training.learning_rate");
    FAIL("learning_rate=0.05", "did you mean training.learning_rate?");
    FAIL("training.epoch=3", "did you mean training.epochs?");
    FAIL("trainig.epochs=3", "did you mean training.epochs?");
    FAIL("sed=3", "did you mean seed?");
    FAIL("training.zzzzzz=1", "unknown key; valid keys in training: epochs, batch_size");
    FAIL("qqqqqqq=1", "unknown key; valid keys are dotted paths from: name, seed");
    FAIL("training.epochs=abc", "override 1 (`training.epochs=abc`): training.epochs: "
                                "expected an integer, got \"abc\"");
    FAIL("training.learning_rate=20", "training.learning_rate: expected a number in (0, 10], "
                                      "got 20");
    FAIL("training.learning_rate=\"0.1\"", "expected a number, got the quoted string");
    FAIL("model.layers=[3072,", "override 1 (`model.layers=[3072,`): YAML syntax error");
    FAIL("model.layers=3072", "model.layers: expected a list of integers, got \"3072\"");
    FAIL("training=5", "training: is a section; set its keys one by one (training.KEY=VALUE)");
    FAIL("training={epochs: 3}", "is a section");
    FAIL("=5", "override 1 (`=5`): expected KEY=VALUE");
    FAIL("seed", "expected KEY=VALUE");
    FAIL("seed=", "seed: expected a value after '='");
    FAIL("seed=  ", "expected a value after '='");
    FAIL("seed=#c", "expected a value after '='");
    FAIL("seed=1\n---\n2", "expected one value, got more");
    FAIL("seed=&a 1", "anchors and aliases are not supported");
    FAIL("seed=!!int 1", "tags are not supported");
    FAIL("name=\xff", "invalid UTF-8");
    FAIL("training.epochs={a: 1}", "expected an integer, got a mapping");
    /* checks across keys point at the override that broke them */
    FAIL("model.layers=[100, 10]", "override 1 (`model.layers=[100, 10]`): model.layers[0]: "
                                   "expected 3072");
    FAIL("training.lr_min=0.5", "override 1 (`training.lr_min=0.5`): training.lr_min: "
                                "expected at most training.learning_rate (0.1)");

    /* a key twice, and the second override's index in the message */
    struct experiment c;
    struct rn_err e = {0};
    const char *twice[] = {"seed=1", "seed=2"};
    CHECK(load_ov(BASE, twice, 2, &c, &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "override 2 (`seed=2`): seed: already set by override 1");
    cfg_free(&c);
    const char *second[] = {"seed=1", "training.epochs=-3"};
    CHECK(load_ov(BASE, second, 2, &c, &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "override 2 (`training.epochs=-3`)");
    cfg_free(&c);
    /* a file error still wins with its own location */
    const char *ok[] = {"seed=1"};
    const char *bad = "model: {layers: [3072, 10]}\nbogus: 1\n";
    CHECK(cfg_load_string_ex(bad, strlen(bad), "t.yaml", ok, 1, &c, &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "t.yaml:2:1: bogus: unknown key");
    cfg_free(&c);
}

static void test_check_key(void)
{
    struct rn_err e = {0};
    CHECK(cfg_check_key("training.learning_rate", "x", &e) == RN_OK);
    CHECK(cfg_check_key("model.layers", "x", &e) == RN_OK);
    CHECK(cfg_check_key("features.kmeans", "x", &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "x: features.kmeans: is a section");
    CHECK(cfg_check_key("features.kmeans.centroid", "x", &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "did you mean features.kmeans.centroids?");
    char *q = cfg_yaml_quote("a\"b\\c\n");
    CHECK(q && strcmp(q, "\"a\\\"b\\\\c\\n\"") == 0);
    /* read back as the same string */
    char ov[64];
    snprintf(ov, sizeof ov, "name=%s", q ? q : "");
    const char *list[] = {ov};
    struct experiment c;
    CHECK(load_ov(BASE, list, 1, &c, &e) == RN_OK && strcmp(c.name, "a\"b\\c\n") == 0);
    cfg_free(&c);
    free(q);
}

int main(void)
{
    test_apply();
    test_same_messages();
    test_errors();
    test_check_key();
    return check_exit("override");
}

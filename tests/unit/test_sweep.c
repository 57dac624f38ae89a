/* Tests for sweeps: the `sweep:` section of an experiment file (values
 * checked like the keys, errors with FILE:LINE:COL), comma lists on the
 * command line, the cartesian product's order, file + command-line axes,
 * run names and the spec. */
#include "runner/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define LAYERS "model:\n  layers: [3072, 64, 10]\n"

static int load(const char *yaml, struct experiment *c, struct rn_err *e)
{
    return cfg_load_string(yaml, strlen(yaml), "s.yaml", c, e);
}

static void expect_fail(int line, const char *yaml, const char *want)
{
    struct experiment c;
    struct rn_err e = {0};
    int rc = load(yaml, &c, &e);
    CHECK_MSG(rc == RN_ERR_CONFIG, "line %d: rc %d", line, rc);
    CHECK_MSG(strstr(e.msg, want) != NULL, "line %d: \"%s\" lacks \"%s\"", line, e.msg, want);
    cfg_free(&c);
}
#define FAIL(yaml, want) expect_fail(__LINE__, (yaml), (want))

static void test_section(void)
{
    struct experiment c;
    struct rn_err e = {0};
    const char *yaml = LAYERS "sweep:\n"
                              "  training.learning_rate: [0.1, 1e-2]\n"
                              "  seed: [1, 2, 3]\n"
                              "  model.layers: [[3072, 64, 10], [3072,128,10]]\n"
                              "  name: ['a b', \"c\\\"d\"]\n";
    int rc = load(yaml, &c, &e);
    CHECK_MSG(rc == RN_OK, "%s", e.msg);
    if (rc != RN_OK)
        return;
    CHECK(c.n_sweep == 4);
    CHECK(strcmp(c.sweep[0].path, "training.learning_rate") == 0 && c.sweep[0].n_values == 2);
    CHECK(strcmp(c.sweep[0].values[1], "1e-2") == 0);
    CHECK(c.sweep[0].line == 4 && c.sweep[0].column == 3);
    CHECK(c.sweep[1].n_values == 3 && strcmp(c.sweep[1].values[2], "3") == 0);
    CHECK(strcmp(c.sweep[2].values[0], "[3072,64,10]") == 0);
    CHECK(strcmp(c.sweep[2].values[1], "[3072,128,10]") == 0);
    CHECK(strcmp(c.sweep[3].values[0], "\"a b\"") == 0);
    CHECK(strcmp(c.sweep[3].values[1], "\"c\\\"d\"") == 0);
    /* the sweep is not part of the config: same hash as without it */
    char h1[65], h2[65];
    cfg_hash(&c, h1);
    struct experiment plain;
    CHECK(load(LAYERS, &plain, &e) == RN_OK);
    cfg_hash(&plain, h2);
    CHECK(strcmp(h1, h2) == 0);
    cJSON *j = cfg_to_json(&c);
    CHECK(j && !cJSON_GetObjectItem(j, "sweep"));
    cJSON_Delete(j);
    cfg_free(&plain);

    /* every value reads back through an override to what the file meant */
    for (size_t a = 0; a < c.n_sweep; a++) {
        for (size_t v = 0; v < c.sweep[a].n_values; v++) {
            char ov[200];
            snprintf(ov, sizeof ov, "%s=%s", c.sweep[a].path, c.sweep[a].values[v]);
            const char *list[] = {ov};
            struct experiment r;
            CHECK_MSG(cfg_load_string_ex(LAYERS, strlen(LAYERS), "s.yaml", list, 1, &r, &e) ==
                          RN_OK,
                      "%s: %s", ov, e.msg);
            if (a == 3 && v == 1)
                CHECK(strcmp(r.name, "c\"d") == 0);
            cfg_free(&r);
        }
    }
    cfg_free(&c);

    FAIL(LAYERS "sweep:\n  train.lr: [0.1]\n",
         "s.yaml:4:3: sweep.train.lr: unknown key; did you mean training.learning_rate");
    FAIL(LAYERS "sweep:\n  seed: []\n", "s.yaml:4:9: sweep.seed: expected a non-empty list");
    FAIL(LAYERS "sweep:\n  seed: 3\n", "sweep.seed: expected a list of values");
    FAIL(LAYERS "sweep: {}\n", "sweep: expected at least one key to sweep");
    FAIL(LAYERS "sweep: [1]\n", "sweep: expected a mapping");
    FAIL(LAYERS "sweep:\n  training: [1]\n", "s.yaml:4:3: sweep.training: is a section");
    FAIL(LAYERS "sweep:\n  seed: [1, x]\n", "s.yaml:4:13: seed: expected an integer, got \"x\"");
    FAIL(LAYERS "sweep:\n  training.learning_rate: [0.1, 50]\n",
         "training.learning_rate: expected a number in (0, 10], got 50");
    FAIL(LAYERS "sweep:\n  model.layers: [[3072, 0, 10]]\n", "model.layers[1]: expected an integer in [1,");
    FAIL(LAYERS "sweep:\n  seed: [1]\n  seed: [2]\n", "s.yaml:5:3: sweep.seed: duplicate key");
    FAIL(LAYERS "sweep:\n  seed: [1]\nsweep:\n  seed: [2]\n", "s.yaml:5:1: sweep: duplicate key");
    FAIL(LAYERS "training:\n  sweep: {seed: [1]}\n", "training.sweep: unknown key");
}

static void test_split(void)
{
    struct rn_err e = {0};
    char **v;
    size_t n;
    CHECK(sweep_split_values("0.1,0.01, 0.001", "w", &v, &n, &e) == RN_OK && n == 3 &&
          strcmp(v[2], "0.001") == 0);
    sweep_strv_free(v, n);
    CHECK(sweep_split_values("[3072,64,10]", "w", &v, &n, &e) == RN_OK && n == 1 &&
          strcmp(v[0], "[3072,64,10]") == 0);
    sweep_strv_free(v, n);
    CHECK(sweep_split_values("[3072,64,10],[3072, 128,10]", "w", &v, &n, &e) == RN_OK &&
          n == 2 && strcmp(v[1], "[3072, 128,10]") == 0);
    sweep_strv_free(v, n);
    CHECK(sweep_split_values("\"a,b\",'c,d',e", "w", &v, &n, &e) == RN_OK && n == 3 &&
          strcmp(v[0], "\"a,b\"") == 0 && strcmp(v[1], "'c,d'") == 0);
    sweep_strv_free(v, n);
    CHECK(sweep_split_values("0.1,,0.2", "w", &v, &n, &e) == RN_ERR_CONFIG && v == NULL);
    CHECK_STR_CONTAINS(e.msg, "w: expected a comma list of values, got an empty value");
    CHECK(sweep_split_values("0.1,", "w", &v, &n, &e) == RN_ERR_CONFIG);
    CHECK(sweep_split_values(",0.1", "w", &v, &n, &e) == RN_ERR_CONFIG);
    CHECK(sweep_split_values("", "w", &v, &n, &e) == RN_ERR_CONFIG);
}

static char *joined(char **v, size_t n)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "", v[i]);
    return buf;
}

static void test_product(void)
{
    struct rn_err e = {0};
    struct sweep_plan p;
    const char *args[] = {"training.learning_rate=0.1,0.01,0.001", "seed=1,2",
                          "model.layers=[3072,64,10]"};
    CHECK(sweep_plan_build(NULL, 0, args, 3, true, &p, &e) == RN_OK);
    CHECK(p.n_runs == 6 && p.n_axes == 3);
    const char *want[6] = {
        "training.learning_rate=0.1 seed=1 model.layers=[3072,64,10]",
        "training.learning_rate=0.1 seed=2 model.layers=[3072,64,10]",
        "training.learning_rate=0.01 seed=1 model.layers=[3072,64,10]",
        "training.learning_rate=0.01 seed=2 model.layers=[3072,64,10]",
        "training.learning_rate=0.001 seed=1 model.layers=[3072,64,10]",
        "training.learning_rate=0.001 seed=2 model.layers=[3072,64,10]"};
    for (size_t i = 0; i < 6; i++) {
        char **v;
        size_t n;
        CHECK(sweep_run_overrides(&p, i, false, &v, &n, &e) == RN_OK && n == 3);
        CHECK_MSG(strcmp(joined(v, n), want[i]) == 0, "run %zu: %s", i, joined(v, n));
        sweep_strv_free(v, n);
    }
    char suffix[128];
    sweep_run_suffix(&p, 3, suffix, sizeof suffix);
    CHECK_MSG(strcmp(suffix, "-lr0.01-seed2") == 0, "%s", suffix);
    cJSON *spec = sweep_spec_json(&p);
    char *txt = spec ? cJSON_PrintUnformatted(spec) : NULL;
    CHECK(txt && strstr(txt, "{\"key\":\"seed\",\"values\":[\"1\",\"2\"]}") &&
          strstr(txt, "\"n_runs\":6"));
    free(txt);
    cJSON_Delete(spec);
    sweep_plan_free(&p);

    /* without -m a value is one value, commas and all */
    CHECK(sweep_plan_build(NULL, 0, args, 2, false, &p, &e) == RN_OK && p.n_runs == 1 &&
          strcmp(p.axes[1].values[0], "1,2") == 0);
    sweep_plan_free(&p);

    /* list values: two layer lists, a suffix with 'x' */
    const char *largs[] = {"model.layers=[3072,64,10],[3072,128,10]"};
    CHECK(sweep_plan_build(NULL, 0, largs, 1, true, &p, &e) == RN_OK && p.n_runs == 2);
    sweep_run_suffix(&p, 1, suffix, sizeof suffix);
    CHECK_MSG(strcmp(suffix, "-layers3072x128x10") == 0, "%s", suffix);
    sweep_plan_free(&p);

    /* file + command line: the command line replaces a file axis in place */
    struct experiment c;
    const char *yaml = LAYERS "sweep:\n  seed: [1, 2]\n  training.epochs: [1, 2, 3]\n";
    CHECK(load(yaml, &c, &e) == RN_OK);
    const char *cl[] = {"training.batch_size=8,16", "seed=5"};
    CHECK(sweep_plan_build(c.sweep, c.n_sweep, cl, 2, true, &p, &e) == RN_OK);
    CHECK(p.n_axes == 3 && p.n_runs == 6);
    CHECK(strcmp(p.axes[0].path, "seed") == 0 && p.axes[0].n_values == 1);
    CHECK(strcmp(p.axes[2].path, "training.batch_size") == 0);
    char **v;
    size_t n;
    CHECK(sweep_run_overrides(&p, 5, false, &v, &n, &e) == RN_OK);
    CHECK_MSG(strcmp(joined(v, n), "seed=5 training.epochs=3 training.batch_size=16") == 0, "%s",
              joined(v, n));
    sweep_strv_free(v, n);
    sweep_run_suffix(&p, 5, suffix, sizeof suffix);
    CHECK_MSG(strcmp(suffix, "-epochs3-bs16") == 0, "%s", suffix); /* seed is fixed */
    sweep_plan_free(&p);
    cfg_free(&c);

    /* name axis: skipped on request, not in the suffix */
    const char *nargs[] = {"name=a,b", "seed=1,2"};
    CHECK(sweep_plan_build(NULL, 0, nargs, 2, true, &p, &e) == RN_OK && p.n_runs == 4);
    CHECK(sweep_run_overrides(&p, 2, true, &v, &n, &e) == RN_OK && n == 1 &&
          strcmp(v[0], "seed=1") == 0);
    sweep_strv_free(v, n);
    sweep_run_suffix(&p, 2, suffix, sizeof suffix);
    CHECK(strcmp(suffix, "-seed1") == 0);
    sweep_plan_free(&p);

    /* same label twice: whole paths */
    const char *dup[] = {"augmentation.crop.enabled=true,false",
                         "augmentation.cutout.enabled=true,false"};
    CHECK(sweep_plan_build(NULL, 0, dup, 2, true, &p, &e) == RN_OK);
    sweep_run_suffix(&p, 1, suffix, sizeof suffix);
    CHECK_MSG(strcmp(suffix, "-augmentation_crop_enabledtrue-augmentation_cutout_enabledfalse") ==
                  0,
              "%s", suffix);
    sweep_plan_free(&p);

    /* errors */
    const char *bad1[] = {"seed=1,,2"};
    CHECK(sweep_plan_build(NULL, 0, bad1, 1, true, &p, &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "override 1 (`seed=1,,2`): expected a comma list");
    const char *bad2[] = {"seed=1", "seed=2,3"};
    CHECK(sweep_plan_build(NULL, 0, bad2, 2, true, &p, &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "override 2 (`seed=2,3`): seed: already set by override 1");
    const char *bad3[] = {"=1,2"};
    CHECK(sweep_plan_build(NULL, 0, bad3, 1, true, &p, &e) == RN_ERR_CONFIG);
    const char *big[] = {"seed=1,2,3,4,5,6,7,8,9,10,11", "training.epochs=1,2,3,4,5,6,7,8,9,10",
                         "training.batch_size=1,2,3,4,5,6,7,8,9,10",
                         "data.train_limit=1,2,3,4,5,6,7,8,9,10",
                         "data.test_limit=1,2,3,4,5,6,7,8,9,10"};
    CHECK(sweep_plan_build(NULL, 0, big, 5, true, &p, &e) == RN_ERR_CONFIG);
    CHECK_STR_CONTAINS(e.msg, "more than 100000 runs");

    char id1[64], id2[64];
    sweep_make_id(id1);
    sweep_make_id(id2);
    CHECK(strncmp(id1, "sweep-", 6) == 0 && strcmp(id1, id2) != 0);
}

int main(void)
{
    test_section();
    test_split();
    test_product();
    return check_exit("sweep");
}

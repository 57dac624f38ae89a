/* known_runs: test helper that records runs with known params and metrics
 * through the store API (the way the runner records them), for the tests of
 * the SQL views and of the query/compare module. */
#ifndef RUNNER_TESTS_KNOWN_RUNS_H
#define RUNNER_TESTS_KNOWN_RUNS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "runner/results.h"

#define KR_MAX_EPOCHS 4

struct known_run {
    const char *name;
    uint64_t seed;
    int augmented;              /* augmentation.enabled */
    double lr;                  /* training.learning_rate */
    int batch;                  /* training.batch_size (0 = 64) */
    double rotation;            /* augmentation.rotation.max_degrees */
    const char *out_dir;        /* output.dir (incidental) */
    enum run_status status;     /* RUN_RUNNING: never ended */
    size_t n;                   /* epochs recorded */
    double test_acc[KR_MAX_EPOCHS], test_loss[KR_MAX_EPOCHS];
    double wall;
};

/* A resolved config shaped like cfg_to_json's (a subset of its keys, with a
 * null leaf as features.npy.train has). */
static inline cJSON *kr_config(const struct known_run *k)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", k->name);
    cJSON_AddNumberToObject(c, "seed", (double)k->seed);
    cJSON *data = cJSON_AddObjectToObject(c, "data");
    cJSON_AddStringToObject(data, "dir", "/data/cifar");
    cJSON *feat = cJSON_AddObjectToObject(c, "features");
    cJSON_AddStringToObject(feat, "kind", "raw");
    cJSON_AddBoolToObject(feat, "cache", 1);
    cJSON_AddStringToObject(feat, "cache_dir", k->out_dir);
    cJSON *npy = cJSON_AddObjectToObject(feat, "npy");
    cJSON_AddNullToObject(npy, "train");
    cJSON *aug = cJSON_AddObjectToObject(c, "augmentation");
    cJSON_AddBoolToObject(aug, "enabled", k->augmented);
    cJSON *rot = cJSON_AddObjectToObject(aug, "rotation");
    cJSON_AddNumberToObject(rot, "max_degrees", k->rotation);
    cJSON *model = cJSON_AddObjectToObject(c, "model");
    int layers[] = {3072, 64, 10};
    cJSON_AddItemToObject(model, "layers", cJSON_CreateIntArray(layers, 3));
    cJSON *tr = cJSON_AddObjectToObject(c, "training");
    cJSON_AddNumberToObject(tr, "epochs", 3);
    cJSON_AddNumberToObject(tr, "batch_size", k->batch ? k->batch : 64);
    cJSON_AddNumberToObject(tr, "learning_rate", k->lr);
    cJSON *out = cJSON_AddObjectToObject(c, "output");
    cJSON_AddStringToObject(out, "dir", k->out_dir);
    cJSON_AddStringToObject(out, "database", "results.db");
    return c;
}

/* Record the run: begin, its epochs (train loss = test loss / 2, train acc =
 * test acc + 0.1, lr, 1 s each), and its end unless it is running. Returns
 * the run id, or exits on failure (the fixture must be right). */
static inline int64_t kr_add(struct store *s, const struct known_run *k, size_t serial)
{
    char uid[64];
    snprintf(uid, sizeof uid, "uid-%zu", serial);
    cJSON *config = kr_config(k);
    struct run_identity id = {
        .uid = uid,
        .name = k->name,
        .config_hash = "0000",
        .seed = k->seed,
        .started_at = "2024-05-01T12:00:00Z",
        .host = "testhost",
        .version = "test",
        .config_path = "x.yaml",
        .epochs_planned = 3,
        .config = config,
        .data_files = NULL,
    };
    struct rn_err err = {0};
    int64_t run_id = 0;
    if (store_run_begin(s, &id, NULL, &run_id, &err) != RN_OK) {
        fprintf(stderr, "kr_add: %s\n", err.msg);
        exit(2);
    }
    cJSON_Delete(config);
    for (size_t e = 0; e < k->n; e++) {
        struct epoch_metrics m = {
            .epoch = e + 1,
            .train_loss = k->test_loss[e] / 2,
            .train_acc = k->test_acc[e] + 0.1,
            .test_loss = k->test_loss[e],
            .test_acc = k->test_acc[e],
            .lr = k->lr,
            .seconds = 1,
        };
        if (store_run_epoch(s, run_id, &m, &err) != RN_OK) {
            fprintf(stderr, "kr_add: %s\n", err.msg);
            exit(2);
        }
    }
    if (k->status != RUN_RUNNING &&
        store_run_end(s, run_id, k->status, "2024-05-01T13:00:00Z", k->wall, 0, NULL, &err) !=
            RN_OK) {
        fprintf(stderr, "kr_add: %s\n", err.msg);
        exit(2);
    }
    return run_id;
}

#endif

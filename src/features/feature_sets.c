/* feature_sets: raw / kmeans / npy feature stage with the on-disk cache.
 * See include/runner/feature_sets.h. */
#include "runner/feature_sets.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "runner/fsutil.h"
#include "runner/hash.h"
#include "runner/kmeans.h"
#include "runner/npy.h"
#include "runner/rng.h"
#include "runner/standardize.h"

#define CACHE_FORMAT 1 /* bump when the meaning of cached features changes */

void fset_free(struct fset *fs)
{
    feat_free(&fs->train);
    feat_free(&fs->val);
    feat_free(&fs->test);
    free(fs->train_y);
    free(fs->val_y);
    free(fs->test_y);
    memset(fs, 0, sizeof *fs);
}

static int alloc_matrix(struct feat_matrix *m, size_t rows, size_t cols, struct rn_err *err)
{
    size_t n;
    if (rn_mul_size(rows, cols, &n) || rn_mul_size(n, sizeof(float), &n))
        return rn_fail(err, RN_ERR_NOMEM, "feature matrix %zu x %zu overflows", rows, cols);
    m->data = malloc(n ? n : 1);
    if (!m->data)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for a %zu x %zu feature matrix", rows,
                       cols);
    m->rows = rows;
    m->cols = cols;
    return RN_OK;
}

static int copy_labels(uint8_t **dst, const uint8_t *src, size_t n, struct rn_err *err)
{
    *dst = malloc(n ? n : 1);
    if (!*dst)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for %zu labels", n);
    if (n)
        memcpy(*dst, src, n);
    return RN_OK;
}

/* ---- cache key ---------------------------------------------------------- */

int fset_cache_key(const struct experiment *cfg, const struct cifar_file *files,
                   size_t n_files, char out[65], struct rn_err *err)
{
    cJSON *all = cfg_to_json(cfg);
    cJSON *key = cJSON_CreateObject();
    cJSON *digests = cJSON_CreateArray();
    if (!all || !key || !digests)
        goto nomem;
    cJSON_AddNumberToObject(key, "format", CACHE_FORMAT);
    cJSON *feat = cJSON_DetachItemFromObjectCaseSensitive(all, "features");
    cJSON *aug = cJSON_DetachItemFromObjectCaseSensitive(all, "augmentation");
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(all, "data");
    cJSON *seed = cJSON_DetachItemFromObjectCaseSensitive(all, "seed");
    if (!feat || !aug || !data || !seed) {
        cJSON_Delete(feat);
        cJSON_Delete(aug);
        cJSON_Delete(data);
        cJSON_Delete(seed);
        goto nomem;
    }
    /* Where features are kept, and where the data lives, do not change them. */
    cJSON_DeleteItemFromObjectCaseSensitive(feat, "cache");
    cJSON_DeleteItemFromObjectCaseSensitive(feat, "cache_dir");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "dir");
    cJSON_AddItemToObject(key, "features", feat);
    cJSON_AddItemToObject(key, "augmentation", aug);
    cJSON_AddItemToObject(key, "data", data);
    cJSON_AddItemToObject(key, "seed", seed);
    for (size_t i = 0; i < n_files; i++)
        cJSON_AddItemToArray(digests, cJSON_CreateString(files[i].sha256));
    cJSON_AddItemToObject(key, "files", digests);
    digests = NULL;
    char *text = cJSON_PrintUnformatted(key);
    if (!text)
        goto nomem;
    sha256_hex(text, strlen(text), out);
    cJSON_free(text);
    cJSON_Delete(all);
    cJSON_Delete(key);
    return RN_OK;
nomem:
    cJSON_Delete(all);
    cJSON_Delete(key);
    cJSON_Delete(digests);
    return rn_fail(err, RN_ERR_NOMEM, "out of memory computing the feature cache key");
}

/* ---- cache entries ------------------------------------------------------ */

static const char *const entry_files[6] = {"train.npy", "train_labels.npy", "val.npy",
                                           "val_labels.npy", "test.npy", "test_labels.npy"};

/* Remove a cache entry directory and the files it can hold. */
static void remove_entry(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[1400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Load an entry, checking every file against the manifest's digests. */
static int cache_load(const char *dir, const char *key, struct fset *out, struct rn_err *err)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = NULL;
    size_t len = 0;
    int rc = fs_read_all(path, &text, &len, RN_ERR_DATA, err);
    if (rc != RN_OK)
        return rc;
    cJSON *man = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(man, "key");
    const cJSON *digests = cJSON_GetObjectItemCaseSensitive(man, "sha256");
    const cJSON *norig = cJSON_GetObjectItemCaseSensitive(man, "n_train_orig");
    if (!man || !cJSON_IsString(k) || strcmp(k->valuestring, key) != 0 ||
        !cJSON_IsObject(digests) || !cJSON_IsNumber(norig)) {
        cJSON_Delete(man);
        return rn_fail(err, RN_ERR_DATA, "%s: manifest is malformed or for another key", path);
    }
    struct feat_matrix *mats[3] = {&out->train, &out->val, &out->test};
    uint8_t **labs[3] = {&out->train_y, &out->val_y, &out->test_y};
    for (int i = 0; i < 3 && rc == RN_OK; i++) {
        const cJSON *dm = cJSON_GetObjectItemCaseSensitive(digests, entry_files[2 * i]);
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(digests, entry_files[2 * i + 1]);
        if (!cJSON_IsString(dm) || !cJSON_IsString(dl)) {
            rc = rn_fail(err, RN_ERR_DATA, "%s: manifest lacks a digest", path);
            break;
        }
        if (i == 1 && dm->valuestring[0] == '\0')
            continue; /* no hold-out: nothing stored */
        snprintf(path, sizeof path, "%s/%s", dir, entry_files[2 * i]);
        struct npy_digest d1 = {.expect = dm->valuestring};
        rc = npy_read_matrix(path, &mats[i]->rows, &mats[i]->cols, &mats[i]->data, &d1, err);
        if (rc != RN_OK)
            break;
        snprintf(path, sizeof path, "%s/%s", dir, entry_files[2 * i + 1]);
        struct npy_digest d2 = {.expect = dl->valuestring};
        size_t n = 0;
        rc = npy_read_labels(path, CFG_NUM_CLASSES, &n, labs[i], &d2, err);
        if (rc == RN_OK && n != mats[i]->rows)
            rc = rn_fail(err, RN_ERR_DATA, "%s: %zu labels for %zu rows", path, n,
                         mats[i]->rows);
    }
    if (rc == RN_OK)
        out->n_train_orig = (size_t)norig->valuedouble;
    cJSON_Delete(man);
    if (rc != RN_OK)
        fset_free(out);
    return rc;
}

/* Write an entry: files into a temporary directory, manifest last, then
 * rename the directory into place (replacing a damaged entry). */
static int cache_store(const char *cache_dir, const char *dir, const char *key,
                       const struct fset *fs, struct rn_err *err)
{
    int rc = fs_mkdirs(cache_dir, err);
    if (rc != RN_OK)
        return rc;
    char tmp[1200], path[1400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    remove_entry(tmp);
    if (mkdir(tmp, 0777) != 0)
        return rn_fail(err, RN_ERR_OUTPUT, "%s: cannot create cache directory: %s", tmp,
                       strerror(errno));
    cJSON *man = cJSON_CreateObject();
    cJSON *digests = cJSON_CreateObject();
    if (!man || !digests) {
        cJSON_Delete(man);
        cJSON_Delete(digests);
        remove_entry(tmp);
        return rn_fail(err, RN_ERR_NOMEM, "out of memory writing the cache manifest");
    }
    cJSON_AddStringToObject(man, "key", key);
    cJSON_AddNumberToObject(man, "format", CACHE_FORMAT);
    cJSON_AddNumberToObject(man, "n_train_orig", (double)fs->n_train_orig);
    cJSON_AddNumberToObject(man, "val_rows", (double)fs->val.rows);
    cJSON_AddItemToObject(man, "sha256", digests);
    const struct feat_matrix *mats[3] = {&fs->train, &fs->val, &fs->test};
    const uint8_t *labs[3] = {fs->train_y, fs->val_y, fs->test_y};
    for (int i = 0; i < 3 && rc == RN_OK; i++) {
        char hex[65];
        if (mats[i]->rows == 0) {
            cJSON_AddStringToObject(digests, entry_files[2 * i], "");
            cJSON_AddStringToObject(digests, entry_files[2 * i + 1], "");
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", tmp, entry_files[2 * i]);
        rc = npy_write_matrix(path, mats[i]->rows, mats[i]->cols, mats[i]->data, hex, err);
        if (rc != RN_OK)
            break;
        cJSON_AddStringToObject(digests, entry_files[2 * i], hex);
        snprintf(path, sizeof path, "%s/%s", tmp, entry_files[2 * i + 1]);
        rc = npy_write_labels(path, mats[i]->rows, labs[i], hex, err);
        if (rc == RN_OK)
            cJSON_AddStringToObject(digests, entry_files[2 * i + 1], hex);
    }
    char *text = rc == RN_OK ? cJSON_Print(man) : NULL;
    cJSON_Delete(man);
    if (rc == RN_OK && !text)
        rc = rn_fail(err, RN_ERR_NOMEM, "out of memory writing the cache manifest");
    if (rc == RN_OK) {
        snprintf(path, sizeof path, "%s/manifest.json", tmp);
        rc = fs_write_atomic(path, text, strlen(text), err);
    }
    cJSON_free(text);
    if (rc == RN_OK) {
        remove_entry(dir);
        if (rename(tmp, dir) != 0)
            rc = rn_fail(err, RN_ERR_OUTPUT, "%s: cannot move cache entry into place: %s", dir,
                         strerror(errno));
    }
    if (rc != RN_OK)
        remove_entry(tmp);
    return rc;
}

/* ---- sources ------------------------------------------------------------ */

struct progress_bridge {
    fset_progress_fn fn;
    void *ctx;
    const char *stage;
};

static int bridge(void *ctx, size_t done, size_t total)
{
    struct progress_bridge *b = ctx;
    return b->fn ? b->fn(b->ctx, b->stage, done, total) : 0;
}

static int build_raw(const struct fset_images *in, struct fset *out, struct rn_err *err)
{
    struct feat_raw_stats st;
    feat_raw_fit(in->train_orig->images, in->train_orig->n, &st);
    int rc = feat_raw_apply(&st, in->train, &out->train, err);
    if (rc == RN_OK && in->val->n)
        rc = feat_raw_apply(&st, in->val, &out->val, err);
    if (rc == RN_OK)
        rc = feat_raw_apply(&st, in->test, &out->test, err);
    return rc;
}

static int encode_set(const struct kmeans_model *model, const struct cifar_set *set,
                      struct feat_matrix *m, struct kmeans_exec *exec, struct rn_err *err)
{
    int rc = alloc_matrix(m, set->n, kmeans_n_features(&model->params), err);
    if (rc == RN_OK && set->n)
        rc = kmeans_encode(model, set->images, set->n, m->data, exec, err);
    return rc;
}

static int build_kmeans(const struct experiment *cfg, const struct fset_images *in,
                        size_t threads, fset_progress_fn progress, void *ctx, struct fset *out,
                        struct rn_err *err)
{
    const struct cfg_kmeans *k = &cfg->features.kmeans;
    struct kmeans_params p;
    kmeans_params_default(&p);
    p.k = k->centroids;
    p.patch = k->patch_size;
    p.stride = k->stride;
    p.n_patches = k->patches;
    p.norm_eps = k->norm_epsilon;
    p.zca_eps = k->zca_epsilon;
    p.iterations = k->iterations;
    p.encoder = k->encoder == CFG_ENC_SOFT_THRESHOLD ? KMEANS_SOFT_THRESHOLD : KMEANS_TRIANGLE;
    p.alpha = k->alpha;
    int rc = kmeans_params_check(&p, err);
    if (rc != RN_OK)
        return rc;
    struct progress_bridge b = {progress, ctx, "k-means"};
    struct kmeans_exec exec = {threads, bridge, &b};
    struct kmeans_model model = {0};
    struct rng r;
    rng_init(&r, cfg->seed, RNG_STREAM_FEATURES);
    rc = kmeans_fit(&p, in->train_orig->images, in->train_orig->n, &r, &exec, &model, err);
    if (rc == RN_OK) {
        b.stage = "encode train";
        rc = encode_set(&model, in->train, &out->train, &exec, err);
    }
    if (rc == RN_OK && in->val->n) {
        b.stage = "encode validation";
        rc = encode_set(&model, in->val, &out->val, &exec, err);
    }
    if (rc == RN_OK) {
        b.stage = "encode test";
        rc = encode_set(&model, in->test, &out->test, &exec, err);
    }
    kmeans_model_free(&model);
    return rc;
}

/* Column standardisation with statistics of the first n_fit train rows. */
static int standardize(struct fset *fs, size_t n_fit, struct rn_err *err)
{
    struct stdz_stats st = {0};
    int rc = stdz_fit(fs->train.data, n_fit, fs->train.cols, STDZ_DEFAULT_VAR_EPS, &st, err);
    if (rc != RN_OK)
        return rc;
    stdz_apply(&st, fs->train.data, fs->train.rows);
    if (fs->val.rows)
        stdz_apply(&st, fs->val.data, fs->val.rows);
    stdz_apply(&st, fs->test.data, fs->test.rows);
    stdz_free(&st);
    return RN_OK;
}

int fset_from_images(const struct experiment *cfg, const struct fset_images *in,
                     size_t threads, fset_progress_fn progress, void *ctx, struct fset *out,
                     struct fset_cache *cache, struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    memset(cache, 0, sizeof *cache);
    out->n_train_orig = in->train_orig->n;
    int rc;
    if (cfg->features.kind == CFG_FEAT_RAW) {
        rc = build_raw(in, out, err);
    } else if (cfg->features.kind == CFG_FEAT_KMEANS) {
        cache->used = cfg->features.cache;
        if (cache->used) {
            rc = fset_cache_key(cfg, in->files, in->n_files, cache->key, err);
            if (rc != RN_OK)
                return rc;
            snprintf(cache->path, sizeof cache->path, "%s/kmeans-%.16s", cfg->features.cache_dir,
                     cache->key);
            struct stat st;
            if (stat(cache->path, &st) == 0) {
                struct rn_err lerr = {0};
                if (cache_load(cache->path, cache->key, out, &lerr) == RN_OK) {
                    cache->hit = true;
                    return RN_OK;
                }
                snprintf(cache->note, sizeof cache->note, "damaged cache entry rebuilt: %s",
                         lerr.msg);
                out->n_train_orig = in->train_orig->n; /* the failed load reset it */
            }
        }
        rc = build_kmeans(cfg, in, threads, progress, ctx, out, err);
        if (rc == RN_OK && cfg->features.standardize)
            rc = standardize(out, out->n_train_orig, err);
    } else {
        return rn_fail(err, RN_ERR_GENERIC, "features.kind npy has no images to work from");
    }
    if (rc == RN_OK)
        rc = copy_labels(&out->train_y, in->train->labels, in->train->n, err);
    if (rc == RN_OK)
        rc = copy_labels(&out->val_y, in->val->labels, in->val->n, err);
    if (rc == RN_OK)
        rc = copy_labels(&out->test_y, in->test->labels, in->test->n, err);
    if (rc == RN_OK && cache->used)
        rc = cache_store(cfg->features.cache_dir, cache->path, cache->key, out, err);
    if (rc != RN_OK)
        fset_free(out);
    return rc;
}

/* ---- npy source --------------------------------------------------------- */

static int read_pair(const char *xpath, const char *ypath, struct feat_matrix *m,
                     uint8_t **y, struct rn_err *err)
{
    int rc = npy_read_matrix(xpath, &m->rows, &m->cols, &m->data, NULL, err);
    size_t n = 0;
    if (rc == RN_OK)
        rc = npy_read_labels(ypath, CFG_NUM_CLASSES, &n, y, NULL, err);
    if (rc == RN_OK && n != m->rows)
        rc = rn_fail(err, RN_ERR_DATA, "%s: %zu labels, but %s has %zu rows", ypath, n, xpath,
                     m->rows);
    return rc;
}

/* Keep rows idx[0..n) of m (and labels) in a new matrix. */
static int take_rows(const struct feat_matrix *m, const uint8_t *y, const size_t *idx, size_t n,
                     struct feat_matrix *dst, uint8_t **dy, struct rn_err *err)
{
    int rc = alloc_matrix(dst, n, m->cols, err);
    if (rc != RN_OK)
        return rc;
    *dy = malloc(n ? n : 1);
    if (!*dy)
        return rn_fail(err, RN_ERR_NOMEM, "out of memory for %zu labels", n);
    for (size_t i = 0; i < n; i++) {
        memcpy(dst->data + i * m->cols, m->data + idx[i] * m->cols, m->cols * sizeof(float));
        (*dy)[i] = y[idx[i]];
    }
    return RN_OK;
}

int fset_from_npy(const struct experiment *cfg, struct fset *out, struct rn_err *err)
{
    memset(out, 0, sizeof *out);
    const struct cfg_npy *np = &cfg->features.npy;
    struct feat_matrix train = {0}, aug = {0};
    uint8_t *train_y = NULL, *aug_y = NULL;
    size_t *idx = NULL;
    int rc = read_pair(np->train, np->train_labels, &train, &train_y, err);
    if (rc == RN_OK)
        rc = read_pair(np->test, np->test_labels, &out->test, &out->test_y, err);
    if (rc == RN_OK && out->test.cols != train.cols)
        rc = rn_fail(err, RN_ERR_DATA, "%s: %zu columns, but %s has %zu", np->test,
                     out->test.cols, np->train, train.cols);
    bool use_aug = cfg->augment.enabled && np->augmented && np->augmented[0];
    if (rc == RN_OK && use_aug) {
        rc = read_pair(np->augmented, np->augmented_labels, &aug, &aug_y, err);
        if (rc == RN_OK && aug.cols != train.cols)
            rc = rn_fail(err, RN_ERR_DATA, "%s: %zu columns, but %s has %zu", np->augmented,
                         aug.cols, np->train, train.cols);
    }
    if (rc != RN_OK)
        goto done;
    if (cfg->data.train_limit && cfg->data.train_limit < train.rows)
        train.rows = cfg->data.train_limit;
    if (cfg->data.test_limit && cfg->data.test_limit < out->test.rows)
        out->test.rows = cfg->data.test_limit;
    size_t v = cfg->data.validation, n = train.rows;
    if (v >= n) {
        rc = cfg_fail_at(cfg, "data.validation", err,
                         "hold-out of %zu rows leaves no training data (%zu rows in %s)", v, n,
                         np->train);
        goto done;
    }
    /* Hold-out: v original rows chosen by the split stream (rng_holdout,
     * as for images); the rest keep their order and the augmented rows
     * follow them. */
    idx = malloc((v ? v : 1) * sizeof *idx);
    size_t *keep = malloc((n - v ? n - v : 1) * sizeof *keep);
    if (!idx || !keep || rng_holdout(cfg->seed, n, v, idx, keep) != 0) {
        free(keep);
        rc = rn_fail(err, RN_ERR_NOMEM, "out of memory for the validation split");
        goto done;
    }
    size_t b = n - v;
    if (v)
        rc = take_rows(&train, train_y, idx, v, &out->val, &out->val_y, err);
    if (rc == RN_OK) {
        size_t total;
        if (rn_add_size(b, aug.rows, &total)) {
            rc = rn_fail(err, RN_ERR_NOMEM, "training rows overflow");
        } else {
            rc = alloc_matrix(&out->train, total, train.cols, err);
            if (rc == RN_OK)
                rc = (out->train_y = malloc(total ? total : 1)) ? RN_OK
                         : rn_fail(err, RN_ERR_NOMEM, "out of memory for labels");
        }
        if (rc == RN_OK) {
            for (size_t i = 0; i < b; i++) {
                memcpy(out->train.data + i * train.cols, train.data + keep[i] * train.cols,
                       train.cols * sizeof(float));
                out->train_y[i] = train_y[keep[i]];
            }
            if (aug.rows) {
                memcpy(out->train.data + b * train.cols, aug.data,
                       aug.rows * aug.cols * sizeof(float));
                memcpy(out->train_y + b, aug_y, aug.rows);
            }
            out->n_train_orig = b;
        }
    }
    free(keep);
    if (rc == RN_OK && cfg->features.standardize)
        rc = standardize(out, out->n_train_orig, err);
done:
    free(idx);
    feat_free(&train);
    feat_free(&aug);
    free(train_y);
    free(aug_y);
    if (rc != RN_OK)
        fset_free(out);
    return rc;
}

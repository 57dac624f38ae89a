/* checkpoint: write and read the training state. See include/runner/checkpoint.h. */
#include "runner/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/fsutil.h"
#include "runner/hash.h"

static const char ckpt_magic[8] = {'R', 'U', 'N', 'R', 'C', 'K', 'P', 'T'};
#define CKPT_BOM 0x01020304u
#define CKPT_HASH_LEN 64
/* magic, version, bom, config hash, seed, epoch, n_sizes */
#define CKPT_FIXED (8 + 4 + 4 + CKPT_HASH_LEN + 8 + 8 + 8)

/* ---- writing ------------------------------------------------------------ */

struct wbuf {
    unsigned char *p;
    size_t at;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
    memcpy(w->p + w->at, src, n);
    w->at += n;
}

static void put_u64(struct wbuf *w, uint64_t v)
{
    put(w, &v, sizeof v);
}

/* Bytes of a checkpoint for these sizes, or 0 on overflow. */
static size_t encoded_size(size_t n_sizes, size_t n_params, size_t n_rows)
{
    size_t a, b, c, total = CKPT_FIXED;
    if (rn_mul_size(n_sizes, 8, &a) || rn_mul_size(n_params, 2 * sizeof(float), &b) ||
        rn_mul_size(n_rows, 8, &c) || rn_add_size(total, a, &total) ||
        rn_add_size(total, 16 + 64, &total) || rn_add_size(total, c, &total) ||
        rn_add_size(total, b, &total) || rn_add_size(total, 32, &total))
        return 0;
    return total;
}

int ckpt_encode(const struct mlp *m, const struct train_state *st, const char *config_hash,
                uint64_t seed, unsigned char **buf, size_t *len, struct rn_err *err)
{
    *buf = NULL;
    *len = 0;
    if (!config_hash || strlen(config_hash) != CKPT_HASH_LEN)
        return rn_fail(err, RN_ERR_GENERIC, "checkpoint: config hash must be 64 hex digits");
    if (m->w0_state == MLP_W0_AHEAD)
        return rn_fail(err, RN_ERR_GENERIC,
                       "checkpoint: params lag behind the packed weights (mlp_sync_params)");
    size_t n_sizes = m->n_layers + 1;
    size_t total = encoded_size(n_sizes, m->n_params, st->n);
    if (total == 0)
        return rn_fail(err, RN_ERR_NOMEM, "checkpoint: size overflows");
    struct wbuf w = {malloc(total), 0};
    if (!w.p)
        return rn_fail(err, RN_ERR_NOMEM, "checkpoint: out of memory for %zu bytes", total);
    uint32_t version = CKPT_VERSION, bom = CKPT_BOM;
    put(&w, ckpt_magic, sizeof ckpt_magic);
    put(&w, &version, 4);
    put(&w, &bom, 4);
    put(&w, config_hash, CKPT_HASH_LEN);
    put_u64(&w, seed);
    put_u64(&w, st->epoch);
    put_u64(&w, n_sizes);
    for (size_t i = 0; i < n_sizes; i++)
        put_u64(&w, m->sizes[i]);
    put_u64(&w, m->n_params);
    put_u64(&w, st->n);
    for (size_t i = 0; i < 4; i++)
        put_u64(&w, st->shuffle.s[i]);
    for (size_t i = 0; i < 4; i++)
        put_u64(&w, st->dropout.s[i]);
    for (size_t i = 0; i < st->n; i++)
        put_u64(&w, st->perm[i]);
    put(&w, m->params, m->n_params * sizeof(float));
    put(&w, m->velocity, m->n_params * sizeof(float));
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, w.p, w.at);
    unsigned char dig[32];
    sha256_final(&h, dig);
    put(&w, dig, sizeof dig);
    *buf = w.p;
    *len = w.at;
    return RN_OK;
}

int ckpt_save(const char *path, const struct mlp *m, const struct train_state *st,
              const char *config_hash, uint64_t seed, struct rn_err *err)
{
    unsigned char *buf;
    size_t len;
    int rc = ckpt_encode(m, st, config_hash, seed, &buf, &len, err);
    if (rc != RN_OK)
        return rc;
    size_t plen = strlen(path) + 6;
    char *prev = malloc(plen);
    if (!prev) {
        free(buf);
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(prev, plen, "%s.prev", path);
    /* The current checkpoint becomes .prev; fs_write_atomic's directory
     * fsync makes both renames durable together. */
    if (rename(path, prev) != 0 && errno != ENOENT)
        rc = rn_fail(err, RN_ERR_OUTPUT, "%s: cannot rename to %s: %s", path, prev,
                     strerror(errno));
    if (rc == RN_OK)
        rc = fs_write_atomic(path, buf, len, err);
    free(prev);
    free(buf);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

struct rbuf {
    const unsigned char *p;
    size_t len, at;
};

static int get(struct rbuf *r, void *dst, size_t n)
{
    if (r->len - r->at < n)
        return 0;
    memcpy(dst, r->p + r->at, n);
    r->at += n;
    return 1;
}

static int get_u64(struct rbuf *r, uint64_t *v)
{
    return get(r, v, sizeof *v);
}

/* Magic, version, byte order, checksum; leaves r after the byte-order mark. */
static int check_frame(const unsigned char *buf, size_t len, const char *name, struct rbuf *r,
                       struct rn_err *err)
{
    r->p = buf;
    r->len = len;
    r->at = 0;
    char magic[8];
    uint32_t version, bom;
    if (!get(r, magic, 8) || memcmp(magic, ckpt_magic, 8) != 0)
        return rn_fail(err, RN_ERR_DATA, "%s: not a runner checkpoint (bad magic)", name);
    if (!get(r, &version, 4) || !get(r, &bom, 4))
        return rn_fail(err, RN_ERR_DATA, "%s: checkpoint truncated (%zu bytes)", name, len);
    if (version != CKPT_VERSION)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: checkpoint format version %u, this runner reads version %d", name,
                       (unsigned)version, CKPT_VERSION);
    if (bom != CKPT_BOM)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: checkpoint written on a machine of another byte order", name);
    if (len < CKPT_FIXED + 32)
        return rn_fail(err, RN_ERR_DATA, "%s: checkpoint truncated (%zu bytes)", name, len);
    unsigned char dig[32];
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, buf, len - 32);
    sha256_final(&h, dig);
    if (memcmp(dig, buf + len - 32, 32) != 0)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: checkpoint checksum mismatch (file damaged or truncated)", name);
    r->len = len - 32; /* the body */
    return RN_OK;
}

int ckpt_decode(const unsigned char *buf, size_t len, const char *name, struct mlp *m,
                struct train_state *st, const char *config_hash, uint64_t seed,
                struct rn_err *err)
{
    struct rbuf r;
    int rc = check_frame(buf, len, name, &r, err);
    if (rc != RN_OK)
        return rc;
    char hash[CKPT_HASH_LEN + 1] = {0};
    uint64_t f_seed = 0, epoch = 0, n_sizes = 0;
    get(&r, hash, CKPT_HASH_LEN); /* the fixed part fits: checked in check_frame */
    get_u64(&r, &f_seed);
    get_u64(&r, &epoch);
    get_u64(&r, &n_sizes);
    if (config_hash && strcmp(hash, config_hash) != 0)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: checkpoint of another configuration (config hash %.12s..., "
                       "expected %.12s...)",
                       name, hash, config_hash);
    if (f_seed != seed)
        return rn_fail(err, RN_ERR_DATA, "%s: checkpoint of seed %llu, expected %llu", name,
                       (unsigned long long)f_seed, (unsigned long long)seed);
    if (n_sizes != m->n_layers + 1)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: checkpoint has %llu layer sizes, the model has %zu", name,
                       (unsigned long long)n_sizes, m->n_layers + 1);
    for (size_t i = 0; i < n_sizes; i++) {
        uint64_t v = 0;
        if (!get_u64(&r, &v))
            return rn_fail(err, RN_ERR_DATA, "%s: checkpoint truncated in layer sizes", name);
        if (v != m->sizes[i])
            return rn_fail(err, RN_ERR_DATA,
                           "%s: checkpoint layer %zu has size %llu, the model %zu", name, i,
                           (unsigned long long)v, m->sizes[i]);
    }
    uint64_t n_params, n_rows;
    struct rng sh, dr;
    int ok = get_u64(&r, &n_params) && get_u64(&r, &n_rows);
    for (size_t i = 0; ok && i < 4; i++)
        ok = get_u64(&r, &sh.s[i]);
    for (size_t i = 0; ok && i < 4; i++)
        ok = get_u64(&r, &dr.s[i]);
    if (!ok)
        return rn_fail(err, RN_ERR_DATA, "%s: checkpoint truncated in its header", name);
    if (n_params != m->n_params)
        return rn_fail(err, RN_ERR_DATA, "%s: checkpoint has %llu parameters, the model %zu",
                       name, (unsigned long long)n_params, m->n_params);
    if (n_rows != st->n)
        return rn_fail(err, RN_ERR_DATA,
                       "%s: checkpoint is for %llu training rows, the data has %zu", name,
                       (unsigned long long)n_rows, st->n);
    size_t need = encoded_size((size_t)n_sizes, m->n_params, st->n);
    if (need != len)
        return rn_fail(err, RN_ERR_DATA, "%s: checkpoint is %zu bytes, expected %zu", name,
                       len, need);
    /* Everything fits now; check the order before touching the outputs. */
    const size_t perm_at = r.at;
    unsigned char *seen = calloc(st->n ? st->n : 1, 1);
    if (!seen)
        return rn_fail(err, RN_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < st->n; i++) {
        uint64_t v = 0;
        get_u64(&r, &v);
        if (v >= st->n || seen[v]) {
            free(seen);
            return rn_fail(err, RN_ERR_DATA,
                           "%s: checkpoint batch order is not a permutation of %zu rows",
                           name, st->n);
        }
        seen[v] = 1;
    }
    free(seen);
    r.at = perm_at;
    for (size_t i = 0; i < st->n; i++) {
        uint64_t v = 0;
        get_u64(&r, &v);
        st->perm[i] = (size_t)v;
    }
    get(&r, m->params, m->n_params * sizeof(float));
    get(&r, m->velocity, m->n_params * sizeof(float));
    memset(m->grads, 0, m->n_params * sizeof(float));
    mlp_params_changed(m);
    st->epoch = (size_t)epoch;
    st->shuffle = sh;
    st->dropout = dr;
    return RN_OK;
}

int ckpt_load(const char *path, struct mlp *m, struct train_state *st, const char *config_hash,
              uint64_t seed, struct rn_err *err)
{
    char *buf;
    size_t len;
    int rc = fs_read_all(path, &buf, &len, RN_ERR_DATA, err);
    if (rc != RN_OK)
        return rc;
    rc = ckpt_decode((const unsigned char *)buf, len, path, m, st, config_hash, seed, err);
    free(buf);
    return rc;
}

int ckpt_peek_epoch(const char *path, size_t *epoch, struct rn_err *err)
{
    char *buf;
    size_t len;
    int rc = fs_read_all(path, &buf, &len, RN_ERR_DATA, err);
    if (rc != RN_OK)
        return rc;
    struct rbuf r;
    rc = check_frame((const unsigned char *)buf, len, path, &r, err);
    if (rc == RN_OK) {
        uint64_t e = 0;
        r.at += CKPT_HASH_LEN + 8; /* config hash, seed */
        get_u64(&r, &e);
        *epoch = (size_t)e;
    }
    free(buf);
    return rc;
}

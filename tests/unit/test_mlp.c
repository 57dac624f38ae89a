/* test_mlp: gradients of every parameter against central differences of an
 * independent double-precision forward pass, without and with dropout (same
 * masks); softmax cross-entropy edge cases; SGD arithmetic; initialisation
 * statistics; dropout masks (order, rate, scale, determinism, off = no-op);
 * learning a small problem, also with dropout; mlp_evaluate; mlp_create
 * errors; bit-identical training with 1, 2 and 3 threads. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/err.h"
#include "runner/kernels.h"
#include "runner/mlp.h"
#include "runner/rng.h"

static const char *act_name(enum cfg_activation act)
{
    return act == CFG_ACT_RELU ? "relu" : act == CFG_ACT_TANH ? "tanh" : "sigmoid";
}

/* ---- double-precision reference model ---------------------------------- */

static double act_d(enum cfg_activation act, double z)
{
    switch (act) {
    case CFG_ACT_RELU:
        return z > 0.0 ? z : 0.0;
    case CFG_ACT_TANH:
        return tanh(z);
    case CFG_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-z));
    }
    return 0.0;
}

/* Dropout masks for the reference model (1 = kept): in (B, sizes[0]) or
 * NULL for none; hid the masks of hidden layers 0, 1, ... one after another,
 * each (B, sizes[l+1]), or NULL. Kept values are multiplied by the scale. */
struct ref_drop {
    const uint8_t *in, *hid;
    double in_scale, hid_scale;
};

/* Mean softmax cross-entropy of the model with parameters p (double, same
 * layout as m->params) on x (B, sizes[0]), with dropout masks d (or NULL). If
 * signs is non-NULL it receives the sign (z > 0) of every hidden
 * pre-activation, to detect ReLU kinks. */
static double ref_loss_drop(const struct mlp *m, const double *p, const float *x,
                            const uint8_t *y, size_t B, const struct ref_drop *d,
                            unsigned char *signs)
{
    size_t widest = 0;
    for (size_t l = 0; l <= m->n_layers; l++)
        if (m->sizes[l] > widest)
            widest = m->sizes[l];
    double *cur = malloc(widest * sizeof(double)), *next = malloc(widest * sizeof(double));
    double total = 0.0;
    size_t s = 0;
    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < m->sizes[0]; j++) {
            size_t k = i * m->sizes[0] + j;
            cur[j] = x[k];
            if (d && d->in)
                cur[j] = d->in[k] ? cur[j] * d->in_scale : 0.0;
        }
        size_t hid_off = 0; /* start of layer l's mask in d->hid */
        for (size_t l = 0; l < m->n_layers; l++) {
            size_t in = m->sizes[l], out = m->sizes[l + 1];
            const double *W = p + (m->W[l] - m->params);
            const double *b = p + (m->b[l] - m->params);
            for (size_t o = 0; o < out; o++) {
                double z = b[o];
                for (size_t k = 0; k < in; k++)
                    z += W[o * in + k] * cur[k];
                if (l + 1 < m->n_layers) {
                    if (signs)
                        signs[s++] = z > 0.0;
                    z = act_d(m->act, z);
                    if (d && d->hid)
                        z = d->hid[hid_off + i * out + o] ? z * d->hid_scale : 0.0;
                }
                next[o] = z;
            }
            hid_off += B * out;
            double *t = cur;
            cur = next;
            next = t;
        }
        size_t C = m->sizes[m->n_layers];
        double mx = cur[0];
        for (size_t j = 1; j < C; j++)
            mx = cur[j] > mx ? cur[j] : mx;
        double sum = 0.0;
        for (size_t j = 0; j < C; j++)
            sum += exp(cur[j] - mx);
        total += log(sum) + mx - cur[y[i]];
    }
    free(cur);
    free(next);
    return total / (double)B;
}

static double ref_loss(const struct mlp *m, const double *p, const float *x, const uint8_t *y,
                       size_t B, unsigned char *signs)
{
    return ref_loss_drop(m, p, x, y, B, NULL, signs);
}

/* The masks as mlp.h documents them, drawn from (a copy of) r: element i is
 * dropped iff rng_uniform < p; the input mask row-major (if p_in > 0), then
 * each hidden layer's row-major (if p_hid > 0). in_keep gets B * sizes[0]
 * entries, hid_keep B * (sizes[1] + ... + sizes[n_layers-1]); with p = 0
 * all are 1. */
static void draw_masks(const struct mlp *m, struct rng *r, size_t B, float p_in, float p_hid,
                       uint8_t *in_keep, uint8_t *hid_keep)
{
    for (size_t i = 0; i < B * m->sizes[0]; i++)
        in_keep[i] = p_in > 0.0f ? rng_uniform(r) >= (double)p_in : 1;
    size_t n = 0;
    for (size_t l = 1; l < m->n_layers; l++)
        for (size_t i = 0; i < B * m->sizes[l]; i++)
            hid_keep[n++] = p_hid > 0.0f ? rng_uniform(r) >= (double)p_hid : 1;
}

static double keep_scale(float p)
{
    return (double)(float)(1.0 / (1.0 - (double)p)); /* the float scale mlp.c uses */
}

static size_t hidden_units(const struct mlp *m, size_t B)
{
    size_t n = 0;
    for (size_t l = 1; l < m->n_layers; l++)
        n += m->sizes[l];
    return n * B;
}

/* ---- gradient check ----------------------------------------------------- */

/* Checks every parameter's gradient from mlp_forward_backward against
 * central differences (h = 1e-5) of ref_loss in double precision. The
 * analytic gradient is float arithmetic, so the tolerance is
 * |analytic - numeric| <= 1e-3 |numeric| + 1e-6. For ReLU, parameters whose
 * perturbation flips the sign of any hidden pre-activation (a kink between
 * the two evaluation points) are skipped; at most 5% may be.
 * With p_in or p_hid > 0 the gradient comes from mlp_forward_backward_dropout
 * and every reference loss uses the same masks: drawn from a copy of the
 * dropout rng taken before the call, in the documented order, and checked
 * to be the masks the model used. */
static void grad_check_drop(const size_t *sizes, size_t n_sizes, enum cfg_activation act,
                            uint64_t seed, float p_in, float p_hid)
{
    const size_t B = 4, max_batch = 6;
    struct mlp m;
    struct rn_err err;
    int rc = mlp_create(&m, sizes, n_sizes, act, max_batch, &err);
    CHECK(rc == RN_OK);
    if (rc != RN_OK)
        return;
    struct rng r;
    rng_init(&r, seed, RNG_STREAM_INIT);
    mlp_init_params(&m, &r);
    /* Non-zero biases so that their effect is part of the check. */
    for (size_t l = 0; l < m.n_layers; l++)
        for (size_t o = 0; o < sizes[l + 1]; o++)
            m.b[l][o] = (float)rng_range(&r, -0.3, 0.3);
    size_t C = sizes[n_sizes - 1];
    float *x = malloc(B * sizes[0] * sizeof(float));
    uint8_t y[4];
    for (size_t i = 0; i < B * sizes[0]; i++)
        x[i] = (float)rng_range(&r, -1.5, 1.5);
    for (size_t i = 0; i < B; i++)
        y[i] = (uint8_t)rng_below(&r, C);

    size_t n_sign = hidden_units(&m, B);
    int drop = p_in > 0.0f || p_hid > 0.0f;
    struct rng dr, dr_saved;
    rng_init(&dr, seed, RNG_STREAM_DROPOUT);
    dr_saved = dr;
    uint8_t *in_keep = malloc(B * sizes[0]), *hid_keep = malloc(n_sign + 1);
    struct ref_drop rd = {NULL, NULL, keep_scale(p_in), keep_scale(p_hid)};
    if (drop) {
        struct rng copy = dr_saved;
        draw_masks(&m, &copy, B, p_in, p_hid, in_keep, hid_keep);
        rd.in = p_in > 0.0f ? in_keep : NULL;
        rd.hid = p_hid > 0.0f ? hid_keep : NULL;
    }

    size_t correct = 99;
    double loss = drop ? mlp_forward_backward_dropout(&m, x, y, B, &correct, p_in, p_hid, &dr)
                       : mlp_forward_backward(&m, x, y, B, &correct);
    CHECK(correct <= B);
    if (drop) {
        /* The model used exactly the documented masks. */
        if (p_in > 0.0f)
            CHECK(memcmp(m.in_keep, in_keep, B * sizes[0]) == 0);
        size_t off = 0;
        for (size_t l = 0; p_hid > 0.0f && l + 1 < m.n_layers; l++) {
            CHECK(memcmp(m.hid_keep[l], hid_keep + off, B * sizes[l + 1]) == 0);
            off += B * sizes[l + 1];
        }
        size_t dropped = 0;
        for (size_t i = 0; i < B * sizes[0]; i++)
            dropped += !in_keep[i];
        for (size_t i = 0; i < n_sign; i++)
            dropped += !hid_keep[i];
        CHECK(dropped > 0); /* the check below is not vacuous */
    }

    double *p = calloc(m.n_params, sizeof(double));
    for (size_t i = 0; i < m.n_params; i++)
        p[i] = m.params[i];
    /* The float forward agrees with the double reference. */
    CHECK_NEAR(loss, ref_loss_drop(&m, p, x, y, B, &rd, NULL), 1e-5);

    unsigned char *s_plus = malloc(n_sign + 1), *s_minus = malloc(n_sign + 1);
    const double h = 1e-5;
    size_t skipped = 0, bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < m.n_params; i++) {
        double orig = p[i];
        p[i] = orig + h;
        double lp = ref_loss_drop(&m, p, x, y, B, &rd, s_plus);
        p[i] = orig - h;
        double lm = ref_loss_drop(&m, p, x, y, B, &rd, s_minus);
        p[i] = orig;
        if (act == CFG_ACT_RELU && memcmp(s_plus, s_minus, n_sign) != 0) {
            skipped++;
            continue;
        }
        double num = (lp - lm) / (2.0 * h);
        double ana = m.grads[i];
        double diff = fabs(ana - num);
        double excess = diff - (1e-3 * fabs(num) + 1e-6);
        if (excess > 0.0) {
            bad++;
            fprintf(stderr, "  %s param %zu: analytic %.9g numeric %.9g\n", act_name(act), i,
                    ana, num);
        }
        if (diff / (fabs(num) + 1e-6) > worst)
            worst = diff / (fabs(num) + 1e-6);
    }
    CHECK_MSG(bad == 0, "%s, %zu layers, dropout %g/%g: %zu of %zu gradients off (worst rel %.3g)",
              act_name(act), m.n_layers, p_in, p_hid, bad, m.n_params, worst);
    CHECK_MSG(skipped * 20 <= m.n_params, "%s: %zu of %zu parameters at a ReLU kink",
              act_name(act), skipped, m.n_params);

    /* Gradients are overwritten, not accumulated: a second call (with the
     * same dropout rng state) agrees. */
    float *g1 = malloc(m.n_params * sizeof(float));
    memcpy(g1, m.grads, m.n_params * sizeof(float));
    dr = dr_saved;
    double loss2 = drop ? mlp_forward_backward_dropout(&m, x, y, B, NULL, p_in, p_hid, &dr)
                        : mlp_forward_backward(&m, x, y, B, NULL);
    CHECK(loss2 == loss);
    CHECK(memcmp(g1, m.grads, m.n_params * sizeof(float)) == 0);

    free(g1);
    free(in_keep);
    free(hid_keep);
    free(s_plus);
    free(s_minus);
    free(p);
    free(x);
    mlp_free(&m);
}

static void grad_check(const size_t *sizes, size_t n_sizes, enum cfg_activation act,
                       uint64_t seed)
{
    grad_check_drop(sizes, n_sizes, act, seed, 0.0f, 0.0f);
}

static void test_gradients(void)
{
    static const size_t one_hidden[] = {5, 4, 3};
    static const size_t two_hidden[] = {5, 4, 3, 3};
    static const size_t three_hidden[] = {6, 7, 5, 4, 3};
    static const enum cfg_activation acts[] = {CFG_ACT_RELU, CFG_ACT_TANH, CFG_ACT_SIGMOID};
    for (size_t a = 0; a < 3; a++) {
        grad_check(one_hidden, 3, acts[a], 11);
        grad_check(two_hidden, 4, acts[a], 12);
        grad_check(three_hidden, 5, acts[a], 13);
    }
    /* No hidden layer: softmax regression. */
    static const size_t linear[] = {7, 4};
    grad_check(linear, 2, CFG_ACT_RELU, 14);
}

/* The same check with dropout on the input, the hidden layers, or both. */
static void test_gradients_dropout(void)
{
    static const size_t one_hidden[] = {5, 4, 3};
    static const size_t two_hidden[] = {5, 4, 3, 3};
    static const size_t three_hidden[] = {6, 7, 5, 4, 3};
    static const enum cfg_activation acts[] = {CFG_ACT_RELU, CFG_ACT_TANH, CFG_ACT_SIGMOID};
    for (size_t a = 0; a < 3; a++) {
        grad_check_drop(one_hidden, 3, acts[a], 31, 0.3f, 0.0f);
        grad_check_drop(one_hidden, 3, acts[a], 32, 0.0f, 0.4f);
        grad_check_drop(two_hidden, 4, acts[a], 33, 0.25f, 0.3f);
        grad_check_drop(three_hidden, 5, acts[a], 34, 0.2f, 0.5f);
    }
    static const size_t linear[] = {7, 4};
    grad_check_drop(linear, 2, CFG_ACT_RELU, 35, 0.3f, 0.5f); /* p_hid: no hidden layer */
}

/* ---- dropout ------------------------------------------------------------ */

/* A model with random weights and non-zero biases, and a batch x (B, sizes[0])
 * of values in [lo, hi] with labels y. */
static void make_batch(struct mlp *m, const size_t *sizes, size_t n_sizes,
                       enum cfg_activation act, size_t max_batch, size_t B, double lo,
                       double hi, uint64_t seed, float **x, uint8_t **y)
{
    CHECK(mlp_create(m, sizes, n_sizes, act, max_batch, NULL) == RN_OK);
    struct rng r;
    rng_init(&r, seed, RNG_STREAM_INIT);
    mlp_init_params(m, &r);
    for (size_t l = 0; l < m->n_layers; l++)
        for (size_t o = 0; o < sizes[l + 1]; o++)
            m->b[l][o] = (float)rng_range(&r, -0.3, 0.3);
    *x = malloc(B * sizes[0] * sizeof(float));
    *y = malloc(B);
    for (size_t i = 0; i < B * sizes[0]; i++)
        (*x)[i] = (float)rng_range(&r, lo, hi);
    for (size_t i = 0; i < B; i++)
        (*y)[i] = (uint8_t)rng_below(&r, sizes[n_sizes - 1]);
}

static int same_rng(const struct rng *a, const struct rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0;
}

/* r advanced by n draws from start? */
static int advanced_by(const struct rng *r, struct rng start, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rng_u64(&start);
    return same_rng(r, &start);
}

/* Both p = 0: bitwise mlp_forward_backward, and the rng is not touched (NULL
 * is accepted). p_hidden on a net without hidden layers draws nothing. */
static void test_dropout_off(void)
{
    static const size_t two_hidden[] = {6, 5, 4, 3};
    static const size_t linear[] = {6, 3};
    static const enum cfg_activation acts[] = {CFG_ACT_RELU, CFG_ACT_TANH, CFG_ACT_SIGMOID};
    const size_t B = 7;
    for (size_t a = 0; a < 3; a++) {
        struct mlp m;
        float *x;
        uint8_t *y;
        make_batch(&m, two_hidden, 4, acts[a], 8, B, -2.0, 2.0, 40 + a, &x, &y);
        size_t c1 = 99, c2 = 98;
        double l1 = mlp_forward_backward(&m, x, y, B, &c1);
        float *g1 = malloc(m.n_params * sizeof(float));
        memcpy(g1, m.grads, m.n_params * sizeof(float));
        memset(m.grads, 0xFF, m.n_params * sizeof(float)); /* NaNs: must be overwritten */
        struct rng r, r0;
        rng_init(&r, 40 + a, RNG_STREAM_DROPOUT);
        r0 = r;
        double l2 = mlp_forward_backward_dropout(&m, x, y, B, &c2, 0.0f, 0.0f, &r);
        CHECK(memcmp(&l1, &l2, sizeof l1) == 0);
        CHECK(c1 == c2);
        CHECK(memcmp(g1, m.grads, m.n_params * sizeof(float)) == 0);
        CHECK(same_rng(&r, &r0));
        memset(m.grads, 0xFF, m.n_params * sizeof(float));
        double l3 = mlp_forward_backward_dropout(&m, x, y, B, NULL, 0.0f, 0.0f, NULL);
        CHECK(memcmp(&l1, &l3, sizeof l1) == 0);
        CHECK(memcmp(g1, m.grads, m.n_params * sizeof(float)) == 0);
        free(g1);
        free(x);
        free(y);
        mlp_free(&m);
    }
    /* No hidden layer: p_hidden has nothing to drop and draws nothing. */
    struct mlp m;
    float *x;
    uint8_t *y;
    make_batch(&m, linear, 2, CFG_ACT_RELU, 8, B, -2.0, 2.0, 45, &x, &y);
    double l1 = mlp_forward_backward(&m, x, y, B, NULL);
    float *g1 = malloc(m.n_params * sizeof(float));
    memcpy(g1, m.grads, m.n_params * sizeof(float));
    struct rng r, r0;
    rng_init(&r, 45, RNG_STREAM_DROPOUT);
    r0 = r;
    double l2 = mlp_forward_backward_dropout(&m, x, y, B, NULL, 0.0f, 0.5f, &r);
    CHECK(memcmp(&l1, &l2, sizeof l1) == 0);
    CHECK(memcmp(g1, m.grads, m.n_params * sizeof(float)) == 0);
    CHECK(same_rng(&r, &r0));
    /* Input dropout alone: B * sizes[0] draws. */
    mlp_forward_backward_dropout(&m, x, y, B, NULL, 0.5f, 0.5f, &r);
    CHECK(advanced_by(&r, r0, B * linear[0]));
    free(g1);
    free(x);
    free(y);
    mlp_free(&m);
}

/* On large layers: the dropped fraction is near p, kept values are exactly
 * value * (float)(1/(1-p)), dropped ones 0; the caller's x is unchanged; only
 * the B rows are drawn (B < max_batch), so r moves by the documented count. */
static void test_dropout_masks(void)
{
    static const size_t sizes[] = {256, 512, 300, 10};
    const size_t B = 64;
    const float p_in = 0.2f, p_hid = 0.5f;
    struct mlp m;
    float *x;
    uint8_t *y;
    /* x in [0.5, 1.5]: no input is 0, so a 0 in in_drop means dropped. */
    make_batch(&m, sizes, 4, CFG_ACT_SIGMOID, 80, B, 0.5, 1.5, 50, &x, &y);
    size_t n_x = B * sizes[0];
    float *x_copy = malloc(n_x * sizeof(float));
    memcpy(x_copy, x, n_x * sizeof(float));
    struct rng r, r0;
    rng_init(&r, 50, RNG_STREAM_DROPOUT);
    r0 = r;
    double loss = mlp_forward_backward_dropout(&m, x, y, B, NULL, p_in, p_hid, &r);
    CHECK(isfinite(loss));
    CHECK(memcmp(x, x_copy, n_x * sizeof(float)) == 0);
    CHECK(advanced_by(&r, r0, B * (sizes[0] + sizes[1] + sizes[2])));

    /* Input. */
    float s_in = (float)(1.0 / (1.0 - (double)p_in));
    CHECK_NEAR(s_in, 1.25, 1e-7);
    size_t dropped = 0, bad = 0;
    double sum_x = 0.0, sum_d = 0.0;
    for (size_t i = 0; i < n_x; i++) {
        dropped += !m.in_keep[i];
        bad += m.in_keep[i] ? m.in_drop[i] != x[i] * s_in : m.in_drop[i] != 0.0f;
        bad += (m.in_drop[i] == 0.0f) != !m.in_keep[i];
        if (m.in_keep[i] && fabs(m.in_drop[i] / x[i] - 1.25) > 1e-6)
            bad++;
        sum_x += x[i];
        sum_d += m.in_drop[i];
    }
    CHECK(bad == 0);
    /* 16384 draws: the standard deviation of the fraction is 0.0031. */
    double frac = (double)dropped / (double)n_x;
    CHECK_MSG(fabs(frac - p_in) < 0.016, "input dropped fraction %g, p %g", frac, p_in);
    /* Inverted dropout keeps the mean (relative sd of sum_d about 0.004). */
    CHECK_MSG(fabs(sum_d / sum_x - 1.0) < 0.02, "input mean ratio %g", sum_d / sum_x);

    /* Hidden layers (sigmoid outputs are > 0). */
    float s_hid = (float)(1.0 / (1.0 - (double)p_hid));
    CHECK(s_hid == 2.0f);
    for (size_t l = 0; l + 1 < m.n_layers; l++) {
        size_t n = B * sizes[l + 1];
        dropped = bad = 0;
        for (size_t i = 0; i < n; i++) {
            dropped += !m.hid_keep[l][i];
            bad += m.hid_keep[l][i] ? m.hid_drop[l][i] != m.out[l][i] * 2.0f
                                    : m.hid_drop[l][i] != 0.0f;
            bad += m.out[l][i] <= 0.0f; /* out[l] keeps the values before dropout */
        }
        CHECK_MSG(bad == 0, "hidden layer %zu: %zu wrong values", l, bad);
        frac = (double)dropped / (double)n;
        /* n >= 19200: sd <= 0.0036. */
        CHECK_MSG(fabs(frac - p_hid) < 0.02, "hidden layer %zu dropped fraction %g", l, frac);
    }
    CHECK(m.hid_drop[m.n_layers - 1] == NULL && m.hid_keep[m.n_layers - 1] == NULL);
    free(x_copy);
    free(x);
    free(y);
    mlp_free(&m);
}

/* The same rng state gives bitwise the same loss, gradients and masks; a
 * different state other masks; the rng advances, so the next batch gets new
 * masks; inference (mlp_forward, mlp_evaluate) is unaffected by dropout. */
static void test_dropout_determinism(void)
{
    static const size_t sizes[] = {20, 30, 25, 4};
    const size_t B = 16;
    struct mlp m;
    float *x;
    uint8_t *y;
    make_batch(&m, sizes, 4, CFG_ACT_RELU, B, B, -1.0, 1.0, 60, &x, &y);
    size_t C = sizes[3], n_keep = B * (sizes[0] + sizes[1] + sizes[2]);

    const float *z = mlp_forward(&m, x, B);
    float *logits0 = malloc(B * C * sizeof(float));
    memcpy(logits0, z, B * C * sizeof(float));
    double eval_loss0, eval_acc0;
    mlp_evaluate(&m, x, y, B, &eval_loss0, &eval_acc0);
    double plain = mlp_forward_backward(&m, x, y, B, NULL);

    struct rng r, r0;
    rng_init(&r, 60, RNG_STREAM_DROPOUT);
    r0 = r;
    size_t c1, c2;
    double l1 = mlp_forward_backward_dropout(&m, x, y, B, &c1, 0.3f, 0.4f, &r);
    struct rng r_after = r;
    float *g1 = malloc(m.n_params * sizeof(float));
    memcpy(g1, m.grads, m.n_params * sizeof(float));
    uint8_t *k1 = malloc(n_keep);
    memcpy(k1, m.in_keep, n_keep); /* in_keep then every hid_keep: one block */
    CHECK(l1 != plain);

    r = r0;
    double l2 = mlp_forward_backward_dropout(&m, x, y, B, &c2, 0.3f, 0.4f, &r);
    CHECK(memcmp(&l1, &l2, sizeof l1) == 0);
    CHECK(c1 == c2);
    CHECK(memcmp(g1, m.grads, m.n_params * sizeof(float)) == 0);
    CHECK(memcmp(k1, m.in_keep, n_keep) == 0);
    CHECK(same_rng(&r, &r_after));

    /* The next call continues the stream: other masks. */
    mlp_forward_backward_dropout(&m, x, y, B, NULL, 0.3f, 0.4f, &r);
    CHECK(memcmp(k1, m.in_keep, n_keep) != 0);
    /* Another seed: other masks. */
    rng_init(&r, 61, RNG_STREAM_DROPOUT);
    mlp_forward_backward_dropout(&m, x, y, B, NULL, 0.3f, 0.4f, &r);
    CHECK(memcmp(k1, m.in_keep, n_keep) != 0);

    z = mlp_forward(&m, x, B);
    CHECK(memcmp(z, logits0, B * C * sizeof(float)) == 0);
    double eval_loss1, eval_acc1;
    mlp_evaluate(&m, x, y, B, &eval_loss1, &eval_acc1);
    CHECK(eval_loss1 == eval_loss0 && eval_acc1 == eval_acc0);
    free(k1);
    free(g1);
    free(logits0);
    free(x);
    free(y);
    mlp_free(&m);
}

/* ---- softmax cross-entropy ---------------------------------------------- */

static void test_softmax_huge(void)
{
    const float logits[] = {1e30f, -1e30f, 0.0f,   /* label 0: right, loss 0 */
                            1e30f, -1e30f, 0.0f,   /* label 1: loss 2e30 */
                            -1e30f, -1e30f, -1e30f}; /* label 2: uniform, log 3 */
    const uint8_t y[] = {0, 1, 2};
    float d[9];
    size_t correct = 0;
    double loss = mlp_softmax_xent(logits, y, 3, 3, d, &correct);
    CHECK(isfinite(loss));
    double expect = (0.0 + 2e30 + log(3.0)) / 3.0;
    CHECK_NEAR(loss / expect, 1.0, 1e-6);
    CHECK(correct == 1); /* only row 0; row 2 ties and argmax takes the first */
    for (size_t i = 0; i < 9; i++)
        CHECK(isfinite(d[i]));
    /* d = (softmax - onehot) / B */
    CHECK_NEAR(d[0], 0.0, 1e-9);
    CHECK_NEAR(d[1], 0.0, 1e-9);
    CHECK_NEAR(d[2], 0.0, 1e-9);
    CHECK_NEAR(d[3], 1.0 / 3.0, 1e-7);
    CHECK_NEAR(d[4], -1.0 / 3.0, 1e-7);
    CHECK_NEAR(d[5], 0.0, 1e-9);
    CHECK_NEAR(d[6], 1.0 / 9.0, 1e-7);
    CHECK_NEAR(d[7], 1.0 / 9.0, 1e-7);
    CHECK_NEAR(d[8], -2.0 / 9.0, 1e-7);

    /* Only the loss for one row of all -1e30 logits: log(C). */
    double l1 = mlp_softmax_xent(logits + 6, y + 2, 1, 3, NULL, NULL);
    CHECK_NEAR(l1, log(3.0), 1e-12);
    /* A single huge logit on the right class. */
    const float big[] = {-3e38f, 3e38f};
    const uint8_t one = 1;
    CHECK_NEAR(mlp_softmax_xent(big, &one, 1, 2, NULL, NULL), 0.0, 1e-12);
}

static void test_softmax_uniform(void)
{
    float logits[4 * 10];
    for (size_t i = 0; i < 40; i++)
        logits[i] = (float)(i / 10) * 1.5f - 2.0f; /* constant within each row */
    const uint8_t y[] = {0, 3, 9, 5};
    float d[40];
    size_t correct = 9;
    double loss = mlp_softmax_xent(logits, y, 4, 10, d, &correct);
    CHECK_NEAR(loss, log(10.0), 1e-12);
    CHECK(correct == 1); /* ties pick index 0: only row 0 (label 0) is a hit */
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 10; j++)
            CHECK_NEAR(d[i * 10 + j], (0.1 - (j == y[i])) / 4.0, 1e-8);
    /* Empty batch. */
    CHECK(mlp_softmax_xent(logits, y, 0, 10, NULL, &correct) == 0.0);
    CHECK(correct == 0);
}

/* dlogits against central differences of the loss itself (in float logits,
 * using the exact float step actually taken). */
static void test_softmax_grad(void)
{
    struct rng r;
    rng_init(&r, 21, 0);
    enum { B = 3, C = 5 };
    float z[B * C], d[B * C];
    uint8_t y[B];
    for (size_t i = 0; i < B * C; i++)
        z[i] = (float)rng_range(&r, -4.0, 4.0);
    for (size_t i = 0; i < B; i++)
        y[i] = (uint8_t)rng_below(&r, C);
    size_t correct;
    mlp_softmax_xent(z, y, B, C, d, &correct);
    size_t hits = 0;
    for (size_t i = 0; i < B; i++) {
        size_t best = 0;
        for (size_t j = 1; j < C; j++)
            best = z[i * C + j] > z[i * C + best] ? j : best;
        hits += best == y[i];
    }
    CHECK(correct == hits);
    for (size_t i = 0; i < B * C; i++) {
        float orig = z[i];
        float zp = orig + 1e-2f, zm = orig - 1e-2f;
        z[i] = zp;
        double lp = mlp_softmax_xent(z, y, B, C, NULL, NULL);
        z[i] = zm;
        double lm = mlp_softmax_xent(z, y, B, C, NULL, NULL);
        z[i] = orig;
        double num = (lp - lm) / ((double)zp - (double)zm);
        CHECK_NEAR(d[i], num, 1e-5);
    }
}

/* ---- SGD ---------------------------------------------------------------- */

static void test_sgd(void)
{
    const size_t sizes[] = {2, 2}; /* W (2, 2) then b (2): 6 parameters */
    struct mlp m;
    CHECK(mlp_create(&m, sizes, 2, CFG_ACT_RELU, 1, NULL) == RN_OK);
    CHECK(m.n_params == 6);
    CHECK(m.W[0] == m.params && m.b[0] == m.params + 4);
    CHECK(m.dW[0] == m.grads && m.db[0] == m.grads + 4);
    const float p0[6] = {1.0f, -2.0f, 0.5f, 4.0f, 3.0f, -1.0f};
    const float g[6] = {0.5f, 0.25f, -1.0f, 2.0f, 1.0f, -0.5f};
    const float lr = 0.1f, mu = 0.9f, wd = 0.01f;

    /* Plain SGD: mu = 0, wd = 0. */
    memcpy(m.params, p0, sizeof p0);
    memcpy(m.grads, g, sizeof g);
    memset(m.velocity, 0, sizeof p0);
    mlp_sgd_step(&m, lr, 0.0f, 0.0f);
    for (size_t i = 0; i < 6; i++)
        CHECK_NEAR(m.params[i], p0[i] - 0.1 * g[i], 1e-6);

    /* Momentum and weight decay, two steps; decay only on the 4 weights. */
    memcpy(m.params, p0, sizeof p0);
    memset(m.velocity, 0, sizeof p0);
    double v[6] = {0}, p[6];
    for (size_t i = 0; i < 6; i++)
        p[i] = p0[i];
    for (int step = 0; step < 2; step++) {
        mlp_sgd_step(&m, lr, mu, wd);
        for (size_t i = 0; i < 6; i++) {
            double decay = i < 4 ? 0.01 * p[i] : 0.0;
            v[i] = 0.9 * v[i] + (g[i] + decay);
            p[i] -= 0.1 * v[i];
            CHECK_NEAR(m.velocity[i], v[i], 1e-6);
            CHECK_NEAR(m.params[i], p[i], 1e-6);
        }
    }
    /* e.g. the first weight after two steps, by hand:
     * v1 = 0.5 + 0.01 = 0.51, p1 = 1 - 0.051 = 0.949,
     * v2 = 0.9 * 0.51 + 0.5 + 0.00949 = 0.96849, p2 = 0.949 - 0.096849 */
    CHECK_NEAR(m.params[0], 0.852151, 1e-6);
    /* and the first bias: v1 = 1, p1 = 2.9, v2 = 1.9, p2 = 2.71 */
    CHECK_NEAR(m.params[4], 2.71, 1e-6);
    mlp_free(&m);
}

/* ---- initialisation ----------------------------------------------------- */

static void stats(const float *w, size_t n, double *mean, double *std, double *maxabs)
{
    double s = 0.0, s2 = 0.0, mx = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += w[i];
        s2 += (double)w[i] * w[i];
        mx = fabs(w[i]) > mx ? fabs(w[i]) : mx;
    }
    *mean = s / (double)n;
    *std = sqrt(s2 / (double)n - *mean * *mean);
    *maxabs = mx;
}

static void test_init(void)
{
    const size_t sizes[] = {400, 300, 10};
    static const enum cfg_activation acts[] = {CFG_ACT_RELU, CFG_ACT_TANH, CFG_ACT_SIGMOID};
    for (size_t a = 0; a < 3; a++) {
        struct mlp m, m2;
        CHECK(mlp_create(&m, sizes, 3, acts[a], 2, NULL) == RN_OK);
        CHECK(mlp_create(&m2, sizes, 3, acts[a], 2, NULL) == RN_OK);
        for (size_t i = 0; i < m.n_params; i++) {
            m.params[i] = 7.0f; /* init must overwrite everything */
            m.velocity[i] = 3.0f;
            m.grads[i] = 5.0f;
        }
        struct rng r;
        rng_init(&r, 42, RNG_STREAM_INIT);
        mlp_init_params(&m, &r);
        for (size_t l = 0; l < 2; l++) {
            size_t in = sizes[l], out = sizes[l + 1], n = in * out;
            double mean, std, maxabs;
            stats(m.W[l], n, &mean, &std, &maxabs);
            double want, tol = l == 0 ? 0.02 : 0.1; /* 120000 vs 3000 samples */
            if (acts[a] == CFG_ACT_RELU) {
                want = sqrt(2.0 / (double)in);
            } else {
                double limit = sqrt(6.0 / (double)(in + out));
                want = limit / sqrt(3.0);
                CHECK_MSG(maxabs <= limit * (1.0 + 1e-6), "%s layer %zu: |w| %g > limit %g",
                          act_name(acts[a]), l, maxabs, limit);
                CHECK(maxabs > 0.98 * limit);
            }
            CHECK_MSG(fabs(std / want - 1.0) < tol, "%s layer %zu: std %g, want %g",
                      act_name(acts[a]), l, std, want);
            CHECK_MSG(fabs(mean) < 5.0 * want / sqrt((double)n), "%s layer %zu: mean %g",
                      act_name(acts[a]), l, mean);
            for (size_t o = 0; o < out; o++)
                CHECK(m.b[l][o] == 0.0f);
        }
        int zero_v = 1, zero_g = 1;
        for (size_t i = 0; i < m.n_params; i++) {
            zero_v &= m.velocity[i] == 0.0f;
            zero_g &= m.grads[i] == 0.0f;
        }
        CHECK(zero_v);
        CHECK(zero_g);
        /* Same seed, same weights; another seed, other weights. */
        rng_init(&r, 42, RNG_STREAM_INIT);
        mlp_init_params(&m2, &r);
        CHECK(memcmp(m.params, m2.params, m.n_params * sizeof(float)) == 0);
        rng_init(&r, 43, RNG_STREAM_INIT);
        mlp_init_params(&m2, &r);
        CHECK(memcmp(m.params, m2.params, m.n_params * sizeof(float)) != 0);
        mlp_free(&m);
        mlp_free(&m2);
    }
}

/* ---- learning ----------------------------------------------------------- */

/* Three Gaussian blobs in 4-D: minibatch SGD must drive the loss down, also
 * with dropout p on the input and the hidden layer (evaluated without). */
static void test_learns(enum cfg_activation act, float p)
{
    enum { N = 96, D = 4, K = 3, BATCH = 16 };
    static const float centers[K][D] = {{2, 0, 0, -1}, {-1, 2, 0, 1}, {0, -2, 2, 0}};
    struct rng r;
    rng_init(&r, 5, RNG_STREAM_SHUFFLE);
    float x[N * D];
    uint8_t y[N];
    for (size_t i = 0; i < N; i++) {
        y[i] = (uint8_t)(i % K);
        for (size_t j = 0; j < D; j++)
            x[i * D + j] = centers[y[i]][j] + 0.5f * (float)rng_normal(&r);
    }
    const size_t sizes[] = {D, 16, K};
    struct mlp m;
    CHECK(mlp_create(&m, sizes, 3, act, BATCH, NULL) == RN_OK);
    rng_init(&r, 5, RNG_STREAM_INIT);
    mlp_init_params(&m, &r);
    double loss0, acc0, loss1, acc1;
    mlp_evaluate(&m, x, y, N, &loss0, &acc0);
    struct rng dr;
    rng_init(&dr, 5, RNG_STREAM_DROPOUT);
    for (int epoch = 0; epoch < 60; epoch++)
        for (size_t b = 0; b < N; b += BATCH) {
            double l = p > 0.0f ? mlp_forward_backward_dropout(&m, x + b * D, y + b, BATCH,
                                                               NULL, p, p, &dr)
                                : mlp_forward_backward(&m, x + b * D, y + b, BATCH, NULL);
            CHECK(isfinite(l));
            mlp_sgd_step(&m, 0.05f, 0.9f, 1e-4f);
        }
    mlp_evaluate(&m, x, y, N, &loss1, &acc1);
    CHECK_MSG(loss1 < 0.3 * loss0 && loss1 < 0.2, "%s, dropout %g: loss %g -> %g",
              act_name(act), p, loss0, loss1);
    CHECK_MSG(acc1 >= 0.95, "%s, dropout %g: accuracy %g -> %g", act_name(act), p, acc0, acc1);
    mlp_free(&m);
}

/* ---- evaluate ----------------------------------------------------------- */

static void test_evaluate(void)
{
    enum { N = 10, D = 5, K = 3 };
    const size_t sizes[] = {D, 6, K};
    struct mlp m;
    CHECK(mlp_create(&m, sizes, 3, CFG_ACT_TANH, 4, NULL) == RN_OK); /* chunks 4, 4, 2 */
    struct rng r;
    rng_init(&r, 8, RNG_STREAM_INIT);
    mlp_init_params(&m, &r);
    float x[N * D];
    uint8_t y[N];
    for (size_t i = 0; i < N * D; i++)
        x[i] = (float)rng_range(&r, -2.0, 2.0);
    for (size_t i = 0; i < N; i++)
        y[i] = (uint8_t)rng_below(&r, K);
    double loss, acc;
    mlp_evaluate(&m, x, y, N, &loss, &acc);
    /* By hand: one row at a time. */
    double sum = 0.0;
    size_t hits = 0;
    for (size_t i = 0; i < N; i++) {
        const float *z = mlp_forward(&m, x + i * D, 1);
        size_t c;
        sum += mlp_softmax_xent(z, y + i, 1, K, NULL, &c);
        hits += c;
    }
    CHECK_NEAR(loss, sum / N, 1e-6);
    CHECK_NEAR(acc, (double)hits / N, 1e-12);
    CHECK(hits > 0 && hits < N); /* the check above is not vacuous */
    double *p = malloc(m.n_params * sizeof(double));
    for (size_t i = 0; i < m.n_params; i++)
        p[i] = m.params[i];
    CHECK_NEAR(loss, ref_loss(&m, p, x, y, N, NULL), 1e-5);
    free(p);
    mlp_evaluate(&m, x, y, 0, &loss, &acc);
    CHECK(loss == 0.0 && acc == 0.0);
    mlp_free(&m);
}

/* ---- create / free ------------------------------------------------------ */

static int is_zeroed(const struct mlp *m)
{
    static const struct mlp zero;
    return memcmp(m, &zero, sizeof zero) == 0;
}

static void test_create_errors(void)
{
    struct mlp m;
    struct rn_err err;
    const size_t one[] = {5};
    memset(&m, 0xAB, sizeof m);
    CHECK(mlp_create(&m, one, 1, CFG_ACT_RELU, 4, &err) != RN_OK);
    CHECK(is_zeroed(&m));
    const size_t zero[] = {5, 0, 3};
    CHECK(mlp_create(&m, zero, 3, CFG_ACT_RELU, 4, &err) != RN_OK);
    CHECK(is_zeroed(&m));
    const size_t ok[] = {5, 3};
    CHECK(mlp_create(&m, ok, 2, CFG_ACT_RELU, 0, &err) != RN_OK);
    CHECK(is_zeroed(&m));

    const size_t huge[] = {SIZE_MAX / 2, 4};
    memset(&m, 0xAB, sizeof m);
    CHECK(mlp_create(&m, huge, 2, CFG_ACT_RELU, 4, &err) == RN_ERR_NOMEM);
    CHECK(err.code == RN_ERR_NOMEM);
    CHECK_STR_CONTAINS(err.msg, "overflow");
    CHECK(is_zeroed(&m));
    const size_t wide[] = {4, (size_t)1 << 40};
    CHECK(mlp_create(&m, wide, 2, CFG_ACT_RELU, (size_t)1 << 30, &err) == RN_ERR_NOMEM);
    CHECK_STR_CONTAINS(err.msg, "overflow");
    CHECK(is_zeroed(&m));
    mlp_free(&m); /* safe on a zeroed struct, and twice */
    mlp_free(&m);

    /* Views and activation buffers of a valid model. */
    const size_t sizes[] = {3, 5, 2};
    CHECK(mlp_create(&m, sizes, 3, CFG_ACT_SIGMOID, 7, &err) == RN_OK);
    CHECK(m.n_layers == 2 && m.n_params == 3 * 5 + 5 + 5 * 2 + 2);
    CHECK(m.W[1] == m.params + 20 && m.b[1] == m.params + 30);
    CHECK(m.dW[1] == m.grads + 20 && m.db[1] == m.grads + 30);
    CHECK(m.sizes[0] == 3 && m.sizes[2] == 2 && m.max_batch == 7);
    /* Dropout scratch: input (7, 3), then hidden layer 0 (7, 5). */
    CHECK(m.in_drop && m.in_keep);
    CHECK(m.hid_drop[0] == m.in_drop + 21 && m.hid_keep[0] == m.in_keep + 21);
    CHECK(m.hid_drop[1] == NULL && m.hid_keep[1] == NULL);
    mlp_free(&m);
    CHECK(is_zeroed(&m));
    CHECK(mlp_create(&m, ok, 2, CFG_ACT_TANH, 3, &err) == RN_OK); /* no hidden layer */
    CHECK(m.in_drop && m.in_keep && m.hid_drop[0] == NULL && m.hid_keep[0] == NULL);
    mlp_free(&m);
    CHECK(is_zeroed(&m));
}

/* ---- threads ------------------------------------------------------------ */

/* Training steps (with dropout), evaluation and inference give bitwise the
 * same losses, parameters, gradients and logits with 1, 2 and 3 threads (on
 * the model's pool), on a net whose matrix products are large enough to be
 * split, and with 2 threads but no pool (the fallback: kn_sgemm_mt, which
 * runs these products on one thread; it is tested in test_kernels). */
static void test_threads_identical(void)
{
    static const size_t sizes[] = {300, 512, 256, 10};
    enum { B = 64, STEPS = 3, RUNS = 4 };
    static const size_t threads[RUNS] = {1, 2, 3, 2};
    /* On a pool of 2, every product of the first two layers is split:
     * forward (B, out, in), dW (out, in, B), and the backward delta of layer
     * 1 (B, in, out). */
    struct kn_pool *pool = kn_pool_create(2);
    CHECK(kn_pool_threads(pool) == 2);
    CHECK(kn_sgemm_pool_threads(pool, B, 512, 300) == 2);
    CHECK(kn_sgemm_pool_threads(pool, B, 256, 512) == 2);
    CHECK(kn_sgemm_pool_threads(pool, 512, 300, B) == 2);
    CHECK(kn_sgemm_pool_threads(pool, 256, 512, B) == 2);
    CHECK(kn_sgemm_pool_threads(pool, B, 512, 256) == 2);
    kn_pool_destroy(pool);

    struct mlp m[RUNS];
    float *x[RUNS];
    uint8_t *y[RUNS];
    double loss[RUNS][STEPS], eval[RUNS][2];
    for (size_t k = 0; k < RUNS; k++) {
        make_batch(&m[k], sizes, 4, CFG_ACT_RELU, B, B, -1.0, 1.0, 70, &x[k], &y[k]);
        CHECK(m[k].threads == 1 && m[k].pool == NULL);
        mlp_set_threads(&m[k], 4); /* replaced below: the old pool is stopped */
        mlp_set_threads(&m[k], threads[k]);
        CHECK(m[k].threads == threads[k]);
        CHECK((m[k].pool != NULL) == (threads[k] > 1));
        if (k == 3) { /* as if the pool could not be made */
            kn_pool_destroy(m[k].pool);
            m[k].pool = NULL;
        }
        struct rng dr;
        rng_init(&dr, 70, RNG_STREAM_DROPOUT);
        for (size_t s = 0; s < STEPS; s++) {
            loss[k][s] = s == 0 ? mlp_forward_backward(&m[k], x[k], y[k], B, NULL)
                                : mlp_forward_backward_dropout(&m[k], x[k], y[k], B, NULL,
                                                               0.2f, 0.3f, &dr);
            mlp_sgd_step(&m[k], 0.05f, 0.9f, 1e-4f);
        }
        mlp_evaluate(&m[k], x[k], y[k], B, &eval[k][0], &eval[k][1]);
    }
    for (size_t k = 1; k < RUNS; k++) {
        size_t t = threads[k];
        CHECK_MSG(memcmp(loss[k], loss[0], sizeof loss[0]) == 0, "run %zu (%zu threads): losses",
                  k, t);
        CHECK_MSG(memcmp(eval[k], eval[0], sizeof eval[0]) == 0,
                  "run %zu (%zu threads): evaluate", k, t);
        CHECK_MSG(memcmp(m[k].params, m[0].params, m[0].n_params * sizeof(float)) == 0,
                  "run %zu (%zu threads): parameters", k, t);
        CHECK_MSG(memcmp(m[k].grads, m[0].grads, m[0].n_params * sizeof(float)) == 0,
                  "run %zu (%zu threads): gradients", k, t);
        const float *z0 = mlp_forward(&m[0], x[0], B);
        const float *zk = mlp_forward(&m[k], x[k], B);
        CHECK(memcmp(zk, z0, B * sizes[3] * sizeof(float)) == 0);
    }
    CHECK(loss[0][STEPS - 1] != loss[0][0]); /* the steps did something */
    mlp_set_threads(&m[1], 0);
    CHECK(m[1].threads == 1 && m[1].pool == NULL);
    for (size_t k = 0; k < RUNS; k++) {
        free(x[k]);
        free(y[k]);
        mlp_free(&m[k]); /* stops the pool */
        CHECK(is_zeroed(&m[k]));
    }
}

/* mlp_train_step is bitwise forward_backward(_dropout) + mlp_sgd_step: with
 * plain SGD (fused update, and the fallback for batches over the K block),
 * with momentum and decay (separate pass), on 1 and 2 threads. */
static void test_train_step_sizes(const size_t sizes[4])
{
    struct setting {
        size_t B;
        float momentum, decay, p_in, p_hid;
        size_t threads;
    };
    static const struct setting set[] = {
        {64, 0.0f, 0.0f, 0.0f, 0.0f, 1},  {64, 0.0f, 0.0f, 0.1f, 0.3f, 2},
        {300, 0.0f, 0.0f, 0.0f, 0.0f, 2}, {64, 0.9f, 1e-4f, 0.0f, 0.2f, 1},
        {64, 0.9f, 0.0f, 0.0f, 0.0f, 2},  {64, 0.0f, 1e-3f, 0.0f, 0.0f, 1},
        {1, 0.0f, 0.0f, 0.0f, 0.0f, 2},
    };
    for (size_t k = 0; k < sizeof set / sizeof set[0]; k++) {
        const struct setting *st = &set[k];
        struct mlp a, b, c;
        float *xa, *xb, *xc;
        uint8_t *ya, *yb, *yc;
        make_batch(&a, sizes, 4, CFG_ACT_RELU, st->B, st->B, -1.0, 1.0, 90 + k, &xa, &ya);
        make_batch(&b, sizes, 4, CFG_ACT_RELU, st->B, st->B, -1.0, 1.0, 90 + k, &xb, &yb);
        make_batch(&c, sizes, 4, CFG_ACT_RELU, st->B, st->B, -1.0, 1.0, 90 + k, &xc, &yc);
        mlp_set_threads(&a, st->threads);
        mlp_set_threads(&b, st->threads);
        mlp_set_threads(&c, st->threads);
        /* c reads its batch in place from a larger set: row i of the batch is
         * row sel[i] of the set (descending, every other row), rows ld apart
         * with NaN padding, which would poison anything that read it. */
        const size_t ld = sizes[0] + 3, nset = 2 * st->B + 1;
        float *xset = malloc(nset * ld * sizeof(float));
        size_t *sel = malloc(st->B * sizeof(size_t));
        for (size_t i = 0; i < nset * ld; i++)
            xset[i] = NAN;
        for (size_t i = 0; i < st->B; i++) {
            sel[i] = nset - 1 - 2 * i;
            memcpy(xset + sel[i] * ld, xc + i * sizes[0], sizes[0] * sizeof(float));
        }
        struct rng ra, rb, rc;
        rng_init(&ra, 5, RNG_STREAM_DROPOUT);
        rng_init(&rb, 5, RNG_STREAM_DROPOUT);
        rng_init(&rc, 5, RNG_STREAM_DROPOUT);
        double la = 0.0, lb = 0.0, lc = 0.0;
        size_t ca = 0, cb = 0, cc = 0;
        for (int s = 0; s < 4; s++) {
            la = mlp_forward_backward_dropout(&a, xa, ya, st->B, &ca, st->p_in, st->p_hid, &ra);
            mlp_sgd_step(&a, 0.05f, st->momentum, st->decay);
            lb = mlp_train_step(&b, xb, yb, st->B, &cb, st->p_in, st->p_hid, &rb, 0.05f,
                                st->momentum, st->decay);
            lc = mlp_train_step_rows(&c, xset, ld, sel, yc, st->B, &cc, st->p_in, st->p_hid, &rc,
                                     0.05f, st->momentum, st->decay);
            CHECK_MSG(la == lb && ca == cb, "setting %zu step %d: loss %.9g vs %.9g", k, s, la,
                      lb);
            CHECK_MSG(lc == lb && cc == cb, "setting %zu step %d: rows in place: loss %.9g vs %.9g",
                      k, s, lc, lb);
        }
        /* Plain SGD keeps layer 0's newest weights packed; bring them back. */
        mlp_sync_params(&b);
        mlp_sync_params(&c);
        CHECK_MSG(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0,
                  "setting %zu: parameters differ", k);
        CHECK_MSG(memcmp(c.params, b.params, c.n_params * sizeof(float)) == 0,
                  "setting %zu: parameters differ with the rows read in place", k);
        free(xset);
        free(sel);
        free(xc);
        free(yc);
        mlp_free(&c);
        if (st->momentum != 0.0f || st->decay != 0.0f)
            CHECK_MSG(memcmp(a.velocity, b.velocity, a.n_params * sizeof(float)) == 0,
                      "setting %zu: velocity differs", k);
        free(xa);
        free(xb);
        free(ya);
        free(yb);
        mlp_free(&a);
        mlp_free(&b);
    }
}

/* Layer 0 of 300 x 96 weights is updated in place (W[0]), of 700 x 96 in
 * its packed copy (mlp.c: MLP_W0_PACKED_MIN). */
static void test_train_step(void)
{
    static const size_t small[] = {300, 96, 40, 10}, large[] = {700, 96, 40, 10};
    test_train_step_sizes(small);
    test_train_step_sizes(large);
}

/* Layer 0's packed weights (mlp.h): plain SGD steps update only the packed
 * copy, and everything else still sees the current weights. A model b mixes
 * plain SGD steps (packed) with weight-decay steps (a separate pass over
 * params), evaluation, a sync and a direct write announced with
 * mlp_params_changed; a model a does the same arithmetic with
 * mlp_forward_backward + mlp_sgd_step only. (Decay without momentum, so that
 * the velocity a plain step leaves, which differs by design, is not used.) */
static void test_packed_w0(void)
{
    static const size_t sizes[] = {1100, 70, 10}; /* 77000 >= MLP_W0_PACKED_MIN weights */
    const size_t B = 33;
    struct mlp a, b;
    float *xa, *xb;
    uint8_t *ya, *yb;
    make_batch(&a, sizes, 3, CFG_ACT_RELU, B, B, -1.0, 1.0, 123, &xa, &ya);
    make_batch(&b, sizes, 3, CFG_ACT_RELU, B, B, -1.0, 1.0, 123, &xb, &yb);
    mlp_set_threads(&b, 2);
    /* plain, plain, decay, plain, write, plain, decay */
    static const float decay[] = {0.0f, 0.0f, 1e-3f, 0.0f, -1.0f, 0.0f, 2e-3f};
    for (size_t s = 0; s < sizeof decay / sizeof decay[0]; s++) {
        if (decay[s] < 0.0f) {
            mlp_sync_params(&b);
            CHECK(b.w0_state == MLP_W0_SAME);
            CHECK_MSG(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0,
                      "step %zu: synced parameters differ", s);
            a.W[0][5] += 0.25f;
            b.W[0][5] += 0.25f;
            mlp_params_changed(&b);
            continue;
        }
        size_t ca = 0, cb = 0;
        double la = mlp_forward_backward(&a, xa, ya, B, &ca);
        mlp_sgd_step(&a, 0.1f, 0.0f, decay[s]);
        double lb = mlp_train_step(&b, xb, yb, B, &cb, 0.0f, 0.0f, NULL, 0.1f, 0.0f, decay[s]);
        CHECK_MSG(la == lb && ca == cb, "step %zu: loss %.9g vs %.9g", s, la, lb);
        CHECK_MSG(b.w0_state == (decay[s] == 0.0f ? MLP_W0_AHEAD : MLP_W0_NONE),
                  "step %zu: state %d", s, (int)b.w0_state);
        /* Evaluation reads the current weights in either state. */
        double ea, eb, aa, ab;
        mlp_evaluate(&a, xa, ya, B, &ea, &aa);
        mlp_evaluate(&b, xb, yb, B, &eb, &ab);
        CHECK_MSG(ea == eb && aa == ab, "step %zu: evaluation %.9g vs %.9g", s, ea, eb);
    }
    /* The last step was a decay step: params are current. */
    CHECK(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0);
    CHECK(memcmp(a.velocity, b.velocity, a.n_params * sizeof(float)) == 0);
    free(xa);
    free(xb);
    free(ya);
    free(yb);
    mlp_free(&a);
    mlp_free(&b);
}

/* The threaded SGD step of a large model (over the threshold for the pool)
 * gives the single-threaded result. */
static void test_sgd_threads(void)
{
    static const size_t sizes[] = {600, 512, 10};
    struct mlp m[2];
    float *x[2];
    uint8_t *y[2];
    for (size_t k = 0; k < 2; k++) {
        make_batch(&m[k], sizes, 3, CFG_ACT_RELU, 32, 32, -1.0, 1.0, 77, &x[k], &y[k]);
        mlp_set_threads(&m[k], k + 1);
        CHECK(m[k].n_params > ((size_t)1 << 18));
        for (int s = 0; s < 3; s++) {
            mlp_forward_backward(&m[k], x[k], y[k], 32, NULL);
            mlp_sgd_step(&m[k], 0.05f, 0.9f, 1e-3f);
        }
    }
    CHECK(memcmp(m[0].params, m[1].params, m[0].n_params * sizeof(float)) == 0);
    CHECK(memcmp(m[0].velocity, m[1].velocity, m[0].n_params * sizeof(float)) == 0);
    for (size_t k = 0; k < 2; k++) {
        free(x[k]);
        free(y[k]);
        mlp_free(&m[k]);
    }
}

/* The output layer's step runs row by row, 16 rows a task on the threads
 * (mlp.c: out_task). Redone here with whole-batch products from the
 * values the step left behind, it must come out bit for bit the same: the
 * logits, the loss and hits, dlogits, the last layer's gradients and the
 * gradients of the layer below (whose delta the tasks compute, through the
 * dropout mask and f'). Batches of 1 to 50 rows, with partial tasks. */
static void test_output_rows(void)
{
    static const size_t sizes[] = {20, 24, 13, 7};
    static const size_t batches[] = {1, 16, 37, 50};
    const size_t L = 3, C = sizes[3], n_in = sizes[2], n_mid = sizes[1];
    for (int act = 0; act < 2; act++) {
        for (int drop = 0; drop < 2; drop++) {
            for (size_t t = 1; t <= 3; t += 2) {
                for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                    const size_t B = batches[bi];
                    const float p_hid = drop ? 0.3f : 0.0f;
                    struct mlp m;
                    float *x;
                    uint8_t *y;
                    make_batch(&m, sizes, 4, act ? CFG_ACT_TANH : CFG_ACT_RELU, 50, B, -1.0,
                               1.0, 300 + B, &x, &y);
                    mlp_set_threads(&m, t);
                    struct rng r;
                    rng_init(&r, 5, RNG_STREAM_DROPOUT);
                    size_t correct;
                    double loss = mlp_forward_backward_dropout(&m, x, y, B, &correct, 0.0f,
                                                               p_hid, &r);
                    const float *in = drop ? m.hid_drop[L - 2] : m.out[L - 2];
                    const float *in2 = drop ? m.hid_drop[L - 3] : m.out[L - 3];
                    float *z = malloc(B * C * sizeof(float)), *dl = malloc(B * C * sizeof(float));
                    float *dW = malloc(C * n_in * sizeof(float));
                    float *prev = malloc(B * n_in * sizeof(float));
                    float *db = calloc(n_in, sizeof(float));
                    float *dW2 = malloc(n_in * n_mid * sizeof(float));
                    kn_sgemm(false, true, B, C, n_in, 1.0f, in, n_in, m.W[L - 1], n_in, 0.0f, z,
                             C);
                    for (size_t i = 0; i < B; i++)
                        for (size_t j = 0; j < C; j++)
                            z[i * C + j] += m.b[L - 1][j];
                    CHECK(memcmp(z, m.out[L - 1], B * C * sizeof(float)) == 0);
                    size_t correct_ref;
                    double loss_ref = mlp_softmax_xent(z, y, B, C, dl, &correct_ref);
                    CHECK_MSG(loss == loss_ref && correct == correct_ref,
                              "B %zu: loss %.17g vs %.17g", B, loss, loss_ref);
                    CHECK(memcmp(dl, m.probs, B * C * sizeof(float)) == 0);
                    kn_sgemm(true, false, C, n_in, B, 1.0f, dl, C, in, n_in, 0.0f, dW, n_in);
                    CHECK(memcmp(dW, m.dW[L - 1], C * n_in * sizeof(float)) == 0);
                    kn_sgemm(false, false, B, n_in, C, 1.0f, dl, C, m.W[L - 1], n_in, 0.0f, prev,
                             n_in);
                    const float scale = (float)keep_scale(p_hid);
                    size_t zeroed = 0;
                    for (size_t k = 0; k < B * n_in; k++) {
                        if (drop)
                            prev[k] = m.hid_keep[L - 2][k] ? prev[k] * scale : 0.0f;
                        float o = m.out[L - 2][k];
                        prev[k] = act ? prev[k] * (1.0f - o * o) : o > 0.0f ? prev[k] : 0.0f;
                        zeroed += prev[k] == 0.0f;
                    }
                    /* ReLU's f' and the masks zero some elements, not all. */
                    CHECK(zeroed < B * n_in && (zeroed > 0 || (act && !drop)));
                    for (size_t i = 0; i < B; i++)
                        for (size_t j = 0; j < n_in; j++)
                            db[j] += prev[i * n_in + j];
                    CHECK(memcmp(db, m.db[L - 2], n_in * sizeof(float)) == 0);
                    kn_sgemm(true, false, n_in, n_mid, B, 1.0f, prev, n_in, in2, n_mid, 0.0f,
                             dW2, n_mid);
                    CHECK_MSG(memcmp(dW2, m.dW[L - 2], n_in * n_mid * sizeof(float)) == 0,
                              "B %zu, act %d, drop %d, threads %zu: layer 1 gradient", B, act,
                              drop, t);
                    free(z);
                    free(dl);
                    free(dW);
                    free(prev);
                    free(db);
                    free(dW2);
                    free(x);
                    free(y);
                    mlp_free(&m);
                }
            }
        }
    }
}

/* mlp_use_threads switches a 3-thread model between one thread and all of
 * them from step to step (as the training loop's tuner does): plain SGD
 * steps (layer 0 kept packed), momentum steps and evaluation give bit for
 * bit what a one-thread model gives. */
static void test_use_threads(void)
{
    static const size_t sizes[] = {300, 256, 40, 10};
    enum { B = 48, STEPS = 8 };
    struct mlp m[2];
    float *x[2];
    uint8_t *y[2];
    double loss[2][STEPS], eval[2][2];
    for (size_t k = 0; k < 2; k++) {
        make_batch(&m[k], sizes, 4, CFG_ACT_RELU, B, B, -1.0, 1.0, 91, &x[k], &y[k]);
        mlp_set_threads(&m[k], k ? 3 : 1);
        CHECK(m[k].threads_used == m[k].threads);
        CHECK(k == 0 || m[k].w0_packed != NULL);
        for (size_t s = 0; s < STEPS; s++) {
            if (k) {
                mlp_use_threads(&m[k], s % 3 == 1 ? 1 : s % 3 == 2 ? 7 : 3);
                CHECK(m[k].threads_used == (s % 3 == 1 ? 1u : 3u));
            }
            size_t c;
            float momentum = s >= 5 ? 0.9f : 0.0f; /* plain SGD first, then momentum */
            loss[k][s] = mlp_train_step(&m[k], x[k], y[k], B, &c, 0.0f, 0.0f, NULL, 0.05f,
                                        momentum, 0.0f);
        }
        mlp_evaluate(&m[k], x[k], y[k], B, &eval[k][0], &eval[k][1]);
        mlp_sync_params(&m[k]);
    }
    CHECK(memcmp(loss[0], loss[1], sizeof loss[0]) == 0);
    CHECK(memcmp(eval[0], eval[1], sizeof eval[0]) == 0);
    CHECK(memcmp(m[0].params, m[1].params, m[0].n_params * sizeof(float)) == 0);
    CHECK(memcmp(m[0].velocity, m[1].velocity, m[0].n_params * sizeof(float)) == 0);
    mlp_use_threads(&m[1], 0);
    CHECK(m[1].threads_used == 1);
    mlp_set_threads(&m[1], 2);
    CHECK(m[1].threads_used == 2);
    for (size_t k = 0; k < 2; k++) {
        free(x[k]);
        free(y[k]);
        mlp_free(&m[k]);
    }
}

int main(void)
{
    test_gradients();
    test_gradients_dropout();
    test_dropout_off();
    test_dropout_masks();
    test_dropout_determinism();
    test_softmax_huge();
    test_softmax_uniform();
    test_softmax_grad();
    test_sgd();
    test_init();
    test_learns(CFG_ACT_RELU, 0.0f);
    test_learns(CFG_ACT_TANH, 0.0f);
    test_learns(CFG_ACT_SIGMOID, 0.0f);
    test_learns(CFG_ACT_RELU, 0.2f);
    test_learns(CFG_ACT_TANH, 0.2f);
    test_learns(CFG_ACT_SIGMOID, 0.2f);
    test_evaluate();
    test_create_errors();
    test_threads_identical();
    test_train_step();
    test_packed_w0();
    test_sgd_threads();
    test_output_rows();
    test_use_threads();
    return check_exit("test_mlp");
}

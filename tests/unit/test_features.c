/* test_features: raw per-channel standardisation: known statistics, a
 * standardised fit set, constant channels, empty sets, the planar layout,
 * and size overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/features.h"
#include "runner/rng.h"

static void alloc_set(struct cifar_set *s, size_t n)
{
    s->n = n;
    s->images = malloc(n * CIFAR_IMAGE);
    s->labels = calloc(n, 1);
    if (!s->images || !s->labels) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

static void test_known(void)
{
    /* R: image 0 all 10, image 1 all 20 -> mean 15, std 5.
     * G: all 100 -> mean 100, std 0 -> 1.
     * B: alternating 0 / 255 in both -> mean 127.5, std 127.5. */
    struct cifar_set s = {0};
    alloc_set(&s, 2);
    for (size_t i = 0; i < 2; i++) {
        uint8_t *img = s.images + i * CIFAR_IMAGE;
        memset(img, i ? 20 : 10, CIFAR_PLANE);
        memset(img + CIFAR_PLANE, 100, CIFAR_PLANE);
        for (size_t k = 0; k < CIFAR_PLANE; k++)
            img[2 * CIFAR_PLANE + k] = (k % 2) ? 255 : 0;
    }
    struct feat_raw_stats st;
    feat_raw_fit(s.images, s.n, &st);
    CHECK_NEAR(st.mean[0], 15.0, 1e-12);
    CHECK_NEAR(st.std[0], 5.0, 1e-12);
    CHECK_NEAR(st.mean[1], 100.0, 1e-12);
    CHECK(st.std[1] == 1.0);
    CHECK_NEAR(st.mean[2], 127.5, 1e-12);
    CHECK_NEAR(st.std[2], 127.5, 1e-12);

    struct feat_matrix m = {0};
    struct rn_err err = {0};
    CHECK(feat_raw_apply(&st, &s, &m, &err) == RN_OK);
    CHECK(m.rows == 2 && m.cols == CIFAR_IMAGE && m.data);
    int ok = 1;
    for (size_t i = 0; i < 2; i++) {
        const float *row = m.data + i * CIFAR_IMAGE;
        for (size_t k = 0; k < CIFAR_PLANE; k++) {
            ok &= row[k] == (i ? 1.0f : -1.0f);
            ok &= row[CIFAR_PLANE + k] == 0.0f;
            ok &= row[2 * CIFAR_PLANE + k] == ((k % 2) ? 1.0f : -1.0f);
        }
    }
    CHECK(ok);
    feat_free(&m);
    CHECK(m.data == NULL && m.rows == 0);
    feat_free(&m); /* twice is harmless */

    /* Stats from one set applied to another (training stats on test data),
     * keeping the planar position of every pixel. */
    struct cifar_set t = {0};
    alloc_set(&t, 1);
    for (size_t j = 0; j < CIFAR_IMAGE; j++)
        t.images[j] = (uint8_t)(j % 251);
    CHECK(feat_raw_apply(&st, &t, &m, &err) == RN_OK);
    ok = 1;
    for (size_t j = 0; j < CIFAR_IMAGE; j++) {
        size_t c = j / CIFAR_PLANE;
        double want = ((double)(j % 251) - st.mean[c]) / st.std[c];
        ok &= fabs(m.data[j] - want) <= 1e-5 * (1 + fabs(want));
    }
    CHECK(ok);
    feat_free(&m);
    cifar_free(&t);
    cifar_free(&s);
}

static void test_standardised(void)
{
    /* Channels with different distributions; after standardising with their
     * own statistics every channel has mean ~0 and std ~1. */
    struct cifar_set s = {0};
    const size_t n = 40;
    alloc_set(&s, n);
    struct rng r;
    rng_init(&r, 3, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *img = s.images + i * CIFAR_IMAGE;
        for (size_t k = 0; k < CIFAR_PLANE; k++) {
            img[k] = (uint8_t)rng_below(&r, 256);
            img[CIFAR_PLANE + k] = (uint8_t)(50 + rng_below(&r, 20));
            img[2 * CIFAR_PLANE + k] = (uint8_t)(rng_below(&r, 10) == 0 ? 250 : 3);
        }
    }
    struct feat_raw_stats st;
    feat_raw_fit(s.images, n, &st);

    /* Against a direct two-pass computation. */
    for (size_t c = 0; c < 3; c++) {
        double sum = 0.0, cnt = (double)n * CIFAR_PLANE;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < CIFAR_PLANE; k++)
                sum += s.images[i * CIFAR_IMAGE + c * CIFAR_PLANE + k];
        double mean = sum / cnt, ss = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < CIFAR_PLANE; k++) {
                double d = s.images[i * CIFAR_IMAGE + c * CIFAR_PLANE + k] - mean;
                ss += d * d;
            }
        CHECK_NEAR(st.mean[c], mean, 1e-9);
        CHECK_NEAR(st.std[c], sqrt(ss / cnt), 1e-9);
    }
    CHECK(st.std[0] > st.std[2] || st.std[2] > st.std[1]); /* they differ */

    struct feat_matrix m = {0};
    struct rn_err err = {0};
    CHECK(feat_raw_apply(&st, &s, &m, &err) == RN_OK);
    for (size_t c = 0; c < 3; c++) {
        double sum = 0.0, sq = 0.0, cnt = (double)n * CIFAR_PLANE;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < CIFAR_PLANE; k++) {
                double v = m.data[i * CIFAR_IMAGE + c * CIFAR_PLANE + k];
                sum += v;
                sq += v * v;
            }
        double mean = sum / cnt;
        CHECK_NEAR(mean, 0.0, 1e-6);
        CHECK_NEAR(sqrt(sq / cnt - mean * mean), 1.0, 1e-5);
    }
    feat_free(&m);

    /* The fit uses only the n images it is given. */
    struct feat_raw_stats first;
    feat_raw_fit(s.images, 1, &first);
    double sum0 = 0.0;
    for (size_t k = 0; k < CIFAR_PLANE; k++)
        sum0 += s.images[k];
    CHECK_NEAR(first.mean[0], sum0 / CIFAR_PLANE, 1e-9);
    cifar_free(&s);
}

static void test_constant_and_empty(void)
{
    struct cifar_set s = {0};
    alloc_set(&s, 3);
    memset(s.images, 7, 3 * CIFAR_IMAGE);
    struct feat_raw_stats st;
    feat_raw_fit(s.images, s.n, &st);
    for (size_t c = 0; c < 3; c++) {
        CHECK(st.mean[c] == 7.0);
        CHECK(st.std[c] == 1.0); /* 0 replaced by 1 */
    }
    struct feat_matrix m = {0};
    struct rn_err err = {0};
    CHECK(feat_raw_apply(&st, &s, &m, &err) == RN_OK);
    int ok = 1;
    for (size_t j = 0; j < 3 * CIFAR_IMAGE; j++)
        ok &= m.data[j] == 0.0f;
    CHECK(ok);
    feat_free(&m);
    cifar_free(&s);

    /* No images: mean 0, std 1; applying to an empty set gives 0 rows. */
    feat_raw_fit(NULL, 0, &st);
    for (size_t c = 0; c < 3; c++)
        CHECK(st.mean[c] == 0.0 && st.std[c] == 1.0);
    struct cifar_set empty = {0};
    CHECK(feat_raw_apply(&st, &empty, &m, &err) == RN_OK);
    CHECK(m.rows == 0 && m.data == NULL);
    feat_free(&m);

    /* Sizes that overflow: an error, the matrix left empty. */
    struct cifar_set huge = {.n = SIZE_MAX / 1000, .images = NULL, .labels = NULL};
    m.rows = 5;
    CHECK(feat_raw_apply(&st, &huge, &m, &err) == RN_ERR_NOMEM);
    CHECK_STR_CONTAINS(err.msg, "overflow");
    CHECK(m.rows == 0 && m.data == NULL);
}

int main(void)
{
    test_known();
    test_standardised();
    test_constant_and_empty();
    return check_exit("test_features");
}

/* test_augment: each transform against its definition, the random choice
 * (only enabled transforms, parameters in range, seeded), and the layout of
 * the expanded training set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/augment.h"

#define S CIFAR_SIDE
#define AT(img, c, x, y) ((img)[(size_t)(c) * CIFAR_PLANE + (size_t)(y) * S + (size_t)(x)])

static void random_image(struct rng *r, uint8_t *img, unsigned lo, unsigned hi)
{
    for (size_t i = 0; i < CIFAR_IMAGE; i++)
        img[i] = (uint8_t)(lo + rng_below(r, hi - lo + 1));
}

/* A smooth image (for interpolation round trips). */
static void smooth_image(uint8_t *img)
{
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                AT(img, c, x, y) = (uint8_t)(40 + 3 * x + 2 * y + 20 * c);
}

static struct cfg_augment all_enabled(void)
{
    struct cfg_augment a = {0};
    a.enabled = true;
    a.copies = 1;
    a.rotation = a.cutout = a.crop = a.contrast = true;
    a.max_degrees = 15.0;
    a.cutout_max = 8;
    a.cutout_fill = 0;
    a.crop_padding = 4;
    a.contrast_min = 0.6;
    a.contrast_max = 1.4;
    a.flip_prob = 0.5;
    return a;
}

static void test_hflip(void)
{
    uint8_t a[CIFAR_IMAGE], b[CIFAR_IMAGE];
    struct rng r;
    rng_init(&r, 7, 0);
    random_image(&r, a, 0, 255);
    memcpy(b, a, sizeof a);
    aug_hflip(b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    int ok = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                ok &= AT(b, c, x, y) == AT(a, c, S - 1 - x, y);
    CHECK(ok);
    aug_hflip(b);
    CHECK(memcmp(a, b, sizeof a) == 0);

    /* Known image: pixel value = x in R, y in G, 100 + x in B. */
    uint8_t k[CIFAR_IMAGE];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            AT(k, 0, x, y) = (uint8_t)x;
            AT(k, 1, x, y) = (uint8_t)y;
            AT(k, 2, x, y) = (uint8_t)(100 + x);
        }
    aug_hflip(k);
    CHECK(AT(k, 0, 0, 0) == 31 && AT(k, 0, 31, 5) == 0 && AT(k, 0, 10, 9) == 21);
    CHECK(AT(k, 1, 0, 0) == 0 && AT(k, 1, 31, 5) == 5);
    CHECK(AT(k, 2, 0, 3) == 131 && AT(k, 2, 16, 3) == 115);
}

static void test_rotate(void)
{
    uint8_t a[CIFAR_IMAGE], b[CIFAR_IMAGE], c2[CIFAR_IMAGE];
    struct rng r;
    rng_init(&r, 8, 0);
    random_image(&r, a, 0, 255);

    aug_rotate(a, b, 0.0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    aug_rotate(a, b, 360.0);
    CHECK(memcmp(a, b, sizeof a) == 0);

    /* 90 degrees counter-clockwise: transpose, then flip vertically, i.e.
     * dst(x, y) = src(31 - y, x). */
    uint8_t t[CIFAR_IMAGE], want[CIFAR_IMAGE];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                AT(t, c, x, y) = AT(a, c, y, x);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                AT(want, c, x, y) = AT(t, c, x, S - 1 - y);
    aug_rotate(a, b, 90.0);
    CHECK(memcmp(b, want, sizeof b) == 0);
    /* -270 is the same turn; four quarter turns are the identity. */
    aug_rotate(a, c2, -270.0);
    CHECK(memcmp(c2, want, sizeof c2) == 0);
    memcpy(c2, a, sizeof a);
    for (int i = 0; i < 4; i++) {
        aug_rotate(c2, b, 90.0);
        memcpy(c2, b, sizeof b);
    }
    CHECK(memcmp(c2, a, sizeof a) == 0);

    /* Direction: a dot right of the centre goes to the top. */
    uint8_t dot[CIFAR_IMAGE] = {0};
    AT(dot, 0, 31, 15) = 200;
    aug_rotate(dot, b, 90.0);
    CHECK(AT(b, 0, 15, 0) == 200);

    /* 180 twice ~ identity away from the borders; also for a non-quarter
     * angle there and back on a smooth image. */
    aug_rotate(a, b, 180.0);
    aug_rotate(b, c2, 180.0);
    int ok = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 2; y < S - 2; y++)
            for (int x = 2; x < S - 2; x++)
                ok &= abs(AT(c2, c, x, y) - AT(a, c, x, y)) <= 1;
    CHECK(ok);
    uint8_t sm[CIFAR_IMAGE];
    smooth_image(sm);
    aug_rotate(sm, b, 23.0);
    CHECK(memcmp(sm, b, sizeof sm) != 0);
    aug_rotate(b, c2, -23.0);
    int maxdiff = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 6; y < S - 6; y++)
            for (int x = 6; x < S - 6; x++) {
                int d = abs(AT(c2, c, x, y) - AT(sm, c, x, y));
                if (d > maxdiff)
                    maxdiff = d;
            }
    CHECK_MSG(maxdiff <= 2, "max difference %d", maxdiff);

    /* A constant image stays constant inside, corners rotate out to zero. */
    uint8_t k[CIFAR_IMAGE];
    memset(k, 90, sizeof k);
    aug_rotate(k, b, 45.0);
    CHECK(AT(b, 0, 15, 15) == 90 && AT(b, 1, 16, 16) == 90 && AT(b, 2, 10, 20) == 90);
    CHECK(AT(b, 0, 0, 0) == 0 && AT(b, 1, 31, 0) == 0 && AT(b, 2, 0, 31) == 0 &&
          AT(b, 2, 31, 31) == 0);
    /* Half a pixel inside the border is interpolated with the zero outside:
     * here the source of (16, 0) rotated by 45 degrees lies inside. */
    CHECK(AT(b, 0, 16, 0) == 90);
}

static void test_crop(void)
{
    uint8_t a[CIFAR_IMAGE], b[CIFAR_IMAGE];
    struct rng r;
    rng_init(&r, 9, 0);
    random_image(&r, a, 1, 255); /* no zeros, so the zero margin is visible */
    for (size_t pad = 0; pad <= 5; pad++) {
        aug_crop(a, b, pad, pad, pad);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    /* pad 4, ox 6, oy 4: shift left by 2, two zero columns on the right. */
    aug_crop(a, b, 4, 6, 4);
    int ok = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                ok &= AT(b, c, x, y) == (x < S - 2 ? AT(a, c, x + 2, y) : 0);
    CHECK(ok);
    /* pad 4, ox 0, oy 1: content moves right 4 and down 3. */
    aug_crop(a, b, 4, 0, 1);
    ok = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                ok &= AT(b, c, x, y) == ((x >= 4 && y >= 3) ? AT(a, c, x - 4, y - 3) : 0);
    CHECK(ok);
    /* A window entirely in the padding is all zero. */
    aug_crop(a, b, 40, 0, 80);
    uint8_t zero[CIFAR_IMAGE] = {0};
    CHECK(memcmp(b, zero, sizeof b) == 0);
}

static void test_contrast(void)
{
    uint8_t a[CIFAR_IMAGE], b[CIFAR_IMAGE];
    struct rng r;
    rng_init(&r, 10, 0);
    random_image(&r, a, 0, 255);
    memcpy(b, a, sizeof a);
    aug_contrast(b, 1.0);
    CHECK(memcmp(a, b, sizeof a) == 0);

    uint8_t k[CIFAR_IMAGE] = {0};
    k[0] = 200, k[1] = 10, k[2] = 130, k[3] = 128, k[4] = 255, k[5] = 0;
    k[3000] = 129, k[3001] = 127;
    memcpy(b, k, sizeof k);
    aug_contrast(b, 2.0);
    CHECK(b[0] == 255 && b[1] == 0 && b[2] == 132 && b[3] == 128 && b[4] == 255 && b[5] == 0);
    memcpy(b, k, sizeof k);
    aug_contrast(b, 0.5);
    /* 128 + 0.5 * 72 = 164; 128 - 59 = 69; 129 -> 128.5 and 127 -> 127.5
     * round half up; 255 -> 191.5 -> 192; 0 -> 64. */
    CHECK(b[0] == 164 && b[1] == 69 && b[2] == 129 && b[3] == 128);
    CHECK(b[3000] == 129 && b[3001] == 128 && b[4] == 192 && b[5] == 64);
    memcpy(b, k, sizeof k);
    aug_contrast(b, 0.0);
    int ok = 1;
    for (size_t i = 0; i < CIFAR_IMAGE; i++)
        ok &= b[i] == 128;
    CHECK(ok);
}

static void test_cutout(void)
{
    uint8_t a[CIFAR_IMAGE], b[CIFAR_IMAGE];
    struct rng r;
    rng_init(&r, 11, 0);
    random_image(&r, a, 0, 255);
    memcpy(b, a, sizeof a);
    aug_cutout(b, 5, 7, 4, 3, 77);
    int ok = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int in = x >= 5 && x < 9 && y >= 7 && y < 10;
                ok &= AT(b, c, x, y) == (in ? 77 : AT(a, c, x, y));
            }
    CHECK(ok);
    /* Clipped at the right and bottom edges. */
    memcpy(b, a, sizeof a);
    aug_cutout(b, 30, 29, 10, 100, 1);
    ok = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int in = x >= 30 && y >= 29;
                ok &= AT(b, c, x, y) == (in ? 1 : AT(a, c, x, y));
            }
    CHECK(ok);
    /* Empty blocks and blocks outside change nothing. */
    memcpy(b, a, sizeof a);
    aug_cutout(b, 3, 3, 0, 5, 9);
    aug_cutout(b, 3, 3, 5, 0, 9);
    aug_cutout(b, 32, 0, 5, 5, 9);
    aug_cutout(b, 0, 40, 5, 5, 9);
    CHECK(memcmp(a, b, sizeof a) == 0);
}

/* The pixels of dst that differ from src form one filled rectangle within
 * the cutout limits (src has no pixel equal to fill). */
static int is_cutout_of(const uint8_t *src, const uint8_t *dst, size_t max, uint8_t fill)
{
    int x0 = S, y0 = S, x1 = -1, y1 = -1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (AT(dst, 0, x, y) != AT(src, 0, x, y)) {
                x0 = x < x0 ? x : x0, y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1, y1 = y > y1 ? y : y1;
            }
    if (x1 < 0)
        return memcmp(src, dst, CIFAR_IMAGE) == 0; /* w or h was 0 */
    if ((size_t)(x1 - x0 + 1) > max || (size_t)(y1 - y0 + 1) > max)
        return 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int in = x >= x0 && x <= x1 && y >= y0 && y <= y1;
                if (AT(dst, c, x, y) != (in ? fill : AT(src, c, x, y)))
                    return 0;
            }
    return 1;
}

/* dst equals aug_crop(src, pad, ox, oy) for some ox, oy in [0, 2 pad]. */
static int is_crop_of(const uint8_t *src, const uint8_t *dst, size_t pad)
{
    uint8_t t[CIFAR_IMAGE];
    for (size_t oy = 0; oy <= 2 * pad; oy++)
        for (size_t ox = 0; ox <= 2 * pad; ox++) {
            aug_crop(src, t, pad, ox, oy);
            if (memcmp(t, dst, CIFAR_IMAGE) == 0)
                return 1;
        }
    return 0;
}

static void test_random(void)
{
    uint8_t src[CIFAR_IMAGE], dst[CIFAR_IMAGE], dst2[CIFAR_IMAGE];
    struct rng r, r2;
    rng_init(&r, 12, 0);
    random_image(&r, src, 1, 255);
    struct cfg_augment base = all_enabled();

    /* Only one transform enabled (three disabled): always that one, with
     * parameters in range. */
    struct cfg_augment only = base;
    only.rotation = only.crop = only.contrast = false;
    only.cutout_fill = 0;
    rng_init(&r, 1, RNG_STREAM_AUGMENT);
    int ok_kind = 1, ok_param = 1, changed = 0;
    for (int i = 0; i < 300; i++) {
        ok_kind &= aug_random(&only, &r, src, dst) == AUG_CUTOUT;
        ok_param &= is_cutout_of(src, dst, only.cutout_max, 0);
        changed += memcmp(src, dst, sizeof src) != 0;
    }
    CHECK(ok_kind);
    CHECK(ok_param);
    /* w = 0 or h = 0 (no change) has probability 1 - (8/9)^2 ~ 0.21. */
    CHECK_MSG(changed > 200 && changed < 270, "changed %d of 300", changed);
    /* A limit larger than the image: blocks are clipped to it. */
    only.cutout_max = 40;
    only.cutout_fill = 0;
    ok_param = 1;
    for (int i = 0; i < 50; i++) {
        aug_random(&only, &r, src, dst);
        ok_param &= is_cutout_of(src, dst, S, 0);
    }
    CHECK(ok_param);

    only = base;
    only.rotation = only.cutout = only.contrast = false;
    ok_kind = ok_param = 1;
    for (int i = 0; i < 100; i++) {
        ok_kind &= aug_random(&only, &r, src, dst) == AUG_CROP;
        ok_param &= is_crop_of(src, dst, only.crop_padding);
    }
    CHECK(ok_kind);
    CHECK(ok_param);

    only = base;
    only.cutout = only.crop = only.contrast = false;
    ok_kind = 1;
    for (int i = 0; i < 50; i++)
        ok_kind &= aug_random(&only, &r, src, dst) == AUG_ROTATION;
    CHECK(ok_kind);
    /* Rotation with max 0 is the identity. */
    only.max_degrees = 0.0;
    CHECK(aug_random(&only, &r, src, dst) == AUG_ROTATION);
    CHECK(memcmp(src, dst, sizeof src) == 0);

    only = base;
    only.rotation = only.cutout = only.crop = false;
    ok_kind = 1;
    for (int i = 0; i < 50; i++)
        ok_kind &= aug_random(&only, &r, src, dst) == AUG_CONTRAST;
    CHECK(ok_kind);
    /* Contrast 1 with flip probability 1 is exactly a flip; with 0, the
     * identity. */
    only.contrast_min = only.contrast_max = 1.0;
    only.flip_prob = 1.0;
    memcpy(dst2, src, sizeof src);
    aug_hflip(dst2);
    CHECK(aug_random(&only, &r, src, dst) == AUG_CONTRAST);
    CHECK(memcmp(dst, dst2, sizeof dst) == 0);
    only.flip_prob = 0.0;
    CHECK(aug_random(&only, &r, src, dst) == AUG_CONTRAST);
    CHECK(memcmp(dst, src, sizeof dst) == 0);

    /* Two enabled: only those two appear, both do. All four: each about a
     * quarter of the time. */
    struct cfg_augment two = base;
    two.cutout = two.crop = false;
    size_t count[4] = {0};
    for (int i = 0; i < 400; i++)
        count[aug_random(&two, &r, src, dst)]++;
    CHECK(count[AUG_CUTOUT] == 0 && count[AUG_CROP] == 0);
    CHECK(count[AUG_ROTATION] > 150 && count[AUG_CONTRAST] > 150);
    memset(count, 0, sizeof count);
    for (int i = 0; i < 2000; i++)
        count[aug_random(&base, &r, src, dst)]++;
    for (int k = 0; k < 4; k++)
        CHECK_MSG(count[k] > 400 && count[k] < 600, "kind %d: %zu of 2000", k, count[k]);

    /* Same seed -> identical outputs and kinds; different seed -> different. */
    rng_init(&r, 5, RNG_STREAM_AUGMENT);
    rng_init(&r2, 5, RNG_STREAM_AUGMENT);
    int same = 1;
    for (int i = 0; i < 40; i++) {
        enum aug_kind k1 = aug_random(&base, &r, src, dst);
        enum aug_kind k2 = aug_random(&base, &r2, src, dst2);
        same &= k1 == k2 && memcmp(dst, dst2, sizeof dst) == 0;
    }
    CHECK(same);
    rng_init(&r, 5, RNG_STREAM_AUGMENT);
    rng_init(&r2, 6, RNG_STREAM_AUGMENT);
    int differ = 0;
    for (int i = 0; i < 40; i++) {
        aug_random(&base, &r, src, dst);
        aug_random(&base, &r2, src, dst2);
        differ += memcmp(dst, dst2, sizeof dst) != 0;
    }
    CHECK(differ > 20);
}

static void make_set(struct cifar_set *s, size_t n, uint64_t seed)
{
    struct rng r;
    rng_init(&r, seed, 0);
    s->n = n;
    s->images = malloc(n * CIFAR_IMAGE);
    s->labels = malloc(n);
    if (!s->images || !s->labels) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    random_image(&r, s->images, 0, 255);
    for (size_t i = 1; i < n; i++)
        random_image(&r, s->images + i * CIFAR_IMAGE, 0, 255);
    for (size_t i = 0; i < n; i++)
        s->labels[i] = (uint8_t)((i * 3 + 1) % 10);
}

static void test_expand(void)
{
    struct cifar_set in = {0};
    const size_t n = 5;
    make_set(&in, n, 42);
    struct cfg_augment cfg = all_enabled();
    cfg.copies = 3;
    struct rn_err err = {0};

    struct rng r;
    rng_init(&r, 9, RNG_STREAM_AUGMENT);
    struct cifar_set out = {0};
    CHECK(aug_expand(&cfg, &r, &in, &out, &err) == RN_OK);
    CHECK(out.n == n * 4);
    CHECK(memcmp(out.images, in.images, n * CIFAR_IMAGE) == 0);
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++)
            CHECK(out.labels[n * (1 + c) + i] == in.labels[i]);
    CHECK(memcmp(out.labels, in.labels, n) == 0);

    /* The documented order: copy by copy, image by image, one aug_random
     * each from the same stream. */
    struct rng replay;
    rng_init(&replay, 9, RNG_STREAM_AUGMENT);
    uint8_t img[CIFAR_IMAGE];
    int ok = 1;
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) {
            aug_random(&cfg, &replay, in.images + i * CIFAR_IMAGE, img);
            ok &= memcmp(img, out.images + (n * (1 + c) + i) * CIFAR_IMAGE, CIFAR_IMAGE) == 0;
        }
    CHECK(ok);
    CHECK(memcmp(&replay, &r, sizeof r) == 0);

    /* Deterministic. */
    struct cifar_set out2 = {0};
    rng_init(&r, 9, RNG_STREAM_AUGMENT);
    CHECK(aug_expand(&cfg, &r, &in, &out2, &err) == RN_OK);
    CHECK(out2.n == out.n && memcmp(out.images, out2.images, out.n * CIFAR_IMAGE) == 0 &&
          memcmp(out.labels, out2.labels, out.n) == 0);
    cifar_free(&out2);
    cifar_free(&out);

    /* Disabled or zero copies: a plain copy, and no random draws. */
    struct rng before;
    cfg.enabled = false;
    rng_init(&r, 9, RNG_STREAM_AUGMENT);
    before = r;
    CHECK(aug_expand(&cfg, &r, &in, &out, &err) == RN_OK);
    CHECK(out.n == n && memcmp(out.images, in.images, n * CIFAR_IMAGE) == 0 &&
          memcmp(out.labels, in.labels, n) == 0);
    CHECK(memcmp(&before, &r, sizeof r) == 0);
    cifar_free(&out);
    cfg.enabled = true;
    cfg.copies = 0;
    CHECK(aug_expand(&cfg, &r, &in, &out, &err) == RN_OK);
    CHECK(out.n == n);
    cifar_free(&out);

    /* Empty input -> empty output. */
    struct cifar_set empty = {0};
    cfg.copies = 2;
    CHECK(aug_expand(&cfg, &r, &empty, &out, &err) == RN_OK);
    CHECK(out.n == 0 && out.images == NULL && out.labels == NULL);

    /* Size overflow: an error, out stays empty, nothing is touched. */
    struct cifar_set huge = {.n = SIZE_MAX / 2, .images = NULL, .labels = NULL};
    CHECK(aug_expand(&cfg, &r, &huge, &out, &err) == RN_ERR_NOMEM);
    CHECK_STR_CONTAINS(err.msg, "overflow");
    CHECK(out.n == 0 && out.images == NULL && out.labels == NULL);
    huge.n = SIZE_MAX / CIFAR_IMAGE / 2;
    CHECK(aug_expand(&cfg, &r, &huge, &out, &err) == RN_ERR_NOMEM);
    CHECK(out.n == 0 && out.images == NULL && out.labels == NULL);
    cfg.copies = SIZE_MAX;
    CHECK(aug_expand(&cfg, &r, &in, &out, &err) == RN_ERR_NOMEM);
    CHECK(out.n == 0 && out.images == NULL);

    /* Copies requested with no transform enabled. */
    cfg.copies = 1;
    cfg.rotation = cfg.cutout = cfg.crop = cfg.contrast = false;
    CHECK(aug_expand(&cfg, &r, &in, &out, &err) != RN_OK);
    CHECK(out.n == 0 && out.images == NULL);

    cifar_free(&in);
}

int main(void)
{
    test_hflip();
    test_rotate();
    test_crop();
    test_contrast();
    test_cutout();
    test_random();
    test_expand();
    return check_exit("test_augment");
}

/* test_rng: the seeded streams (same seed and stream, same numbers; streams
 * independent), the shuffle (a permutation) and the validation hold-out
 * rule rng_holdout shared by the image and .npy feature paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/rng.h"

static void test_streams(void)
{
    struct rng a, b, c;
    rng_init(&a, 42, RNG_STREAM_SPLIT);
    rng_init(&b, 42, RNG_STREAM_SPLIT);
    rng_init(&c, 42, RNG_STREAM_SHUFFLE);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_u64(&a), y = rng_u64(&b), z = rng_u64(&c);
        same &= x == y;
        differ |= x != z;
    }
    CHECK_MSG(same, "the same seed and stream give the same numbers");
    CHECK_MSG(differ, "two streams of one seed differ");
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    size_t idx[N];
    unsigned char seen[N] = {0};
    for (size_t i = 0; i < N; i++)
        idx[i] = i;
    struct rng r;
    rng_init(&r, 7, RNG_STREAM_SHUFFLE);
    rng_shuffle(&r, idx, N);
    int perm = 1, moved = 0;
    for (size_t i = 0; i < N; i++) {
        perm &= idx[i] < N && !seen[idx[i]];
        if (idx[i] < N)
            seen[idx[i]] = 1;
        moved += idx[i] != i;
    }
    CHECK_MSG(perm, "the shuffle is a permutation");
    CHECK_MSG(moved > N / 2, "the shuffle moved %d of %d", moved, N);
}

/* held and kept partition 0..n-1, both increasing, |held| = v; the same
 * seed gives the same split, another seed another one; held is the first v
 * of the split stream's shuffle (the rule recorded runs were made with). */
static void test_holdout(void)
{
    static const size_t cases[][2] = {{10, 0}, {10, 1}, {10, 9}, {10, 10}, {1, 1},
                                      {1000, 250}, {50000, 5000}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c][0], v = cases[c][1];
        size_t *held = malloc((v ? v : 1) * sizeof *held);
        size_t *kept = malloc((n - v ? n - v : 1) * sizeof *kept);
        size_t *again = malloc((v ? v : 1) * sizeof *again);
        size_t *again_kept = malloc((n - v ? n - v : 1) * sizeof *again_kept);
        unsigned char *mark = calloc(n, 1);
        CHECK(rng_holdout(42, n, v, held, kept) == 0);
        int ok = 1;
        for (size_t i = 0; i < v; i++) {
            ok &= held[i] < n && !mark[held[i]] && (i == 0 || held[i] > held[i - 1]);
            if (held[i] < n)
                mark[held[i]] = 1;
        }
        for (size_t i = 0; i < n - v; i++) {
            ok &= kept[i] < n && !mark[kept[i]] && (i == 0 || kept[i] > kept[i - 1]);
            if (kept[i] < n)
                mark[kept[i]] = 2;
        }
        for (size_t i = 0; i < n; i++)
            ok &= mark[i] != 0;
        CHECK_MSG(ok, "n %zu v %zu: held and kept partition 0..n-1 in increasing order", n, v);

        CHECK(rng_holdout(42, n, v, again, again_kept) == 0);
        CHECK(memcmp(held, again, v * sizeof *held) == 0);

        /* The rule: the first v of a shuffle by (seed, RNG_STREAM_SPLIT). */
        size_t *idx = malloc(n * sizeof *idx);
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        struct rng r;
        rng_init(&r, 42, RNG_STREAM_SPLIT);
        rng_shuffle(&r, idx, n);
        memset(mark, 0, n);
        for (size_t i = 0; i < v; i++)
            mark[idx[i]] = 1;
        int rule = 1;
        for (size_t i = 0; i < v; i++)
            rule &= mark[held[i]] == 1;
        CHECK_MSG(v == 0 || v == n || rule, "n %zu v %zu: held = first v of the split shuffle",
                  n, v);
        if (v > 0 && v < n) {
            CHECK(rng_holdout(43, n, v, again, again_kept) == 0);
            CHECK_MSG(n < 100 || memcmp(held, again, v * sizeof *held) != 0,
                      "n %zu v %zu: another seed, another split", n, v);
        }
        free(idx);
        free(held);
        free(kept);
        free(again);
        free(again_kept);
        free(mark);
    }
}

int main(void)
{
    test_streams();
    test_shuffle();
    test_holdout();
    return check_exit("test_rng");
}

/* rng: xoshiro256** (Blackman & Vigna) seeded through splitmix64 from
 * (seed, stream). */
#include "runner/rng.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
    /* Mix the stream id in through its own splitmix step so that nearby
     * (seed, stream) pairs give unrelated states. */
    uint64_t x = seed;
    uint64_t mixed = splitmix64(&x);
    uint64_t y = stream ^ 0xd1b54a32d192ed03ULL;
    mixed ^= splitmix64(&y);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&mixed);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1; /* the all-zero state is a fixed point */
}

uint64_t rng_u64(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(struct rng *r)
{
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

double rng_range(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    /* Rejection from the top of the range: unbiased for every n > 0. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double rng_normal(struct rng *r)
{
    double u1 = rng_uniform(r);
    double u2 = rng_uniform(r);
    /* 1 - u1 is in (0, 1], so the log is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

void rng_shuffle(struct rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, (uint64_t)i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

int rng_holdout(uint64_t seed, size_t n, size_t v, size_t *held, size_t *kept)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    unsigned char *is_held = calloc(n ? n : 1, 1);
    if (!idx || !is_held) {
        free(idx);
        free(is_held);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    if (v) {
        struct rng r;
        rng_init(&r, seed, RNG_STREAM_SPLIT);
        rng_shuffle(&r, idx, n);
        for (size_t i = 0; i < v; i++)
            is_held[idx[i]] = 1;
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_held[i])
            held[a++] = i;
        else
            kept[b++] = i;
    }
    free(idx);
    free(is_held);
    return 0;
}

/* rng: explicit, seeded random streams (xoshiro256** seeded by splitmix64).
 *
 * There is no global generator. Every consumer owns a `struct rng` derived
 * from the experiment seed and a stream id, so e.g. switching augmentation on
 * does not change the initial weights or the batch order. Used by augment,
 * features, mlp (init), train (shuffle, split). */
#ifndef RUNNER_RNG_H
#define RUNNER_RNG_H

#include <stddef.h>
#include <stdint.h>

enum rng_stream {
    RNG_STREAM_INIT = 1,     /* weight initialisation */
    RNG_STREAM_SHUFFLE = 2,  /* per-epoch batch order */
    RNG_STREAM_AUGMENT = 3,  /* augmentation choices */
    RNG_STREAM_FEATURES = 4, /* feature learning (patch sampling, k-means) */
    RNG_STREAM_SPLIT = 5,    /* validation hold-out split */
    RNG_STREAM_DROPOUT = 6   /* dropout masks */
};

struct rng {
    uint64_t s[4];
};

/* Derive the state for (seed, stream); the same pair always gives the same state. */
void rng_init(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(struct rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(struct rng *r);
/* Uniform double in [lo, hi]. (hi is reachable only up to rounding.) */
double rng_range(struct rng *r, double lo, double hi);
/* Unbiased integer in [0, n); n must be > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Standard normal (Box-Muller, no cached second value). */
double rng_normal(struct rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(struct rng *r, size_t *idx, size_t n);

/* The validation hold-out (data.validation), one rule for every feature
 * source: v of the indices 0..n-1 (v <= n), the first v of a shuffle of
 * 0..n-1 by the (seed, RNG_STREAM_SPLIT) stream. held[0..v) gets them and
 * kept[0..n-v) the others, both in increasing order (callers allocate
 * both; either may be NULL if its count is 0). Returns 0, or -1 if out of
 * memory for its scratch (held and kept are then undefined). */
int rng_holdout(uint64_t seed, size_t n, size_t v, size_t *held, size_t *kept);

#endif

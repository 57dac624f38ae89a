/* gen_cifar: write a synthetic, learnable CIFAR-10-format dataset.
 *
 *   gen_cifar OUT_DIR [--seed N]
 *
 * Creates OUT_DIR (like mkdir -p) and writes data_batch_1..5.bin and
 * test_batch.bin, each exactly 10000 records in the official layout (1 label
 * byte, 3072 planar RGB pixels). Each file holds 1000 images of every class in
 * a seeded random order.
 *
 * An image of class k is
 *   colour:  128 + s * (cos(h), cos(h - 120deg), cos(h + 120deg)) * 50 + b
 *            with hue h = k * 36deg + N(0, 8deg), saturation s ~ U[0.7, 1.3]
 *            and brightness b ~ U[-25, 25] per image (the same in every
 *            channel, so it does not change the hue);
 *   pattern: luminance stripes of period 8 px, amplitude 20, orientation
 *            k * 18deg, random phase;
 *   noise:   roughly Gaussian, sd 20, independent per pixel and channel;
 * clipped to 0..255. The hue is the main cue: it survives rotation, crop,
 * cutout and contrast changes about 128 (which scale the colour offset but
 * keep its direction). The stripes are a secondary, spatial cue.
 *
 * Deterministic given --seed (default 1): file f uses rng stream 100 + f.
 * Exit codes: 0 ok, 1 write/alloc error, 2 usage. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/cifar.h"
#include "runner/err.h"
#include "runner/fsutil.h"
#include "runner/rng.h"

#define PI 3.14159265358979323846
#define N_CLASSES 10
#define STRIPE_PERIOD 8.0
#define STRIPE_AMP 20.0
#define COLOUR_AMP 50.0
#define HUE_SD_DEG 8.0
#define NOISE_SD 20.0

static void usage(FILE *to)
{
    fprintf(to, "usage: gen_cifar OUT_DIR [--seed N]\n"
                "Write a synthetic CIFAR-10-format dataset (data_batch_1..5.bin,\n"
                "test_batch.bin; 10000 records each) into OUT_DIR.\n");
}

/* Per-class stripe phase index of each pixel: 256 steps per period. */
static uint8_t phase_tab[N_CLASSES][CIFAR_PLANE];
static int sin_tab[256];     /* stripe value, rounded to whole pixel levels */
static int noise_tab[65536]; /* ~N(0, NOISE_SD), indexed by 16 random bits */

static void init_tables(void)
{
    for (int v = 0; v < 256; v++)
        sin_tab[v] = (int)lround(STRIPE_AMP * sin(2.0 * PI * v / 256.0));
    for (int k = 0; k < N_CLASSES; k++) {
        double th = k * PI / N_CLASSES; /* k * 18 degrees */
        double c = cos(th), s = sin(th);
        for (int y = 0; y < CIFAR_SIDE; y++)
            for (int x = 0; x < CIFAR_SIDE; x++) {
                double t = (x * c + y * s) * 256.0 / STRIPE_PERIOD;
                long i = (long)floor(t + 0.5);
                phase_tab[k][y * CIFAR_SIDE + x] = (uint8_t)(i & 255);
            }
    }
    /* Quantiles of the normal distribution at (i + 0.5) / 65536, by
     * bisection on erfc: a fixed table, independent of the seed. */
    for (int i = 0; i < 65536; i++) {
        double p = (i + 0.5) / 65536.0, lo = -10.0, hi = 10.0;
        for (int it = 0; it < 60; it++) {
            double mid = 0.5 * (lo + hi);
            if (0.5 * erfc(-mid / sqrt(2.0)) < p)
                lo = mid;
            else
                hi = mid;
        }
        noise_tab[i] = (int)lround(NOISE_SD * 0.5 * (lo + hi));
    }
}

static uint8_t clip_px(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One image of class k into img (3072 planar bytes). */
static void make_image(struct rng *r, int k, uint8_t *img)
{
    double hue = 2.0 * PI * k / N_CLASSES + rng_normal(r) * HUE_SD_DEG * PI / 180.0;
    double sat = rng_range(r, 0.7, 1.3);
    double bright = rng_range(r, -25.0, 25.0);
    unsigned off = (unsigned)rng_below(r, 256);
    int base[3];
    for (int c = 0; c < 3; c++)
        base[c] = (int)lround(128.0 + bright + sat * COLOUR_AMP * cos(hue - c * 2.0 * PI / 3.0));
    int stripe[CIFAR_PLANE];
    for (int i = 0; i < CIFAR_PLANE; i++)
        stripe[i] = sin_tab[(phase_tab[k][i] + off) & 255];
    for (int c = 0; c < 3; c++) {
        uint8_t *p = img + c * CIFAR_PLANE;
        for (int i = 0; i < CIFAR_PLANE; i += 4) {
            uint64_t u = rng_u64(r);
            for (int q = 0; q < 4; q++)
                p[i + q] = clip_px(base[c] + stripe[i + q] + noise_tab[(u >> (16 * q)) & 0xffff]);
        }
    }
}

static int write_file(const char *dir, const char *name, uint64_t seed, uint64_t stream,
                      uint8_t *buf)
{
    struct rng r;
    rng_init(&r, seed, stream);
    size_t order[CIFAR_PER_FILE];
    for (size_t i = 0; i < CIFAR_PER_FILE; i++)
        order[i] = i % N_CLASSES;
    rng_shuffle(&r, order, CIFAR_PER_FILE);
    for (size_t i = 0; i < CIFAR_PER_FILE; i++) {
        uint8_t *rec = buf + i * CIFAR_RECORD;
        rec[0] = (uint8_t)order[i];
        make_image(&r, (int)order[i], rec + 1);
    }

    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof path) {
        fprintf(stderr, "gen_cifar: %s/%s: path too long\n", dir, name);
        return 1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gen_cifar: %s: cannot create: %s\n", path, strerror(errno));
        return 1;
    }
    size_t bytes = (size_t)CIFAR_PER_FILE * CIFAR_RECORD;
    size_t put = fwrite(buf, 1, bytes, f);
    int bad = put != bytes || ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        fprintf(stderr, "gen_cifar: %s: write failed: %s\n", path, strerror(e));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--seed") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gen_cifar: --seed needs a value\n");
                usage(stderr);
                return 2;
            }
            const char *s = argv[++i];
            char *end;
            errno = 0;
            unsigned long long v = strtoull(s, &end, 10);
            if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || s[0] == '+') {
                fprintf(stderr, "gen_cifar: --seed %s: expected a non-negative integer\n", s);
                return 2;
            }
            seed = (uint64_t)v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "gen_cifar: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "gen_cifar: more than one OUT_DIR given\n");
            usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }

    struct rn_err err = {0};
    if (fs_mkdirs(dir, &err) != RN_OK) {
        fprintf(stderr, "gen_cifar: %s\n", err.msg);
        return 1;
    }
    init_tables();
    uint8_t *buf = malloc((size_t)CIFAR_PER_FILE * CIFAR_RECORD);
    if (!buf) {
        fprintf(stderr, "gen_cifar: out of memory\n");
        return 1;
    }
    static const char *const names[CIFAR_TRAIN_FILES + 1] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    int rc = 0;
    for (size_t f = 0; f < CIFAR_TRAIN_FILES + 1 && rc == 0; f++)
        rc = write_file(dir, names[f], seed, 100 + f, buf);
    free(buf);
    return rc;
}

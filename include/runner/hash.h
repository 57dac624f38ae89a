/* hash: SHA-256 for run identity (config hash, data file hashes).
 * Used by config (config hash), data (file hashes) and the CLI. */
#ifndef RUNNER_HASH_H
#define RUNNER_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "runner/err.h"

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, unsigned char out[32]);
/* Hex digest of a buffer: out gets 64 hex chars + NUL. */
void sha256_hex(const void *data, size_t n, char out[65]);
void sha256_to_hex(const unsigned char dig[32], char out[65]);
/* Hex digest of a whole file; RN_ERR_DATA naming the file on failure. */
int sha256_file_hex(const char *path, char out[65], struct rn_err *err);

#endif

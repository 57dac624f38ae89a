/* checkpoint: the complete training state after an epoch, in one small
 * binary file, so that a killed run continues with bit-identical results.
 *
 * Layout (integers are 64-bit in the writing machine's byte order, which the
 * byte-order mark pins down; floats are IEEE 754 binary32):
 *   "RUNRCKPT"            8-byte magic
 *   u32 version (1), u32 byte-order mark 0x01020304
 *   config_hash           64 hex chars (cfg_hash of the run)
 *   u64 seed, u64 epoch   epochs completed
 *   u64 n_sizes, u64 sizes[n_sizes]    the layer sizes
 *   u64 n_params, u64 n_rows           parameters; training rows
 *   u64 shuffle.s[4], u64 dropout.s[4] RNG stream states
 *   u64 perm[n_rows]                   current batch order
 *   f32 params[n_params], f32 velocity[n_params]  weights, momentum buffers
 *   32-byte SHA-256 of everything above.
 * Files are replaced atomically (temp + fsync + rename + fsync of the
 * directory); the previous checkpoint is kept as PATH.prev until the new one
 * is in place, so a crash between the checkpoint and the database commit of
 * the same epoch still leaves the checkpoint the database agrees with.
 * Called by the CLI (run, resume). */
#ifndef RUNNER_CHECKPOINT_H
#define RUNNER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "runner/err.h"
#include "runner/mlp.h"
#include "runner/train.h"

#define CKPT_VERSION 1

/* Serialize m's params and velocity and st into a malloc'd buffer. */
int ckpt_encode(const struct mlp *m, const struct train_state *st, const char *config_hash,
                uint64_t seed, unsigned char **buf, size_t *len, struct rn_err *err);

/* Check buf (named `name` in messages) and load it into m (params,
 * velocity) and st (epoch, streams, perm). m must have been created with the
 * same layer sizes and st with the same number of rows; config_hash and seed
 * must match. Errors (RN_ERR_DATA) name what is wrong: magic, version, byte
 * order, truncation, checksum, sizes, config. m and st are changed only on
 * success. */
int ckpt_decode(const unsigned char *buf, size_t len, const char *name, struct mlp *m,
                struct train_state *st, const char *config_hash, uint64_t seed,
                struct rn_err *err);

/* Write the checkpoint to path atomically, first moving an existing path to
 * path.prev. RN_ERR_OUTPUT on failure. */
int ckpt_save(const char *path, const struct mlp *m, const struct train_state *st,
              const char *config_hash, uint64_t seed, struct rn_err *err);

/* Read path and ckpt_decode it. */
int ckpt_load(const char *path, struct mlp *m, struct train_state *st, const char *config_hash,
              uint64_t seed, struct rn_err *err);

/* The epoch recorded in the checkpoint at path, after checking magic,
 * version, byte order, length and checksum (the cheap part of a load). */
int ckpt_peek_epoch(const char *path, size_t *epoch, struct rn_err *err);

#endif

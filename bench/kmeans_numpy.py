#!/usr/bin/env python3
"""Peer for the benchmark's k-means case: the runner's k-means encoding
(Coates, Lee & Ng) written the straightforward way in numpy, float32.

usage: kmeans_numpy.py CIFAR_DIR [--train N] [--test M] [--k K] [--patch P]
                       [--stride S] [--chunk C] [--reps R]

For the first N training and first M test images: every patch position at
the stride (27 x 27 for 6x6 patches at stride 1) is cut out (channel-planar,
like the runner), normalised (minus its mean, divided by sqrt(variance + 10)),
whitened ((x - mean) @ W, a 108 x 108 matrix), its distance to each of K
centroids computed through one matrix multiply (|x|^2 - 2 x.c + |c|^2), encoded
with the triangle rule max(0, mean_k(z_k) - z_k), and sum-pooled over the four
image quadrants (4K features per image). The whitening matrix and centroids
are random with the runner's shapes: the cost does not depend on their values,
and fitting them is not part of what is timed (the runner's fit is excluded
too). C images are encoded per block. Prints one line per repetition:
"encode images N seconds T per_image_ms X"."""
import argparse
import os
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SIDE = 32


def load(path, count):
    """First `count` images of one CIFAR-10 binary batch file, (count, 3, 32, 32) uint8."""
    rec = 1 + 3 * SIDE * SIDE
    with open(path, "rb") as f:
        raw = f.read(rec * count)
    if len(raw) != rec * count:
        raise SystemExit(f"kmeans_numpy.py: {path}: fewer than {count} records")
    a = np.frombuffer(raw, np.uint8).reshape(count, rec)
    return a[:, 1:].reshape(count, 3, SIDE, SIDE)


def load_images(d, n_train, n_test):
    parts, left = [], n_train
    for i in range(1, 6):
        if left == 0:
            break
        take = min(left, 10000)
        parts.append(load(os.path.join(d, f"data_batch_{i}.bin"), take))
        left -= take
    if n_test:
        parts.append(load(os.path.join(d, "test_batch.bin"), n_test))
    return np.concatenate(parts)


def encode(images, zca_mean, zca, centroids, patch, stride, chunk, norm_eps=10.0):
    n = len(images)
    k, dim = centroids.shape
    grid = (SIDE - patch) // stride + 1
    half = (grid + 1) // 2
    ct = np.ascontiguousarray(centroids.T)
    cc = (centroids * centroids).sum(1)
    out = np.empty((n, 4 * k), np.float32)
    for s in range(0, n, chunk):
        x = images[s:s + chunk].astype(np.float32)                 # (b, 3, 32, 32)
        b = len(x)
        w = sliding_window_view(x, (patch, patch), axis=(2, 3))    # (b, 3, g', g', p, p)
        w = w[:, :, ::stride, ::stride]                            # (b, 3, g, g, p, p)
        p = w.transpose(0, 2, 3, 1, 4, 5).reshape(b * grid * grid, dim)
        p = p - p.mean(1, keepdims=True)
        p /= np.sqrt(p.var(1, keepdims=True) + norm_eps)
        xw = (p - zca_mean) @ zca                                  # whitened (rows, dim)
        z = xw @ ct                                                # x . c  (rows, k)
        z *= -2.0
        z += (xw * xw).sum(1, keepdims=True)
        z += cc
        np.maximum(z, 0.0, out=z)
        np.sqrt(z, out=z)                                          # distances
        mu = z.mean(1, keepdims=True)
        np.subtract(mu, z, out=z)
        np.maximum(z, 0.0, out=z)                                  # triangle
        z = z.reshape(b, grid, grid, k)
        o = out[s:s + b].reshape(b, 4, k)
        o[:, 0] = z[:, :half, :half].sum((1, 2))
        o[:, 1] = z[:, :half, half:].sum((1, 2))
        o[:, 2] = z[:, half:, :half].sum((1, 2))
        o[:, 3] = z[:, half:, half:].sum((1, 2))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--k", type=int, default=1600)
    ap.add_argument("--patch", type=int, default=6)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    if not (0 <= a.train <= 50000 and 0 <= a.test <= 10000 and a.train + a.test > 0):
        raise SystemExit("kmeans_numpy.py: --train must be 0..50000, --test 0..10000, not both 0")
    images = load_images(a.data, a.train, a.test)
    dim = 3 * a.patch * a.patch
    rng = np.random.default_rng(0)
    zca_mean = rng.standard_normal(dim).astype(np.float32) * 0.01
    zca = (rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32)
    centroids = rng.standard_normal((a.k, dim)).astype(np.float32)
    for _ in range(a.reps):
        t0 = time.perf_counter()
        feats = encode(images, zca_mean, zca, centroids, a.patch, a.stride, a.chunk)
        dt = time.perf_counter() - t0
        if not np.isfinite(feats).all():
            raise SystemExit("kmeans_numpy.py: non-finite features")
        n = len(images)
        print(f"encode images {n} seconds {dt:.4f} per_image_ms {1000 * dt / n:.4f}", flush=True)


main()

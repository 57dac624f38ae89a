#!/usr/bin/env python3
"""Writes, as .npy files for the runner's `features.kind: npy`, the 512-d input
that ../shared/bench/mlp_peer.py builds with --input proj512: pixels scaled to
[0, 1], standardised per pixel with the training mean and deviation, projected
by the peer's fixed random matrix (numpy default_rng(0), N(0, 1) / sqrt(3072))
and passed through ReLU. So the runner and the peer train on the same matrix.

usage: make_proj512.py CIFAR_DIR OUT_DIR [--test-rows M]
OUT_DIR gets train.npy (50000 x 512 float32), train_labels.npy, test.npy and
test_labels.npy (the first M test rows, default 100: the runner evaluates the
test set inside its timed epoch, the peer outside, so the benchmark keeps the
runner's test pass small)."""
import argparse
import os

import numpy as np


def load(d, names):
    raw = b"".join(open(os.path.join(d, n), "rb").read() for n in names)
    a = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
    return a[:, 1:].astype(np.float32) / 255.0, a[:, 0].astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--test-rows", type=int, default=100)
    a = ap.parse_args()
    xtr, ytr = load(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = load(a.data, ["test_batch.bin"])
    xte, yte = xte[:a.test_rows], yte[:a.test_rows]
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    rng = np.random.default_rng(0)
    p = rng.standard_normal((3072, 512)).astype(np.float32) / np.sqrt(3072)
    xtr, xte = np.maximum(xtr @ p, 0), np.maximum(xte @ p, 0)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "train.npy"), np.ascontiguousarray(xtr, np.float32))
    np.save(os.path.join(a.out, "train_labels.npy"), ytr.astype(np.uint8))
    np.save(os.path.join(a.out, "test.npy"), np.ascontiguousarray(xte, np.float32))
    np.save(os.path.join(a.out, "test_labels.npy"), yte.astype(np.uint8))


main()

#!/usr/bin/env python3
"""The benchmark's reference point: float32 matrix multiply (sgemm) GFLOP/s
that numpy's BLAS reaches, and which BLAS that is.

usage: sgemm.py info             print numpy's BLAS library, kernel and threads
       sgemm.py torch-info       the same inside a process that imported torch,
                                 plus torch.get_num_threads()
       sgemm.py [N] [--calls C]  best of C calls of np.dot on N x N float32
                                 (default 2048, 5); prints "sgemm N GFLOPS G"
The kernel and thread count come from threadpoolctl when it is installed,
otherwise from OpenBLAS's own openblas_get_corename/_num_threads, found in
the libraries this process has loaded."""
import ctypes
import sys
import time

import numpy as np


def loaded_blas():
    """Paths of the BLAS libraries mapped into this process."""
    a = np.ones((8, 8), np.float32)
    a @ a  # make sure numpy's BLAS is loaded
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in path.rsplit("/", 1)[-1].lower() or "blas" in path.lower():
                if path.startswith("/") and ".so" in path:
                    paths.add(path)
    return sorted(paths)


def describe():
    try:
        from threadpoolctl import threadpool_info
        rows = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if rows:
            return "; ".join(f"{r.get('internal_api')} {r.get('version')} "
                             f"kernel={r.get('architecture')} threads={r.get('num_threads')} "
                             f"({r.get('filepath')}) [threadpoolctl]" for r in rows)
    except ImportError:
        pass
    out, seen = [], set()
    for path in loaded_blas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_num_threads.restype = ctypes.c_int
            what = (f"openblas kernel={lib.openblas_get_corename().decode()} "
                    f"threads={lib.openblas_get_num_threads()}")
            if what not in seen:  # libblas, liblapack and libopenblas are one library
                seen.add(what)
                out.append(f"{what} ({path})")
        elif "lapack" not in path:
            out.append(f"not OpenBLAS: {path}")
    return "; ".join(out) if out else "unknown"


def sgemm(n, calls):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.dot(a, b, out=c)  # warm-up: threads started, pages touched
    best = float("inf")
    for _ in range(calls):
        t0 = time.perf_counter()
        np.dot(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def main():
    args = sys.argv[1:]
    if args[:1] == ["info"]:
        print(describe())
        return
    if args[:1] == ["torch-info"]:
        import torch
        print(f"torch {torch.__version__} threads={torch.get_num_threads()}; BLAS: {describe()}")
        return
    n, calls = 2048, 5
    if "--calls" in args:
        i = args.index("--calls")
        calls = int(args[i + 1])
        del args[i:i + 2]
    if args:
        n = int(args[0])
    print(f"sgemm {n} GFLOPS {sgemm(n, calls):.1f}")


main()

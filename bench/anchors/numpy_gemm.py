#!/usr/bin/env python3
"""numpy (OpenBLAS) anchor for GemmBenchmark: times C = A @ B in f32 and prints one JSON line.

Usage: python3 bench/anchors/numpy_gemm.py [M K N] [--reps R]
GFLOP/s = 2*M*N*K / median_seconds / 1e9. numpy uses all cores unless OPENBLAS_NUM_THREADS says otherwise.
"""
import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dims", nargs="*", type=int, default=[2048, 2048, 2048], help="M K N")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    if len(args.dims) != 3:
        ap.error("expected three sizes: M K N")
    m, k, n = args.dims
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    for _ in range(3):  # warm-up: thread pool start, page faults
        np.matmul(a, b, out=c)
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(json.dumps({
        "op": "numpy.matmul f32",
        "shape": [m, k, n],
        "reps": args.reps,
        "median_ms": round(med * 1e3, 3),
        "min_ms": round(min(times) * 1e3, 3),
        "gflops": round(2.0 * m * n * k / med / 1e9, 1),
        "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Anchor: numpy dense attention (q @ k.T * scale, stable softmax, @ v) per head, float32.

Prints one JSON line: {"anchor": "numpy_attention", "shape": ..., "median_ms": ...}.
Usage: python3 numpy_attention.py [--b 1] [--h 4] [--n 4096] [--d 64] [--reps 7]
"""
import argparse
import json
import time

import numpy as np


def attention(q, k, v, scale):
    b, h, n, d = q.shape
    out = np.empty((b, h, n, v.shape[-1]), dtype=np.float32)
    for bi in range(b):
        for hi in range(h):
            s = (q[bi, hi] @ k[bi, hi].T) * np.float32(scale)
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=1, keepdims=True)
            out[bi, hi] = s @ v[bi, hi]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--b", type=int, default=1)
    p.add_argument("--h", type=int, default=4)
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--reps", type=int, default=7)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((a.b, a.h, a.n, a.d), dtype=np.float32) for _ in range(3))
    scale = 1.0 / np.sqrt(a.d)
    attention(q, k, v, scale)  # warm-up
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        attention(q, k, v, scale)
        times.append((time.perf_counter() - t0) * 1e3)
    shape = "cpu-s" if (a.b, a.h, a.n, a.d) == (1, 4, 4096, 64) else "custom"
    print(json.dumps({"anchor": "numpy_attention", "shape": shape, "b": a.b, "h": a.h, "n": a.n, "d": a.d,
                      "dtype": "float32", "reps": a.reps, "median_ms": round(float(np.median(times)), 2),
                      "min_ms": round(float(np.min(times)), 2)}))


if __name__ == "__main__":
    main()

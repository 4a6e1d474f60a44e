#!/usr/bin/env python3
"""PyTorch/CUDA anchors for the kernel JIT's GPU benchmarks (issue 4), one JSON line per case.

Runs on the GPU machine, in the same call as `GpuKernelBench`, so that both see the same clocks:
- copy: a device-to-device copy (torch's copy_ is the CUDA copy kernel): bytes read + written per second,
  the "copy ceiling" saxpy is held against;
- saxpy: torch's y.add_(x, alpha=a), 3 x 4 bytes per element;
- gemm f32: torch.matmul with TF32 disabled (true f32 on CUDA cores, cuBLAS SGEMM);
- gemm bf16 / f16: torch.matmul (cuBLAS, tensor cores), A (m x k) times B^T with B stored (n x k), as our kernel.
Times are CUDA-event medians over --reps runs after warm-up.

Usage: python3 bench/anchors/torch_kernels.py [--n 67108864] [--gemm 4096] [--reps 20]
"""
import argparse
import json

import torch

from cuda_timing import timed


def emit(case, seconds, **fields):
    print(json.dumps({"anchor": "torch " + torch.__version__, "case": case,
                      "median_ms": round(seconds * 1e3, 4), **fields}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1 << 26, help="elements for copy and saxpy (f32)")
    ap.add_argument("--gemm", type=int, default=4096, help="GEMM edge m = n = k")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    n = args.n
    x = torch.randn(n, device=dev, generator=g)
    y = torch.randn(n, device=dev, generator=g)
    out = torch.empty_like(x)
    t = timed(lambda: out.copy_(x), args.reps) / 1e3  # seconds
    emit("copy f32", t, elements=n, gbps=round(2 * 4 * n / t / 1e9, 1))
    t = timed(lambda: y.add_(x, alpha=1.5), args.reps) / 1e3  # seconds
    emit("saxpy f32", t, elements=n, gbps=round(3 * 4 * n / t / 1e9, 1))

    s = args.gemm
    flops = 2.0 * s * s * s
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(s, s, device=dev, generator=g)
    b = torch.randn(s, s, device=dev, generator=g)
    t = timed(lambda: torch.matmul(a, b), args.reps) / 1e3  # seconds
    emit("gemm f32 (no TF32)", t, shape=[s, s, s], tflops=round(flops / t / 1e12, 2))
    for name, dtype in (("bf16", torch.bfloat16), ("f16", torch.float16)):
        ah = a.to(dtype)
        bt = b.to(dtype)
        t = timed(lambda: torch.matmul(ah, bt.t()), args.reps) / 1e3  # seconds
        emit("gemm " + name + " A*B^T", t, shape=[s, s, s], tflops=round(flops / t / 1e12, 1))


if __name__ == "__main__":
    main()

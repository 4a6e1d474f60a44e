#!/usr/bin/env python3
"""PyTorch anchors for the GPU attention benchmarks (issue 5), one JSON line per case.

Runs on the GPU machine in the same call as `sparge attention-bench --backend cuda ... --write-mask M.safetensors`:
- dense SDPA (torch.nn.functional.scaled_dot_product_attention) in bf16 and f32;
- FlexAttention given the very same block mask: our (B,H,nq,nk) mask of 128x64 blocks (tensor "mask", U8, as
  `sparge mask` and `attention-bench --write-mask` write it) becomes Flex's BlockMask through
  BlockMask.from_kv_blocks with BLOCK_SIZE=(128, 64), so both do the same work.
Times are CUDA-event medians over --reps calls after warm-up (Flex is torch.compile'd first).

First run 2026-12-03 on the H200 (torch 2.11.0+cu130): `flex_sparsity` 0.94998 equals `mask_sparsity` 0.95 of our
wan13b mask to rounding, so Flex skips exactly our blocks. Check that line again whenever the mask format changes.

Usage: python3 bench/anchors/torch_attention.py --shape wan13b-480p [--mask M.safetensors] [--dtypes bf16,f32]
"""
import argparse
import json
import struct

import torch

from cuda_timing import timed
import torch.nn.functional as F

SHAPES = {"wan13b-480p": (1, 12, 32760, 128), "wan14b-720p": (1, 40, 75600, 128)}


def read_mask(path):
    """The "mask" tensor of a safetensors file (8-byte little-endian header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    info = header["mask"]
    if info["dtype"] not in ("U8", "BOOL"):
        raise SystemExit(f"{path}: tensor 'mask' has dtype {info['dtype']}, expected U8")
    start, end = info["data_offsets"]
    mask = torch.frombuffer(bytearray(data[start:end]), dtype=torch.uint8).reshape(info["shape"])
    return mask.bool(), header.get("__metadata__", {})


def flex_block_mask(mask, n, bq, bkv, device):
    from torch.nn.attention.flex_attention import BlockMask
    mask = mask.to(device)
    counts = mask.sum(dim=-1, dtype=torch.int32)
    # kept key blocks first, in ascending order (a stable sort of "not kept")
    indices = torch.argsort((~mask).to(torch.int8), dim=-1, stable=True).to(torch.int32)
    try:
        return BlockMask.from_kv_blocks(counts, indices, BLOCK_SIZE=(bq, bkv), seq_lengths=(n, n))
    except TypeError:  # older torch without seq_lengths
        return BlockMask.from_kv_blocks(counts, indices, BLOCK_SIZE=(bq, bkv))


def emit(case, ms, **fields):
    print(json.dumps({"anchor": "torch " + torch.__version__, "case": case, "median_ms": round(ms, 4), **fields}),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="wan13b-480p", help="wan13b-480p, wan14b-720p or B,H,N,d")
    ap.add_argument("--mask", help="our block mask (safetensors, tensor 'mask' (B,H,nq,nk) U8)")
    ap.add_argument("--dtypes", default="bf16,f32")
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    b, h, n, d = SHAPES.get(args.shape) or tuple(int(x) for x in args.shape.split(","))
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    block_mask = None
    mask_sparsity = None
    if args.mask:
        mask, meta = read_mask(args.mask)
        bq, bkv = int(meta.get("bq", 128)), int(meta.get("bkv", 64))
        if tuple(mask.shape[:2]) != (b, h):
            raise SystemExit(f"--mask has shape {list(mask.shape)}, expected ({b},{h},nq,nk) for --shape {args.shape}")
        mask_sparsity = 1.0 - mask.float().mean().item()
        block_mask = flex_block_mask(mask, n, bq, bkv, dev)
        from torch.nn.attention.flex_attention import flex_attention
        flex = torch.compile(flex_attention, dynamic=False)
    for name in args.dtypes.split(","):
        dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[name]
        q, k, v = (torch.randn(b, h, n, d, device=dev, generator=g, dtype=dtype) for _ in range(3))
        ms = timed(lambda: F.scaled_dot_product_attention(q, k, v), args.reps)
        emit("dense SDPA " + name, ms, shape=[b, h, n, d])
        if block_mask is not None:
            ms = timed(lambda: flex(q, k, v, block_mask=block_mask), args.reps)
            emit("FlexAttention " + name, ms, shape=[b, h, n, d], block_size=[bq, bkv],
                 mask_sparsity=round(mask_sparsity, 5), flex_sparsity=round(block_mask.sparsity() / 100.0, 5))
        del q, k, v
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

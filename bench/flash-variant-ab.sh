#!/usr/bin/env bash
# A/B of the tensor-core forward's kernel families in one device call: the wan13b-480p bf16 attention bench (hybrid,
# 95%, dense and sparse) with SPARGE_FLASH_MMA_VARIANT set to each of VARIANTS (default "registers fa2"), alternated
# ROUNDS (2) times so that drift of the device falls on every variant, then PyTorch's SDPA and FlexAttention on the
# same mask (bench/anchors/torch_attention.py). Run from the checkout's root on the GPU machine after
# bench/pack-device.sh; carry .device/jre25.txz, .device/java.sh, .device/lib. Writes $OUT/flash-ab.jsonl (each bench
# line with "variant" and "round" added, then the anchors' lines).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
masks=$(mktemp -d)
for round in $(seq "${ROUNDS:-2}"); do
  for variant in ${VARIANTS:-registers fa2}; do
    write=(); [[ $round == 1 ]] && write=(--write-mask "$masks/wan13b.safetensors")
    SPARGE_FLASH_MMA_VARIANT=$variant timeout 150 /tmp/sparge attention-bench --backend cuda --shape wan13b-480p \
      --mode hybrid --topk 0.03 --target-sparsity 0.95 --json --dtype bf16 "${write[@]}" 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"variant\":\"$variant\",\"round\":$round,/" | tee -a "$out/flash-ab.jsonl" \
      | cut -c1-400
  done
done
timeout 200 python3 bench/anchors/torch_attention.py --shape wan13b-480p --mask "$masks/wan13b.safetensors" \
  2>/dev/null | tee -a "$out/flash-ab.jsonl" | cut -c1-400

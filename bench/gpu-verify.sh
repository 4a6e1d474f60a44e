#!/usr/bin/env bash
# One device call (under 600 s) that re-checks issues 4 and 5 on the current code: the GPU JUnit selection of
# bench/run-gpu.sh (CUDA and NVIDIA OpenCL), `sparge selftest` on both, and the wan13b-480p attention bench with its
# PyTorch anchors (SDPA, FlexAttention on our mask). Run from the checkout's root there after bench/pack-device.sh
# here; carry .device/jre25min.txz .device/java.sh .device/lib .device/testclasses .device/tools:
#   bash bench/gpu-verify.sh
# The tests come first (the JUnit console prints its tree only when it ends, so it must not be cut short); the bench
# gets what time is left. Writes junit*.txt, selftest-*.txt, kernels-cuda.txt and attention.jsonl into $OUT.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
limit=${LIMIT_S:-585}
timeout $(( limit - 150 )) bash bench/run-gpu.sh tests
timeout 60 bash bench/run-gpu.sh selftest
source bench/device-env.sh
masks=$(mktemp -d)
common=(--shape wan13b-480p --mode hybrid --topk 0.03 --target-sparsity 0.95 --json)
left() { echo $(( limit - SECONDS )); }
(( $(left) > 40 )) && timeout $(( $(left) - 30 )) /tmp/sparge attention-bench --backend cuda "${common[@]}" \
  --dtype bf16 --write-mask "$masks/wan13b.safetensors" >> "$out/attention.jsonl" 2>> "$out/logs.txt"
(( $(left) > 40 )) && timeout $(( $(left) - 20 )) python3 bench/anchors/torch_attention.py --shape wan13b-480p \
  --mask "$masks/wan13b.safetensors" >> "$out/attention.jsonl" 2>> "$out/logs.txt"
(( $(left) > 30 )) && timeout $(( $(left) - 5 )) /tmp/sparge attention-bench --backend cuda "${common[@]}" \
  --dtype f32 >> "$out/attention.jsonl" 2>> "$out/logs.txt"
grep -v WARNING "$out/attention.jsonl" | cut -c1-700
echo "ended at ${SECONDS} s"

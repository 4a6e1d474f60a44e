#!/usr/bin/env bash
# One device call for the checks that follow kernel changes (issues 4, 5, 8), run from the checkout's root on the GPU
# machine after bench/pack-device.sh filled .device/ here; carry .device/jre25.txz, .device/java.sh, .device/lib,
# .device/testclasses, .device/tools:
#   bash bench/gpu-checks.sh
# Writes into $OUT: gemm.jsonl (the pair GEMM's tilings at 4096^3 between two runs of the PyTorch anchors),
# attention.jsonl (wan13b-480p hybrid 95%: f32 and bf16 with SDPA and FlexAttention on the same mask), tests.txt
# (NCCL and device-collective tests on one GPU) and collectives.jsonl (collective-bench, a world of one).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader > "$out/logs.txt" 2>&1

python3 bench/anchors/torch_kernels.py > "$out/gemm.jsonl" 2>> "$out/logs.txt"
timeout 240 /tmp/sparge kernel-bench --backend cuda --gemm 4096 --gemm-variants "${GEMM_VARIANTS:-tiled}" \
  >> "$out/gemm.jsonl" 2>> "$out/logs.txt"
python3 bench/anchors/torch_kernels.py >> "$out/gemm.jsonl" 2>> "$out/logs.txt"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    if l.startswith("{"):
        j = json.loads(l); print(j.get("case", j.get("name")), j.get("tflops", j.get("gbps", "")))' "$out/gemm.jsonl"

masks=$(mktemp -d)
common=(--shape wan13b-480p --mode hybrid --topk 0.03 --target-sparsity 0.95 --json)
timeout 200 /tmp/sparge attention-bench --backend cuda "${common[@]}" --dtype bf16 \
  --write-mask "$masks/wan13b.safetensors" >> "$out/attention.jsonl" 2>> "$out/logs.txt"
python3 bench/anchors/torch_attention.py --shape wan13b-480p --mask "$masks/wan13b.safetensors" \
  >> "$out/attention.jsonl" 2>> "$out/logs.txt"
timeout 200 /tmp/sparge attention-bench --backend cuda "${common[@]}" --dtype f32 >> "$out/attention.jsonl" \
  2>> "$out/logs.txt"
grep -v WARNING "$out/attention.jsonl" | cut -c1-600

timeout 150 bash .device/java.sh -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
  -cp "$(printf '%s:' .device/lib/*.jar).device/testclasses/engine.jar" --details=tree --disable-banner \
  --select-class io.sparge4j.engine.distributed.nccl.NcclCommunicatorGpuTest \
  --select-class io.sparge4j.engine.gpu.DeviceCollectivesTest 2>/dev/null \
  | sed 's/\x1b\[[0-9;]*m//g' > "$out/tests.txt"
tail -n 14 "$out/tests.txt"
timeout 120 /tmp/sparge collective-bench --sizes "${SIZES:-1M,16M,64M,256M}" > "$out/collectives.jsonl" \
  2>> "$out/logs.txt"
cat "$out/collectives.jsonl"

#!/usr/bin/env bash
# Issue 7: the wall time of one batched training step on the GPU (BATCH clips (32), PRECISION (bf16); median of steps
# 11-30 of a 30-step run) and where its device time goes (SPARGE_PROFILE=1 over PROFILE_STEPS (4) more steps, the
# per-kernel table printed when the session closes). Run from the checkout's root on the GPU machine after
# bench/pack-device.sh and a copy of a model directory in INIT (default .device/tinydemo); carry .device/jre25.txz,
# .device/java.sh, .device/lib and that directory. Writes $OUT/train-step.txt.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
init=${INIT:-.device/tinydemo}
source bench/device-env.sh
flags=(--init "$init" --batch-size "${BATCH:-32}" --precision "${PRECISION:-bf16}" --lr 1e-5 --warmup 0
  --timestep-shift 3 --checkpoint-every 1000 --backend cuda)
rm -rf /tmp/step-probe /tmp/step-profile
timeout 200 /tmp/sparge pretrain "${flags[@]}" --out /tmp/step-probe --steps 30 > /tmp/step-probe.log 2>&1
echo "{\"case\": \"train-step\", \"batch\": ${BATCH:-32}, \"precision\": \"${PRECISION:-bf16}\", \"timing\": $(python3 bench/median-step.py /tmp/step-probe/train.jsonl --json)}" \
  | tee "$out/train-step.txt"
SPARGE_PROFILE=1 timeout 150 /tmp/sparge pretrain "${flags[@]}" --out /tmp/step-profile \
  --steps "${PROFILE_STEPS:-4}" 2>&1 | tr '\r' '\n' | grep -v "^train " | tail -n 60 >> "$out/train-step.txt"
tail -n 40 "$out/train-step.txt"

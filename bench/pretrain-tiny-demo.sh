#!/usr/bin/env bash
# Issue 7: pretrain the tiny-demo model on the GPU machine inside one device call, then a first look at its samples.
# Run from the checkout's root there after bench/pack-device.sh filled .device/ here:
#   BUDGET_S=430 bash bench/pretrain-tiny-demo.sh
# A 40-step probe measures the step time (or, when .device/run holds a run brought back by an earlier call, that
# run continues with its schedule extended: STEP_S gives the step time); the run then gets as many steps as fit in
# BUDGET_S (the cosine schedule needs its length up front). Results in $OUT: the logs, run.json, train.jsonl, the
# model directory (model.tgz), the last checkpoint (ckpt.tgz.part-*, for --resume in a later call), a sample GIF and a
# small eval JSON (SKIP_EVAL=1: none).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
budget=${BUDGET_S:-430}
run=${RUN_DIR:-/tmp/tiny-demo}
source bench/device-env.sh
common=(--backend cuda --lr "${LR:-6e-4}" --warmup "${WARMUP:-200}" --seed "${SEED:-7}" --micro-batches "${MICRO:-1}")
start=$(date +%s)
if [[ -d .device/run/checkpoints ]]; then
  # continue a run brought back by an earlier call (run.json + its latest checkpoint), extending its schedule
  rm -rf "$run" && mkdir -p "$run" && cp -r .device/run/. "$run/"
  step_s=${STEP_S:-0.066}
  done_steps=$(python3 -c "import json; print(json.load(open('$run/run.json'))['steps'])")
  left=$(( budget - ($(date +%s) - start) ))
  steps=$(python3 -c "print($done_steps + int($left / $step_s * 0.92))")
  echo "resuming at step $done_steps, ${left} s left at ~${step_s} s a step: to $steps steps"
  timeout $(( left + 40 )) /tmp/sparge pretrain --out "$run" --resume --steps "$steps" --backend cuda \
    > /tmp/pretrain.log 2>&1
else
  sparge pretrain --out /tmp/probe --steps 40 --checkpoint-every 1000 "${common[@]}" > /tmp/probe.log 2>&1
  echo "probe rc=$?"; tail -c 1500 /tmp/probe.log | tr '\r' '\n' | tail -n 6
  step_s=$(python3 -c "
import json, statistics
t = [json.loads(l)['step_time_s'] for l in open('/tmp/probe/train.jsonl')][10:]
print(statistics.median(t))")
  left=$(( budget - ($(date +%s) - start) ))
  steps=$(python3 -c "print(max(100, int($left / $step_s * 0.92)))")
  echo "median step ${step_s} s, ${left} s left: $steps steps"
  timeout $(( left + 40 )) /tmp/sparge pretrain --out "$run" --steps "$steps" --checkpoint-every 500 "${common[@]}" \
    > /tmp/pretrain.log 2>&1
fi
echo "pretrain rc=$?"; tail -c 2000 /tmp/pretrain.log | tr '\r' '\n' | tail -n 4
cp "$run/train.jsonl" "$out/"
tar czf "$out/model.tgz" -C "$run" model run.json
# the latest checkpoint and run.json, enough for --resume in a later call (parts under the 16 MiB a file may have)
tar czf - -C "$run" run.json checkpoints/latest "checkpoints/$(cat "$run/checkpoints/latest")" \
  | split -b 15M - "$out/ckpt.tgz.part-"
sparge generate --model "$run/model" --prompt "a red circle moving right" --backend cuda --steps 20 \
  --out "$out/red-circle-right.gif" > /tmp/generate.log 2>&1
echo "generate rc=$?"; tail -n 3 /tmp/generate.log
[[ ${SKIP_EVAL:-0} == 1 ]] || timeout 90 /tmp/sparge eval --model "$run/model" --attention dense --prompts 12 --steps 20 --backend cuda \
  --velocity-samples 2 --out "$out/eval-dense.json" > /tmp/eval.log 2>&1
echo "eval rc=$?"; tail -c 1500 /tmp/eval.log | tr '\r' '\n' | tail -n 12
for f in $(ls /tmp/probe.log 2>/dev/null) /tmp/pretrain.log /tmp/generate.log /tmp/eval.log; do
  echo "=== $f"; tail -c 20000 "$f" | tr '\r' '\n' | grep -v "^train \|^eval " | tail -n 60
done > "$out/logs.txt"
ls -la "$out"

#!/usr/bin/env bash
# Issue 7's experiment (bench/experiment7.sh) on the GPU machine, within one device call's time; what does not fit
# continues in a later call that carries the runs/ brought back (.device/runs): experiment7.sh skips what exists.
# Run from the checkout's root there after bench/pack-device.sh filled .device/ here, with the pretrained model
# directory at .device/pretrained:
#   BUDGET_S=540 STEPS=400 PROMPTS=12 SWEEP=0.95 EVAL_ARGS="--steps 20" bash bench/experiment7-device.sh
# (every experiment7.sh variable passes through; REPORT defaults to 0 here: the plots are made where the runs come
# back; JOBS=8 runs the fine-tunes, then the evaluations, side by side). Results in $OUT: runs.tgz (runs/,
# commands.log, logs/, the fine-tunes' train.jsonl and run.json), NAME-model.tgz for each
# fine-tune in BRING_MODELS (default hybrid-distill) and logs.txt.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
export MODEL_DIR=${MODEL_DIR:-$PWD/.device/pretrained} SPARGE=/tmp/sparge BACKEND=${BACKEND:-cuda}
exp=/tmp/experiment7
mkdir -p "$exp/runs"
if [[ -d .device/runs ]]; then cp -r .device/runs/. "$exp/runs/"; fi
REPORT=${REPORT:-0} timeout "${BUDGET_S:-540}" bash bench/experiment7.sh "$exp" > /tmp/experiment.log 2>&1
echo "experiment rc=$? (124: out of time; rerun with .device/runs to continue)"
(cd "$exp" && tar czf "$out/runs.tgz" runs commands.log logs \
  $(ls models/*/train.jsonl models/*/run.json 2>/dev/null))
for m in ${BRING_MODELS:-hybrid-distill}; do
  if [[ -f "$exp/models/$m/model/config.json" ]]; then
    tar czf "$out/$m-model.tgz" -C "$exp/models/$m" model run.json
  fi
done
tr '\r' '\n' < /tmp/experiment.log | grep -v "^train \|^eval \|^generate \|^concentration [0-9]" | tail -n 400 \
  > "$out/logs.txt"
ls -la "$out"

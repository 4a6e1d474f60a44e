#!/usr/bin/env bash
# Issue 7: continue pretraining the shipped tiny-demo on the GPU machine with many clips per step (--batch-size),
# then evaluate it, inside one device call. Run from the checkout's root there after bench/pack-device.sh filled
# .device/ here and the shipped model was copied to .device/tiny-demo (the device jar leaves it out):
#   cp -r models/src/main/resources/io/sparge4j/models/tiny-demo .device/tiny-demo
#   BUDGET_S=540 BATCH=16 bash bench/tiny-demo-batched.sh
# INIT (default .device/tiny-demo) is the model a new run starts from; PRECISION f32 (default) or bf16; CLIP_SPEED
# (MIN,MAX, default 0.2,0.5) and CLIP_SPREAD (default 1) set the clips' motion (--clip-speed, --clip-start-spread);
# ATTR_DROPOUT (default 0) is --caption-attribute-dropout. After the evaluation, caption-sensitivity.json says whether
# the trained model reads its colour, shape and direction words (SENSITIVITY_CLIPS clips, default 24; 0 skips it).
# PROBE="1 8 16 32" first measures the step time of each batch size for 30 steps (not counted in the run). BASELINE
# (a model directory) is evaluated too, with the same prompts and seed, into eval-baseline.json. When
# .device/run holds a run brought back by an earlier call, that run continues (--resume, schedule extended to what
# fits) instead of a new one starting from .device/tiny-demo. Results in $OUT: the run's
# train.jsonl and run.json, model.tgz, the latest checkpoint (ckpt.tgz.part-*), eval-dense.json, a GIF of the
# README's prompt, caption-sensitivity.json, logs.txt (with the probe's lines first; eight files, the device tool's
# limit).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
budget=${BUDGET_S:-540}
batch=${BATCH:-16}
run=/tmp/tiny-demo-run
init=${INIT:-.device/tiny-demo}
precision=${PRECISION:-f32}
source bench/device-env.sh
rm -f /tmp/probe.jsonl   # a warm machine keeps /tmp
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
median_step() { python3 bench/median-step.py "$1"; }

for b in ${PROBE:-}; do
  sparge pretrain --init "$init" --out "/tmp/probe-$b" --steps 30 --batch-size "$b" --lr 1e-5 --warmup 0 \
    --timestep-shift 3 --checkpoint-every 1000 --precision "$precision" --backend cuda > "/tmp/probe-$b.log" 2>&1
  s=$(median_step "/tmp/probe-$b/train.jsonl")
  echo "{\"batch\": $b, \"precision\": \"$precision\", \"median_step_s\": $s, \"clips_per_s\": $(python3 -c "print($b / $s)")}" | tee -a /tmp/probe.jsonl
done

reserve=${RESERVE_S:-110}
if [[ -n ${BASELINE:-} ]]; then
  timeout 120 /tmp/sparge eval --model "$BASELINE" --attention dense --prompts "${PROMPTS:-48}" --seed 1 --steps 20 \
    --backend cuda --velocity-samples 2 --out "$out/eval-baseline.json" > /tmp/eval-baseline.log 2>&1
  echo "baseline eval rc=$?"; grep -E '"(colour|shape|direction|all_correct)_rate"' "$out/eval-baseline.json" | head -4
fi   # evaluation, sample and packing after the run
if [[ -d .device/run/checkpoints ]]; then
  rm -rf "$run" && mkdir -p "$run" && cp -r .device/run/. "$run/"
  batch=$(python3 -c "import json; print(json.load(open('$run/run.json')).get('batchSize', 1))")
  step_s=${STEP_S:?STEP_S: the step time of batch $batch, from the first call}
  done_steps=$(python3 -c "import json; print(json.load(open('$run/run.json'))['steps'])")
  steps=$(python3 -c "print($done_steps + int(($(left) - $reserve) / $step_s * 0.92))")
  echo "resuming at step $done_steps (batch $batch) to $steps steps"
  timeout $(( $(left) - reserve + 60 )) /tmp/sparge pretrain --out "$run" --resume --steps "$steps" --backend cuda \
    > /tmp/pretrain.log 2>&1
else
  if [[ -z ${STEP_S:-} && ! -s /tmp/probe-$batch/train.jsonl ]]; then
    echo "the $precision probe of batch $batch failed (logs.txt); training in f32 at FALLBACK_STEP_S"
    precision=f32
    STEP_S=${FALLBACK_STEP_S:?FALLBACK_STEP_S: the f32 step time of batch $batch}
  fi
  step_s=${STEP_S:-$(median_step "/tmp/probe-$batch/train.jsonl")}
  rm -rf "$run"   # a warm machine keeps /tmp: a new run needs an empty directory
  steps=$(python3 -c "print(max(50, int(($(left) - $reserve) / $step_s * 0.92)))")
  echo "batch $batch at ${step_s} s a step: $steps steps ($(( steps * batch )) clips)"
  timeout $(( $(left) - reserve + 60 )) /tmp/sparge pretrain --init "$init" --out "$run" --steps "$steps" \
    --batch-size "$batch" --precision "$precision" --lr "${LR:-3e-4}" --warmup "${WARMUP:-100}" --timestep-shift "${SHIFT:-3}" \
    --seed "${SEED:-21}" --checkpoint-every "${CKPT:-250}" --clip-speed "${CLIP_SPEED:-0.2,0.5}" \
    --clip-start-spread "${CLIP_SPREAD:-1}" --caption-attribute-dropout "${ATTR_DROPOUT:-0}" --backend cuda \
    > /tmp/pretrain.log 2>&1
fi
echo "pretrain rc=$?"; tr '\r' '\n' < /tmp/pretrain.log | grep -v "^train " | tail -n 4
cp "$run/train.jsonl" "$run/run.json" "$out/"
tar czf "$out/model.tgz" -C "$run" model run.json
tar czf - -C "$run" run.json checkpoints/latest "checkpoints/$(cat "$run/checkpoints/latest")" \
  | split -b 15M - "$out/ckpt.tgz.part-"
sparge generate --model "$run/model" --prompt "a red circle moving right" --backend cuda --steps 20 \
  --out "$out/red-circle-right.gif" > /tmp/generate.log 2>&1
echo "generate rc=$?"; tail -n 3 /tmp/generate.log
timeout $(( $(left) > 30 ? $(left) - 10 : 30 )) /tmp/sparge eval --model "$run/model" --attention dense \
  --prompts "${PROMPTS:-48}" --seed 1 --steps 20 --backend cuda --velocity-samples 2 --out "$out/eval-dense.json" \
  > /tmp/eval.log 2>&1
echo "eval rc=$?"; tr '\r' '\n' < /tmp/eval.log | grep -v "^eval " | tail -n 14
if [[ ${SENSITIVITY_CLIPS:-24} -gt 0 ]]; then
  timeout $(( $(left) > 40 ? $(left) - 10 : 30 )) /tmp/sparge caption-sensitivity --model "$run/model" \
    --clips "${SENSITIVITY_CLIPS:-24}" --backend cuda --out "$out/caption-sensitivity.json" > /tmp/sensitivity.log 2>&1
  echo "caption-sensitivity rc=$?"; grep "^sigma" /tmp/sensitivity.log
fi
{ [[ -f /tmp/probe.jsonl ]] && cat /tmp/probe.jsonl; } > "$out/logs.txt"
for f in /tmp/probe-*.log /tmp/eval-baseline.log /tmp/pretrain.log /tmp/generate.log /tmp/eval.log \
    /tmp/sensitivity.log; do
  [[ -f $f ]] && { echo "=== $f"; tail -c 20000 "$f" | tr '\r' '\n' | grep -v "^train \|^eval " | tail -n 40; }
done >> "$out/logs.txt"
ls -la "$out"

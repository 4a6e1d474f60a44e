#!/usr/bin/env bash
# Issue 7: train several variants of tiny-demo side by side in ONE device call, then evaluate each. The batched
# step leaves the H200 idle two thirds of the time (the host side is one process's work), so N processes on the
# machine's 16 cores see nearly N times the clips of one. Run from the checkout's root there, after
# bench/pack-device.sh and a copy of the starting model in .device/ (INIT, default .device/tinydemo):
#   BUDGET_S=560 bash bench/tiny-demo-variants.sh \
#     "drop=--caption-attribute-dropout 0.3" "centred=--clip-speed 0.1,0.2 --clip-start-spread 0.05"
# Each argument is NAME=FLAGS: the variant's own `sparge pretrain` flags, added to the shared ones (--init,
# --precision PRECISION (bf16), --seed SEED (26), and --batch-size BATCH (32), --timestep-shift SHIFT (3), --warmup
# WARMUP (30) and --lr LR (3e-4) unless FLAGS gives its own). All variants first run PROBE_STEPS (25) steps together
# to measure their step time side by side; each then trains for what fits in the budget, and is evaluated (`sparge
# eval`, PROMPTS (48) prompts, seed 1, dense), asked whether it reads its caption's words (`sparge caption-sensitivity`
# on clips of its own motion) and made to draw the README's prompt. $OUT gets NAME.tgz per variant (train.jsonl,
# run.json, model/, eval-dense.json, caption-sensitivity.json, the GIF, its logs) and logs.txt.
# COMMAND=finetune runs `sparge finetune` instead (the variants then give --objective, --attention, --late-topk, ...;
# EVAL_ATTENTION=hybrid (with TEACHER=<dense model dir>) evaluates them sparse against that teacher, with each model's
# own generation.json settings, a late Top-k included). The file names keep "dense" only for EVAL_ATTENTION=dense.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
budget=${BUDGET_S:-560}
reserve=${RESERVE_S:-150}
init=${INIT-.device/tinydemo}   # INIT= (empty): from scratch, the variants give the shape
source bench/device-env.sh
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
median_step() { python3 bench/median-step.py "$1"; }

declare -A flags
names=()
for arg in "$@"; do
  name=${arg%%=*}; f=${arg#*=}
  [[ $f == *--lr* ]] || f+=" --lr ${LR:-3e-4}"
  [[ $f == *--batch-size* ]] || f+=" --batch-size ${BATCH:-32}"
  [[ $f == *--warmup* ]] || f+=" --warmup ${WARMUP:-30}"
  [[ $f == *--timestep-shift* ]] || f+=" --timestep-shift ${SHIFT:-3}"
  names+=("$name"); flags[$name]=$f
done
(( ${#names[@]} > 0 )) || { echo "usage: $0 NAME=FLAGS..."; exit 2; }
# median-step.py skips the first 10 steps as warm-up
(( ${PROBE_STEPS:-25} > 10 )) \
  || { echo "PROBE_STEPS=${PROBE_STEPS} must be above 10 (the warm-up steps skipped)"; exit 2; }
shared="${init:+--init $init} --precision ${PRECISION:-bf16}
  --seed ${SEED:-26} --backend ${BACKEND:-cuda}"

# A machine kept warm between calls keeps /tmp: this call's logs.txt must hold only this call's probes and summaries
rm -f /tmp/probe.jsonl /tmp/summary.txt
# The probe: every variant at once, so that each step time is the one it will see.
for n in "${names[@]}"; do
  rm -rf "/tmp/probe-$n"
  # shellcheck disable=SC2086
  /tmp/sparge ${COMMAND:-pretrain} $shared ${flags[$n]} --out "/tmp/probe-$n" --steps "${PROBE_STEPS:-25}" \
    --checkpoint-every 1000 \
    > "/tmp/probe-$n.log" 2>&1 &
done
wait
for n in "${names[@]}"; do
  if [[ -s /tmp/probe-$n/train.jsonl ]]; then
    s=$(median_step "/tmp/probe-$n/train.jsonl")
    echo "{\"variant\": \"$n\", \"probe_median_step_s\": $s, \"parallel\": ${#names[@]}}" | tee -a /tmp/probe.jsonl
  else
    echo "probe of $n failed:"; tail -n 20 "/tmp/probe-$n.log"
  fi
done

for n in "${names[@]}"; do
  [[ -s /tmp/probe-$n/train.jsonl ]] || continue
  s=$(median_step "/tmp/probe-$n/train.jsonl")
  steps=$(python3 -c "print(max(20, int(($(left) - $reserve) / $s * 0.92)))")
  echo "$n: ${s} s a step, $steps steps: ${flags[$n]}"
  rm -rf "/tmp/run-$n"
  # shellcheck disable=SC2086
  timeout $(( $(left) - reserve + 40 )) /tmp/sparge ${COMMAND:-pretrain} $shared ${flags[$n]} --out "/tmp/run-$n" \
    --steps "$steps" --checkpoint-every "${CKPT:-250}" > "/tmp/run-$n.log" 2>&1 &
done
wait

for n in "${names[@]}"; do
  r=/tmp/run-$n
  [[ -d $r/model ]] || { echo "$n: no model"; continue; }
  # the clips it trained on
  motion=$(grep -oE -- '--clip-(speed|start-spread|start|size) [^ ]+' <<< "${flags[$n]}" | tr '\n' ' ')
  (
    /tmp/sparge generate --model "$r/model" --prompt "a red circle moving right" --backend ${BACKEND:-cuda} --steps 20 \
      --out "$r/red-circle-right.gif" > "$r/generate.log" 2>&1
    ev=${EVAL_ATTENTION:-dense}
    # shellcheck disable=SC2046
    timeout $(( $(left) > 30 ? $(left) - 15 : 30 )) /tmp/sparge eval --model "$r/model" --attention "$ev" \
      $( [[ -n ${TEACHER:-} ]] && echo --teacher "$TEACHER" ) \
      --prompts "${PROMPTS:-48}" --seed 1 --steps 20 --backend ${BACKEND:-cuda} --velocity-samples 2 \
      --out "$r/eval-$ev.json" > "$r/eval.log" 2>&1
    # shellcheck disable=SC2086
    timeout $(( $(left) > 25 ? $(left) - 10 : 20 )) /tmp/sparge caption-sensitivity --model "$r/model" \
      --clips "${SENSITIVITY_CLIPS:-24}" $motion --backend ${BACKEND:-cuda} --out "$r/caption-sensitivity.json" \
      > "$r/sensitivity.log" 2>&1
  ) &
done
wait

for n in "${names[@]}"; do
  r=/tmp/run-$n
  [[ -d $r ]] || continue
  for f in run generate eval sensitivity; do
    lf=$r/$f.log; [[ $f == run ]] && lf=/tmp/run-$n.log
    [[ -f $lf ]] && tail -c 20000 "$lf" | tr '\r' '\n' | grep -v "^train \|^eval " | tail -n 30 > "$r/$f.txt"
  done
  cp "/tmp/probe-$n.log" "$r/probe.txt" 2>/dev/null
  tar czf "$out/$n.tgz" -C "$r" --exclude checkpoints --exclude "*.log" .
  echo "== $n: $(python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))['summary']
row = s['dense'] if sys.argv[2] == 'dense' else dict(s['sparse'], psnr_db=s['psnr_db_mean'],
    sparsity=s['sparsity_mean'], velocity_error=s['velocity_relative_error'],
    guided_velocity_error=s['velocity_relative_error_guided'])
print({k: round(v, 4) for k, v in row.items()})" "$r/eval-${EVAL_ATTENTION:-dense}.json" "${EVAL_ATTENTION:-dense}" \
    2>&1 | tail -n 1)"
  grep -a "^sigma" "$r/sensitivity.log" 2>/dev/null
done | tee /tmp/summary.txt
{ cat /tmp/probe.jsonl /tmp/summary.txt 2>/dev/null; } > "$out/logs.txt"
ls -la "$out"

#!/usr/bin/env bash
# Issue 7: SpargeAttention2's fine-tune of a tiny-demo model on the GPU machine, batched: velocity distillation from
# the frozen dense model into hybrid Top-k + Top-p attention calibrated to TARGET (0.95) sparsity, as many steps as
# fit in BUDGET_S (STEP_S, default 0.35 s a step of BATCH (32) clips, is the estimate; checkpoints every 50 steps, so a
# slower run that the budget cuts keeps its last model/), then the distilled student and the training-free hybrid
# base are evaluated side by side (48 prompts, seed 1, the dense base as teacher) and the student draws the README's
# prompt. Run from the checkout's root there after bench/pack-device.sh, with the base model directory in INIT;
# carry .device/jre25.txz, .device/java.sh, .device/lib and INIT. EXTRA adds finetune flags (e.g. the base's
# --clip-speed and --clip-start-spread, or --caption-dropout 0.5 --distill-guidance 5 to distil the guided velocity:
# twice the work a step: 0.30 s measured on the H200 in session 11, so the default is a little above it). TEACHER
# (default INIT) continues an earlier student: INIT that student, TEACHER the dense base. LATE_TOPK (e.g. 0.15) also
# evaluates the student with that Top-k in the late steps. $OUT gets distilled.tgz (model/, train.jsonl, run.json,
# logs), eval-distilled.json, eval-training-free.json (and eval-distilled-late.json).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
init=${INIT:?INIT: the base model directory}
teacher=${TEACHER:-$init}   # set it to continue from an earlier student: INIT that student, TEACHER the dense base
budget=${BUDGET_S:-300}
reserve=${RESERVE_S:-100}
source bench/device-env.sh
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
run=/tmp/distill
rm -rf "$run"
steps=$(python3 -c "print(max(20, int(($(left) - $reserve - 25) / ${STEP_S:-0.35})))")
echo "distilling $steps steps of ${BATCH:-32} clips"
# shellcheck disable=SC2086
timeout $(( $(left) - reserve )) /tmp/sparge finetune --init "$init" --out "$run" --objective distill \
  --attention hybrid --target-sparsity "${TARGET:-0.95}" --steps "$steps" --batch-size "${BATCH:-32}" \
  --precision bf16 --lr "${LR:-2e-4}" --warmup 30 --seed "${SEED:-27}" --checkpoint-every 50 --backend cuda \
  --teacher "$teacher" ${EXTRA:-} > "$run.log" 2>&1
echo "finetune rc=$?"; tr '\r' '\n' < "$run.log" | grep -v "^train " | tail -n 6
evaluate() {   # NAME MODEL FLAGS...
  local name=$1 model=$2; shift 2
  timeout $(( $(left) > 20 ? $(left) - 10 : 15 )) /tmp/sparge eval --model "$model" --teacher "$teacher" \
    --attention hybrid --prompts "${PROMPTS:-48}" --seed 1 --steps 20 --velocity-samples 2 --backend cuda "$@" \
    --out "$out/eval-$name.json" > "/tmp/eval-$name.log" 2>&1
  echo "eval $name rc=$?"
}
evaluate distilled "$run/model" &
evaluate training-free "$teacher" --target-sparsity "${TARGET:-0.95}" &
if [[ -n ${LATE_TOPK:-} ]]; then   # the distilled student again with a larger k in the late steps (--late-topk)
  evaluate distilled-late "$run/model" --late-topk "$LATE_TOPK" &
fi
/tmp/sparge generate --model "$run/model" --prompt "a red circle moving right" --backend cuda --steps 20 \
  --out "$run/red-circle-right.gif" > "$run/generate.txt" 2>&1
wait
grep -a "evaluator\|sparsity" "$run/generate.txt"
for f in /tmp/eval-distilled.log /tmp/eval-training-free.log /tmp/eval-distilled-late.log "$run.log"; do
  [[ -f $f ]] || continue
  echo "=== $f"; tr '\r' '\n' < "$f" | grep -av "^train \|^eval " | tail -n 12
done > "$run/logs.txt"
tar czf "$out/distilled.tgz" -C "$run" --exclude checkpoints .
python3 - "$out" <<'EOF'
import json, sys
for name in ("training-free", "distilled", "distilled-late"):
    try:
        s = json.load(open(f"{sys.argv[1]}/eval-{name}.json"))["summary"]
    except (OSError, KeyError, ValueError) as e:
        print(name, "no report:", e); continue
    keys = ("colour_rate", "shape_rate", "direction_rate", "all_correct_rate", "background_noise", "object_presence")
    print(name, {k: round(s["sparse"][k], 3) for k in keys}, "psnr", s.get("psnr_db_mean"),
          "vel_err", s.get("velocity_relative_error"), "vel_err_guided", s.get("velocity_relative_error_guided"),
          "sparsity", s.get("sparsity_mean"))
EOF

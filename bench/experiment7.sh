#!/usr/bin/env bash
# Issue 7's experiment, our version of SpargeAttention2's Table 6 (plus a 7th row, guided distillation), as commands:
# from a pretrained full-attention model, fine-tune the variants with the same steps and seeds, evaluate each, sweep
# hybrid sparsity (distilled against training-free), measure attention concentration before and after (Case 2), and
# write RESULTS.md.
#
# Usage (repository root): MODEL_DIR=path/to/pretrained bench/experiment7.sh [OUTDIR]   (default: experiment7)
# Every step is skipped when its output exists, so a stopped run continues where it was; delete a file to redo it.
#
# Environment (defaults in brackets):
#   MODEL_DIR      the pretrained model directory (required)
#   STEPS [500]    fine-tuning steps, the same for every variant      SEED [0]       fine-tuning seed
#   BACKEND [cuda] --backend of finetune and eval                     TARGET [0.95]  target sparsity of the table
#   SWEEP ["0.80 0.90 0.95 0.97"]  sparsities of the quality-vs-sparsity plots
#   GUIDANCE [5]   --distill-guidance of row 7 (guided distillation)
#   PROMPTS [64]   prompts per evaluation                             EVAL_SEED [1]  sampling seed of every eval
#   CONC_SAMPLES [8] clips of each concentration measurement          CONC_MASS [0.6]
#                  on clips of FINETUNE_ARGS' motion (--clip-speed, --clip-start, --clip-start-spread, --clip-fixed)
#                  unless CONC_ARGS gives its own
#                  (its blocks come from the model's generation.json, else 128x64: pass CONC_ARGS="--bq 64 --bkv 32"
#                  to measure with the fine-tuning's blocks)
#   REPORT [1]     0 skips `sparge report` (e.g. on a GPU machine whose runtime lacks java.desktop for the plots)
#   CONCENTRATION [1]  0 skips Case 2 (e.g. where the JVM finds no fonts for the heatmaps' labels)
#   FINETUNE_ARGS, EVAL_ARGS, CONC_ARGS  extra flags for each command (e.g. EVAL_ARGS="--steps 20")
#   SPARGE [./sparge]  the tool                                       DRY_RUN=1  print the commands only
#   JOBS [1]       commands run at once: on a GPU one fine-tune or eval leaves the device idle most of the time (the
#                  host side is one process's work), so the fine-tunes run side by side, then the evaluations
# The eval flags used besides --model and --out (--prompts, --seed, --attention, --target-sparsity, --backend) are
# gathered in evaluate() below: adjust them there if sparge eval names them differently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${MODEL_DIR:?set MODEL_DIR to the pretrained full-attention model directory}"
OUT=${1:-experiment7}
STEPS=${STEPS:-500}
SEED=${SEED:-0}
BACKEND=${BACKEND:-cuda}
TARGET=${TARGET:-0.95}
SWEEP=${SWEEP:-"0.80 0.90 0.95 0.97"}
PROMPTS=${PROMPTS:-64}
EVAL_SEED=${EVAL_SEED:-1}
CONC_SAMPLES=${CONC_SAMPLES:-8}
CONC_MASS=${CONC_MASS:-0.6}
FINETUNE_ARGS=${FINETUNE_ARGS:-}
EVAL_ARGS=${EVAL_ARGS:-}
CONC_ARGS=${CONC_ARGS:-}
SPARGE=${SPARGE:-./sparge}
models=$OUT/models
runs=$OUT/runs
mkdir -p "$models" "$runs"

# spawn LOG FUNCTION ARGS...: runs it now (JOBS=1) or in the background, its output in $OUT/logs/LOG.log, with at
# most JOBS at once; `wait` ends a phase.
spawn() {
  local log=$1
  shift
  if (( ${JOBS:-1} <= 1 )); then "$@"; return; fi
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
  "$@" > "$OUT/logs/$log.log" 2>&1 &
}
mkdir -p "$OUT/logs"

# Runs a command, or prints it with DRY_RUN=1; logs it to $OUT/commands.log either way.
run() {
  echo "+ $*" | tee -a "$OUT/commands.log"
  if [[ "${DRY_RUN:-0}" != 1 ]]; then
    "$@"
  fi
}

# finetune NAME OBJECTIVE ATTENTION SPARSITY [OUTPUT...]: one variant's run into $models/NAME (its model directory
# is $models/NAME/model), unless it is there already or every OUTPUT made from it (files under $runs) exists: a later
# call that was given only the runs/ of an earlier one does not fine-tune again.
finetune() {
  local name=$1 objective=$2 attention=$3 sparsity=$4
  shift 4
  if [[ -f "$models/$name/model/config.json" ]]; then
    echo "= $models/$name exists"; return
  fi
  if (( $# > 0 )); then
    local missing=0 f
    for f in "$@"; do [[ -f "$runs/$f" ]] || missing=1; done
    if (( missing == 0 )); then echo "= the outputs of $models/$name exist"; return; fi
  fi
  # shellcheck disable=SC2086  # extra flags are meant to split
  run "$SPARGE" finetune --init "$MODEL_DIR" --out "$models/$name" --objective "$objective" \
    --attention "$attention" --target-sparsity "$sparsity" --steps "$STEPS" --seed "$SEED" \
    --backend "$BACKEND" $FINETUNE_ARGS
}

# evaluate MODEL RUN ATTENTION SPARSITY: the evaluation JSON $runs/RUN.json, unless it is there already.
evaluate() {
  local model=$1 name=$2 attention=$3 sparsity=$4
  if [[ -f "$runs/$name.json" ]]; then
    echo "= $runs/$name.json exists"; return
  fi
  local mode=(--attention "$attention")
  [[ "$attention" == dense ]] || mode+=(--target-sparsity "$sparsity")
  # shellcheck disable=SC2086
  # the reference of PSNR and velocity error is always the pretrained model with dense attention: a fine-tuned
  # student run densely is not the teacher (it has adapted to its sparse mask)
  run "$SPARGE" eval --model "$model" --teacher "$MODEL_DIR" --prompts "$PROMPTS" --seed "$EVAL_SEED" "${mode[@]}" \
    --backend "$BACKEND" $EVAL_ARGS --out "$runs/$name.json"
}

# concentration MODEL NAME: Case 2's JSON and heatmaps, $runs/concentration-NAME.*
concentration() {
  local model=$1 name=$2
  if [[ "${CONCENTRATION:-1}" == 0 ]]; then
    echo "= concentration $name skipped (CONCENTRATION=0)"; return
  fi
  if [[ -f "$runs/concentration-$name.json" ]]; then
    echo "= $runs/concentration-$name.json exists"; return
  fi
  # the clips the fine-tunes saw (FINETUNE_ARGS' motion flags), unless CONC_ARGS names its own
  local motion=""
  [[ "$CONC_ARGS" == *--clip-* ]] ||
    motion=$(grep -oE -- '--clip-(speed|start-spread|start|fixed) [^ ]+' <<< "$FINETUNE_ARGS" | tr '\n' ' ')
  # shellcheck disable=SC2086
  run "$SPARGE" concentration --model "$model" --samples "$CONC_SAMPLES" --seed "$SEED" --mass "$CONC_MASS" \
    $motion $CONC_ARGS --out "$runs/concentration-$name"
}

# 1-6: the table, at the target sparsity, the same steps and seeds for every fine-tuned variant; then the fine-tunes
# of the quality-against-sparsity sweep (one per sparsity besides the table's own).
spawn finetune-topk-distill finetune topk-distill distill topk "$TARGET" topk-distill.json
spawn finetune-topp-distill finetune topp-distill distill topp "$TARGET" topp-distill.json
spawn finetune-hybrid-distill finetune hybrid-distill distill hybrid "$TARGET" hybrid-distill.json \
  concentration-after-hybrid-distill.json
spawn finetune-hybrid-flow finetune hybrid-flow flow hybrid "$TARGET" hybrid-flow.json \
  concentration-after-hybrid-flow.json
# 7, beyond the paper: the teacher's guided velocity (guidance GUIDANCE, default 5 = generate's) as the target
FINETUNE_ARGS="$FINETUNE_ARGS --distill-guidance ${GUIDANCE:-5}" \
  spawn finetune-hybrid-guided-distill finetune hybrid-guided-distill distill hybrid "$TARGET" \
    hybrid-guided-distill.json
for s in $SWEEP; do
  [[ "$s" == "$TARGET" ]] ||
    spawn "finetune-hybrid-distill-$s" finetune "hybrid-distill-$s" distill hybrid "$s" "sweep-hybrid-distill-$s.json"
done
wait

spawn eval-full evaluate "$MODEL_DIR" full dense "$TARGET"
spawn eval-training-free-hybrid evaluate "$MODEL_DIR" training-free-hybrid hybrid "$TARGET"
spawn eval-topk-distill evaluate "$models/topk-distill/model" topk-distill topk "$TARGET"
spawn eval-topp-distill evaluate "$models/topp-distill/model" topp-distill topp "$TARGET"
spawn eval-hybrid-distill evaluate "$models/hybrid-distill/model" hybrid-distill hybrid "$TARGET"
spawn eval-hybrid-flow evaluate "$models/hybrid-flow/model" hybrid-flow hybrid "$TARGET"
spawn eval-hybrid-guided-distill evaluate "$models/hybrid-guided-distill/model" hybrid-guided-distill hybrid "$TARGET"
# Quality against sparsity: hybrid distilled (one fine-tune per sparsity) against training-free hybrid. At the
# table's own sparsity the table's evaluations are the sweep points (same models, settings and seeds), copied below.
for s in $SWEEP; do
  [[ "$s" == "$TARGET" ]] && continue
  spawn "eval-sweep-hybrid-distill-$s" evaluate "$models/hybrid-distill-$s/model" "sweep-hybrid-distill-$s" hybrid "$s"
  spawn "eval-sweep-training-free-$s" evaluate "$MODEL_DIR" "sweep-training-free-$s" hybrid "$s"
done
# Case 2: concentration before and after sparse fine-tuning (and after the flow-matching baseline).
spawn concentration-before concentration "$MODEL_DIR" before
spawn concentration-after-hybrid-distill concentration "$models/hybrid-distill/model" after-hybrid-distill
spawn concentration-after-hybrid-flow concentration "$models/hybrid-flow/model" after-hybrid-flow
wait
for s in $SWEEP; do
  if [[ "$s" == "$TARGET" && -f "$runs/hybrid-distill.json" && -f "$runs/training-free-hybrid.json" ]]; then
    run cp "$runs/hybrid-distill.json" "$runs/sweep-hybrid-distill-$s.json"
    run cp "$runs/training-free-hybrid.json" "$runs/sweep-training-free-$s.json"
  fi
done

if [[ "${REPORT:-1}" == 1 ]]; then
  run "$SPARGE" report --runs "$runs" --out "$OUT/RESULTS.md" --plots "$OUT/plots"
  echo "done: $OUT/RESULTS.md (fill in its Reading section)"
fi

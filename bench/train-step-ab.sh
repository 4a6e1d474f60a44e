#!/usr/bin/env bash
# A/B of one batched training step in one device call: `sparge pretrain` with SPARGE_PROFILE=1 on the jars in
# .device/lib-old (built from an earlier commit) and .device/lib, alternated ROUNDS (2) times so that drift of the
# device falls on both. Each run: STEPS (16) steps of BATCH (32) clips, PRECISION (bf16), from INIT (default: none, a
# fresh model of pretrain's default shape, which is tiny-demo's); the wall step is the median of steps 5..STEPS, the
# per-kernel table is the profiler's (all steps). Carry .device/jre25.txz, .device/java.sh, .device/lib, INIT and
# .device/lib-old, or, to save carry, .device/lib-old-sparge holding only the old sparge4j-*.jar (the dependencies
# then come from .device/lib). BACKEND (cuda) picks the backend. Writes $OUT/train-step-ab.txt.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
if [[ ! -d .device/lib-old ]]; then
  mkdir -p .device/lib-old && cp .device/lib/*.jar .device/lib-old/ && rm .device/lib-old/sparge4j-*.jar
  cp .device/lib-old-sparge/sparge4j-*.jar .device/lib-old/
fi
steps=${STEPS:-16}
init=(); [[ -n ${INIT:-} ]] && init=(--init "$INIT")
flags=("${init[@]}" --seed 5 --batch-size "${BATCH:-32}" --precision "${PRECISION:-bf16}" --lr 1e-5 --warmup 0
  --timestep-shift 3 --checkpoint-every 1000 --backend "${BACKEND:-cuda}" --steps "$steps")
for round in $(seq "${ROUNDS:-2}"); do
  for jars in old new; do
    lib=.device/lib; [[ $jars == old ]] && lib=.device/lib-old
    rm -rf /tmp/ab-run
    echo "=== jars $jars round $round" | tee -a "$out/train-step-ab.txt"
    SPARGE_PROFILE=1 timeout 150 bash .device/java.sh -cp "$lib/*" io.sparge4j.cli.SpargeCli pretrain "${flags[@]}" \
      --out /tmp/ab-run 2>&1 | tr '\r' '\n' | grep -v "^train " | tail -n 60 >> "$out/train-step-ab.txt"
    python3 bench/median-step.py /tmp/ab-run/train.jsonl --json --skip 4 2>&1 | tee -a "$out/train-step-ab.txt"
  done
done
grep -i -E "===|cross|row|dkdv|dq|total|median" "$out/train-step-ab.txt"

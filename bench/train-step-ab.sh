#!/usr/bin/env bash
# A/B of one batched training step in one device call: `sparge pretrain` with SPARGE_PROFILE=1 on the jars in
# .device/lib-old (built from an earlier commit) and .device/lib, alternated ROUNDS (2) times so that drift of the device
# falls on both. Each run: STEPS (16) steps of BATCH (32) clips, PRECISION (bf16), from INIT (.device/tinydemo); the wall
# step is the median of steps 5..STEPS, the per-kernel table is the profiler's (all steps). Carry .device/jre25.txz,
# .device/java.sh, .device/lib, .device/lib-old and INIT. Writes $OUT/train-step-ab.txt.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
init=${INIT:-.device/tinydemo}
source bench/device-env.sh
steps=${STEPS:-16}
flags=(--init "$init" --batch-size "${BATCH:-32}" --precision "${PRECISION:-bf16}" --lr 1e-5 --warmup 0
  --timestep-shift 3 --checkpoint-every 1000 --backend cuda --steps "$steps")
for round in $(seq "${ROUNDS:-2}"); do
  for jars in old new; do
    lib=.device/lib; [[ $jars == old ]] && lib=.device/lib-old
    rm -rf /tmp/ab-run
    echo "=== jars $jars round $round" | tee -a "$out/train-step-ab.txt"
    SPARGE_PROFILE=1 timeout 150 bash .device/java.sh -cp "$lib/*" io.sparge4j.cli.SpargeCli pretrain "${flags[@]}" \
      --out /tmp/ab-run 2>&1 | tr '\r' '\n' | grep -v "^train " | tail -n 45 >> "$out/train-step-ab.txt"
    python3 bench/median-step.py /tmp/ab-run/train.jsonl --json --skip 4 2>&1 | tee -a "$out/train-step-ab.txt"
  done
done
grep -i -E "===|cross|row|dkdv|dq|total|median" "$out/train-step-ab.txt"

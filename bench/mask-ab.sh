#!/usr/bin/env bash
# A/B of the device block-mask build in one device call: the wan13b-480p bf16 attention bench (hybrid, 95%) with the
# jars in .device/lib-old (built from an earlier commit) and with .device/lib, alternated ROUNDS times so that
# drift of the device between runs falls on both. Carry .device/jre25.txz, .device/java.sh, .device/lib and
# .device/lib-old. Writes $OUT/mask-ab.jsonl: each bench line with "jars": "old" or "new" added.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
for round in $(seq "${ROUNDS:-2}"); do
  for jars in old new; do
    lib=.device/lib; [[ $jars == old ]] && lib=.device/lib-old
    timeout 150 bash .device/java.sh -cp "$lib/*" io.sparge4j.cli.SpargeCli attention-bench --backend cuda \
      --shape wan13b-480p --mode hybrid --topk 0.03 --target-sparsity 0.95 --json --dtype bf16 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"jars\":\"$jars\",\"round\":$round,/" | tee -a "$out/mask-ab.jsonl" | cut -c1-400
  done
done

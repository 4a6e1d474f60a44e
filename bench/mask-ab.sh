#!/usr/bin/env bash
# A/B of the device block-mask build in one device call: the wan13b-480p bf16 attention bench (hybrid, 95%) with the
# jars in .device/lib-old (built from an earlier commit) and with .device/lib, alternated ROUNDS (2) times so that
# drift of the device between runs falls on both (4 runs fitted one call in session 8), with the softmax and the
# selection fused; UNFUSED="0 1" also runs each with them apart (SPARGE_MASK_UNFUSED=1, so that mask_parts_ms times
# them one by one: twice the runs, so ROUNDS=1 then). Carry
# .device/jre25min.txz (attention-bench needs no java.desktop; the full jre25.txz and both jar sets pass the 64 MiB
# limit), .device/java.sh, .device/lib and .device/lib-old. Writes $OUT/mask-ab.jsonl: each bench line with "jars":
# "old" or "new", "round" and "unfused" added.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
for round in $(seq "${ROUNDS:-2}"); do
  for unfused in ${UNFUSED:-0}; do
    for jars in old new; do
      lib=.device/lib; [[ $jars == old ]] && lib=.device/lib-old
      SPARGE_MASK_UNFUSED=$unfused timeout 150 bash .device/java.sh -cp "$lib/*" io.sparge4j.cli.SpargeCli \
        attention-bench --backend cuda --shape wan13b-480p --mode hybrid --topk 0.03 --target-sparsity 0.95 --json \
        --dtype bf16 2>/dev/null | grep '^{' \
        | sed "s/^{/{\"jars\":\"$jars\",\"round\":$round,\"unfused\":$unfused,/" | tee -a "$out/mask-ab.jsonl" \
        | cut -c1-400
    done
  done
done

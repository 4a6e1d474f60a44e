#!/usr/bin/env bash
# Issue 7, session 16: one device call for the pooled text modulation (`--text-modulation pooled`). First the JUnit
# console on its device tests (CUDA and NVIDIA OpenCL; skipped with TESTS=0), then bench/tiny-demo-variants.sh from
# scratch with the variants given as arguments, or by default two tiny-demo-shaped runs (16 x 32 x 32, dim 128, 4
# layers, trailing clips at 0.13-0.2; text path jointly trained or at 0.01) and the session-15 GPU probe with the
# modulation (8 x 24 x 24, dim 64, 2 layers). With INIT=<model dir> the variants continue a model instead (--init:
# its shape, signal and modulation). Run from the checkout's root there after bench/pack-device.sh here; carry
# .device/jre25.txz, .device/java.sh, .device/lib, .device/testclasses, .device/tools (+ the INIT model).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
if [[ ${TESTS:-1} == 1 ]]; then
  SPARGE_DEVICE=NVIDIA timeout "${TESTS_TIMEOUT_S:-120}" bash .device/java.sh \
    -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
    -cp "$(printf '%s:' .device/lib/*.jar .device/testclasses/{engine,models,tests}.jar)" --details=tree \
    --disable-banner \
    --select-method 'io.sparge4j.models.train.DeviceWanGraphTest#pooledTextModulationInABatchMatchesTheCpu(java.lang.String)' \
    --select-method 'io.sparge4j.models.train.DeviceWanGraphTest#sincosPositionInABatchMatchesTheCpu(java.lang.String)' \
    --select-method 'io.sparge4j.tests.wan.DeviceWanModelTest#pooledTextModulationForwardMatchesCpuModel(java.lang.String)' \
    > "$out/junit-pooled.txt" 2>&1
  echo "junit rc=$?"; grep -E "batch of 2|tests (successful|failed|aborted)" "$out/junit-pooled.txt"
fi
tiny="--clip-speed 0.13,0.2 --clip-start trailing --clip-start-spread 0.1 --lr 1e-3 --warmup 100"
probe="--frames 8 --height 24 --width 24 --dim 64 --heads 1 --layers 2 --ffn-dim 256 --clip-speed 0.4,0.6"
probe+=" --clip-start trailing --clip-start-spread 0.1 --lr 1e-3 --warmup 100"
text001="--text-encoder-lr-scale 0.01 --scale-text-embedding"
new="--absolute-position sincos --text-modulation pooled"
if (( $# == 0 )); then
  set -- "tdpooledjoint=$tiny $new" "tdpooled001all=$tiny $new $text001" "gpooledjoint=$probe $new" \
    "gpooled001all=$probe $new $text001"
fi
INIT=${INIT-} SHIFT=${SHIFT:-1} CKPT=${CKPT:-500} BUDGET_S=${BUDGET_S:-430} RESERVE_S=${RESERVE_S:-110} OUT=$out \
  bash bench/tiny-demo-variants.sh "$@"

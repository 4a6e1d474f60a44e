#!/usr/bin/env bash
# Issue 7, session 16: one device call for the pooled text modulation (`--text-modulation pooled`). First the JUnit
# console on its device tests (CUDA and NVIDIA OpenCL; skipped with TESTS=0), then bench/tiny-demo-variants.sh from
# scratch with the variants given as arguments, or by default two tiny-demo-shaped runs (16 x 32 x 32, dim 128, 4
# layers, trailing clips at 0.13-0.2; text path jointly trained or at 0.01) and the session-15 GPU probe with the
# modulation (8 x 24 x 24, dim 64, 2 layers); VARIANTS=control: the tiny-demo run with the text path at 0.01 with
# and without the modulation (the control that stage 7 lacks). A variant continues a model with its own --init DIR
# (INIT, for all variants at once, is left empty here). Run from the checkout's root there after bench/pack-device.sh
# here; carry .device/jre25.txz, .device/java.sh, .device/lib (+ .device/testclasses and .device/tools for the
# tests, + the --init models). The full runtime and the test jars together pass the 64 MiB carry limit: session 16
# carried .device/jre25min.txz instead (a jlink runtime without java.desktop, unpacked with `tar xJf
# .device/jre25min.txz -C /tmp` before this script; `generate` then cannot write the GIF, the rest runs).
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
if [[ ${TESTS:-1} == 1 ]]; then
  graph=io.sparge4j.models.train.DeviceWanGraphTest
  str=java.lang.String
  SPARGE_DEVICE=NVIDIA timeout "${TESTS_TIMEOUT_S:-120}" bash .device/java.sh \
    -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
    -cp "$(printf '%s:' .device/lib/*.jar .device/testclasses/{engine,models,tests}.jar)" --details=tree \
    --disable-banner \
    --select-method "$graph#pooledTextModulationInABatchMatchesTheCpu($str)" \
    --select-method "$graph#sincosPositionInABatchMatchesTheCpu($str)" \
    --select-method "io.sparge4j.tests.wan.DeviceWanModelTest#pooledTextModulationForwardMatchesCpuModel($str)" \
    > "$out/junit-pooled.txt" 2>&1
  echo "junit rc=$?"; grep -E "batch of 2|tests (successful|failed|aborted)" "$out/junit-pooled.txt"
fi
tiny="--clip-speed 0.13,0.2 --clip-start trailing --clip-start-spread 0.1 --lr 1e-3 --warmup 100"
probe="--frames 8 --height 24 --width 24 --dim 64 --heads 1 --layers 2 --ffn-dim 256 --clip-speed 0.4,0.6"
probe+=" --clip-start trailing --clip-start-spread 0.1 --lr 1e-3 --warmup 100"
text001="--text-encoder-lr-scale 0.01 --scale-text-embedding"
new="--absolute-position sincos --text-modulation pooled"
if (( $# == 0 )) && [[ ${VARIANTS:-session16} == control ]]; then
  # stage 7's first call with and without the modulation, side by side: does the modulation matter while training?
  set -- "tdpooled001all=$tiny $new $text001" "tdsincos001all=$tiny --absolute-position sincos $text001"
elif (( $# == 0 )); then
  set -- "tdpooledjoint=$tiny $new" "tdpooled001all=$tiny $new $text001" "gpooledjoint=$probe $new" \
    "gpooled001all=$probe $new $text001"
fi
INIT=${INIT-} SHIFT=${SHIFT:-1} CKPT=${CKPT:-500} BUDGET_S=${BUDGET_S:-430} RESERVE_S=${RESERVE_S:-110} OUT=$out \
  bash bench/tiny-demo-variants.sh "$@"

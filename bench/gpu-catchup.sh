#!/usr/bin/env bash
# One device call for what sessions 12-14 could not run on a GPU: the JUnit console on the device tests of session 12's
# per-batch Top-k and session 13's cross-attention backward on the flash kernels (CUDA and NVIDIA OpenCL), then
# bench/train-step-ab.sh (old jars against new, profiled). Run from the checkout's root on the GPU machine after
# bench/pack-device.sh here; carry .device/jre25.txz, .device/java.sh, .device/lib, .device/lib-old-sparge,
# .device/testclasses and .device/tools (~60 MiB with the checkout). Writes $OUT/junit-catchup.txt and
# $OUT/train-step-ab.txt; TESTS_ONLY=1 skips the A/B.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
# the GPU machine lists PoCL before NVIDIA: the OpenCL cases are meant for NVIDIA's here
SPARGE_DEVICE=${SPARGE_DEVICE:-NVIDIA} timeout "${TESTS_TIMEOUT_S:-240}" bash .device/java.sh \
  -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
  -cp "$(printf '%s:' .device/lib/*.jar .device/testclasses/{engine,models,tests}.jar)" \
  --details=tree --disable-banner \
  --select-class io.sparge4j.engine.gpu.DeviceBackwardOpsTest --select-class io.sparge4j.engine.gpu.DeviceOpsTest \
  --select-class io.sparge4j.models.train.DeviceWanGraphTest \
  --select-class io.sparge4j.models.train.DeviceWanTrainingTaskTest \
  --select-class io.sparge4j.tests.wan.DeviceWanModelTest > "$out/junit-catchup.txt" 2>&1
echo "junit rc=$?"; tail -n 15 "$out/junit-catchup.txt"
[[ ${TESTS_ONLY:-0} == 1 ]] || OUT=$out bash bench/train-step-ab.sh

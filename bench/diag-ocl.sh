#!/usr/bin/env bash
# which OpenCL devices the GPU machine has, and the OpenCL MMA cases on each (NVIDIA, PoCL 5.0);
# POCL_METHODS="cbs loopvec" also tries PoCL's other work-group compilers
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
source bench/device-env.sh
(clinfo -l || true) > "$out/clinfo.txt" 2>&1
java -cp '.device/lib/*' io.sparge4j.cli.SpargeCli info --backend opencl >> "$out/clinfo.txt" 2>&1
dpkg -l | grep -i -E "pocl|opencl|nvidia-opencl" >> "$out/clinfo.txt" 2>&1
junit() {
  java -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
    -cp "$(printf '%s:' .device/lib/*.jar).device/testclasses/engine.jar:.device/testclasses/tests.jar:.device/testclasses/models.jar" \
    --details=tree --disable-banner "$@"
}
sel=(--select-class io.sparge4j.engine.kernel.attention.FlashForwardMmaKernelsTest
     --select-class io.sparge4j.engine.gpu.DeviceAttentionBf16Test
     --select-class io.sparge4j.engine.device.cuda.CudaSharedMemoryLoadsGpuTest)
for dev in NVIDIA Portable; do
  SPARGE_DEVICE=$dev timeout 200 bash -c "$(declare -f junit java); junit ${sel[*]}" > "$out/junit-$dev.txt" 2>&1
  echo "$dev rc=$?"; grep -E "tests (successful|failed)" "$out/junit-$dev.txt"
done
# PoCL 5.0 fails the MMA flash forward (NaN: output never written): does another work-group compiler fix it?
for method in ${POCL_METHODS:-}; do
  POCL_WORK_GROUP_METHOD=$method SPARGE_DEVICE=Portable timeout 200 bash -c "$(declare -f junit java); \
    junit --select-class io.sparge4j.engine.kernel.attention.FlashForwardMmaKernelsTest" > "$out/junit-pocl-$method.txt" 2>&1
  echo "PoCL $method rc=$?"; grep -E "tests (successful|failed)" "$out/junit-pocl-$method.txt"
done
# the failing kernels' OpenCL source on NVIDIA
SPARGE_DEVICE=NVIDIA SPARGE_PRINT_KERNELS=1 timeout 150 bash -c "$(declare -f junit java); junit --select-class io.sparge4j.engine.kernel.attention.FlashForwardMmaKernelsTest" > "$out/kernels-ocl-nvidia.txt" 2>&1
gzip -f "$out/kernels-ocl-nvidia.txt"
ls -la "$out"

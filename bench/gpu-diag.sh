#!/usr/bin/env bash
# Diagnosis of the JVM segmentation fault in the GPU test run (issue 5): one JUnit JVM per selection, each with its
# own rc, so that which classes crash, and whether hiding PoCL changes it, shows in $OUT/diag-*.txt.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
junit() {
  bash .device/java.sh -XX:ErrorFile="$out/hs_err_%p.log" -jar .device/tools/junit-platform-console-standalone-1.14.4.jar \
    execute -cp "$(printf '%s:' .device/lib/*.jar).device/testclasses/engine:.device/testclasses/tests" \
    --details=tree --disable-banner "$@"
}
junit --select-class io.sparge4j.tests.wan.DeviceWanBlockTest > "$out/diag-block.txt" 2>&1
echo "DeviceWanBlockTest alone rc=$?"
OCL_ICD_VENDORS=/nonexistent junit --select-class io.sparge4j.tests.wan.DeviceWanBlockTest > "$out/diag-block-nocl.txt" 2>&1
echo "DeviceWanBlockTest without OpenCL rc=$?"
junit --select-package io.sparge4j.engine.device.cuda --select-package io.sparge4j.tests.portability \
  --select-package io.sparge4j.engine.gpu --select-class io.sparge4j.tests.wan.DeviceWanModelTest \
  --select-package io.sparge4j.engine.kernel.attention --select-package io.sparge4j.engine.kernel.nn \
  > "$out/diag-rest.txt" 2>&1
echo "the rest rc=$?"
for f in "$out"/diag-*.txt; do echo "== $f"; grep -E "tests (successful|failed|aborted)|✘" "$f" | head -12; done
ls "$out"

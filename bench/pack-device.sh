#!/usr/bin/env bash
# Fills .device/ (ignored by git) with what bench/run-gpu.sh needs on the GPU machine: the jars, the test classes
# and the JUnit console launcher. The Java runtime itself comes from ../shared/device/make-jre.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
./mvnw -B -q -DskipTests package
rm -rf .device/lib .device/testclasses && mkdir -p .device/lib .device/testclasses .device/tools
cp models/target/sparge4j-models-*.jar models/target/lib/*.jar .device/lib/
cp -r engine/target/test-classes .device/testclasses/engine
cp -r tests/target/test-classes .device/testclasses/tests
cp -r models/target/test-classes .device/testclasses/models
./mvnw -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 \
  -DoutputDirectory="$PWD/.device/tools"
du -sh .device

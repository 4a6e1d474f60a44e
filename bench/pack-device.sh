#!/usr/bin/env bash
# Fills .device/ (ignored by git) with what bench/run-gpu.sh needs on the GPU machine: the jars, the test classes
# and the JUnit console launcher. The Java runtime itself comes from ../shared/device/make-jre.sh (jre25.tgz); this
# recompresses it with xz (jre25.txz, ~35 instead of ~40 MB) because a device call carries 64 MiB at most. Carry
# [".device/jre25.txz", ".device/java.sh", ".device/lib"] (+ ".device/testclasses" (one jar per module) and
# ".device/tools" for tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
./mvnw -B -q -DskipTests package
rm -rf .device/lib .device/testclasses && mkdir -p .device/lib .device/testclasses .device/tools
cp models/target/sparge4j-models-*.jar models/target/lib/*.jar .device/lib/
# Left out to fit the carry limit: jcodec (MP4 output; device calls write GIFs) and the shipped tiny-demo weights
# (device calls train or carry their own model directories; --model tiny-demo does not resolve there).
rm -f .device/lib/jcodec*
zip -q -d .device/lib/sparge4j-models-*.jar 'io/sparge4j/models/tiny-demo/*' || true
if [[ -f .device/jre25.tgz && ( ! -f .device/jre25.txz || .device/jre25.tgz -nt .device/jre25.txz ) ]]; then
  gzip -dc .device/jre25.tgz | xz -T0 -9 > .device/jre25.txz.tmp && mv .device/jre25.txz.tmp .device/jre25.txz
fi
cat > .device/java.sh <<'SH'
#!/usr/bin/env bash
# Unpack the carried runtime once per machine and run java with the flags this project needs.
d=$(cd "$(dirname "$0")" && pwd)
# whichever runtime the call carried: the full one (xz or gzip), else the one without java.desktop (jre25min.txz)
if [ ! -x /tmp/jre25/bin/java ]; then
  if [ -f "$d/jre25.txz" ]; then tar xJf "$d/jre25.txz" -C /tmp
  elif [ -f "$d/jre25.tgz" ]; then tar xzf "$d/jre25.tgz" -C /tmp
  else tar xJf "$d/jre25min.txz" -C /tmp; fi
fi
exec /tmp/jre25/bin/java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector "$@"
SH
chmod +x .device/java.sh
# one jar per module: a third of the bytes of the class folders, which counts against the carry limit
for m in engine tests models; do
  (cd "$m/target/test-classes" && zip -q -r "$OLDPWD/.device/testclasses/$m.jar" .)
done
./mvnw -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 \
  -DoutputDirectory="$PWD/.device/tools"
du -sh .device
# The checkout grew to ~31 MB on disk, so the full runtime and the test jars together pass the 64 MiB carry limit.
# Two smaller carries: a runtime without java.desktop (jre25min.txz, ~21 MB: `generate` cannot write GIFs or PNGs
# with it, training, eval and the tests run; .device/java.sh unpacks it when the call carried no full runtime), and
# the JUnit console without JUnit 4, vintage, suite and hamcrest (Jupiter only; ~2.7 instead of 3.1 MB).
jdk=${JAVA_HOME}
# (rebuilt when an older one lacks jdk.zipfs: its release file lists the modules)
if [[ ! -f .device/jre25min.txz ]] || ! xz -dc .device/jre25min.txz | tar xOf - jre25/release | grep -q jdk.zipfs; then
  tmp=$(mktemp -d)
  # jdk.zipfs: the JUnit console's package selection scans the test jars through the jar file system
  modules=java.base,java.logging,java.management,jdk.unsupported,jdk.incubator.vector,jdk.management,jdk.zipfs
  "$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=zip-9 \
    --output "$tmp/jre25"
  tar cf - -C "$tmp" jre25 | xz -T0 -9 > .device/jre25min.txz
  rm -rf "$tmp"
fi
console=$PWD/.device/tools/junit-platform-console-standalone-1.14.4.jar
unpacked=$(mktemp -d)
(cd "$unpacked" && unzip -q "$console" && rm -rf org/junit/vintage org/junit/platform/suite org/hamcrest junit \
  org/junit/rules org/junit/runner org/junit/runners org/junit/internal org/junit/experimental org/junit/validator \
  org/junit/matchers org/junit/function org/junit/*.class \
  && echo org.junit.jupiter.engine.JupiterTestEngine > META-INF/services/org.junit.platform.engine.TestEngine \
  && rm "$console" && zip -q -9 -r "$console" .)
rm -rf "$unpacked"
du -sh .device/jre25min.txz "$console"

#!/usr/bin/env bash
# Sourced by the bench scripts that run on the GPU machine (from the checkout's root, after bench/pack-device.sh
# filled .device/ here): unpacks the carried Java runtime, sets the JVM's signal chaining and the kernel cache, and
# writes /tmp/sparge, a sparge command on the carried jars (a script, so that timeout can run it).
java() { bash .device/java.sh "$@"; }
java -version > /dev/null 2>&1
# PoCL's LLVM (the OpenCL ICD loader loads it with every probe) replaces the JVM's SIGSEGV handler unless the
# JVM's signal-chaining library comes first: the cause of the bare segmentation faults of early runs.
export LD_PRELOAD=/tmp/jre25/lib/libjsig.so
export SPARGE_CACHE_DIR=/tmp/sparge-cache
printf '#!/usr/bin/env bash\nexec bash %q -cp %q io.sparge4j.cli.SpargeCli "$@"\n' "$PWD/.device/java.sh" "$PWD/.device/lib/*" \
  > /tmp/sparge
chmod +x /tmp/sparge
sparge() { /tmp/sparge "$@"; }

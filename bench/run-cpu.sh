#!/usr/bin/env bash
# Reproduces BENCHMARKS.md's CPU figures: each anchor runs just before and just after ours, in one go.
# Usage (from the repository root, nothing else running): bench/run-cpu.sh [LOGDIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log=${1:-bench-results}
mkdir -p "$log"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
java=$JAVA_HOME/bin/java
./mvnw -B -q -DskipTests package
date -u; uptime
python3 bench/anchors/numpy_gemm.py 2048 2048 2048
"$java" -jar bench/target/benchmarks.jar GemmBenchmark -rf json -rff "$log/gemm.json" | grep -E "^GemmBenchmark"
python3 bench/anchors/numpy_gemm.py 2048 2048 2048
python3 bench/anchors/numpy_gemm.py 1024 1024 1024
python3 bench/anchors/numpy_gemm.py 4096 1536 1536
python3 bench/anchors/numpy_attention.py --reps 7
"$java" -jar bench/target/benchmarks.jar AttentionBenchmark -p threads=2 -rf json -rff "$log/attention.json" \
  | grep -E "^AttentionBenchmark\.[a-zA-Z]+(:p0.50)? "
python3 bench/anchors/numpy_attention.py --reps 7
for i in 1 2 3; do
  ./sparge attention-bench --backend cpu --shape cpu-s --mode hybrid --topk 0.03 --target-sparsity 0.95 --json
done
# Issue 6: one denoising step of the tiny-4096 DiT, dense against hybrid at ~95% sparsity (JMH, then the harness's
# JSON with the attention share and peak memory).
"$java" -jar bench/target/benchmarks.jar WanStepBenchmark -p threads=2 -rf json -rff "$log/wan-step.json" \
  2> >(grep -E "^WanStepBenchmark" >&2) | grep -E "^WanStepBenchmark\.[a-zA-Z]+ "
./sparge --threads 2 model-bench --config tiny-4096 --modes dense,hybrid --target-sparsity 0.95 --warmup 1 \
  --reps 5 | tee "$log/model-cpu.jsonl"
date -u; uptime

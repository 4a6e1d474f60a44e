#!/usr/bin/env bash
# Session 21, after the cross-check: the guided student continued for 1,100 more one-clip steps (1,500 in all), CPU.
set -uo pipefail
cd /work/main
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
X=/tmp/exp21; B=$X/base
run() { echo "+ $*" >> $X/commands2.log; "$@"; }
date -u >> $X/commands2.log
run ./sparge finetune --init $X/hybrid-guided-distill/model --teacher $B --out $X/hybrid-guided-distill-1500 \
  --objective distill --attention hybrid --target-sparsity 0.95 --steps 1100 --seed 1 --backend cpu --lr 2e-4 \
  --warmup 50 --caption-dropout 0.5 --clip-speed 0.13,0.2 --clip-start trailing --clip-start-spread 0.1 \
  --clip-size 0.18,0.2 --batch-size 1 --checkpoint-every 200 --distill-guidance 5 > $X/hgd1500.log 2>&1
date -u >> $X/commands2.log
run ./sparge eval --model $X/hybrid-guided-distill-1500/model --teacher $B --prompts 12 --seed 1 --steps 20 \
  --backend cpu --attention hybrid --target-sparsity 0.95 --out $X/hybrid-guided-distill-1500.json > $X/eval-hgd1500.log 2>&1
run ./sparge generate --model $X/hybrid-guided-distill-1500/model --prompt "a red circle moving right" --steps 20 \
  --out $X/hgd1500-readme.gif > $X/gen-hgd1500.log 2>&1
date -u >> $X/commands2.log

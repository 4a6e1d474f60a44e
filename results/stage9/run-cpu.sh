#!/usr/bin/env bash
# Session 21: rows 2, 5 and 7 of the Table-6 experiment on stage 9, on the CPU (dev-2c), as session 16's cross-check.
set -uo pipefail
cd /work/main
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
X=/tmp/exp21; B=$X/base
F="--objective distill --attention hybrid --target-sparsity 0.95 --steps 400 --seed 0 --backend cpu --lr 2e-4 --warmup 50
 --caption-dropout 0.5 --clip-speed 0.13,0.2 --clip-start trailing --clip-start-spread 0.1 --clip-size 0.18,0.2
 --batch-size 1 --checkpoint-every 200"
run() { echo "+ $*" >> $X/commands.log; "$@"; }
date -u >> $X/commands.log
SPARGE_THREADS=1 run ./sparge finetune --init $B --out $X/hybrid-distill $F > $X/hybrid-distill.log 2>&1 &
SPARGE_THREADS=1 run ./sparge finetune --init $B --out $X/hybrid-guided-distill $F --distill-guidance 5 \
  > $X/hybrid-guided-distill.log 2>&1 &
wait
date -u >> $X/commands.log
E="--teacher $B --prompts 12 --seed 1 --steps 20 --backend cpu"
SPARGE_THREADS=1 run ./sparge eval --model $B $E --attention hybrid --target-sparsity 0.95 \
  --out $X/training-free-hybrid.json > $X/eval-tf.log 2>&1 &
SPARGE_THREADS=1 run ./sparge eval --model $X/hybrid-distill/model $E --attention hybrid --target-sparsity 0.95 \
  --out $X/hybrid-distill.json > $X/eval-hd.log 2>&1 &
wait
run ./sparge eval --model $X/hybrid-guided-distill/model $E --attention hybrid --target-sparsity 0.95 \
  --out $X/hybrid-guided-distill.json > $X/eval-hgd.log 2>&1
date -u >> $X/commands.log
echo done >> $X/commands.log

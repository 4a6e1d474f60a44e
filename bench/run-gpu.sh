#!/usr/bin/env bash
# Issues 4 and 5 on the GPU machine: GPU tests, selftest on every device, the kernel and attention harnesses with
# their PyTorch anchors.
# Run from the checkout's root on the GPU machine after bench/pack-device.sh filled .device/ here:
#   bash bench/run-gpu.sh [tests|selftest|bench|attention|all|model]
# Results go to $OUT (default ./gpu-out): junit.txt, selftest-*.txt/json, kernels-cuda.txt, bench.jsonl,
# attention.jsonl, model.jsonl. SKIP_720P=1 leaves out the wan14b-720p attention runs (several minutes).
# model (issue 6, not part of all): one denoising step of Wan2.1 1.3B's shapes, dense against hybrid, f32 and bf16;
# MODEL_LAYERS=N cuts the 30 blocks to N (default: all 30, ~3 minutes on an H200).
set -uo pipefail
what=${1:-all}
out=${OUT:-gpu-out}
mkdir -p "$out"
source bench/device-env.sh
cp_main='.device/lib/*'
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader > "$out/gpu.txt" 2>&1

if [[ $what == tests || $what == all ]]; then
  # The OpenCL runtime tests run in a JVM of their own, so that a crash there cannot take the other classes' results
  # with it (the console prints its tree only at the end). The crashes seen before libjsig was preloaded (above)
  # were PoCL's LLVM signal handlers.
  junit() {
    java -XX:ErrorFile="$out/hs_err_%p.log" -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
      -cp "$(printf '%s:' .device/lib/*.jar).device/testclasses/engine.jar:.device/testclasses/tests.jar:.device/testclasses/models.jar" \
      --details=tree --disable-banner "$@"
  }
  # the GPU machine lists PoCL 5.0 before NVIDIA: the OpenCL cases are meant for NVIDIA's here (diag-ocl.sh runs PoCL's)
  export SPARGE_DEVICE=${SPARGE_DEVICE:-NVIDIA}
  junit --select-package io.sparge4j.engine.device.cuda \
    --select-package io.sparge4j.tests.portability --select-package io.sparge4j.engine.gpu \
    --select-class io.sparge4j.tests.wan.DeviceWanBlockTest --select-class io.sparge4j.tests.wan.DeviceWanModelTest \
    --select-package io.sparge4j.engine.kernel.attention --select-package io.sparge4j.engine.kernel.nn \
    --select-class io.sparge4j.engine.jit.DynamicLocalMemoryTest --select-class io.sparge4j.models.train.DeviceWanGraphTest \
    --select-class io.sparge4j.models.train.DeviceWanOptimizerTest --select-class io.sparge4j.models.train.DeviceWanStepCostTest \
    --select-class io.sparge4j.models.train.DeviceWanTrainingTaskTest \
    --select-class io.sparge4j.engine.distributed.nccl.NcclCommunicatorGpuTest \
    --select-class io.sparge4j.engine.distributed.nccl.NcclLibraryTest \
    > "$out/junit.txt" 2>&1
  echo "junit rc=$?"; tail -n 15 "$out/junit.txt"
  junit --select-package io.sparge4j.engine.device.opencl > "$out/junit-opencl.txt" 2>&1
  echo "junit opencl rc=$?"; tail -n 15 "$out/junit-opencl.txt"
fi

if [[ $what == selftest || $what == all ]]; then
  SPARGE_PRINT_KERNELS=1 sparge selftest --backend cuda > "$out/selftest-cuda.txt" 2> "$out/kernels-cuda.txt"
  echo "selftest cuda rc=$?"; tail -n 14 "$out/selftest-cuda.txt"
  sparge selftest --backend opencl --device NVIDIA > "$out/selftest-opencl-nvidia.txt" 2>&1
  echo "selftest opencl nvidia rc=$?"; tail -n 14 "$out/selftest-opencl-nvidia.txt"
  sparge selftest --backend cuda --json > "$out/selftest-cuda.json" 2>&1
fi

if [[ $what == bench || $what == all ]]; then
  export SPARGE_CACHE_DIR=$(mktemp -d)
  python3 bench/anchors/torch_kernels.py > "$out/bench.jsonl" 2>&1
  sparge kernel-bench --backend cuda --gemm-variants all >> "$out/bench.jsonl" 2>&1
  sparge kernel-bench --backend opencl --device NVIDIA --gemm 2048 --reps 10 >> "$out/bench.jsonl" 2>&1
  python3 bench/anchors/torch_kernels.py >> "$out/bench.jsonl" 2>&1
  cat "$out/bench.jsonl"
fi

if [[ $what == attention || $what == all ]]; then
  # Issue 5: mask, sparse and dense forward and backward on the device, same JSON fields as the CPU bench; f32 and
  # bf16 (tensor cores); FlexAttention gets the very mask our bf16 run used (--write-mask; the 720p mask is 28 MB,
  # so masks stay out of $OUT).
  masks=$(mktemp -d)
  common=(--mode hybrid --topk 0.03 --target-sparsity 0.95 --json)
  sparge attention-bench --backend cuda --shape wan13b-480p "${common[@]}" --dtype f32 >> "$out/attention.jsonl" 2>&1
  sparge attention-bench --backend cuda --shape wan13b-480p "${common[@]}" --dtype bf16 \
    --write-mask "$masks/wan13b.safetensors" >> "$out/attention.jsonl" 2>&1
  python3 bench/anchors/torch_attention.py --shape wan13b-480p --mask "$masks/wan13b.safetensors" \
    >> "$out/attention.jsonl" 2>&1
  SPARGE_FLASH_MMA_VARIANT=fa2 sparge attention-bench --backend cuda --shape wan13b-480p "${common[@]}" --dtype bf16 \
    >> "$out/attention.jsonl" 2>&1
  sparge attention-bench --backend opencl --device NVIDIA --shape wan13b-480p "${common[@]}" --dtype f32 \
    >> "$out/attention.jsonl" 2>&1
  sparge attention-bench --backend opencl --device NVIDIA --shape wan13b-480p "${common[@]}" --dtype bf16 \
    --warmup 2 --reps 3 >> "$out/attention.jsonl" 2>&1
  if [[ ${SKIP_720P:-0} != 1 ]]; then
    # dense f32 backward is ~20 s a call at this shape: few rounds
    sparge attention-bench --backend cuda --shape wan14b-720p "${common[@]}" --dtype bf16 --warmup 3 --reps 5 \
      --write-mask "$masks/wan14b.safetensors" >> "$out/attention.jsonl" 2>&1
    python3 bench/anchors/torch_attention.py --shape wan14b-720p --mask "$masks/wan14b.safetensors" --reps 3 \
      >> "$out/attention.jsonl" 2>&1
    sparge attention-bench --backend cuda --shape wan14b-720p "${common[@]}" --dtype f32 --warmup 1 --reps 3 \
      >> "$out/attention.jsonl" 2>&1
  fi
  grep -v WARNING "$out/attention.jsonl"
fi

if [[ $what == model ]]; then
  # Issue 6: 81 x 480 x 832 px -> 21 x 60 x 104 latents -> 32760 tokens, random seeded weights made once on the host
  # and uploaded per precision; p bisected once (f32) to 95% sparsity as the attention harness does.
  layers=()
  [[ -n ${MODEL_LAYERS:-} ]] && layers=(--layers "$MODEL_LAYERS")
  sparge model-bench --backend cuda --config wan-1.3b "${layers[@]}" --precision f32,bf16 --modes dense,hybrid \
    --topk 0.03 --target-sparsity 0.95 --warmup 1 --reps 3 > "$out/model.jsonl" 2> "$out/model-err.txt"
  echo "model-bench rc=$?"; grep -v WARNING "$out/model-err.txt" | tail -n 5
  cat "$out/model.jsonl"
fi

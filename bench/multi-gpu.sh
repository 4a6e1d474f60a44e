#!/usr/bin/env bash
# Issue 8's runs for a machine with several GPUs (device kind nvidia-h200-x2 or more), in one device call. Run from
# the checkout's root there after bench/pack-device.sh filled .device/ here; carry .device/jre25.txz, .device/java.sh,
# .device/lib, .device/testclasses, .device/tools:
#   GPUS=2 bash bench/multi-gpu.sh
# Writes into $OUT: tests.txt (the multi-GPU JUnit selection), collectives.jsonl (ours, one JSON line per case, for a
# world of 1 and of GPUS) and torch-collectives.jsonl (the anchor: torch.distributed's NCCL all-reduce and all-gather on
# the same sizes, timed the same way), dp.txt (data-parallel pretraining on 1 and on GPUS GPUs, sharded ZeRO-2 and
# ZeRO-3: the loss curves and step times), sp.txt (sequence-parallel generation of tiny-demo on 1 and 2 GPUs, wall
# time), scaling.jsonl (model-bench of wan-14b shapes, two blocks, on 1 and on GPUS GPUs), with GEN14B=1 gen14b.txt
# (generate with the 14B model's shapes and random weights on 1 and on GPUS GPUs), and logs.txt.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
gpus=${GPUS:-2}
sizes=${SIZES:-1M,16M,64M,256M}
source bench/device-env.sh
nvidia-smi --query-gpu=index,name,memory.total --format=csv > "$out/logs.txt" 2>&1

# 1. the tests that need several GPUs (and the device-tensor collectives, NCCL direct on one GPU)
timeout 300 bash .device/java.sh -jar .device/tools/junit-platform-console-standalone-1.14.4.jar execute \
  -cp "$(printf '%s:' .device/lib/*.jar).device/testclasses/engine.jar" --details=tree --disable-banner \
  --select-class io.sparge4j.engine.distributed.nccl.NcclMultiGpuTest \
  --select-class io.sparge4j.engine.gpu.DeviceCollectivesTest 2>/dev/null \
  | sed 's/\x1b\[[0-9;]*m//g' > "$out/tests.txt"
tail -n 14 "$out/tests.txt"

# 2. collective bandwidth: ours on 1 and on $gpus GPUs, then torch.distributed on the same sizes as the anchor
timeout 300 /tmp/sparge collective-bench --sizes "$sizes" > "$out/collectives.jsonl" 2>> "$out/logs.txt"
timeout 300 /tmp/sparge launch --gpus "$gpus" -- collective-bench --sizes "$sizes" 2>> "$out/logs.txt" \
  | sed 's/^\[rank 0\] //' | grep '^{' >> "$out/collectives.jsonl"
cat > /tmp/torch_collectives.py <<'PY'
import json, os, statistics, sys, time
import torch, torch.distributed as dist
dist.init_process_group("nccl")
rank, n = dist.get_rank(), dist.get_world_size()
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
for word in sys.argv[1].split(","):
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(word[-1], 1)
    elements = int(word.rstrip("KMG")) * scale // n * n
    for case in ("all_reduce", "all_gather"):
        x = torch.full((elements,), float(rank + 1), device="cuda")
        out = torch.empty(elements * n, device="cuda") if case == "all_gather" else None
        call = (lambda: dist.all_reduce(x)) if case == "all_reduce" else (lambda: dist.all_gather_into_tensor(out, x))
        call(); torch.cuda.synchronize()
        times = []
        for _ in range(20):
            dist.barrier(); torch.cuda.synchronize(); t = time.perf_counter()
            call(); torch.cuda.synchronize(); times.append(time.perf_counter() - t)
        ms = statistics.median(times) * 1e3
        nbytes = 4 * elements * (n if case == "all_gather" else 1)
        algbw = nbytes / (ms * 1e-3) / 1e9
        factor = 2 * (n - 1) / n if case == "all_reduce" else (n - 1) / n
        if rank == 0:
            print(json.dumps({"harness": "torch.distributed", "case": case, "world": n, "bytes": nbytes,
                              "median_ms": round(ms, 4), "algbw_gbs": round(algbw, 3),
                              "busbw_gbs": round(algbw * factor, 3)}), flush=True)
dist.destroy_process_group()
PY
NCCL_NVLS_ENABLE=0 timeout 300 torchrun --nproc-per-node "$gpus" /tmp/torch_collectives.py "$sizes" \
  > "$out/torch-collectives.jsonl" 2>> "$out/logs.txt"

# 3. data-parallel pretraining: the same global batch on 1 GPU and on $gpus (loss curves equal, step time ratio)
common=(--steps 40 --micro-batches "$gpus" --batch-size 8 --checkpoint-every 1000 --seed 3 --backend cuda)
timeout 300 /tmp/sparge pretrain --out /tmp/dp1 "${common[@]}" >> "$out/logs.txt" 2>&1
timeout 300 /tmp/sparge launch --gpus "$gpus" -- pretrain --out /tmp/dpn "${common[@]}" >> "$out/logs.txt" 2>&1
#    and fully sharded (ZeRO-3: each block all-gathered as it runs)
timeout 300 /tmp/sparge launch --gpus "$gpus" -- pretrain --out /tmp/dpf "${common[@]}" --sharding full-shard \
  >> "$out/logs.txt" 2>&1
python3 - "$gpus" > "$out/dp.txt" <<'PY'
import json, os, statistics, sys
one = [json.loads(l) for l in open("/tmp/dp1/train.jsonl")]
t1 = statistics.median(x["step_time_s"] for x in one[10:])
for name, path in (("shard-grad-op", "/tmp/dpn"), ("full-shard", "/tmp/dpf")):
    if not os.path.exists(path + "/train.jsonl"):
        print(json.dumps({"sharding": name, "error": "no train.jsonl (see logs.txt)"}))
        continue
    many = [json.loads(l) for l in open(path + "/train.jsonl")]
    worst = max(abs(a["loss"] - b["loss"]) / a["loss"] for a, b in zip(one, many))
    tn = statistics.median(x["step_time_s"] for x in many[10:])
    print(json.dumps({"sharding": name, "gpus": int(sys.argv[1]), "steps": len(many),
                      "worst_relative_loss_difference": worst, "median_step_s_1gpu": t1,
                      "median_step_s_ngpu": tn, "speedup": t1 / tn, "efficiency": t1 / tn / int(sys.argv[1])}))
PY
cat "$out/dp.txt"

# 4. sequence-parallel generation of the shipped tiny model (2 heads: only a world of 2 splits it) on 1 GPU and on 2
#    (copy models/src/main/resources/io/sparge4j/models/tiny-demo to .device/tiny-demo and carry it); the outputs'
#    equality is what JobRanksCommandsTest checks in-process, here the wall times
gen=(--model .device/tiny-demo --prompt "a red circle moving right" --steps 20 --backend cuda)
if [[ -d .device/tiny-demo && $gpus == 2 ]]; then
  for world in 1 2; do
    start=$(date +%s.%N)
    if [[ $world == 1 ]]; then
      /tmp/sparge generate "${gen[@]}" --out /tmp/sp1.safetensors >> "$out/logs.txt" 2>&1
    else
      /tmp/sparge launch --gpus 2 -- generate "${gen[@]}" --out /tmp/sp2.safetensors >> "$out/logs.txt" 2>&1
    fi
    echo "{\"gpus\": $world, \"wall_s\": $(python3 -c "print(round($(date +%s.%N) - $start, 2))")}" >> "$out/sp.txt"
  done
  cat "$out/sp.txt"
fi
# 5. attention scaling on wan14b-720p shapes (40 heads of 128, 21 x 45 x 80 = 75,600 tokens), two of the 40 blocks,
#    random weights, bf16, dense and hybrid at a fixed p: one GPU, then $gpus (rank 0 prints, "world" says how many);
#    self_attention_ms_median against world is the scaling. TOPP: the p that `model-bench --target-sparsity 0.95` gives
#    on one GPU (a job can calibrate too, on every rank's heads, but a fixed p keeps the 1- and N-GPU runs alike)
mb=(model-bench --config wan-14b --layers 2 --precision bf16 --modes dense,hybrid --topk 0.03 --topp "${TOPP:-0.2}"
    --warmup 1 --reps 3 --backend cuda)
timeout 400 /tmp/sparge "${mb[@]}" > "$out/scaling.jsonl" 2>> "$out/logs.txt"
timeout 400 /tmp/sparge launch --gpus "$gpus" -- "${mb[@]}" 2>> "$out/logs.txt" | sed 's/^\[rank 0\] //' \
  | grep '^{' >> "$out/scaling.jsonl"
cat "$out/scaling.jsonl"

# 6. (GEN14B=1, a call of its own: each rank draws 14B random bf16 weights on the host first) sequence-parallel
#    generation with the 14B model's shapes: 720p, 81 frames (75,600 tokens), random weights, no text (zero
#    features), one denoising step without guidance, hybrid attention; wall time on 1 GPU and on $gpus
if [[ ${GEN14B:-0} == 1 ]]; then
  g14=(generate --model random:wan-14b --weights stored --precision bf16 --backend cuda --steps 1 --guidance 1)
  for world in 1 "$gpus"; do
    start=$(date +%s.%N)
    if [[ $world == 1 ]]; then
      timeout 280 /tmp/sparge "${g14[@]}" --out /tmp/g14-1.safetensors >> "$out/logs.txt" 2>&1
    else
      timeout 280 /tmp/sparge launch --gpus "$world" -- "${g14[@]}" --out /tmp/g14-n.safetensors >> "$out/logs.txt" 2>&1
    fi
    echo "{\"gpus\": $world, \"rc\": $?, \"wall_s\": $(python3 -c "print(round($(date +%s.%N) - $start, 2))")}" \
      >> "$out/gen14b.txt"
  done
  cat "$out/gen14b.txt"
fi
ls -la "$out"

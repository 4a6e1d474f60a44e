package io.sparge4j.cli;

import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.DeviceWanModel;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanTransformer;
import io.sparge4j.models.wan.WanTransformers;
import io.sparge4j.models.wan.WanWeights;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/** Where a command runs the Wan model: {@code --backend} and the device GEMMs' {@code --precision}. */
final class ModelBackendFlags {
    @Option(names = "--backend", paramLabel = "cpu|cuda|opencl", defaultValue = "cpu",
            description = "Where the model runs (default ${DEFAULT-VALUE}); cuda and opencl run every layer on the GPU.")
    String backend;

    @Option(names = "--device", paramLabel = "D",
            description = "With --backend cuda|opencl: the device, a number or part of its name (default: the first).")
    String device;

    @Option(names = "--precision", paramLabel = "f32|bf16|f16", defaultValue = "f32",
            description = "GPU GEMMs and self-attention in f32, or bf16 or f16 on tensor cores with f32 accumulation"
                    + " (f16: 3 more mantissa bits, values up to 65504) (default ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--weights", paramLabel = "f32|stored", defaultValue = "f32",
            description = "Load the checkpoint's tensors as f32, or keep their stored dtype (bf16/f16 checkpoints stay"
                    + " half precision: half the host memory; the CPU GEMMs read them directly) (default"
                    + " ${DEFAULT-VALUE}).")
    String weights;

    /** @return how the checkpoint loads, from {@code --weights} */
    WanWeights.Precision loadPrecision() {
        return switch (weights.toLowerCase(Locale.ROOT)) {
            case "f32" -> WanWeights.Precision.F32;
            case "stored" -> WanWeights.Precision.AS_STORED;
            default -> throw new IllegalArgumentException("--weights: got '" + weights + "', expected f32 or stored");
        };
    }

    /** @return the model on the chosen backend; the caller closes it */
    WanTransformer open(WanConfig config, Map<String, Tensor> weights, WanAttention attention) {
        BackendSelection where = selection();
        if (where == null || where.device() == null) {
            return WanTransformers.open(backend, gemmPrecision(), config, weights, attention);
        }
        return DeviceWanModel.open(where, config, weights, attention, gemmPrecision());
    }

    /**
     * @return the backend and {@code --device} as a device selection ({@code cpu} is null: the CPU model)
     * @throws IllegalArgumentException for {@code --device} with {@code --backend cpu}
     */
    BackendSelection selection() {
        String b = backend.strip().toLowerCase(Locale.ROOT);
        if (b.equals("cpu")) {
            if (device != null) {
                throw new IllegalArgumentException("--device: got '" + device + "' with --backend cpu, expected"
                        + " --backend cuda or opencl");
            }
            return null;
        }
        return new BackendSelection(b, device);
    }

    GemmPrecision gemmPrecision() {
        return precisionNamed(precision).orElseThrow(() -> new IllegalArgumentException("--precision: got '"
                + precision + "', expected f32, bf16 or f16"));
    }

    /**
     * @return the precision a {@code --precision} word names ({@code f32}, {@code bf16}, {@code f16}, any case), or
     *     empty; training refuses F16 itself ({@code DeviceWanGraph})
     */
    static Optional<GemmPrecision> precisionNamed(String word) {
        return switch (word.strip().toLowerCase(Locale.ROOT)) {
            case "f32" -> Optional.of(GemmPrecision.F32);
            case "bf16" -> Optional.of(GemmPrecision.BF16);
            case "f16" -> Optional.of(GemmPrecision.F16);
            default -> Optional.empty();
        };
    }
}

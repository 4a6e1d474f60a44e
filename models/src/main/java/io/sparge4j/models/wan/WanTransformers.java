package io.sparge4j.models.wan;

import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Locale;
import java.util.Map;

/** Builds a {@link WanTransformer} on a named backend. */
public final class WanTransformers {
    private WanTransformers() {
    }

    /**
     * @param backend {@code cpu} ({@link WanModel}), or {@code cuda}, {@code opencl}, {@code emulator}
     *                ({@link DeviceWanModel} on a session it owns)
     * @param precision the device GEMMs' precision; the CPU multiplies in f32 with matrices in the checkpoint's
     *                  dtype, so it takes only {@link GemmPrecision#F32}
     * @param config the model's configuration
     * @param weights the parameters under the original Wan2.1 names; the CPU model keeps using them, so keep them
     *                open while it runs
     * @param attention the self-attention settings
     * @return the model; close it when done
     * @throws IllegalArgumentException naming a backend or precision that does not exist or does not fit
     */
    public static WanTransformer open(String backend, GemmPrecision precision, WanConfig config,
            Map<String, Tensor> weights, WanAttention attention) {
        String b = backend == null ? "" : backend.toLowerCase(Locale.ROOT);
        return switch (b) {
            case "cpu" -> {
                if (precision != GemmPrecision.F32) {
                    throw new IllegalArgumentException("--precision: got " + precision + " with --backend cpu,"
                            + " expected f32 (the CPU model multiplies in f32, reading bf16 or f16 matrices as stored;"
                            + " bf16 and f16 GEMMs are for --backend cuda or opencl)");
                }
                yield new WanModel(config, weights, attention);
            }
            case "cuda", "opencl", "emulator" -> DeviceWanModel.open(b, config, weights, attention, precision);
            default -> throw new IllegalArgumentException("--backend: got '" + backend
                    + "', expected cpu, cuda, opencl or emulator");
        };
    }
}

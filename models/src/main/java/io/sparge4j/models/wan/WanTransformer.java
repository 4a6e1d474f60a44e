package io.sparge4j.models.wan;

import io.sparge4j.engine.tensor.MemoryStats;
import io.sparge4j.engine.tensor.Tensor;

/**
 * A Wan2.1 DiT ready to run on one backend: {@link WanModel} on the CPU, {@link DeviceWanModel} on CUDA or OpenCL.
 * Both take and return host tensors, so samplers and pipelines do not care where the model runs.
 *
 * <p>Closing frees what the model owns (device weights); a model from {@link #withAttention} shares its parent's
 * weights, and closing it frees nothing.
 */
public interface WanTransformer extends AutoCloseable {

    /** @return the configuration */
    WanConfig config();

    /** @return the self-attention settings */
    WanAttention attention();

    /** @return self-attention statistics and times since the last reset */
    WanAttentionStats stats();

    /** @return {@code "cpu"}, {@code "cuda"}, {@code "opencl"} or {@code "emulator"} */
    String backend();

    /** @return the memory this model's tensors live in, for peak-memory reports */
    MemoryStats memory();

    /**
     * @param attention other self-attention settings
     * @return a model sharing these weights, with statistics of its own
     */
    WanTransformer withAttention(WanAttention attention);

    /**
     * The predicted flow-matching velocity for one sample.
     *
     * @param x latents or pixels (in_dim, F, H, W), with F, H, W multiples of the patch size
     * @param timestep on Wan's 0..1000 scale
     * @param context text features (L, text_dim), L at most text_len (zero-padded as in the reference)
     * @param step the denoising step index, from 0, for {@link WanAttention#denseSteps()} and the statistics
     * @return the velocity (out_dim, F, H, W), f32, a new host tensor the caller closes
     */
    Tensor forward(Tensor x, double timestep, Tensor context, int step);

    /** {@link #forward(Tensor, double, Tensor, int)} at step 0. */
    default Tensor forward(Tensor x, double timestep, Tensor context) {
        return forward(x, timestep, context, 0);
    }

    /**
     * The velocities of a batch, as Wan's {@code forward} takes lists of latents, timesteps and contexts. Samples
     * are run one after another (equal to {@link #forward} per sample, bit for bit), so a batch costs what its
     * samples cost and needs one sample's activation memory.
     *
     * @param x latents (B, in_dim, F, H, W)
     * @param timesteps one timestep per sample, on the 0..1000 scale
     * @param contexts one (L_b, text_dim) text tensor per sample; lengths may differ
     * @param step the denoising step index
     * @return the velocities (B, out_dim, F, H, W), f32, a new host tensor the caller closes
     * @throws IllegalArgumentException naming a batch size that disagrees, or a sample's bad input
     */
    default Tensor forwardBatch(Tensor x, double[] timesteps, java.util.List<Tensor> contexts, int step) {
        if (x == null || x.rank() != 5) {
            throw new IllegalArgumentException("forwardBatch: x is " + (x == null ? "null"
                    : java.util.Arrays.toString(x.shape())) + ", expected (B, in_dim, F, H, W)");
        }
        int b = x.dim(0);
        if (timesteps == null || timesteps.length != b) {
            throw new IllegalArgumentException("forwardBatch: timesteps has " + (timesteps == null ? "null"
                    : timesteps.length + " entries") + ", expected one per sample (B = " + b + ")");
        }
        if (contexts == null || contexts.size() != b) {
            throw new IllegalArgumentException("forwardBatch: contexts has " + (contexts == null ? "null"
                    : contexts.size() + " tensors") + ", expected one per sample (B = " + b + ")");
        }
        Tensor out = null;
        try {
            for (int i = 0; i < b; i++) {
                try (Tensor v = forward(x.select(i), timesteps[i], contexts.get(i), step)) {
                    if (out == null) {
                        int[] s = v.shape();
                        out = Tensor.allocate(v.dtype(), b, s[0], s[1], s[2], s[3]);
                    }
                    out.select(i).copyFrom(v);
                }
            }
            return out;
        } catch (RuntimeException e) {
            if (out != null) {
                out.close();
            }
            throw e;
        }
    }

    /** Frees what this model owns; the default owns nothing. */
    @Override
    default void close() {
    }
}

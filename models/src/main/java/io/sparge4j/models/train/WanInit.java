package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanParameters;
import io.sparge4j.models.wan.WanWeights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Parameters for pretraining a Wan2.1 transformer from scratch, initialised as {@code WanModel.init_weights} in
 * Wan-Video/Wan2.1 {@code wan/modules/model.py} does, together with the modules' own constructors:
 * <ul>
 *   <li>every Linear weight Xavier-uniform, {@code U(-a, a)} with {@code a = sqrt(6 / (fan_in + fan_out))}, and
 *       every Linear bias zero;</li>
 *   <li>the patch embedding's Conv3d weight Xavier-uniform over its (dim, C*pt*ph*pw) flattening; its bias keeps
 *       PyTorch's Conv3d default, {@code U(-1/sqrt(fan_in), 1/sqrt(fan_in))} ({@code init_weights} leaves it);</li>
 *   <li>the text and time embeddings' Linear weights normal with std 0.02 (biases zero);</li>
 *   <li>the head's output Linear weight zero (bias zero), so the first prediction is zero;</li>
 *   <li>the block and head modulations {@code randn / sqrt(dim)}, as their {@code nn.Parameter} constructors;</li>
 *   <li>RMSNorm weights one, the affine LayerNorm ({@code norm3}) weight one and bias zero.</li>
 * </ul>
 * ({@link WanWeights#randomInit} is not this: it draws every tensor, including biases and the head, at random so that
 * forward tests exercise every weight.) Each tensor draws from its own generator, split in order from one seeded with
 * the seed, so the result depends only on the seed and the config.
 */
public final class WanInit {
    /** Standard deviation of the text and time embeddings' weights. */
    public static final double EMBEDDING_STD = 0.02;

    private WanInit() {
    }

    /**
     * @param config the model's configuration
     * @param seed the seed
     * @return fresh f32 tensors by original name, in {@link WanParameters#expected} order, in a mutable map the caller
     *         owns (an optimizer updates the tensors in place)
     */
    public static Map<String, Tensor> pretraining(WanConfig config, long seed) {
        SplittableRandom master = new SplittableRandom(seed);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : WanParameters.expected(config).entrySet()) {
            Tensor t = Tensor.allocate(DType.F32, e.getValue());
            fill(t, e.getKey(), e.getValue(), config, master.split());
            out.put(e.getKey(), t);
        }
        return out;
    }

    private static void fill(Tensor t, String name, int[] shape, WanConfig config, SplittableRandom rng) {
        if (name.endsWith("modulation")) {
            normal(t, 1 / Math.sqrt(config.dim()), rng);
        } else if (name.contains("norm")) {
            // RMSNorm / LayerNorm affine: weight one, bias zero (allocate zero-fills)
            if (name.endsWith(".weight")) {
                t.fill(1f);
            }
        } else if (name.equals("patch_embedding.bias")) {
            long fanIn = (long) config.inDim() * config.patchSize().get(0) * config.patchSize().get(1)
                    * config.patchSize().get(2);
            double bound = 1 / Math.sqrt(fanIn);
            uniform(t, bound, rng);
        } else if (name.endsWith(".bias") || name.equals("head.head.weight")) {
            // zero: Linear biases, and the output layer
            return;
        } else if (name.startsWith("text_embedding.") || name.startsWith("time_embedding.")) {
            normal(t, EMBEDDING_STD, rng);
        } else {
            // Linear weights (out, in) and the patch embedding (dim, C, pt, ph, pw) flattened to (dim, C*pt*ph*pw)
            long fanIn = fanIn(shape);
            uniform(t, Math.sqrt(6.0 / (fanIn + shape[0])), rng);
        }
    }

    private static long fanIn(int[] shape) {
        long n = 1;
        for (int d = 1; d < shape.length; d++) {
            n *= shape[d];
        }
        return n;
    }

    private static void uniform(Tensor t, double bound, SplittableRandom rng) {
        MemorySegment seg = t.segment();
        for (long i = 0; i < t.numel(); i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextDouble(-bound, bound));
        }
    }

    private static void normal(Tensor t, double std, SplittableRandom rng) {
        MemorySegment seg = t.segment();
        for (long i = 0; i < t.numel(); i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rng.nextGaussian() * std));
        }
    }
}

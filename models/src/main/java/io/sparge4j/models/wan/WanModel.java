package io.sparge4j.models.wan;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.ops.Patchify;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.ops.Shapes;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.MemoryStats;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * The Wan2.1 text-to-video diffusion transformer (Wan-Video/Wan2.1 {@code wan/modules/model.py}, class
 * {@code WanModel}), forward pass for one sample on the CPU ops, with SpargeAttention2 in place of full
 * self-attention (see {@link WanAttention}).
 *
 * <p>The forward pass: a Conv3d patch embedding (patchify plus a GEMM) to tokens in raster order (frame, row,
 * column); the float64 sinusoidal time embedding through Linear-SiLU-Linear to {@code e} and
 * Linear(SiLU(e)) to the six modulation vectors per block; the text features zero-padded to {@code text_len} rows
 * before the text MLP (Linear-GELU(tanh)-Linear); the blocks; the modulated head; and unpatchify with each token's
 * outputs ordered (p_t, p_h, p_w, channel). Self-attention statistics and times go to {@link #stats()}.
 *
 * <pre>{@code
 * var model = new WanModel(config, weights, WanAttention.defaults().withDenseSteps(5));
 * for (int step = 0; step < steps; step++) {
 *     try (Tensor v = model.forward(latents, timesteps[step], context, step)) { ... }
 * }
 * double sparsity = model.stats().meanSparsity();
 * }</pre>
 */
public final class WanModel implements WanTransformer {
    private static final String OP = "WanModel";
    /** Upper end of Wan's timestep scale (num_train_timesteps). */
    public static final double MAX_TIMESTEP = 1000.0;

    private final WanConfig config;
    private final WanAttention attention;
    private final WanAttentionStats stats = new WanAttentionStats();
    private final Map<String, Tensor> params;
    private final List<WanAttentionBlock> blocks;

    /**
     * Checks the weights against the config and prepares them: matrices stay in their dtype (f32, bf16 or f16,
     * which the GEMM reads directly); biases, norm weights and modulations are converted to f32 where they are not.
     *
     * @param config the model's configuration; its head dim must be even and at most {@value Attention#MAX_HEAD_DIM}
     * @param weights every parameter under the original Wan2.1 names (see {@link WanParameters#expected}); not copied when
     *                already f32, so the caller must keep them open while the model is used
     * @param attention how self-attention runs
     * @throws IllegalArgumentException naming every missing, unexpected, mis-shaped or non-floating tensor, or a
     *                                  config the model cannot run
     */
    public WanModel(WanConfig config, Map<String, Tensor> weights, WanAttention attention) {
        this.config = Objects.requireNonNull(config, "WanModel: config is null, expected a WanConfig");
        this.attention = Objects.requireNonNull(attention, "WanModel: attention is null, expected a WanAttention");
        if (weights == null) {
            throw new IllegalArgumentException("WanModel: weights is null, expected a map of Wan2.1 parameter names");
        }
        int d = config.headDim();
        if (d % 2 != 0 || d > Attention.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("WanModel: head dim (dim / num_heads = " + config.dim() + " / "
                    + config.numHeads() + ") is " + d + ", expected an even number of at most "
                    + Attention.MAX_HEAD_DIM);
        }
        Map<String, int[]> expected = WanParameters.expected(config);
        checkWeights(expected, weights);
        this.params = new HashMap<>();
        for (String name : expected.keySet()) {
            params.put(name, prepare(name, weights.get(name)));
        }
        List<WanAttentionBlock> list = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            String prefix = "blocks." + i + ".";
            list.add(new WanAttentionBlock(i, config, name -> params.get(prefix + name)));
        }
        this.blocks = List.copyOf(list);
    }

    private WanModel(WanModel other, WanAttention attention) {
        this.config = other.config;
        this.attention = Objects.requireNonNull(attention, "WanModel: attention is null, expected a WanAttention");
        this.params = other.params;
        this.blocks = other.blocks;
    }

    /** @throws IllegalArgumentException listing every missing, mis-shaped, non-floating and unexpected name */
    static void checkWeights(Map<String, int[]> expected, Map<String, Tensor> weights) {
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        List<String> notFloating = new ArrayList<>();
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            Tensor t = weights.get(e.getKey());
            if (t == null) {
                missing.add(e.getKey());
            } else if (!Arrays.equals(t.shape(), e.getValue())) {
                misShaped.add(e.getKey() + " " + Arrays.toString(t.shape()) + " (expected "
                        + Arrays.toString(e.getValue()) + ")");
            } else if (!t.dtype().isFloatingPoint()) {
                notFloating.add(e.getKey() + " " + t.dtype());
            }
        }
        TreeSet<String> unexpected = new TreeSet<>(weights.keySet());
        unexpected.removeAll(expected.keySet());
        if (missing.isEmpty() && misShaped.isEmpty() && notFloating.isEmpty() && unexpected.isEmpty()) {
            return;
        }
        StringBuilder sb = new StringBuilder(OP + ": the weights do not match the config;");
        if (!missing.isEmpty()) {
            sb.append(" missing ").append(missing.size()).append(": ").append(missing).append(';');
        }
        if (!misShaped.isEmpty()) {
            sb.append(" mis-shaped ").append(misShaped.size()).append(": ").append(misShaped).append(';');
        }
        if (!notFloating.isEmpty()) {
            sb.append(" not f32/bf16/f16 ").append(notFloating.size()).append(": ").append(notFloating).append(';');
        }
        if (!unexpected.isEmpty()) {
            sb.append(" unexpected ").append(unexpected.size()).append(": ").append(unexpected).append(';');
        }
        sb.append(" expected the original Wan2.1 names and shapes (WanParameters.expected)");
        throw new IllegalArgumentException(sb.toString());
    }

    /** Matrices as the GEMM reads them (the patch embedding flattened to (dim, C*pt*ph*pw)); the rest in f32. */
    private Tensor prepare(String name, Tensor t) {
        if (name.equals("patch_embedding.weight")) {
            return t.reshape(t.dim(0), -1);
        }
        if (name.endsWith(".weight") && t.rank() == 2) {
            return t;
        }
        return t.dtype() == DType.F32 ? t : t.to(DType.F32);
    }

    @Override
    public WanConfig config() {
        return config;
    }

    @Override
    public WanAttention attention() {
        return attention;
    }

    @Override
    public WanAttentionStats stats() {
        return stats;
    }

    /** @return {@code "cpu"} */
    @Override
    public String backend() {
        return "cpu";
    }

    /** @return the host's tensor memory ({@link MemoryStats#HOST}) */
    @Override
    public MemoryStats memory() {
        return MemoryStats.HOST;
    }

    /**
     * The same weights with other attention settings (for a dense comparison run), with statistics of its own.
     *
     * @param newAttention the settings
     * @return a model sharing this one's weights
     */
    @Override
    public WanModel withAttention(WanAttention newAttention) {
        return new WanModel(this, newAttention);
    }

    /**
     * {@link #forward(Tensor, double, Tensor, int)} at denoising step 0 (a single forward pass is the first step, so
     * {@code denseSteps > 0} makes it dense).
     *
     * @param x latents or pixels (in_dim, F, H, W)
     * @param timestep on Wan's 0..1000 scale
     * @param context text features (L, text_dim), L at most text_len
     * @return the predicted velocity (out_dim, F, H, W), f32
     */
    @Override
    public Tensor forward(Tensor x, double timestep, Tensor context) {
        return forward(x, timestep, context, 0);
    }

    /**
     * The predicted flow-matching velocity for one sample.
     *
     * @param x latents or pixels (in_dim, F, H, W), f32, bf16 or f16, with F, H, W multiples of the patch size
     * @param timestep on Wan's 0..1000 scale (1000 s for noise level s)
     * @param context text features (L, text_dim), f32, bf16 or f16, with 0 &lt;= L &lt;= text_len; zero-padded to
     *                text_len rows before the text MLP, as in the reference, so the padded rows take part in
     *                cross-attention
     * @param step the denoising step index, from 0, for {@link WanAttention#denseSteps()} and the statistics
     * @return the velocity (out_dim, F, H, W), f32, a new tensor the caller closes
     * @throws IllegalArgumentException naming the argument, its value and what is expected
     */
    @Override
    public Tensor forward(Tensor x, double timestep, Tensor context, int step) {
        WanInputs.check(OP + ".forward", config, x, timestep, context, step);
        List<Integer> p = config.patchSize();
        int pt = p.get(0);
        int ph = p.get(1);
        int pw = p.get(2);
        Rope.Grid grid = new Rope.Grid(x.dim(1) / pt, x.dim(2) / ph, x.dim(3) / pw);
        int len = Math.toIntExact(grid.tokens());

        Tensor h = patchEmbedding(x, pt, ph, pw, len);
        config.absolutePosition().addTo(h, grid);
        try (Tensor ctx = embedText(config, params, context);
             Tensor e = timeEmbedding(timestep, ctx);
             Tensor e6 = timeProjection(e)) {
            WanAttention now = attention.at(timestep);   // a late Top-k at low noise levels
            for (WanAttentionBlock block : blocks) {
                try (Tensor in = h) {
                    h = block.forward(in, e6, ctx, grid, now, step, stats);
                }
            }
            try (Tensor tokens = h; Tensor y = head(tokens, e);
                 Tensor video = Patchify.unpatchify(y.reshape(1, len, y.dim(1)), config.outDim(), grid.frames(),
                         grid.rows(), grid.cols(), pt, ph, pw)) {
                return video.reshape(config.outDim(), x.dim(1), x.dim(2), x.dim(3)).copy();
            }
        }
    }

    /** Conv3d with kernel = stride = patch: patchify, then one GEMM. @return tokens (L, dim) */
    private Tensor patchEmbedding(Tensor x, int pt, int ph, int pw, int len) {
        int[] s = x.shape();
        try (Tensor patches = Patchify.patchify(x.reshape(1, s[0], s[1], s[2], s[3]), pt, ph, pw);
             Tensor f32 = patches.dtype() == DType.F32 ? null : patches.to(DType.F32)) {
            Tensor in = f32 == null ? patches : f32;
            return Linear.linear(in.reshape(len, in.dim(2)), params.get("patch_embedding.weight"),
                    params.get("patch_embedding.bias"));
        }
    }

    /**
     * Sinusoidal embedding of t in float64 (cos half, then sin half), then Linear-SiLU-Linear, plus the config's text
     * modulation of the embedded text {@code ctx} (nothing for Wan's own). @return e (1, dim)
     */
    private Tensor timeEmbedding(double t, Tensor ctx) {
        try (Tensor sinusoid = Tensor.of(sinusoid(t, config.freqDim()), 1, config.freqDim());
             Tensor a = Linear.linear(sinusoid, params.get("time_embedding.0.weight"),
                     params.get("time_embedding.0.bias"));
             Tensor s = Activations.silu(a)) {
            Tensor e = Linear.linear(s, params.get("time_embedding.2.weight"), params.get("time_embedding.2.bias"));
            config.textModulation().addTo(e, ctx);
            return e;
        }
    }

    /**
     * Wan2.1's {@code sinusoidal_embedding_1d} for one timestep, in float64 as the reference (the engine's op takes
     * the timestep as a tensor element, which would round a non-integer t to f32 first). Shared with the training
     * graph, whose forward must match this model's bit for bit.
     *
     * @param t the timestep on Wan's 0..1000 scale
     * @param dim the embedding width (freq_dim), even
     * @return cos of the {@code dim / 2} angles, then their sin
     */
    public static float[] sinusoid(double t, int dim) {
        int half = dim / 2;
        float[] out = new float[dim];
        for (int i = 0; i < half; i++) {
            double angle = t * Math.pow(10000.0, -(double) i / half);
            out[i] = (float) Math.cos(angle);
            out[half + i] = (float) Math.sin(angle);
        }
        return out;
    }

    /** Linear(SiLU(e)) to the blocks' six modulation vectors. @return (6, dim) */
    private Tensor timeProjection(Tensor e) {
        try (Tensor s = Activations.silu(e);
             Tensor e6 = Linear.linear(s, params.get("time_projection.1.weight"),
                     params.get("time_projection.1.bias"))) {
            return e6.reshape(6, config.dim()).copy();
        }
    }

    /**
     * The text features as the DiT's cross-attention sees them: zero-padded to text_len rows, then the model's
     * {@code text_embedding} (Linear-GELU(tanh)-Linear).
     *
     * @param config the model's config
     * @param weights its weights: {@code text_embedding.*}, f32 (or 16-bit matrices, as {@link Linear#linear}
     *     takes them); the others are not read
     * @param context text features (L, text_dim), L at most text_len
     * @return (text_len, dim), f32, a new tensor the caller closes
     * @throws IllegalArgumentException naming a missing text_embedding weight
     */
    public static Tensor embedText(WanConfig config, Map<String, Tensor> weights, Tensor context) {
        try (Tensor padded = Tensor.allocate(DType.F32, config.textLen(), config.textDim())) {
            if (context.dim(0) > 0) {
                padded.narrow(0, context.dim(0)).copyFrom(context);
            }
            try (Tensor a = Linear.linear(padded, weight(weights, "text_embedding.0.weight"),
                    weight(weights, "text_embedding.0.bias"));
                 Tensor g = Activations.gelu(a)) {
                return Linear.linear(g, weight(weights, "text_embedding.2.weight"),
                        weight(weights, "text_embedding.2.bias"));
            }
        }
    }

    /** The weight {@code name}, naming it when missing. */
    private static Tensor weight(Map<String, Tensor> weights, String name) {
        Tensor t = weights.get(name);
        if (t == null) {
            throw new IllegalArgumentException("WanModel.embedText: weight " + name + " is missing, expected the"
                    + " model's text_embedding");
        }
        return t;
    }

    /** head.modulation + e gives shift and scale; modulated LayerNorm; Linear. @return (L, out_dim*pt*ph*pw) */
    private Tensor head(Tensor tokens, Tensor e) {
        Tensor[] mod;
        try (Tensor sum = Elementwise.add(params.get("head.modulation").reshape(2, config.dim()), e)) {
            mod = Shapes.split(sum, 0, 1, 1);
        }
        try (Tensor shift = mod[0]; Tensor scale = mod[1];
             Tensor n = Norms.layerNorm(tokens, null, null, (float) config.eps());
             Tensor m = Elementwise.modulate(n, shift, scale)) {
            return Linear.linear(m, params.get("head.head.weight"), params.get("head.head.bias"));
        }
    }
}

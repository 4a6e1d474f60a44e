package io.sparge4j.models.wan;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.ops.Shapes;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;

import java.util.function.Function;

/**
 * One Wan2.1 transformer block ({@code WanAttentionBlock} with text-to-video cross-attention), for one sample:
 * tokens are (L, dim) and q, k, v are held as (1, L, heads, headDim), the reference's layout, so that heads are a
 * reshape away. Intermediates are closed as soon as they are used, as the large ones are (L, ffn_dim).
 */
final class WanAttentionBlock {
    private static final Attention.Options CROSS = Attention.Options.defaults().withLayout(AttentionLayout.BNHD);

    private final int index;
    private final WanConfig config;
    private final float eps;
    private final Tensor modulation;
    private final Projection selfQ;
    private final Projection selfK;
    private final Projection selfV;
    private final Projection selfO;
    private final Tensor selfNormQ;
    private final Tensor selfNormK;
    private final Tensor norm3Weight;
    private final Tensor norm3Bias;
    private final Projection crossQ;
    private final Projection crossK;
    private final Projection crossV;
    private final Projection crossO;
    private final Tensor crossNormQ;
    private final Tensor crossNormK;
    private final Projection ffn0;
    private final Projection ffn2;

    /** A fully connected layer's weight and f32 bias. */
    record Projection(Tensor weight, Tensor bias) {
        Tensor apply(Tensor x) {
            return Linear.linear(x, weight, bias);
        }
    }

    /**
     * @param index block index, from 0
     * @param config the model's config
     * @param param the prepared parameter of a name relative to {@code blocks.N.} (vectors f32)
     */
    WanAttentionBlock(int index, WanConfig config, Function<String, Tensor> param) {
        this.index = index;
        this.config = config;
        this.eps = (float) config.eps();
        this.modulation = param.apply("modulation").reshape(6, config.dim());
        selfQ = linear(param, "self_attn.q");
        selfK = linear(param, "self_attn.k");
        selfV = linear(param, "self_attn.v");
        selfO = linear(param, "self_attn.o");
        crossQ = linear(param, "cross_attn.q");
        crossK = linear(param, "cross_attn.k");
        crossV = linear(param, "cross_attn.v");
        crossO = linear(param, "cross_attn.o");
        selfNormQ = config.qkNorm() ? param.apply("self_attn.norm_q.weight") : null;
        selfNormK = config.qkNorm() ? param.apply("self_attn.norm_k.weight") : null;
        crossNormQ = config.qkNorm() ? param.apply("cross_attn.norm_q.weight") : null;
        crossNormK = config.qkNorm() ? param.apply("cross_attn.norm_k.weight") : null;
        norm3Weight = config.crossAttnNorm() ? param.apply("norm3.weight") : null;
        norm3Bias = config.crossAttnNorm() ? param.apply("norm3.bias") : null;
        ffn0 = linear(param, "ffn.0");
        ffn2 = linear(param, "ffn.2");
    }

    private static Projection linear(Function<String, Tensor> param, String prefix) {
        return new Projection(param.apply(prefix + ".weight"), param.apply(prefix + ".bias"));
    }

    /**
     * @param x tokens (L, dim), f32; not closed
     * @param e6 the time projection (6, dim), f32
     * @param context embedded text (text_len, dim), f32
     * @param grid the token grid, for RoPE
     * @param attention the self-attention settings
     * @param step the denoising step index
     * @param stats where self- and cross-attention calls are recorded
     * @return the block output (L, dim), a new tensor
     */
    Tensor forward(Tensor x, Tensor e6, Tensor context, Rope.Grid grid, WanAttention attention, int step,
                   WanAttentionStats stats) {
        Tensor[] mod;
        try (Tensor sum = Elementwise.add(modulation, e6)) {
            // shift1, scale1, gate1, shift2, scale2, gate2, each (1, dim)
            mod = Shapes.split(sum, 0, 1, 1, 1, 1, 1, 1);
        }
        try {
            Tensor x1;
            try (Tensor h = modulatedNorm(x, mod[0], mod[1]);
                 Tensor y = selfAttention(h, grid, attention, step, stats)) {
                x1 = Elementwise.gatedAdd(x, mod[2], y);
            }
            Tensor x2;
            try (x1; Tensor y = crossAttention(x1, context, stats)) {
                x2 = Elementwise.add(x1, y);
            }
            try (x2; Tensor h = modulatedNorm(x2, mod[3], mod[4]); Tensor y = ffn(h)) {
                return Elementwise.gatedAdd(x2, mod[5], y);
            }
        } finally {
            for (Tensor t : mod) {
                t.close();
            }
        }
    }

    /** LayerNorm without affine, then {@code * (1 + scale) + shift}. */
    private Tensor modulatedNorm(Tensor x, Tensor shift, Tensor scale) {
        try (Tensor n = Norms.layerNorm(x, null, null, eps)) {
            return Elementwise.modulate(n, shift, scale);
        }
    }

    private Tensor selfAttention(Tensor h, Rope.Grid grid, WanAttention attention, int step, WanAttentionStats stats) {
        int len = h.dim(0);
        try (Tensor q = projectHeads(selfQ, selfNormQ, h, grid);
             Tensor k = projectHeads(selfK, selfNormK, h, grid);
             Tensor v = selfV.apply(h)) {
            SparseAttention.Config cfg = attention.configAt(index, step);
            long start = System.nanoTime();
            SparseAttention.Result r = SparseAttention.forward(q, k, v.reshape(1, len, config.numHeads(),
                    config.headDim()), cfg);
            long nanos = System.nanoTime() - start;
            try (r) {
                stats.recordSelf(index, step, cfg.mode() == MaskMode.DENSE, r.statistics(), nanos);
                return selfO.apply(r.out().reshape(len, config.dim()));
            }
        }
    }

    /** Linear, RMSNorm over the whole dim (when qk_norm), split heads, 3D RoPE: (1, L, heads, headDim). */
    private Tensor projectHeads(Projection proj, Tensor normWeight, Tensor h, Rope.Grid grid) {
        try (Tensor p = proj.apply(h); Tensor n = normWeight == null ? null : Norms.rmsNorm(p, normWeight, eps)) {
            Tensor t = n == null ? p : n;
            return Rope.apply(t.reshape(1, h.dim(0), config.numHeads(), config.headDim()), grid, Rope.Layout.BLHD);
        }
    }

    /** Text-to-video cross-attention over every text row, dense and unmasked as in the reference. */
    private Tensor crossAttention(Tensor x, Tensor context, WanAttentionStats stats) {
        int len = x.dim(0);
        int textLen = context.dim(0);
        int heads = config.numHeads();
        int d = config.headDim();
        try (Tensor n = norm3Weight == null ? null : Norms.layerNorm(x, norm3Weight, norm3Bias, eps);
             Tensor q = normed(crossQ, crossNormQ, n == null ? x : n);
             Tensor k = normed(crossK, crossNormK, context);
             Tensor v = crossV.apply(context)) {
            long start = System.nanoTime();
            Attention.Result r = Attention.forward(q.reshape(1, len, heads, d), k.reshape(1, textLen, heads, d),
                    v.reshape(1, textLen, heads, d), CROSS);
            stats.recordCross(System.nanoTime() - start);
            try (r) {
                return crossO.apply(r.out().reshape(len, config.dim()));
            }
        }
    }

    /** Linear, then RMSNorm when {@code normWeight} is given. */
    private Tensor normed(Projection proj, Tensor normWeight, Tensor in) {
        Tensor p = proj.apply(in);
        if (normWeight == null) {
            return p;
        }
        try (p) {
            return Norms.rmsNorm(p, normWeight, eps);
        }
    }

    private Tensor ffn(Tensor h) {
        try (Tensor a = ffn0.apply(h); Tensor g = Activations.gelu(a)) {
            return ffn2.apply(g);
        }
    }
}

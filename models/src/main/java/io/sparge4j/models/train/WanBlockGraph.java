package io.sparge4j.models.train;

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
import io.sparge4j.models.wan.WanAttentionStats;
import io.sparge4j.models.wan.WanConfig;

import java.util.function.Function;

/**
 * One Wan2.1 block (self-attention, text cross-attention, FFN, each under the time modulation) with a tape: the
 * forward runs exactly the ops {@code WanModel}'s block runs, in the same order, so that it matches it bit for bit,
 * and keeps the intermediates the backward reads; the backward chains the ops' backward functions in reverse and
 * adds every parameter gradient into a {@link ParameterGrads}. Tokens are (L, dim); q, k, v are (1, L, heads, d).
 * Parameters are looked up at every call, so an optimizer's in-place updates are always seen.
 */
final class WanBlockGraph {
    private static final Attention.Options CROSS = Attention.Options.defaults().withLayout(AttentionLayout.BNHD);

    private final int index;
    private final WanConfig config;
    private final float eps;
    private final String prefix;
    private final Function<String, Tensor> params;

    /**
     * @param index block index, from 0
     * @param config the model's config
     * @param params a parameter by its full Wan2.1 name
     */
    WanBlockGraph(int index, WanConfig config, Function<String, Tensor> params) {
        this.index = index;
        this.config = config;
        this.eps = (float) config.eps();
        this.prefix = "blocks." + index + ".";
        this.params = params;
    }

    int index() {
        return index;
    }

    private Tensor p(String name) {
        return params.apply(prefix + name);
    }

    private Tensor linear(Tensor x, String module) {
        return Linear.linear(x, p(module + ".weight"), p(module + ".bias"));
    }

    /** A block's forward intermediates; {@link #out} belongs to the caller, the rest to the tape. */
    static final class Tape implements AutoCloseable {
        final Tensor x;
        final SparseAttention.Config attention;
        final TensorScope scope = new TensorScope();
        SparseAttention.Selection selection;
        Tensor[] mod;
        Tensor n1;
        Tensor h1;
        Tensor q0;
        Tensor k0;
        Tensor q;
        Tensor k;
        Tensor v;
        SparseAttention.Result self;
        Tensor y;
        Tensor x1;
        Tensor crossIn;
        Tensor cq0;
        Tensor ck0;
        Tensor cq;
        Tensor ck;
        Tensor cv;
        Attention.Result cross;
        Tensor x2;
        Tensor n2;
        Tensor h2;
        Tensor f1;
        Tensor f1Act;
        Tensor f2;
        Tensor out;

        Tape(Tensor x, SparseAttention.Config attention) {
            this.x = x;
            this.attention = attention;
        }

        /** Frees the intermediates (the mask selection and the output stay). */
        @Override
        public void close() {
            scope.close();
        }
    }

    /**
     * @param x block input (L, dim), f32; not owned
     * @param e6 the time projection (6, dim)
     * @param context the embedded text (text_len, dim)
     * @param grid the token grid, for RoPE
     * @param attention the self-attention config of this block at this step
     * @param fixed a mask chosen earlier (a recompute reuses the forward's), or null to choose one from q and k
     * @param stats where the call is recorded, or null (recomputes are not recorded)
     * @param step the denoising step index, for the statistics
     * @return the tape, with its output in {@link Tape#out}
     */
    Tape forward(Tensor x, Tensor e6, Tensor context, Rope.Grid grid, SparseAttention.Config attention,
                 SparseAttention.Selection fixed, WanAttentionStats stats, int step) {
        int len = x.dim(0);
        int textLen = context.dim(0);
        int heads = config.numHeads();
        int d = config.headDim();
        Tape t = new Tape(x, attention);
        TensorScope s = t.scope;
        try {
            try (Tensor sum = Elementwise.add(p("modulation").reshape(6, config.dim()), e6)) {
                // shift1, scale1, gate1, shift2, scale2, gate2, each (1, dim)
                t.mod = s.own(Shapes.split(sum, 0, 1, 1, 1, 1, 1, 1));
            }
            // self-attention
            t.n1 = s.own(Norms.layerNorm(x, null, null, eps));
            t.h1 = s.own(Elementwise.modulate(t.n1, t.mod[0], t.mod[1]));
            t.q0 = s.own(linear(t.h1, "self_attn.q"));
            t.q = s.own(Rope.apply(qkNorm(s, t.q0, "self_attn.norm_q.weight").reshape(1, len, heads, d), grid,
                    Rope.Layout.BLHD));
            t.k0 = s.own(linear(t.h1, "self_attn.k"));
            t.k = s.own(Rope.apply(qkNorm(s, t.k0, "self_attn.norm_k.weight").reshape(1, len, heads, d), grid,
                    Rope.Layout.BLHD));
            t.v = s.own(linear(t.h1, "self_attn.v")).reshape(1, len, heads, d);
            long start = System.nanoTime();
            t.self = s.own(fixed == null ? SparseAttention.forward(t.q, t.k, t.v, attention)
                    : SparseAttention.forward(t.q, t.k, t.v, fixed, attention));
            long nanos = System.nanoTime() - start;
            t.selection = t.self.selection();
            if (stats != null) {
                stats.recordSelf(index, step, attention.mode() == MaskMode.DENSE, t.self.statistics(), nanos);
            }
            t.y = s.own(linear(t.self.out().reshape(len, config.dim()), "self_attn.o"));
            t.x1 = s.own(Elementwise.gatedAdd(x, t.mod[2], t.y));
            // cross-attention
            t.crossIn = config.crossAttnNorm()
                    ? s.own(Norms.layerNorm(t.x1, p("norm3.weight"), p("norm3.bias"), eps)) : t.x1;
            t.cq0 = s.own(linear(t.crossIn, "cross_attn.q"));
            t.cq = qkNorm(s, t.cq0, "cross_attn.norm_q.weight").reshape(1, len, heads, d);
            t.ck0 = s.own(linear(context, "cross_attn.k"));
            t.ck = qkNorm(s, t.ck0, "cross_attn.norm_k.weight").reshape(1, textLen, heads, d);
            t.cv = s.own(linear(context, "cross_attn.v")).reshape(1, textLen, heads, d);
            start = System.nanoTime();
            t.cross = s.own(Attention.forward(t.cq, t.ck, t.cv, CROSS));
            if (stats != null) {
                stats.recordCross(System.nanoTime() - start);
            }
            try (Tensor cy = linear(t.cross.out().reshape(len, config.dim()), "cross_attn.o")) {
                t.x2 = s.own(Elementwise.add(t.x1, cy));
            }
            // feed-forward
            t.n2 = s.own(Norms.layerNorm(t.x2, null, null, eps));
            t.h2 = s.own(Elementwise.modulate(t.n2, t.mod[3], t.mod[4]));
            t.f1 = s.own(linear(t.h2, "ffn.0"));
            t.f1Act = s.own(Activations.gelu(t.f1));
            t.f2 = s.own(linear(t.f1Act, "ffn.2"));
            t.out = Elementwise.gatedAdd(t.x2, t.mod[5], t.f2);
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    /** RMSNorm over the whole dim when the config has qk_norm (owned by {@code s}); else {@code x} itself. */
    private Tensor qkNorm(TensorScope s, Tensor x, String weight) {
        return config.qkNorm() ? s.own(Norms.rmsNorm(x, p(weight), eps)) : x;
    }

    /**
     * Reverse pass of {@link #forward}.
     *
     * @param t the forward's tape (its intermediates are read, not freed)
     * @param dOut gradient with respect to the block output (L, dim)
     * @param context the embedded text the forward read
     * @param grid the token grid
     * @param grads where the parameter gradients are added
     * @param de6 the time projection's gradient (6, dim), added to
     * @param dContext the embedded text's gradient (text_len, dim), added to
     * @return the gradient with respect to the block input (L, dim), a new tensor the caller closes
     */
    Tensor backward(Tape t, Tensor dOut, Tensor context, Rope.Grid grid, ParameterGrads grads, Tensor de6,
                    Tensor dContext) {
        int len = t.x.dim(0);
        int textLen = context.dim(0);
        int dim = config.dim();
        int heads = config.numHeads();
        int d = config.headDim();
        // three phases (FFN, cross-attention, self-attention), each freeing its temporaries and the tape's
        // intermediates it was the last to read, so that a backward holds little more than one block's activations
        try (TensorScope keep = new TensorScope()) {
            Tensor[] dMod = new Tensor[6];
            Tensor dx2;
            // out = x2 + gate2 * f2, f2 = FFN(LayerNorm(x2) * (1 + scale2) + shift2)
            try (TensorScope s = new TensorScope()) {
                Elementwise.GatedAddGrads g5 = Elementwise.gatedAddBackward(dOut, t.mod[5], t.f2);
                dx2 = keep.own(g5.dx());
                dMod[5] = keep.own(g5.dGate());
                Linear.LinearGrads ffn2 = s.own(Linear.linearBackward(s.own(g5.dy()), t.f1Act, p("ffn.2.weight"),
                        true));
                grads.add(prefix + "ffn.2", ffn2);
                Tensor df1 = s.own(Activations.geluBackward(ffn2.dx(), t.f1));
                Linear.LinearGrads ffn0 = s.own(Linear.linearBackward(df1, t.h2, p("ffn.0.weight"), true));
                grads.add(prefix + "ffn.0", ffn0);
                Elementwise.ModulateGrads m2 = Elementwise.modulateBackward(ffn0.dx(), t.n2, t.mod[4]);
                dMod[3] = keep.own(m2.dShift());
                dMod[4] = keep.own(m2.dScale());
                Norms.NormGrads ln2 = s.own(Norms.layerNormBackward(s.own(m2.dx()), t.x2, null, null, eps));
                Elementwise.axpy(1f, ln2.dx(), dx2);
            }
            release(t.f2, t.f1Act, t.f1, t.h2, t.n2, t.x2);
            // x2 = x1 + cross(x1, context): dx2 is both the residual's and the cross branch's gradient
            try (TensorScope s = new TensorScope()) {
                Linear.LinearGrads crossO = s.own(Linear.linearBackward(dx2, t.cross.out().reshape(len, dim),
                        p("cross_attn.o.weight"), true));
                grads.add(prefix + "cross_attn.o", crossO);
                Attention.Gradients dCross = s.own(Attention.backward(crossO.dx().reshape(1, len, heads, d), t.cq,
                        t.ck, t.cv, t.cross.out(), t.cross.logsumexp(), CROSS));
                Tensor dcq = qkNormBackward(s, dCross.dq().reshape(len, dim), t.cq0, "cross_attn.norm_q.weight",
                        grads);
                Linear.LinearGrads crossQ = s.own(Linear.linearBackward(dcq, t.crossIn, p("cross_attn.q.weight"),
                        true));
                grads.add(prefix + "cross_attn.q", crossQ);
                Tensor dck = qkNormBackward(s, dCross.dk().reshape(textLen, dim), t.ck0, "cross_attn.norm_k.weight",
                        grads);
                Linear.LinearGrads crossK = s.own(Linear.linearBackward(dck, context, p("cross_attn.k.weight"), true));
                grads.add(prefix + "cross_attn.k", crossK);
                Elementwise.axpy(1f, crossK.dx(), dContext);
                Linear.LinearGrads crossV = s.own(Linear.linearBackward(dCross.dv().reshape(textLen, dim), context,
                        p("cross_attn.v.weight"), true));
                grads.add(prefix + "cross_attn.v", crossV);
                Elementwise.axpy(1f, crossV.dx(), dContext);
                if (config.crossAttnNorm()) {
                    Norms.NormGrads ln3 = s.own(Norms.layerNormBackward(crossQ.dx(), t.x1, p("norm3.weight"),
                            p("norm3.bias"), eps));
                    grads.add(prefix + "norm3.weight", ln3.dWeight());
                    grads.add(prefix + "norm3.bias", ln3.dBias());
                    Elementwise.axpy(1f, ln3.dx(), dx2);
                } else {
                    Elementwise.axpy(1f, crossQ.dx(), dx2);
                }
            }
            release(t.cross.out(), t.cross.logsumexp(), t.cq, t.ck, t.cv, t.cq0, t.ck0, t.crossIn, t.x1);
            Tensor dx1 = dx2;
            // x1 = x + gate1 * selfAttention(LayerNorm(x) * (1 + scale1) + shift1)
            Elementwise.GatedAddGrads g2 = Elementwise.gatedAddBackward(dx1, t.mod[2], t.y);
            Tensor dx = g2.dx(); // returned: not owned by a scope
            dMod[2] = keep.own(g2.dGate());
            try (TensorScope s = new TensorScope()) {
                Linear.LinearGrads selfO = s.own(Linear.linearBackward(s.own(g2.dy()), t.self.out().reshape(len, dim),
                        p("self_attn.o.weight"), true));
                grads.add(prefix + "self_attn.o", selfO);
                Attention.Gradients dSelf = s.own(SparseAttention.backward(selfO.dx().reshape(1, len, heads, d), t.q,
                        t.k, t.v, t.self, t.attention));
                Tensor dq = s.own(Rope.backward(dSelf.dq(), grid, Rope.Layout.BLHD)).reshape(len, dim);
                dq = qkNormBackward(s, dq, t.q0, "self_attn.norm_q.weight", grads);
                Tensor dk = s.own(Rope.backward(dSelf.dk(), grid, Rope.Layout.BLHD)).reshape(len, dim);
                dk = qkNormBackward(s, dk, t.k0, "self_attn.norm_k.weight", grads);
                Linear.LinearGrads selfQ = s.own(Linear.linearBackward(dq, t.h1, p("self_attn.q.weight"), true));
                grads.add(prefix + "self_attn.q", selfQ);
                Linear.LinearGrads selfK = s.own(Linear.linearBackward(dk, t.h1, p("self_attn.k.weight"), true));
                grads.add(prefix + "self_attn.k", selfK);
                Linear.LinearGrads selfV = s.own(Linear.linearBackward(dSelf.dv().reshape(len, dim), t.h1,
                        p("self_attn.v.weight"), true));
                grads.add(prefix + "self_attn.v", selfV);
                Tensor dh1 = s.own(Elementwise.add(selfQ.dx(), selfK.dx()));
                Elementwise.axpy(1f, selfV.dx(), dh1);
                Elementwise.ModulateGrads m1 = Elementwise.modulateBackward(dh1, t.n1, t.mod[1]);
                dMod[0] = keep.own(m1.dShift());
                dMod[1] = keep.own(m1.dScale());
                Norms.NormGrads ln1 = s.own(Norms.layerNormBackward(s.own(m1.dx()), t.x, null, null, eps));
                Elementwise.axpy(1f, ln1.dx(), dx);
                // modulation + e6: both get the six rows' gradient
                Tensor dSum = s.own(Shapes.concat(0, dMod));
                grads.add(prefix + "modulation", dSum);
                Elementwise.axpy(1f, dSum, de6);
                return dx;
            } catch (RuntimeException | Error e) {
                dx.close();
                throw e;
            }
        }
    }

    /** Frees tape intermediates early (the tape's own close later does nothing more for them). */
    private static void release(Tensor... ts) {
        for (Tensor t : ts) {
            t.close();
        }
    }

    /** Backward of {@link #qkNorm}: adds the norm weight's gradient and returns the projection's gradient. */
    private Tensor qkNormBackward(TensorScope s, Tensor dy, Tensor x, String weight, ParameterGrads grads) {
        if (!config.qkNorm()) {
            return dy;
        }
        Norms.NormGrads g = s.own(Norms.rmsNormBackward(dy, x, p(weight), eps));
        grads.add(prefix + weight, g.dWeight());
        return g.dx();
    }
}

package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceActivations;
import io.sparge4j.engine.gpu.DeviceAttention;
import io.sparge4j.engine.gpu.DeviceBlockMask;
import io.sparge4j.engine.gpu.DeviceCasts;
import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceLinear;
import io.sparge4j.engine.gpu.DeviceNorms;
import io.sparge4j.engine.gpu.DeviceRope;
import io.sparge4j.engine.gpu.DeviceScope;
import io.sparge4j.engine.gpu.DeviceShapes;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;

/**
 * One Wan2.1 block on the device with a tape: the forward runs the ops of {@code DeviceWanModel}'s block (the same
 * as {@link WanBlockGraph}'s on the CPU, in the same order) and keeps the intermediates the backward reads; the
 * backward chains the device ops' backward functions in the order of {@link WanBlockGraph#backward} and adds every
 * parameter gradient into the {@link DeviceWanStore}. A batch of B clips of L tokens each is one (B * L, dim) matrix
 * for the linear layers and norms, viewed as (B, L, dim) where each clip has its own modulation, and as
 * (B, heads, L, d) for attention; the six modulation vectors are (B, 6 * dim), one row per clip.
 */
final class DeviceWanBlockGraph {
    private final int index;
    private final WanConfig config;
    private final float eps;
    private final String prefix;
    private final DeviceWanStore store;
    private final GemmPrecision precision;

    DeviceWanBlockGraph(int index, WanConfig config, DeviceWanStore store, GemmPrecision precision) {
        this.precision = precision;
        this.index = index;
        this.config = config;
        this.eps = (float) config.eps();
        this.prefix = "blocks." + index + ".";
        this.store = store;
    }

    int index() {
        return index;
    }

    private DeviceTensor p(String name) {
        return store.param(prefix + name);
    }

    /** A block's forward intermediates; {@link #out} belongs to the caller, the mask to the caller too. */
    static final class Tape implements AutoCloseable {
        final DeviceScope scope = new DeviceScope();
        final DeviceTensor x;
        final int batch;
        /** Self-attention's mask, or null where it ran dense; not closed by the tape. */
        DeviceBlockMask mask;
        DeviceTensor[] mod;
        DeviceTensor n1;
        DeviceTensor h1;
        DeviceTensor q0;
        DeviceTensor k0;
        DeviceTensor q;
        DeviceTensor k;
        DeviceTensor v;
        DeviceAttention.Result self;
        DeviceTensor selfMerged;
        DeviceTensor y;
        DeviceTensor x1;
        DeviceTensor crossIn;
        DeviceTensor cq0;
        DeviceTensor ck0;
        DeviceTensor cq;
        DeviceTensor ck;
        DeviceTensor cv;
        DeviceAttention.Result cross;
        DeviceTensor crossMerged;
        DeviceTensor x2;
        DeviceTensor n2;
        DeviceTensor h2;
        DeviceTensor f1;
        DeviceTensor f1Act;
        DeviceTensor f2;
        DeviceTensor out;

        Tape(DeviceTensor x, int batch) {
            this.x = x;
            this.batch = batch;
        }

        /** Frees the intermediates (not the input, the output or the mask). */
        @Override
        public void close() {
            scope.close();
        }
    }

    /**
     * @param x block input (B * L, dim); not owned
     * @param e6 the time projection (B, 6 * dim), one row per clip
     * @param ctx the embedded text (B * text_len, dim)
     * @param grid the token grid, for RoPE
     * @param attention the self-attention settings
     * @param topk each clip's Top-k fraction (its noise level's: {@link WanAttention#at}); not read where
     *     {@code fixed} is given or the block runs dense (may be null there)
     * @param step the step index (dense steps)
     * @param fixed a mask to use instead of building one (a recompute, or a mask held fixed), or null
     * @return the tape; its {@link Tape#out} and (when built here) {@link Tape#mask} are the caller's
     */
    Tape forward(DeviceTensor x, DeviceTensor e6, DeviceTensor ctx, Rope.Grid grid, WanAttention attention,
            double[] topk, int step, DeviceBlockMask fixed) {
        int batch = e6.dim(0);
        int len = x.dim(0) / batch;
        int textLen = ctx.dim(0) / batch;
        Tape t = new Tape(x, batch);
        DeviceScope s = t.scope;
        DeviceBlockMask built = null;
        try {
            t.mod = modulations(s, e6);   // shift1, scale1, gate1, shift2, scale2, gate2, each (B, 1, dim)
            // self-attention on the modulated LayerNorm
            t.n1 = s.own(DeviceNorms.layerNorm(x, null, null, eps));
            t.h1 = flat(s, DeviceElementwise.modulate(clips(s, t.n1, batch), t.mod[0], t.mod[1]));
            t.q0 = s.own(linear(t.h1, "self_attn.q"));
            t.q = heads(s, qkNorm(s, t.q0, "self_attn.norm_q.weight"), batch, len, grid);
            t.k0 = s.own(linear(t.h1, "self_attn.k"));
            t.k = heads(s, qkNorm(s, t.k0, "self_attn.norm_k.weight"), batch, len, grid);
            t.v = heads(s, s.own(linear(t.h1, "self_attn.v")), batch, len, null);
            if (precision == GemmPrecision.BF16) {
                // the tensor-core flash kernels on bf16 copies (the mask pooled from the same values); the
                // backward reads the same copies, its gradients f32
                t.q = s.own(DeviceCasts.toBFloat16(t.q));
                t.k = s.own(DeviceCasts.toBFloat16(t.k));
                t.v = s.own(DeviceCasts.toBFloat16(t.v));
            }
            if (attention.denseAt(index, step)) {
                t.self = s.own(DeviceAttention.dense(t.q, t.k, t.v, Float.NaN));
            } else {
                DeviceBlockMask mask = fixed;
                if (mask == null) {
                    built = DeviceAttention.blockMask(t.q, t.k, attention.mode(), topk, attention.topp(), Float.NaN);
                    mask = built;
                }
                t.mask = mask;
                t.self = s.own(DeviceAttention.sparse(t.q, t.k, t.v, mask, Float.NaN));
            }
            t.selfMerged = tokens(s, t.self.out(), batch, len);
            t.y = s.own(linear(t.selfMerged, "self_attn.o"));
            t.x1 = flat(s, DeviceElementwise.gatedAdd(clips(s, x, batch), t.mod[2], clips(s, t.y, batch)));
            // cross-attention, dense over every text row
            t.crossIn = config.crossAttnNorm()
                    ? s.own(DeviceNorms.layerNorm(t.x1, p("norm3.weight"), p("norm3.bias"), eps)) : t.x1;
            t.cq0 = s.own(linear(t.crossIn, "cross_attn.q"));
            t.cq = heads(s, qkNorm(s, t.cq0, "cross_attn.norm_q.weight"), batch, len, null);
            t.ck0 = s.own(linear(ctx, "cross_attn.k"));
            t.ck = heads(s, qkNorm(s, t.ck0, "cross_attn.norm_k.weight"), batch, textLen, null);
            t.cv = heads(s, s.own(linear(ctx, "cross_attn.v")), batch, textLen, null);
            t.cross = s.own(DeviceAttention.dense(t.cq, t.ck, t.cv, Float.NaN));
            t.crossMerged = tokens(s, t.cross.out(), batch, len);
            try (DeviceTensor cy = linear(t.crossMerged, "cross_attn.o")) {
                t.x2 = s.own(DeviceElementwise.add(t.x1, cy));
            }
            // FFN on the modulated LayerNorm, gated residual
            t.n2 = s.own(DeviceNorms.layerNorm(t.x2, null, null, eps));
            t.h2 = flat(s, DeviceElementwise.modulate(clips(s, t.n2, batch), t.mod[3], t.mod[4]));
            t.f1 = s.own(linear(t.h2, "ffn.0"));
            t.f1Act = s.own(DeviceActivations.gelu(t.f1));
            t.f2 = s.own(linear(t.f1Act, "ffn.2"));
            try (DeviceTensor out = DeviceElementwise.gatedAdd(clips(s, t.x2, batch), t.mod[5], clips(s, t.f2, batch))) {
                t.out = out.reshape(x.shape());
            }
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            if (built != null) {
                built.close();
            }
            throw e;
        }
    }

    /**
     * Reverse pass of {@link #forward}, in {@link WanBlockGraph#backward}'s order.
     *
     * @param t the forward's tape (read, not freed)
     * @param dOut gradient with respect to the block output (B * L, dim)
     * @param ctx the embedded text the forward read
     * @param grid the token grid
     * @param de6 the time projection's gradient (B, 6 * dim), added to
     * @param dContext the embedded text's gradient, added to
     * @return the gradient with respect to the block input (B * L, dim), a new tensor the caller closes
     */
    DeviceTensor backward(Tape t, DeviceTensor dOut, DeviceTensor ctx, Rope.Grid grid, DeviceWanSum de6,
            DeviceWanSum dContext) {
        int batch = t.batch;
        int len = t.x.dim(0) / batch;
        int textLen = ctx.dim(0) / batch;
        try (DeviceScope s = new DeviceScope()) {
            DeviceTensor[] dMod = new DeviceTensor[6];
            // out = x2 + gate2 * f2, f2 = FFN(LayerNorm(x2) * (1 + scale2) + shift2)
            DeviceElementwise.GatedAddGrads g5 = s.own(DeviceElementwise.gatedAddBackward(clips(s, dOut, batch),
                    t.mod[5], clips(s, t.f2, batch)));
            DeviceTensor dx2 = flat(s, g5.dx());
            dMod[5] = g5.dGate();
            DeviceLinear.Grads ffn2 = linearBackward(s, flat(s, g5.dy()), t.f1Act, "ffn.2");
            DeviceTensor df1 = s.own(DeviceActivations.geluBackward(ffn2.dx(), t.f1));
            DeviceLinear.Grads ffn0 = linearBackward(s, df1, t.h2, "ffn.0");
            DeviceElementwise.ModulateGrads m2 = s.own(DeviceElementwise.modulateBackward(clips(s, ffn0.dx(), batch),
                    clips(s, t.n2, batch), t.mod[4]));
            dMod[3] = m2.dShift();
            dMod[4] = m2.dScale();
            DeviceNorms.Grads ln2 = s.own(DeviceNorms.layerNormBackward(flat(s, m2.dx()), t.x2, null, null, eps));
            DeviceGradients.accumulate(1f, ln2.dx(), dx2);
            // x2 = x1 + cross(x1, context): dx2 is both the residual's and the cross branch's gradient
            DeviceLinear.Grads crossO = linearBackward(s, dx2, t.crossMerged, "cross_attn.o");
            DeviceAttention.Gradients dCross = s.own(DeviceAttention.backward(toHeads(s, crossO.dx(), batch, len),
                    t.cq, t.ck, t.cv, t.cross, null, Float.NaN));
            DeviceTensor dcq = qkNormBackward(s, fromHeads(s, dCross.dq(), batch, len, null), t.cq0,
                    "cross_attn.norm_q.weight");
            DeviceLinear.Grads crossQ = linearBackward(s, dcq, t.crossIn, "cross_attn.q");
            DeviceTensor dck = qkNormBackward(s, fromHeads(s, dCross.dk(), batch, textLen, null), t.ck0,
                    "cross_attn.norm_k.weight");
            DeviceLinear.Grads crossK = linearBackward(s, dck, ctx, "cross_attn.k");
            dContext.add(crossK.dx());
            DeviceLinear.Grads crossV = linearBackward(s, fromHeads(s, dCross.dv(), batch, textLen, null), ctx,
                    "cross_attn.v");
            dContext.add(crossV.dx());
            if (config.crossAttnNorm()) {
                DeviceNorms.Grads ln3 = s.own(DeviceNorms.layerNormBackward(crossQ.dx(), t.x1, p("norm3.weight"),
                        p("norm3.bias"), eps));
                store.addGrad(prefix + "norm3.weight", ln3.dWeight());
                store.addGrad(prefix + "norm3.bias", ln3.dBias());
                DeviceGradients.accumulate(1f, ln3.dx(), dx2);
            } else {
                DeviceGradients.accumulate(1f, crossQ.dx(), dx2);
            }
            // x1 = x + gate1 * selfAttention(LayerNorm(x) * (1 + scale1) + shift1)
            DeviceElementwise.GatedAddGrads g2 = s.own(DeviceElementwise.gatedAddBackward(clips(s, dx2, batch),
                    t.mod[2], clips(s, t.y, batch)));
            dMod[2] = g2.dGate();
            DeviceTensor dx = g2.dx().reshape(t.x.shape());   // returned: not owned by the scope
            try {
                DeviceLinear.Grads selfO = linearBackward(s, flat(s, g2.dy()), t.selfMerged, "self_attn.o");
                DeviceAttention.Gradients dSelf = s.own(DeviceAttention.backward(toHeads(s, selfO.dx(), batch, len),
                        t.q, t.k, t.v, t.self, t.mask, Float.NaN));
                DeviceTensor dq = qkNormBackward(s, fromHeads(s, dSelf.dq(), batch, len, grid), t.q0,
                        "self_attn.norm_q.weight");
                DeviceTensor dk = qkNormBackward(s, fromHeads(s, dSelf.dk(), batch, len, grid), t.k0,
                        "self_attn.norm_k.weight");
                DeviceLinear.Grads selfQ = linearBackward(s, dq, t.h1, "self_attn.q");
                DeviceLinear.Grads selfK = linearBackward(s, dk, t.h1, "self_attn.k");
                DeviceLinear.Grads selfV = linearBackward(s, fromHeads(s, dSelf.dv(), batch, len, null), t.h1,
                        "self_attn.v");
                DeviceTensor dh1 = s.own(DeviceElementwise.add(selfQ.dx(), selfK.dx()));
                DeviceGradients.accumulate(1f, selfV.dx(), dh1);
                DeviceElementwise.ModulateGrads m1 = s.own(DeviceElementwise.modulateBackward(clips(s, dh1, batch),
                        clips(s, t.n1, batch), t.mod[1]));
                dMod[0] = m1.dShift();
                dMod[1] = m1.dScale();
                DeviceNorms.Grads ln1 = s.own(DeviceNorms.layerNormBackward(flat(s, m1.dx()), t.x, null, null, eps));
                DeviceGradients.accumulate(1f, ln1.dx(), dx);
                // modulation + e6: e6 gets each clip's six rows, the shared modulation their sum over the clips
                DeviceTensor dE6 = modulationGradient(s, dMod, batch);
                de6.add(dE6);
                if (batch == 1) {
                    store.addGrad(prefix + "modulation", s.own(dE6.reshape(6, config.dim())));
                } else {
                    store.addGrad(prefix + "modulation", s.own(s.own(DeviceGradients.sumRows(dE6))
                            .reshape(6, config.dim())));
                }
                return dx;
            } catch (RuntimeException | Error e) {
                dx.close();
                throw e;
            }
        }
    }

    private DeviceTensor linear(DeviceTensor x, String module) {
        return DeviceLinear.linear(x, p(module + ".weight"), p(module + ".bias"), precision);
    }

    /** Linear backward with the weight's and bias's gradients added into the store. */
    private DeviceLinear.Grads linearBackward(DeviceScope s, DeviceTensor dy, DeviceTensor x, String module) {
        DeviceLinear.Grads g = s.own(DeviceLinear.linearBackward(dy, x, p(module + ".weight"), true));
        store.addGrad(prefix + module + ".weight", g.dWeight());
        store.addGrad(prefix + module + ".bias", g.dBias());
        return g;
    }

    /** RMSNorm over the whole dim when the config has qk_norm; else {@code x} itself. */
    private DeviceTensor qkNorm(DeviceScope s, DeviceTensor x, String weight) {
        return config.qkNorm() ? s.own(DeviceNorms.rmsNorm(x, p(weight), eps)) : x;
    }

    /** Backward of {@link #qkNorm}: adds the norm weight's gradient and returns the projection's gradient. */
    private DeviceTensor qkNormBackward(DeviceScope s, DeviceTensor dy, DeviceTensor x, String weight) {
        if (!config.qkNorm()) {
            return dy;
        }
        DeviceNorms.Grads g = s.own(DeviceNorms.rmsNormBackward(dy, x, p(weight), eps));
        store.addGrad(prefix + weight, g.dWeight());
        return g.dx();
    }

    /**
     * The block's six modulation vectors per clip: {@code modulation + e6} as (B, 6, dim), regrouped to
     * (6, B, dim) so that vector j of every clip is one contiguous (B, 1, dim) tensor.
     */
    private DeviceTensor[] modulations(DeviceScope s, DeviceTensor e6) {
        int batch = e6.dim(0);
        int dim = config.dim();
        DeviceTensor shared = s.own(p("modulation").reshape(6 * dim));
        DeviceTensor sum = s.own(DeviceElementwise.add(e6, shared));
        DeviceTensor byVector = batch == 1 ? s.own(sum.reshape(6, 1, dim))
                : s.own(s.own(DeviceShapes.swapTokensHeads(s.own(sum.reshape(1, batch, 6, dim)))).reshape(6, batch,
                        dim));
        DeviceTensor[] mod = new DeviceTensor[6];
        for (int j = 0; j < 6; j++) {
            mod[j] = s.own(s.own(DeviceShapes.narrow(byVector, j, 1)).reshape(batch, 1, dim));
        }
        return mod;
    }

    /** Backward of {@link #modulations}: the six (B, 1, dim) gradients back to e6's (B, 6 * dim). */
    private DeviceTensor modulationGradient(DeviceScope s, DeviceTensor[] dMod, int batch) {
        int dim = config.dim();
        DeviceTensor byVector = s.own(DeviceShapes.concat(dMod));   // (6 * B, 1, dim): vector-major
        if (batch == 1) {
            return s.own(byVector.reshape(1, 6 * dim));
        }
        return s.own(s.own(DeviceShapes.swapTokensHeads(s.own(byVector.reshape(1, 6, batch, dim))))
                .reshape(batch, 6 * dim));
    }

    /** A (B * L, dim) matrix viewed as (B, L, dim), so that element-wise ops take each clip's modulation. */
    private static DeviceTensor clips(DeviceScope s, DeviceTensor tokens, int batch) {
        return s.own(tokens.reshape(batch, tokens.dim(0) / batch, tokens.dim(1)));
    }

    /** A new (B, L, dim) result as a (B * L, dim) matrix, owned by the scope. */
    private static DeviceTensor flat(DeviceScope s, DeviceTensor clips) {
        DeviceTensor owned = s.own(clips);
        return s.own(owned.reshape(owned.dim(0) * owned.dim(1), owned.dim(2)));
    }

    /** (B * len, dim) tokens to (B, heads, len, d), with 3D RoPE first when {@code grid} is given. */
    private DeviceTensor heads(DeviceScope s, DeviceTensor tokens, int batch, int len, Rope.Grid grid) {
        DeviceTensor split = s.own(tokens.reshape(batch, len, config.numHeads(), config.headDim()));
        if (grid != null) {
            split = s.own(DeviceRope.apply(split, grid));
        }
        return s.own(DeviceShapes.swapTokensHeads(split));
    }

    /** Backward of {@link #heads}: (B, heads, len, d) gradient to (B * len, dim), RoPE undone when {@code grid}. */
    private DeviceTensor fromHeads(DeviceScope s, DeviceTensor dHeads, int batch, int len, Rope.Grid grid) {
        DeviceTensor d = s.own(DeviceShapes.swapTokensHeads(dHeads));
        if (grid != null) {
            d = s.own(DeviceRope.backward(d, grid, Rope.Layout.BLHD));
        }
        return s.own(d.reshape(batch * len, config.dim()));
    }

    /** (B, heads, len, d) to (B * len, dim) tokens. */
    private DeviceTensor tokens(DeviceScope s, DeviceTensor heads, int batch, int len) {
        return s.own(s.own(DeviceShapes.swapTokensHeads(heads)).reshape(batch * len, config.dim()));
    }

    /** Backward of {@link #tokens}: (B * len, dim) gradient to (B, heads, len, d). */
    private DeviceTensor toHeads(DeviceScope s, DeviceTensor dTokens, int batch, int len) {
        return s.own(DeviceShapes.swapTokensHeads(s.own(dTokens.reshape(batch, len, config.numHeads(),
                config.headDim()))));
    }
}

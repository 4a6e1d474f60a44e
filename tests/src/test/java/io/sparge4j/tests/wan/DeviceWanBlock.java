package io.sparge4j.tests.wan;

import io.sparge4j.engine.gpu.DeviceActivations;
import io.sparge4j.engine.gpu.DeviceAttention;
import io.sparge4j.engine.gpu.DeviceBlockMask;
import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceLinear;
import io.sparge4j.engine.gpu.DeviceNorms;
import io.sparge4j.engine.gpu.DeviceRope;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceShapes;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.sparge4j.tests.wan.DeviceWanBlockReference.COLS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.CONTEXT;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.DIM;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.EPS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.FRAMES;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.HEADS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.HEAD_DIM;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.ROWS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.TOKENS;

/**
 * The Wan2.1 block of {@link DeviceWanBlockReference} built from the device ops, as {@link WanBlockOps} builds the
 * CPU one: {@link #forward} keeps on the device every intermediate the backward needs (and SpargeAttention2's mask,
 * which the backward reuses as a constant, as SpargeAttention2 trains), {@link #backward} chains the device backward
 * ops in reverse. Nothing is read back but the output, the mask and the gradients asked for.
 */
final class DeviceWanBlock implements AutoCloseable {
    static final Rope.Grid GRID = new Rope.Grid(FRAMES, ROWS, COLS);
    /** Hybrid selection, loose enough for a 3 x 6 block grid to keep some blocks and drop others. */
    static final double TOPK = 0.34;
    static final double TOPP = 0.6;

    private final Map<String, DeviceTensor> p = new LinkedHashMap<>();
    private final List<AutoCloseable> owned = new ArrayList<>();
    private final GemmPrecision precision;
    final int liveLeaves;

    private DeviceTensor[] mod;
    private DeviceTensor n1;
    private DeviceTensor h1;
    private DeviceTensor q0;
    private DeviceTensor k0;
    private DeviceTensor qHeads;
    private DeviceTensor kHeads;
    private DeviceTensor vHeads;
    private DeviceBlockMask mask;
    private DeviceAttention.Result selfAttn;
    private DeviceTensor selfMerged;
    private DeviceTensor y;
    private DeviceTensor x1;
    private DeviceTensor n3;
    private DeviceTensor cq0;
    private DeviceTensor ck0;
    private DeviceTensor cqHeads;
    private DeviceTensor ckHeads;
    private DeviceTensor cvHeads;
    private DeviceAttention.Result crossAttn;
    private DeviceTensor crossMerged;
    private DeviceTensor x2;
    private DeviceTensor n2;
    private DeviceTensor h2;
    private DeviceTensor f1;
    private DeviceTensor f1Act;
    private DeviceTensor f2;

    DeviceWanBlock(DeviceSession s, Map<String, double[]> leaves, GemmPrecision precision) {
        this.precision = precision;
        for (Map.Entry<String, double[]> e : leaves.entrySet()) {
            double[] v = e.getValue();
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                f[i] = (float) v[i];
            }
            try (Tensor t = Tensor.of(f, DeviceWanBlockReference.shape(e.getKey()))) {
                p.put(e.getKey(), s.upload(t));
            }
        }
        liveLeaves = s.liveAllocations();
    }

    /** @return the block output (TOKENS, DIM), on the device, owned by this block */
    DeviceTensor forward() {
        DeviceTensor x = p.get("x");
        DeviceTensor modSum = own(DeviceElementwise.add(p.get("modulation"), p.get("e6")));
        mod = new DeviceTensor[6];
        for (int j = 0; j < 6; j++) {
            mod[j] = own(DeviceShapes.narrow(modSum, j, 1));
        }
        // (a) adaLN
        n1 = own(DeviceNorms.layerNorm(x, null, null, EPS));
        h1 = own(DeviceElementwise.modulate(n1, mod[0], mod[1]));
        // (b) self-attention: RMSNorm q, k over the whole dim; RoPE; SpargeAttention2 over a device mask
        q0 = linear(h1, "self.q");
        k0 = linear(h1, "self.k");
        qHeads = heads(own(DeviceNorms.rmsNorm(q0, p.get("self.norm_q"), EPS)), TOKENS, true);
        kHeads = heads(own(DeviceNorms.rmsNorm(k0, p.get("self.norm_k"), EPS)), TOKENS, true);
        vHeads = heads(linear(h1, "self.v"), TOKENS, false);
        mask = own(DeviceAttention.blockMask(qHeads, kHeads, MaskMode.HYBRID, TOPK, TOPP, Float.NaN));
        selfAttn = own(DeviceAttention.sparse(qHeads, kHeads, vHeads, mask, Float.NaN));
        selfMerged = tokens(selfAttn.out(), TOKENS);
        y = linear(selfMerged, "self.o");
        x1 = own(DeviceElementwise.gatedAdd(x, mod[2], y));
        // (c) cross-attention on LayerNorm(affine), RMSNorm on q and k, dense over the context rows
        n3 = own(DeviceNorms.layerNorm(x1, p.get("norm3.weight"), p.get("norm3.bias"), EPS));
        cq0 = linear(n3, "cross.q");
        ck0 = linear(p.get("ctx"), "cross.k");
        cqHeads = heads(own(DeviceNorms.rmsNorm(cq0, p.get("cross.norm_q"), EPS)), TOKENS, false);
        ckHeads = heads(own(DeviceNorms.rmsNorm(ck0, p.get("cross.norm_k"), EPS)), CONTEXT, false);
        cvHeads = heads(linear(p.get("ctx"), "cross.v"), CONTEXT, false);
        crossAttn = own(DeviceAttention.dense(cqHeads, ckHeads, cvHeads, Float.NaN));
        crossMerged = tokens(crossAttn.out(), TOKENS);
        x2 = own(DeviceElementwise.add(x1, linear(crossMerged, "cross.o")));
        // (d) FFN with adaLN and the gated residual
        n2 = own(DeviceNorms.layerNorm(x2, null, null, EPS));
        h2 = own(DeviceElementwise.modulate(n2, mod[3], mod[4]));
        f1 = linear(h2, "ffn.0");
        f1Act = own(DeviceActivations.gelu(f1));
        f2 = linear(f1Act, "ffn.2");
        return own(DeviceElementwise.gatedAdd(x2, mod[5], f2));
    }

    /** @return the device's self-attention mask (read back) */
    DeviceBlockMask mask() {
        return mask;
    }

    /**
     * Reverse pass of {@link #forward} (which must have run), f32 GEMMs.
     *
     * @param dOut gradient of the loss with respect to the output (TOKENS, DIM)
     * @return the gradient with respect to every leaf, read back, by leaf name
     */
    Map<String, float[]> backward(DeviceTensor dOut) {
        Map<String, DeviceTensor> g = new LinkedHashMap<>();
        DeviceTensor[] dMod = new DeviceTensor[6];
        // (d) out = x2 + gate2 * f2
        DeviceElementwise.GatedAddGrads g5 = own(DeviceElementwise.gatedAddBackward(dOut, mod[5], f2));
        dMod[5] = g5.dGate();
        DeviceLinear.Grads ffn2 = linearBackward(g5.dy(), f1Act, "ffn.2", g);
        DeviceTensor df1 = own(DeviceActivations.geluBackward(ffn2.dx(), f1));
        DeviceLinear.Grads ffn0 = linearBackward(df1, h2, "ffn.0", g);
        DeviceElementwise.ModulateGrads m2 = own(DeviceElementwise.modulateBackward(ffn0.dx(), n2, mod[4]));
        dMod[3] = m2.dShift();
        dMod[4] = m2.dScale();
        DeviceNorms.Grads ln2 = own(DeviceNorms.layerNormBackward(m2.dx(), x2, null, null, EPS));
        DeviceTensor dx2 = own(DeviceElementwise.add(g5.dx(), ln2.dx()));
        // (c) x2 = x1 + cy
        DeviceLinear.Grads crossO = linearBackward(dx2, crossMerged, "cross.o", g);
        DeviceAttention.Gradients dCross = own(DeviceAttention.backward(tokensGradToHeads(crossO.dx(), TOKENS),
                cqHeads, ckHeads, cvHeads, crossAttn, null, Float.NaN));
        DeviceNorms.Grads cqNorm = own(DeviceNorms.rmsNormBackward(headsGradToTokens(dCross.dq(), TOKENS, false), cq0,
                p.get("cross.norm_q"), EPS));
        g.put("cross.norm_q", cqNorm.dWeight());
        DeviceNorms.Grads ckNorm = own(DeviceNorms.rmsNormBackward(headsGradToTokens(dCross.dk(), CONTEXT, false),
                ck0, p.get("cross.norm_k"), EPS));
        g.put("cross.norm_k", ckNorm.dWeight());
        DeviceLinear.Grads crossQ = linearBackward(cqNorm.dx(), n3, "cross.q", g);
        DeviceLinear.Grads crossK = linearBackward(ckNorm.dx(), p.get("ctx"), "cross.k", g);
        DeviceLinear.Grads crossV = linearBackward(headsGradToTokens(dCross.dv(), CONTEXT, false), p.get("ctx"),
                "cross.v", g);
        g.put("ctx", own(DeviceElementwise.add(crossK.dx(), crossV.dx())));
        DeviceNorms.Grads ln3 = own(DeviceNorms.layerNormBackward(crossQ.dx(), x1, p.get("norm3.weight"),
                p.get("norm3.bias"), EPS));
        g.put("norm3.weight", ln3.dWeight());
        g.put("norm3.bias", ln3.dBias());
        DeviceTensor dx1 = own(DeviceElementwise.add(dx2, ln3.dx()));
        // (b) x1 = x + gate1 * y
        DeviceElementwise.GatedAddGrads g2 = own(DeviceElementwise.gatedAddBackward(dx1, mod[2], y));
        dMod[2] = g2.dGate();
        DeviceLinear.Grads selfO = linearBackward(g2.dy(), selfMerged, "self.o", g);
        DeviceAttention.Gradients dSelf = own(DeviceAttention.backward(tokensGradToHeads(selfO.dx(), TOKENS), qHeads,
                kHeads, vHeads, selfAttn, mask, Float.NaN));
        DeviceNorms.Grads qNorm = own(DeviceNorms.rmsNormBackward(headsGradToTokens(dSelf.dq(), TOKENS, true), q0,
                p.get("self.norm_q"), EPS));
        g.put("self.norm_q", qNorm.dWeight());
        DeviceNorms.Grads kNorm = own(DeviceNorms.rmsNormBackward(headsGradToTokens(dSelf.dk(), TOKENS, true), k0,
                p.get("self.norm_k"), EPS));
        g.put("self.norm_k", kNorm.dWeight());
        DeviceLinear.Grads selfQ = linearBackward(qNorm.dx(), h1, "self.q", g);
        DeviceLinear.Grads selfK = linearBackward(kNorm.dx(), h1, "self.k", g);
        DeviceLinear.Grads selfV = linearBackward(headsGradToTokens(dSelf.dv(), TOKENS, false), h1, "self.v", g);
        DeviceTensor dh1 = own(DeviceElementwise.add(own(DeviceElementwise.add(selfQ.dx(), selfK.dx())), selfV.dx()));
        // (a) h1 = LayerNorm(x) * (1 + scale1) + shift1
        DeviceElementwise.ModulateGrads m1 = own(DeviceElementwise.modulateBackward(dh1, n1, mod[1]));
        dMod[0] = m1.dShift();
        dMod[1] = m1.dScale();
        DeviceNorms.Grads ln1 = own(DeviceNorms.layerNormBackward(m1.dx(), p.get("x"), null, null, EPS));
        g.put("x", own(DeviceElementwise.add(g2.dx(), ln1.dx())));
        // modulation + e6 -> six rows: both leaves get the six rows' gradients
        DeviceTensor dModSum = own(DeviceShapes.concat(dMod));
        g.put("modulation", dModSum);
        g.put("e6", dModSum);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, DeviceTensor> e : g.entrySet()) {
            try (Tensor h = e.getValue().toHost()) {
                out.put(e.getKey(), h.toFloatArray());
            }
        }
        return out;
    }

    private DeviceTensor linear(DeviceTensor x, String prefix) {
        return own(DeviceLinear.linear(x, p.get(prefix + ".weight"), p.get(prefix + ".bias"), precision));
    }

    private DeviceLinear.Grads linearBackward(DeviceTensor dy, DeviceTensor x, String prefix,
            Map<String, DeviceTensor> g) {
        DeviceLinear.Grads grads = own(DeviceLinear.linearBackward(dy, x, p.get(prefix + ".weight"), true));
        g.put(prefix + ".weight", grads.dWeight());
        g.put(prefix + ".bias", grads.dBias());
        return grads;
    }

    /** (len, DIM) tokens to (1, HEADS, len, HEAD_DIM), with RoPE (on the (1, len, HEADS, HEAD_DIM) view) if asked. */
    private DeviceTensor heads(DeviceTensor tokens, int len, boolean rope) {
        DeviceTensor split = own(tokens.reshape(1, len, HEADS, HEAD_DIM));
        if (rope) {
            split = own(DeviceRope.apply(split, GRID));
        }
        return own(DeviceShapes.swapTokensHeads(split));
    }

    /** Backward of {@link #heads}. */
    private DeviceTensor headsGradToTokens(DeviceTensor dHeads, int len, boolean rope) {
        DeviceTensor d = own(DeviceShapes.swapTokensHeads(dHeads));
        if (rope) {
            d = own(DeviceRope.backward(d, GRID, Rope.Layout.BLHD));
        }
        return own(d.reshape(len, DIM));
    }

    /** (1, HEADS, len, HEAD_DIM) back to (len, DIM) tokens. */
    private DeviceTensor tokens(DeviceTensor heads, int len) {
        return own(own(DeviceShapes.swapTokensHeads(heads)).reshape(len, DIM));
    }

    /** Backward of {@link #tokens}. */
    private DeviceTensor tokensGradToHeads(DeviceTensor dTokens, int len) {
        return own(DeviceShapes.swapTokensHeads(own(dTokens.reshape(1, len, HEADS, HEAD_DIM))));
    }

    private <T extends AutoCloseable> T own(T t) {
        owned.add(t);
        return t;
    }

    /** Frees every intermediate and the leaves. */
    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        owned.clear();
        p.values().forEach(DeviceTensor::close);
    }

    /** Frees the intermediates only (the leaves stay), for the leak check. */
    void closeIntermediates() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        owned.clear();
    }
}

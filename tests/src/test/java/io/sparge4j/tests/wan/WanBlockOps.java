package io.sparge4j.tests.wan;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.ops.Shapes;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.sparge4j.tests.wan.WanBlockLeaves.COLS;
import static io.sparge4j.tests.wan.WanBlockLeaves.CONTEXT;
import static io.sparge4j.tests.wan.WanBlockLeaves.DIM;
import static io.sparge4j.tests.wan.WanBlockLeaves.EPS;
import static io.sparge4j.tests.wan.WanBlockLeaves.FRAMES;
import static io.sparge4j.tests.wan.WanBlockLeaves.HEADS;
import static io.sparge4j.tests.wan.WanBlockLeaves.HEAD_DIM;
import static io.sparge4j.tests.wan.WanBlockLeaves.ROWS;
import static io.sparge4j.tests.wan.WanBlockLeaves.TOKENS;

/**
 * The same Wan2.1 block built from the engine's public ops, in f32, with a hand-written tape: {@link #forward}
 * keeps every intermediate the backward needs and {@link #backward} chains the ops' backward functions in
 * reverse. Activations are (tokens, DIM); heads are moved into the attention layout under test, BHND via
 * {@link Shapes#permute} (RoPE in its BHLD layout) or BNHD as a plain reshape (RoPE in BLHD).
 */
final class WanBlockOps implements AutoCloseable {
    private static final Rope.Grid GRID = new Rope.Grid(FRAMES, ROWS, COLS);
    /** (1, N, H, d) <-> (1, H, N, d); its own inverse. */
    private static final int[] SWAP_TOKENS_HEADS = {0, 2, 1, 3};

    private final AttentionLayout layout;
    private final Attention.Options options;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private final Map<String, Tensor> leaf = new LinkedHashMap<>();

    // forward intermediates, named as in WanBlockReference
    private Tensor[] mod;
    private Tensor n1;
    private Tensor h1;
    private Tensor q0;
    private Tensor k0;
    private Tensor qHeads;
    private Tensor kHeads;
    private Tensor vHeads;
    private Attention.Result selfAttn;
    private Tensor selfMerged;
    private Tensor y;
    private Tensor x1;
    private Tensor n3;
    private Tensor cq0;
    private Tensor ck0;
    private Tensor cqHeads;
    private Tensor ckHeads;
    private Tensor cvHeads;
    private Attention.Result crossAttn;
    private Tensor crossMerged;
    private Tensor cy;
    private Tensor x2;
    private Tensor n2;
    private Tensor h2;
    private Tensor f1;
    private Tensor f1Act;
    private Tensor f2;

    WanBlockOps(WanBlockLeaves leaves, AttentionLayout layout) {
        this.layout = layout;
        this.options = Attention.Options.defaults().withLayout(layout);
        for (String name : leaves.names()) {
            leaf.put(name, own(leaves.tensor(name)));
        }
    }

    /** @return the block output (TOKENS, DIM), f32 */
    Tensor forward() {
        Tensor x = leaf.get("x");
        Tensor ctx = leaf.get("ctx");
        Tensor modSum = own(Elementwise.add(leaf.get("modulation"), leaf.get("e6")));
        mod = ownAll(Shapes.split(modSum, 0, 1, 1, 1, 1, 1, 1)); // six (1, DIM) rows
        // (a)
        n1 = own(Norms.layerNorm(x, null, null, EPS));
        h1 = own(Elementwise.modulate(n1, mod[0], mod[1]));
        // (b)
        q0 = own(Linear.linear(h1, leaf.get("self.q.weight"), leaf.get("self.q.bias")));
        k0 = own(Linear.linear(h1, leaf.get("self.k.weight"), leaf.get("self.k.bias")));
        Tensor v = own(Linear.linear(h1, leaf.get("self.v.weight"), leaf.get("self.v.bias")));
        qHeads = toHeads(own(Norms.rmsNorm(q0, leaf.get("self.norm_q"), EPS)), TOKENS, true);
        kHeads = toHeads(own(Norms.rmsNorm(k0, leaf.get("self.norm_k"), EPS)), TOKENS, true);
        vHeads = toHeads(v, TOKENS, false);
        selfAttn = own(Attention.forward(qHeads, kHeads, vHeads, options));
        selfMerged = fromHeads(selfAttn.out(), TOKENS);
        y = own(Linear.linear(selfMerged, leaf.get("self.o.weight"), leaf.get("self.o.bias")));
        x1 = own(Elementwise.gatedAdd(x, mod[2], y));
        // (c)
        n3 = own(Norms.layerNorm(x1, leaf.get("norm3.weight"), leaf.get("norm3.bias"), EPS));
        cq0 = own(Linear.linear(n3, leaf.get("cross.q.weight"), leaf.get("cross.q.bias")));
        ck0 = own(Linear.linear(ctx, leaf.get("cross.k.weight"), leaf.get("cross.k.bias")));
        Tensor cv = own(Linear.linear(ctx, leaf.get("cross.v.weight"), leaf.get("cross.v.bias")));
        cqHeads = toHeads(own(Norms.rmsNorm(cq0, leaf.get("cross.norm_q"), EPS)), TOKENS, false);
        ckHeads = toHeads(own(Norms.rmsNorm(ck0, leaf.get("cross.norm_k"), EPS)), CONTEXT, false);
        cvHeads = toHeads(cv, CONTEXT, false);
        crossAttn = own(Attention.forward(cqHeads, ckHeads, cvHeads, options));
        crossMerged = fromHeads(crossAttn.out(), TOKENS);
        cy = own(Linear.linear(crossMerged, leaf.get("cross.o.weight"), leaf.get("cross.o.bias")));
        x2 = own(Elementwise.add(x1, cy));
        // (d)
        n2 = own(Norms.layerNorm(x2, null, null, EPS));
        h2 = own(Elementwise.modulate(n2, mod[3], mod[4]));
        f1 = own(Linear.linear(h2, leaf.get("ffn.0.weight"), leaf.get("ffn.0.bias")));
        f1Act = own(Activations.gelu(f1));
        f2 = own(Linear.linear(f1Act, leaf.get("ffn.2.weight"), leaf.get("ffn.2.bias")));
        return own(Elementwise.gatedAdd(x2, mod[5], f2));
    }

    /**
     * Reverse pass of {@link #forward} (which must have run).
     *
     * @param dOut gradient of the loss with respect to the output (TOKENS, DIM)
     * @return the gradient with respect to every leaf, by leaf name
     */
    Map<String, float[]> backward(Tensor dOut) {
        Map<String, float[]> grads = new LinkedHashMap<>();
        Tensor[] dMod = new Tensor[6];
        // (d) out = x2 + gate2 * f2
        Elementwise.GatedAddGrads g5 = own(Elementwise.gatedAddBackward(dOut, mod[5], f2));
        Tensor dx2 = g5.dx();
        dMod[5] = g5.dGate();
        Linear.LinearGrads ffn2 = own(Linear.linearBackward(g5.dy(), f1Act, leaf.get("ffn.2.weight"), true));
        put(grads, "ffn.2", ffn2);
        Tensor df1 = own(Activations.geluBackward(ffn2.dx(), f1));
        Linear.LinearGrads ffn0 = own(Linear.linearBackward(df1, h2, leaf.get("ffn.0.weight"), true));
        put(grads, "ffn.0", ffn0);
        Elementwise.ModulateGrads m2 = own(Elementwise.modulateBackward(ffn0.dx(), n2, mod[4]));
        dMod[3] = m2.dShift();
        dMod[4] = m2.dScale();
        Norms.NormGrads ln2 = own(Norms.layerNormBackward(m2.dx(), x2, null, null, EPS));
        Elementwise.axpy(1f, ln2.dx(), dx2);
        // (c) x2 = x1 + cy
        Elementwise.BroadcastGrads residual = own(Elementwise.addBackward(dx2, x1, cy));
        Tensor dx1 = residual.da();
        Linear.LinearGrads crossO = own(Linear.linearBackward(residual.db(), crossMerged, leaf.get("cross.o.weight"),
                true));
        put(grads, "cross.o", crossO);
        Attention.Gradients dCross = own(Attention.backward(tokensGradToHeads(crossO.dx(), TOKENS), cqHeads, ckHeads,
                cvHeads, crossAttn.out(), crossAttn.logsumexp(), options));
        Norms.NormGrads cqNorm = own(Norms.rmsNormBackward(headsGradToTokens(dCross.dq(), TOKENS, false), cq0,
                leaf.get("cross.norm_q"), EPS));
        grads.put("cross.norm_q", cqNorm.dWeight().toFloatArray());
        Norms.NormGrads ckNorm = own(Norms.rmsNormBackward(headsGradToTokens(dCross.dk(), CONTEXT, false), ck0,
                leaf.get("cross.norm_k"), EPS));
        grads.put("cross.norm_k", ckNorm.dWeight().toFloatArray());
        Linear.LinearGrads crossQ = own(Linear.linearBackward(cqNorm.dx(), n3, leaf.get("cross.q.weight"), true));
        put(grads, "cross.q", crossQ);
        Linear.LinearGrads crossK = own(Linear.linearBackward(ckNorm.dx(), leaf.get("ctx"), leaf.get("cross.k.weight"),
                true));
        put(grads, "cross.k", crossK);
        Linear.LinearGrads crossV = own(Linear.linearBackward(headsGradToTokens(dCross.dv(), CONTEXT, false),
                leaf.get("ctx"), leaf.get("cross.v.weight"), true));
        put(grads, "cross.v", crossV);
        Tensor dCtx = own(Elementwise.add(crossK.dx(), crossV.dx()));
        grads.put("ctx", dCtx.toFloatArray());
        Norms.NormGrads ln3 = own(Norms.layerNormBackward(crossQ.dx(), x1, leaf.get("norm3.weight"),
                leaf.get("norm3.bias"), EPS));
        grads.put("norm3.weight", ln3.dWeight().toFloatArray());
        grads.put("norm3.bias", ln3.dBias().toFloatArray());
        Elementwise.axpy(1f, ln3.dx(), dx1);
        // (b) x1 = x + gate1 * y
        Elementwise.GatedAddGrads g2 = own(Elementwise.gatedAddBackward(dx1, mod[2], y));
        Tensor dx = g2.dx();
        dMod[2] = g2.dGate();
        Linear.LinearGrads selfO = own(Linear.linearBackward(g2.dy(), selfMerged, leaf.get("self.o.weight"), true));
        put(grads, "self.o", selfO);
        Attention.Gradients dSelf = own(Attention.backward(tokensGradToHeads(selfO.dx(), TOKENS), qHeads, kHeads,
                vHeads, selfAttn.out(), selfAttn.logsumexp(), options));
        Norms.NormGrads qNorm = own(Norms.rmsNormBackward(headsGradToTokens(dSelf.dq(), TOKENS, true), q0,
                leaf.get("self.norm_q"), EPS));
        grads.put("self.norm_q", qNorm.dWeight().toFloatArray());
        Norms.NormGrads kNorm = own(Norms.rmsNormBackward(headsGradToTokens(dSelf.dk(), TOKENS, true), k0,
                leaf.get("self.norm_k"), EPS));
        grads.put("self.norm_k", kNorm.dWeight().toFloatArray());
        Linear.LinearGrads selfQ = own(Linear.linearBackward(qNorm.dx(), h1, leaf.get("self.q.weight"), true));
        put(grads, "self.q", selfQ);
        Linear.LinearGrads selfK = own(Linear.linearBackward(kNorm.dx(), h1, leaf.get("self.k.weight"), true));
        put(grads, "self.k", selfK);
        Linear.LinearGrads selfV = own(Linear.linearBackward(headsGradToTokens(dSelf.dv(), TOKENS, false), h1,
                leaf.get("self.v.weight"), true));
        put(grads, "self.v", selfV);
        Tensor dh1 = own(Elementwise.add(selfQ.dx(), selfK.dx()));
        Elementwise.axpy(1f, selfV.dx(), dh1);
        // (a) h1 = LayerNorm(x) * (1 + scale1) + shift1
        Elementwise.ModulateGrads m1 = own(Elementwise.modulateBackward(dh1, n1, mod[1]));
        dMod[0] = m1.dShift();
        dMod[1] = m1.dScale();
        Norms.NormGrads ln1 = own(Norms.layerNormBackward(m1.dx(), leaf.get("x"), null, null, EPS));
        Elementwise.axpy(1f, ln1.dx(), dx);
        grads.put("x", dx.toFloatArray());
        // modulation + e6 -> six rows
        Tensor dModSum = own(Shapes.concat(0, dMod));
        Elementwise.BroadcastGrads dSum = own(Elementwise.addBackward(dModSum, leaf.get("modulation"), leaf.get("e6")));
        grads.put("modulation", dSum.da().toFloatArray());
        grads.put("e6", dSum.db().toFloatArray());
        return grads;
    }

    /** (len, DIM) tokens to the attention layout, with RoPE on the grid if asked. */
    private Tensor toHeads(Tensor tokens, int len, boolean rope) {
        Tensor split = tokens.reshape(1, len, HEADS, HEAD_DIM);
        if (layout == AttentionLayout.BNHD) {
            return rope ? own(Rope.apply(split, GRID, Rope.Layout.BLHD)) : split;
        }
        Tensor heads = own(Shapes.permute(split, SWAP_TOKENS_HEADS));
        return rope ? own(Rope.apply(heads, GRID, Rope.Layout.BHLD)) : heads;
    }

    /** Backward of {@link #toHeads}: a gradient in the attention layout back to (len, DIM) tokens. */
    private Tensor headsGradToTokens(Tensor dHeads, int len, boolean rope) {
        Rope.Layout ropeLayout = layout == AttentionLayout.BNHD ? Rope.Layout.BLHD : Rope.Layout.BHLD;
        Tensor d = rope ? own(Rope.backward(dHeads, GRID, ropeLayout)) : dHeads;
        if (layout == AttentionLayout.BHND) {
            d = own(Shapes.permuteBackward(d, SWAP_TOKENS_HEADS));
        }
        return d.reshape(len, DIM);
    }

    /** The attention output back to (len, DIM) tokens (heads merged). */
    private Tensor fromHeads(Tensor heads, int len) {
        Tensor tokens = layout == AttentionLayout.BNHD ? heads : own(Shapes.permute(heads, SWAP_TOKENS_HEADS));
        return tokens.reshape(len, DIM);
    }

    /** Backward of {@link #fromHeads}. */
    private Tensor tokensGradToHeads(Tensor dTokens, int len) {
        Tensor split = dTokens.reshape(1, len, HEADS, HEAD_DIM);
        return layout == AttentionLayout.BNHD ? split : own(Shapes.permuteBackward(split, SWAP_TOKENS_HEADS));
    }

    private static void put(Map<String, float[]> grads, String prefix, Linear.LinearGrads g) {
        grads.put(prefix + ".weight", g.dWeight().toFloatArray());
        grads.put(prefix + ".bias", g.dBias().toFloatArray());
    }

    private <T> T own(T t) {
        switch (t) {
            case Linear.LinearGrads g -> ownTensors(g.dx(), g.dWeight(), g.dBias());
            case Norms.NormGrads g -> ownTensors(g.dx(), g.dWeight(), g.dBias());
            case Elementwise.ModulateGrads g -> ownTensors(g.dx(), g.dShift(), g.dScale());
            case Elementwise.GatedAddGrads g -> ownTensors(g.dx(), g.dGate(), g.dy());
            case Elementwise.BroadcastGrads g -> ownTensors(g.da(), g.db());
            case AutoCloseable c -> owned.add(c);
            default -> throw new IllegalArgumentException("cannot own " + t);
        }
        return t;
    }

    private void ownTensors(Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null) {
                owned.add(t);
            }
        }
    }

    private Tensor[] ownAll(Tensor[] ts) {
        ownTensors(ts);
        return ts;
    }

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
    }
}

package io.sparge4j.models.text;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.sparge4j.models.text.TextEncoderConfig.LAYER_NORM_EPS;

/**
 * One pre-LayerNorm transformer layer applied to one prompt's L real tokens, keeping what its backward needs:
 * <pre>
 * x1  = x  + o(attention(q(n1), k(n1), v(n1))),  n1 = norm1(x)
 * out = x1 + ffn.2(gelu(ffn.0(n2))),             n2 = norm2(x1)
 * </pre>
 * Activations are (L, width). Attention runs over exactly the prompt's L tokens (its queries and keys), which is
 * how padded keys are masked out: the engine's {@link Attention} has no key mask, and a per-sample sequence
 * length makes one unnecessary. Heads use the BNHD layout, so (L, width) is viewed as (1, L, heads, headDim)
 * without copying.
 */
final class EncoderLayerPass implements AutoCloseable {
    private static final Attention.Options ATTENTION = Attention.Options.defaults().withLayout(AttentionLayout.BNHD);

    private final int layer;
    private final int len;
    private final int heads;
    private final int headDim;
    private final Map<String, Tensor> p;
    private final List<AutoCloseable> owned = new ArrayList<>();

    private Tensor x;
    private Tensor n1;
    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Attention.Result attn;
    private Tensor merged;
    private Tensor x1;
    private Tensor n2;
    private Tensor f1;
    private Tensor f1Act;
    private Tensor out;

    EncoderLayerPass(int layer, TextEncoderConfig config, Map<String, Tensor> parameters, int len) {
        this.layer = layer;
        this.len = len;
        this.heads = config.heads();
        this.headDim = config.headDim();
        this.p = parameters;
    }

    /**
     * @param input (L, width), owned by the caller and kept until this pass is closed
     * @return the layer's output (L, width), owned by this pass
     */
    Tensor forward(Tensor input) {
        x = input;
        n1 = own(Norms.layerNorm(x, w("norm1.weight"), w("norm1.bias"), LAYER_NORM_EPS));
        q = own(Linear.linear(n1, w("attn.q.weight"), w("attn.q.bias")));
        k = own(Linear.linear(n1, w("attn.k.weight"), w("attn.k.bias")));
        v = own(Linear.linear(n1, w("attn.v.weight"), w("attn.v.bias")));
        attn = own(Attention.forward(heads(q), heads(k), heads(v), ATTENTION));
        merged = attn.out().reshape(len, heads * headDim);
        Tensor o = own(Linear.linear(merged, w("attn.o.weight"), w("attn.o.bias")));
        x1 = own(Elementwise.add(x, o));
        n2 = own(Norms.layerNorm(x1, w("norm2.weight"), w("norm2.bias"), LAYER_NORM_EPS));
        f1 = own(Linear.linear(n2, w("ffn.0.weight"), w("ffn.0.bias")));
        f1Act = own(Activations.gelu(f1));
        Tensor f2 = own(Linear.linear(f1Act, w("ffn.2.weight"), w("ffn.2.bias")));
        out = own(Elementwise.add(x1, f2));
        return out;
    }

    /**
     * Reverse of {@link #forward}: adds this layer's parameter gradients into {@code grads}.
     *
     * @param dOut gradient with respect to the output (L, width)
     * @param grads gradient accumulators by parameter name, updated
     * @return the gradient with respect to the input (L, width), owned by the caller
     */
    Tensor backward(Tensor dOut, Map<String, Tensor> grads) {
        // out = x1 + ffn.2(gelu(ffn.0(norm2(x1))))
        Tensor dx1 = dOut.copy();
        Tensor df1Act = linearBackward(dOut, f1Act, "ffn.2", grads);
        Tensor df1 = Activations.geluBackward(df1Act, f1);
        df1Act.close();
        Tensor dn2 = linearBackward(df1, n2, "ffn.0", grads);
        df1.close();
        layerNormBackward(dn2, x1, "norm2", grads, dx1);
        dn2.close();
        // x1 = x + o(attention(...))
        Tensor dx = dx1.copy();
        Tensor dMerged = linearBackward(dx1, merged, "attn.o", grads);
        dx1.close();
        Attention.Gradients da = Attention.backward(heads(dMerged), heads(q), heads(k), heads(v), attn.out(),
                attn.logsumexp(), ATTENTION);
        dMerged.close();
        Tensor dn1 = linearBackward(tokens(da.dq()), n1, "attn.q", grads);
        Tensor dn1k = linearBackward(tokens(da.dk()), n1, "attn.k", grads);
        Tensor dn1v = linearBackward(tokens(da.dv()), n1, "attn.v", grads);
        da.close();
        Elementwise.axpy(1f, dn1k, dn1);
        Elementwise.axpy(1f, dn1v, dn1);
        dn1k.close();
        dn1v.close();
        layerNormBackward(dn1, x, "norm1", grads, dx);
        dn1.close();
        return dx;
    }

    /** @return dx; adds dWeight and dBias into grads */
    private Tensor linearBackward(Tensor dy, Tensor input, String name, Map<String, Tensor> grads) {
        Linear.LinearGrads g = Linear.linearBackward(dy, input, w(name + ".weight"), true);
        accumulate(grads, TextEncoderParameters.layer(layer, name + ".weight"), g.dWeight());
        accumulate(grads, TextEncoderParameters.layer(layer, name + ".bias"), g.dBias());
        return g.dx();
    }

    /** Adds the LayerNorm's dx into {@code dxSum} and its weight and bias gradients into grads. */
    private void layerNormBackward(Tensor dy, Tensor input, String name, Map<String, Tensor> grads, Tensor dxSum) {
        Norms.NormGrads g = Norms.layerNormBackward(dy, input, w(name + ".weight"), w(name + ".bias"),
                LAYER_NORM_EPS);
        Elementwise.axpy(1f, g.dx(), dxSum);
        g.dx().close();
        accumulate(grads, TextEncoderParameters.layer(layer, name + ".weight"), g.dWeight());
        accumulate(grads, TextEncoderParameters.layer(layer, name + ".bias"), g.dBias());
    }

    /** Adds {@code g} into the accumulator named {@code name}, then frees g. */
    static void accumulate(Map<String, Tensor> grads, String name, Tensor g) {
        Elementwise.axpy(1f, g, grads.get(name));
        g.close();
    }

    /** (L, width) viewed as (1, L, heads, headDim), BNHD. */
    private Tensor heads(Tensor t) {
        return t.reshape(1, len, heads, headDim);
    }

    /** (1, L, heads, headDim) viewed as (L, width). */
    private Tensor tokens(Tensor t) {
        return t.reshape(len, heads * headDim);
    }

    private Tensor w(String suffix) {
        return p.get(TextEncoderParameters.layer(layer, suffix));
    }

    private <T extends AutoCloseable> T own(T t) {
        owned.add(t);
        return t;
    }

    /** Frees every tensor this pass made (not its input). */
    @Override
    public void close() {
        for (AutoCloseable c : owned) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("text encoder: freeing layer " + layer + " failed", e);
            }
        }
        owned.clear();
    }
}

package io.sparge4j.tests.wan;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Map;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static io.sparge4j.tests.wan.WanBlockLeaves.DIM;
import static io.sparge4j.tests.wan.WanBlockLeaves.TOKENS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * One tiny Wan2.1 DiT block (dim 32, 2 heads of 16, FFN 64, a (2, 3, 4) token grid = 24 tokens, 5 context rows)
 * built from the engine's public ops, forward and backward, against the independent float64
 * {@link WanBlockReference}.
 */
class WanBlockTest {
    private static final long SEED = 20260407L;

    /*
     * Forward tolerance: every op rounds its result to f32 (2^-24 ~ 6e-8 relative) and the GEMMs add up to 64
     * f32 terms; LayerNorm/RMSNorm divide by row statistics and the gated residuals add O(1) terms, so errors
     * stay near the output's own rounding. Measured: max |out - ref| / max |ref| = 1.5e-7 (|ref| <= 4.0) through
     * ~25 ops. 2e-5 relative + 1e-5 absolute (outputs cross zero) leaves a ~30x margin, and still fails every
     * planted bug in WanBlockReference.Variant by orders of magnitude (their errors are 10-50% of the output).
     */
    private static final double FORWARD_RTOL = 2e-5;
    private static final double FORWARD_ATOL = 1e-5;

    /*
     * Gradient tolerance: the f32 backward chains ~30 backward ops; measured max |grad - fd| / max |fd| is
     * 1e-7..3.3e-7 per leaf. The float64 central differences (step 1e-5) are good to ~1e-9 relative. Elements
     * must agree within 1e-4 relative plus 1e-5 * max |fd| absolute (gradients cross zero), a ~30x margin.
     */
    private static final double GRAD_RTOL = 1e-4;
    private static final double GRAD_ATOL_OF_MAX = 1e-5;

    /** Coordinates finite-differenced per large leaf (each costs two reference forwards of ~1 ms). */
    private static final int SAMPLED_COORDINATES = 96;

    /* BNHD and BHND run the same arithmetic in another element order; they agree to 1e-6 (measured: exactly). */
    private static final double LAYOUT_TOL = 1e-6;

    @ParameterizedTest
    @EnumSource(AttentionLayout.class)
    void forwardMatchesFloat64Reference(AttentionLayout layout) {
        WanBlockLeaves p = WanBlockLeaves.random(SEED);
        float[] out = forward(p, layout);
        assertClose(WanBlockReference.forward(p), out, FORWARD_RTOL, FORWARD_ATOL, "block output (" + layout + ")");
    }

    /** The forward tolerance is tight enough to see a plausible bug in RoPE or the modulation. */
    @ParameterizedTest
    @EnumSource(value = WanBlockReference.Variant.class, names = "WAN", mode = EnumSource.Mode.EXCLUDE)
    void forwardToleranceCatchesPlantedBug(WanBlockReference.Variant bug) {
        WanBlockLeaves p = WanBlockLeaves.random(SEED);
        float[] out = forward(p, AttentionLayout.BHND);
        double[] wrong = WanBlockReference.forward(p, bug);
        assertThrows(AssertionError.class, () -> assertClose(wrong, out, FORWARD_RTOL, FORWARD_ATOL, bug.name()));
    }

    /**
     * The manual tape's gradients of loss = sum(out * g), g random, against float64 central differences of the
     * reference: every element of the small leaves (the modulation and e6, the context, q's RMSNorm weight), a
     * random sample of {@value #SAMPLED_COORDINATES} elements of the large ones (x, Wq, the FFN's first weight,
     * cross-attention's Wk), plus for each large leaf one directional derivative that covers all its elements.
     */
    @Test
    void backwardMatchesFiniteDifferencesOfReference() {
        WanBlockLeaves p = WanBlockLeaves.random(SEED);
        double[] g = upstreamGradient();
        Map<String, float[]> grads = backward(p, AttentionLayout.BHND, g);
        for (String leaf : new String[]{"modulation", "ctx", "self.norm_q"}) {
            double[] fd = GradCheck.gradient(v -> loss(p.with(leaf, v), g), p.get(leaf).clone());
            assertClose(fd, grads.get(leaf), GRAD_RTOL, GRAD_ATOL_OF_MAX * maxAbs(fd), "d loss / d " + leaf);
            if (leaf.equals("modulation")) {
                // the block sees only modulation + e6, so both have the same gradient
                assertClose(fd, grads.get("e6"), GRAD_RTOL, GRAD_ATOL_OF_MAX * maxAbs(fd), "d loss / d e6");
            }
        }
        SplittableRandom rng = new SplittableRandom(SEED + 1);
        for (String leaf : new String[]{"x", "self.q.weight", "ffn.0.weight", "cross.k.weight"}) {
            double[] base = p.get(leaf);
            int[] at = rng.ints(0, base.length).distinct().limit(SAMPLED_COORDINATES).toArray();
            double[] sampled = new double[at.length];
            float[] analytic = new float[at.length];
            for (int i = 0; i < at.length; i++) {
                sampled[i] = base[at[i]];
                analytic[i] = grads.get(leaf)[at[i]];
            }
            double[] fd = GradCheck.gradient(s -> {
                double[] v = base.clone();
                for (int i = 0; i < at.length; i++) {
                    v[at[i]] = s[i];
                }
                return loss(p.with(leaf, v), g);
            }, sampled);
            assertClose(fd, analytic, GRAD_RTOL, GRAD_ATOL_OF_MAX * maxAbs(fd), "d loss / d " + leaf + " (sampled)");
            assertDirectionalDerivative(p, leaf, grads.get(leaf), g, rng);
        }
    }

    /** BNHD attention (heads split by a reshape) gives the BHND block (heads moved by Shapes.permute). */
    @Test
    void bnhdLayoutMatchesBhnd() {
        WanBlockLeaves p = WanBlockLeaves.random(SEED);
        assertClose(toDouble(forward(p, AttentionLayout.BHND)), forward(p, AttentionLayout.BNHD), LAYOUT_TOL,
                LAYOUT_TOL, "block output, BNHD vs BHND");
        double[] g = upstreamGradient();
        Map<String, float[]> bhnd = backward(p, AttentionLayout.BHND, g);
        Map<String, float[]> bnhd = backward(p, AttentionLayout.BNHD, g);
        assertEquals(bhnd.keySet(), bnhd.keySet());
        for (String leaf : p.names()) {
            assertClose(toDouble(bhnd.get(leaf)), bnhd.get(leaf), LAYOUT_TOL, LAYOUT_TOL, "d loss / d " + leaf
                    + ", BNHD vs BHND");
        }
    }

    /** (loss(p + h u) - loss(p - h u)) / 2h against grad . u for a random direction u over the whole leaf. */
    private static void assertDirectionalDerivative(WanBlockLeaves p, String leaf, float[] grad, double[] g,
                                                    SplittableRandom rng) {
        double[] base = p.get(leaf);
        double[] u = new double[base.length];
        double analytic = 0;
        double magnitude = 0;
        for (int i = 0; i < u.length; i++) {
            u[i] = rng.nextGaussian();
            analytic += grad[i] * u[i];
            magnitude += Math.abs(grad[i] * u[i]);
        }
        double[] fd = GradCheck.gradient(t -> {
            double[] v = base.clone();
            for (int i = 0; i < v.length; i++) {
                v[i] += t[0] * u[i];
            }
            return loss(p.with(leaf, v), g);
        }, new double[]{0});
        // the sum of n terms each within GRAD_RTOL of their size
        assertClose(fd, new float[]{(float) analytic}, 0, GRAD_RTOL * magnitude, "directional d loss / d " + leaf);
    }

    private static float[] forward(WanBlockLeaves p, AttentionLayout layout) {
        try (WanBlockOps ops = new WanBlockOps(p, layout)) {
            return ops.forward().toFloatArray();
        }
    }

    private static Map<String, float[]> backward(WanBlockLeaves p, AttentionLayout layout, double[] g) {
        float[] gf = new float[g.length];
        for (int i = 0; i < g.length; i++) {
            gf[i] = (float) g[i];
        }
        try (WanBlockOps ops = new WanBlockOps(p, layout); Tensor dOut = Tensor.of(gf, TOKENS, DIM)) {
            ops.forward();
            return ops.backward(dOut);
        }
    }

    private static double loss(WanBlockLeaves p, double[] g) {
        return GradCheck.dot(WanBlockReference.forward(p), g);
    }

    /** A random upstream gradient g, f32-representable so the f32 tape and the float64 loss use the same one. */
    private static double[] upstreamGradient() {
        SplittableRandom rng = new SplittableRandom(SEED + 2);
        double[] g = new double[TOKENS * DIM];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) rng.nextGaussian();
        }
        return g;
    }

    private static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }
}

package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.TextModulation;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link WanGraph#backward} against central finite differences of the float64 reference forward
 * ({@code WanModelReference}, which shares no code with the graph), for the loss {@code sum(r * velocity)} with a
 * random projection r. For every parameter tensor, the input video and the text features, the f32 gradient g is
 * checked along two unit directions u: a random one and g's own (which checks its magnitude):
 * {@code |g.u - FD(u)| <= TOLERANCE * max(|FD(u)|, 0.05 |g|, 1e-4 max|g'|)}, the last term (max over every leaf's
 * gradient norm) for gradients that are zero in exact arithmetic, such as a key bias without qk norm (softmax
 * ignores a shift shared by every key), where the f32 backward leaves only rounding noise. The FD step is 1e-4 along a unit vector in float64,
 * so its own error is about 1e-8 relative; what remains is the f32 backward's rounding (measured up to ~1e-5).
 * With sparse attention the reference uses the forward's block masks (no gradient flows through mask selection).
 */
class WanGraphGradientTest {
    /** Relative tolerance of the f32 backward against the float64 finite differences. */
    private static final double TOLERANCE = 1e-3;
    private static final double STEP = 1e-4;

    /** Dim 32, 2 heads of 16, 2 blocks, 3 pixel channels, qk and cross norms: 256 tokens from (3, 4, 16, 16). */
    private static final WanConfig TINY = WanConfig.tiny(32, 2, 2, 3, true);
    /**
     * One block, exercising the other branches: no qk norm, no norm3, 3 in / 5 out channels, asymmetric patch
     * (2, 1, 2), text 24 wide by 8 rows, head dim 12.
     */
    private static final WanConfig ONE_BLOCK = new WanConfig(24, 40, 2, 1, 3, 5, 24, 8, 16, List.of(2, 1, 2), 1e-6,
            false, false, true, List.of(1, 1, 1));

    @Test
    void denseWholeModelGradientsMatchFiniteDifferences() {
        try (GraphCase c = GraphCase.of(TINY, 4, 16, 16, 10, 701)) {
            check(c, WanAttention.dense(), false, 0);
        }
    }

    /** The experimental absolute position signal (no parameters: the backward is the one without it). */
    @Test
    void sincosPositionGradientsMatchFiniteDifferences() {
        try (GraphCase c = GraphCase.of(TINY.withAbsolutePosition(AbsolutePosition.SINCOS), 4, 16, 16, 10, 704)) {
            check(c, WanAttention.dense(), false, 0);
        }
    }

    /**
     * The experimental pooled text modulation (no parameters, but e's gradient now reaches every text row too), with
     * the position signal and on the one-block config (text 8 rows), the text features' gradient included.
     */
    @Test
    void pooledTextModulationGradientsMatchFiniteDifferences() {
        try (GraphCase c = GraphCase.of(TINY.withAbsolutePosition(AbsolutePosition.SINCOS)
                .withTextModulation(TextModulation.POOLED), 4, 16, 16, 10, 705)) {
            check(c, WanAttention.dense(), false, 0);
        }
        try (GraphCase c = GraphCase.of(ONE_BLOCK.withTextModulation(TextModulation.POOLED), 4, 9, 12, 5, 706)) {
            check(c, WanAttention.dense(), false, 0);
        }
    }

    @Test
    void hybridWholeModelGradientsMatchFiniteDifferencesWithTheMaskHeldFixed() {
        try (GraphCase c = GraphCase.of(TINY, 4, 16, 16, 10, 702)) {
            // 256 tokens in blocks of 32: 8 x 8 blocks per head; k = 0.25 keeps 2 per row, p = 0.3 a few more
            WanAttention hybrid = WanAttention.defaults().withBlocks(32, 32).withTopk(0.25).withTopp(0.3);
            check(c, hybrid, true, 0.3);
        }
    }

    @Test
    void oneBlockWithoutNormsGradientsMatchFiniteDifferences() {
        try (GraphCase c = GraphCase.of(ONE_BLOCK, 4, 9, 12, 5, 703)) {
            check(c, WanAttention.defaults().withBlocks(16, 16).withTopk(0.3).withTopp(0.3), true, 0.2);
        }
    }

    /**
     * @param minSparsity the least mean sparsity the forward's masks must have (so that the sparse backward is
     *                    really exercised); 0 for dense
     */
    private static void check(GraphCase c, WanAttention attention, boolean sparse, double minSparsity) {
        WanGraph graph = new WanGraph(c.config(), c.weights(), attention, false);
        Map<String, Tensor> grads = new LinkedHashMap<>();
        boolean[][][][] masks;
        double[] dx;
        double[] dContext;
        try (WanGraph.Tape tape = graph.forward(c.x(), c.t(), c.context(), 0)) {
            graph.backward(tape, c.r(), grads);
            masks = sparse ? GraphCase.masks(tape.selections()) : null;
            dx = tape.inputGradient().toDoubleArray();
            dContext = tape.contextGradient().toDoubleArray();
        }
        if (sparse) {
            assertTrue(graph.stats().meanSparsity() >= minSparsity, "mean sparsity " + graph.stats().meanSparsity()
                    + " is below " + minSparsity + ": the sparse backward would hardly be exercised");
        }
        int bq = attention.queryBlock();
        int bk = attention.keyBlock();
        Map<String, double[]> w64 = c.weights64();
        double[] x64 = c.x().toDoubleArray();
        double[] ctx64 = c.context().toDoubleArray();
        double[] r = c.r().toDoubleArray();
        assertEquals(w64.keySet(), grads.keySet(), "every parameter gets a gradient");

        List<String> failures = new ArrayList<>();
        double worst = 0;
        SplittableRandom rng = new SplittableRandom(99);
        Map<String, double[]> leaves = new LinkedHashMap<>();
        grads.forEach((name, g) -> leaves.put(name, g.toDoubleArray()));
        leaves.put("x", dx);
        leaves.put("context", dContext);
        double largest = leaves.values().stream().mapToDouble(WanGraphGradientTest::norm).max().orElseThrow();
        for (Map.Entry<String, double[]> leaf : leaves.entrySet()) {
            String name = leaf.getKey();
            double[] g = leaf.getValue();
            double[] base = switch (name) {
                case "x" -> x64;
                case "context" -> ctx64;
                default -> w64.get(name);
            };
            double gNorm = norm(g);
            assertTrue(gNorm > 0, name + ": gradient is all zero");
            for (double[] u : new double[][] {randomUnit(g.length, rng), gNorm > 0 ? scale(g, 1 / gNorm) : null}) {
                if (u == null) {
                    continue;
                }
                double analytic = dot(g, u);
                double[] saved = base.clone();
                axpy(STEP, u, base);
                double plus = dot(r, c.reference(w64, x64, ctx64, masks, bq, bk));
                System.arraycopy(saved, 0, base, 0, base.length);
                axpy(-STEP, u, base);
                double minus = dot(r, c.reference(w64, x64, ctx64, masks, bq, bk));
                System.arraycopy(saved, 0, base, 0, base.length);
                double fd = (plus - minus) / (2 * STEP);
                double err = Math.abs(analytic - fd) / Math.max(Math.max(Math.abs(fd), 0.05 * gNorm), 1e-4 * largest);
                worst = Math.max(worst, err);
                if (!(err <= TOLERANCE)) {
                    failures.add(String.format("%s: analytic %.6e, finite difference %.6e (relative error %.2e)",
                            name, analytic, fd, err));
                }
            }
        }
        System.out.printf("WanGraphGradientTest %s %s: %d leaves, worst relative error %.3e%n", c.config().numLayers()
                + " layers", sparse ? "sparse" : "dense", leaves.size(), worst);
        assertTrue(failures.isEmpty(), failures.size() + " gradients off:\n" + String.join("\n", failures));
    }

    private static double[] randomUnit(int n, SplittableRandom rng) {
        double[] u = new double[n];
        for (int i = 0; i < n; i++) {
            u[i] = rng.nextGaussian();
        }
        return scale(u, 1 / norm(u));
    }

    private static double[] scale(double[] a, double s) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] * s;
        }
        return out;
    }

    private static void axpy(double alpha, double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            y[i] += alpha * x[i];
        }
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double norm(double[] a) {
        return Math.sqrt(dot(a, a));
    }
}

package io.sparge4j.models.eval;

import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.Direction;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.data.ShapeColour;
import io.sparge4j.models.data.ShapeKind;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Balanced prompts (every count within one of N / values, read back through {@link Captions#parse}), their
 * determinism, and the velocity error's formula against a float64 computation by hand.
 */
class EvalPromptsTest {
    @Test
    void promptsAreBalancedDeterministicAndParseBack() {
        for (int n : new int[] {24, 10, 1}) {
            List<String> p = EvalPrompts.balanced(n, 3);
            assertEquals(p, EvalPrompts.balanced(n, 3));
            Map<ShapeColour, Integer> colours = new EnumMap<>(ShapeColour.class);
            Map<ShapeKind, Integer> shapes = new EnumMap<>(ShapeKind.class);
            Map<Direction, Integer> directions = new EnumMap<>(Direction.class);
            for (String s : p) {
                PromptRequest r = Captions.parse(s);
                colours.merge(r.colour().orElseThrow(), 1, Integer::sum);
                shapes.merge(r.shape().orElseThrow(), 1, Integer::sum);
                directions.merge(r.direction().orElseThrow(), 1, Integer::sum);
            }
            within(colours, ShapeColour.values().length, n);
            within(shapes, ShapeKind.values().length, n);
            within(directions, Direction.values().length, n);
        }
        assertNotEquals(EvalPrompts.balanced(24, 3), EvalPrompts.balanced(24, 4));
        assertEquals("an orange square moving up and left",
                EvalPrompts.caption(ShapeColour.ORANGE, ShapeKind.SQUARE, Direction.UP_LEFT));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EvalPrompts.balanced(0, 1));
        assertTrue(e.getMessage().contains("--prompts") && e.getMessage().contains("0"), e.getMessage());
    }

    private static void within(Map<?, Integer> counts, int values, int n) {
        for (int c : counts.values()) {
            assertTrue(c == n / values || c == (n + values - 1) / values, counts + " over " + n);
        }
        assertEquals(n, counts.values().stream().mapToInt(Integer::intValue).sum());
    }

    @Test
    void relativeErrorIsTheSquaredNormRatio() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        float[] s = new float[300];
        float[] t = new float[300];
        double num = 0;
        double den = 0;
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) r.nextGaussian();
            t[i] = (float) r.nextGaussian();
            num += ((double) s[i] - t[i]) * ((double) s[i] - t[i]);
            den += (double) t[i] * t[i];
        }
        try (Tensor a = Tensor.of(s, 3, 10, 10); Tensor b = Tensor.of(t, 3, 10, 10)) {
            assertEquals(num / den, VelocityError.relativeError(a, b), 1e-12 * num / den);
            assertEquals(0.0, VelocityError.relativeError(b, b));
        }
        try (Tensor z = Tensor.zeros(3, 10, 10); Tensor a = Tensor.of(s, 3, 10, 10)) {
            assertThrows(IllegalArgumentException.class, () -> VelocityError.relativeError(a, z));
        }
    }

    /**
     * The guided error against a float64 computation written out here: the guided velocities are formed per element
     * as {@code u + g (c - u)} from fresh random conditional and unconditional velocities; at g = 1 it is the
     * conditional error; a student whose conditional and unconditional errors are equal and opposite has its guided
     * error grow about as g^2 (the amplification sampling sees). Tolerance 1e-12 relative (double sums of 300 terms).
     */
    @Test
    void guidedErrorCombinesTheBranchesAsSamplingDoes() {
        java.util.Random r = new java.util.Random(77);
        float[][] v = new float[4][300];
        for (float[] a : v) {
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) r.nextGaussian();
            }
        }
        double g = 5;
        double num = 0;
        double den = 0;
        for (int i = 0; i < 300; i++) {
            double s = v[1][i] + g * ((double) v[0][i] - v[1][i]);
            double t = v[3][i] + g * ((double) v[2][i] - v[3][i]);
            num += (s - t) * (s - t);
            den += t * t;
        }
        try (Tensor sc = Tensor.of(v[0], 3, 100); Tensor su = Tensor.of(v[1], 3, 100);
             Tensor tc = Tensor.of(v[2], 3, 100); Tensor tu = Tensor.of(v[3], 3, 100)) {
            assertEquals(num / den, VelocityError.guidedRelativeError(sc, su, tc, tu, g), 1e-12 * num / den);
            assertEquals(VelocityError.relativeError(sc, tc), VelocityError.guidedRelativeError(sc, su, tc, tu, 1),
                    1e-12 * VelocityError.relativeError(sc, tc));
        }
        // errors +e on the conditional branch, -e on the unconditional one: the guided error is (2g - 1)^2 times
        float[] tc = v[2];
        float[] tu = v[3];
        float[] sc = new float[300];
        float[] su = new float[300];
        for (int i = 0; i < 300; i++) {
            sc[i] = tc[i] + 0.01f;
            su[i] = tu[i] - 0.01f;
        }
        try (Tensor a = Tensor.of(sc, 300); Tensor b = Tensor.of(su, 300); Tensor c = Tensor.of(tc, 300);
             Tensor d = Tensor.of(tu, 300)) {
            double conditional = VelocityError.relativeError(a, c);
            double guided = VelocityError.guidedRelativeError(a, b, c, d, g);
            double guidedTeacher = 0;
            double plainTeacher = 0;
            for (int i = 0; i < 300; i++) {
                double t = tu[i] + g * ((double) tc[i] - tu[i]);
                guidedTeacher += t * t;
                plainTeacher += (double) tc[i] * tc[i];
            }
            double want = conditional * plainTeacher / guidedTeacher * (2 * g - 1) * (2 * g - 1);
            assertEquals(want, guided, 1e-4 * want);
        }
    }
}

package io.sparge4j.models.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClassifierFreeGuidanceTest {
    private static final int[] X_SHAPE = {2, 3, 4};
    private static final int[] CONTEXT_SHAPE = {5, 6};

    /** A conditional model whose output depends on x, t, the context's values and the step. */
    private static Tensor conditional(Tensor x, double t, Tensor context, int step) {
        float[] xs = x.toFloatArray();
        float[] cs = context.toFloatArray();
        float[] v = new float[xs.length];
        for (int j = 0; j < xs.length; j++) {
            v[j] = (float) (Math.sin(xs[j]) * (1 + cs[j % cs.length]) + t / 1000 + 0.1 * step);
        }
        return Tensor.of(v, x.shape());
    }

    @Test
    void guidedVelocityIsUncondPlusScaleTimesDifference() {
        try (Tensor x = Noise.gaussian(1, X_SHAPE);
             Tensor context = Noise.gaussian(2, CONTEXT_SHAPE);
             Tensor negative = Noise.gaussian(3, CONTEXT_SHAPE)) {
            for (double g : new double[] {0, 2.5, 5, -1}) {
                ClassifierFreeGuidance cfg =
                        new ClassifierFreeGuidance(ClassifierFreeGuidanceTest::conditional, context, negative, g);
                try (Tensor v = cfg.velocity(x, 937, 3)) {
                    double[] expected = new double[(int) x.numel()];
                    float[] xs = x.toFloatArray();
                    float[] cs = context.toFloatArray();
                    float[] ns = negative.toFloatArray();
                    for (int j = 0; j < expected.length; j++) {
                        double cond = Math.sin(xs[j]) * (1 + cs[j % cs.length]) + 0.937 + 0.3;
                        double uncond = Math.sin(xs[j]) * (1 + ns[j % ns.length]) + 0.937 + 0.3;
                        expected[j] = uncond + g * (cond - uncond);
                    }
                    assertEquals(0, Fields.maxAbsDiff(v, expected), 5e-6 * Math.max(1, Math.abs(g)), "g=" + g);
                }
            }
        }
    }

    @Test
    void withoutNegativeTheUnconditionalPassSeesZerosOfTheContextShape() {
        List<float[]> contexts = new ArrayList<>();
        ConditionalVelocityModel recording = (x, t, context, step) -> {
            contexts.add(context.toFloatArray());
            assertEquals(List.of(5, 6), List.of(context.dim(0), context.dim(1)));
            return conditional(x, t, context, step);
        };
        try (Tensor x = Noise.gaussian(1, X_SHAPE);
             Tensor context = Noise.gaussian(2, CONTEXT_SHAPE)) {
            ClassifierFreeGuidance cfg = ClassifierFreeGuidance.withZeroNegative(recording, context, 5.0);
            cfg.velocity(x, 500, 0).close();
            assertEquals(2, contexts.size());
            assertEquals(0, Fields.maxAbsDiff(context, toDouble(contexts.get(0))), 0.0);
            for (float z : contexts.get(1)) {
                assertEquals(0f, z, 0f);
            }
        }
    }

    @Test
    void guidanceOneIsTheConditionalVelocityInOnePass() {
        int[] calls = {0};
        Tensor[] returned = new Tensor[1];
        ConditionalVelocityModel counting = (x, t, context, step) -> {
            calls[0]++;
            returned[0] = conditional(x, t, context, step);
            return returned[0];
        };
        try (Tensor x = Noise.gaussian(1, X_SHAPE);
             Tensor context = Noise.gaussian(2, CONTEXT_SHAPE);
             Tensor negative = Noise.gaussian(3, CONTEXT_SHAPE)) {
            Tensor v = new ClassifierFreeGuidance(counting, context, negative, 1.0).velocity(x, 10, 1);
            assertEquals(1, calls[0]);
            assertSame(returned[0], v);
            v.close();
        }
    }

    @Test
    void mismatchedShapesAreNamed() {
        try (Tensor x = Noise.gaussian(1, X_SHAPE);
             Tensor context = Noise.gaussian(2, CONTEXT_SHAPE);
             Tensor shortNegative = Noise.gaussian(3, 4, 6)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new ClassifierFreeGuidance(ClassifierFreeGuidanceTest::conditional, context, shortNegative, 5));
            assertTrue(e.getMessage().contains("negativeContext") && e.getMessage().contains("[4, 6]")
                    && e.getMessage().contains("[5, 6]"), e.getMessage());
            ConditionalVelocityModel wrong = (xx, t, c, step) -> Tensor.zeros(2, 3, 5);
            IllegalArgumentException v = assertThrows(IllegalArgumentException.class,
                    () -> ClassifierFreeGuidance.withZeroNegative(wrong, context, 5).velocity(x, 1, 0));
            assertTrue(v.getMessage().contains("[2, 3, 5]") && v.getMessage().contains("[2, 3, 4]"), v.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new ClassifierFreeGuidance(
                    ClassifierFreeGuidanceTest::conditional, context, context, Double.NaN));
        }
    }

    @Test
    void guidedModelDrivesASampler() {
        try (Tensor context = Noise.gaussian(2, CONTEXT_SHAPE);
             Tensor noise = Noise.gaussian(4, X_SHAPE)) {
            FlowSchedule schedule = FlowSchedule.wan(5, 5.0);
            VelocityModel guided =
                    ClassifierFreeGuidance.withZeroNegative(ClassifierFreeGuidanceTest::conditional, context, 3.0);
            try (Tensor out = new UniPcMultistep().sample(guided, noise, schedule, StepListener.NONE)) {
                for (float f : out.toFloatArray()) {
                    assertTrue(Float.isFinite(f));
                }
            }
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}

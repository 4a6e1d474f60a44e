package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipAttributes;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.data.ShapeColour;
import io.sparge4j.models.eval.CaptionSensitivity.ClipCaptions;
import io.sparge4j.models.eval.CaptionSensitivity.Level;
import io.sparge4j.models.eval.CaptionSensitivity.Variant;
import io.sparge4j.models.sampling.ConditionalVelocityModel;
import io.sparge4j.models.sampling.Noise;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CaptionSensitivity} with stub models on small procedural clips (8 frames of 24x24), from a fresh seed each
 * run (printed in the messages): a model that reads only the colour word shows a change for the colour swap and
 * exactly none for the shape and direction swaps; one that ignores the text shows none at all; the right caption's
 * loss matches a float64 loss computed here; each swap changes exactly its one attribute; every tensor is closed.
 */
class CaptionSensitivityTest {
    private static final ClipSpec SPEC = ClipSpec.of(8, 24, 24);
    private static final int COLOURS = ShapeColour.values().length;

    private final long seed = new SplittableRandom().nextLong();
    private final SplittableRandom random = new SplittableRandom(seed);
    /** Tensors the stubs handed out, to check that each was closed. */
    private final List<Tensor> handedOut = new ArrayList<>();
    /** Per-colour velocity patterns of the colour stub, and the text-blind stub's bias. */
    private final List<Tensor> patterns = new ArrayList<>();
    private float alpha;

    @BeforeEach
    void randomStubs() {
        alpha = (float) (0.5 + random.nextDouble());
        for (int k = 0; k <= COLOURS; k++) {
            float[] p = new float[Math.toIntExact(Tensor.numelOf(SPEC.shape()))];
            for (int i = 0; i < p.length; i++) {
                p[i] = (float) random.nextGaussian();
            }
            patterns.add(Tensor.of(p, SPEC.shape()));
        }
    }

    @AfterEach
    void closePatterns() {
        patterns.forEach(Tensor::close);
    }

    /** (1, COLOURS): one-hot of the caption's colour word, all zeros without one (the empty caption). */
    private Tensor colourText(String caption) {
        float[] f = new float[COLOURS];
        Captions.parse(caption).colour().ifPresent(c -> f[c.ordinal()] = 1);
        Tensor t = Tensor.of(f, 1, COLOURS);
        handedOut.add(t);
        return t;
    }

    /** {@code alpha x + sum_k context[k] pattern_k}: the text enters only through the colour. */
    private Tensor colourVelocity(Tensor x, double timestep, Tensor context, int step) {
        float[] xs = x.toFloatArray();
        float[] ctx = context.toFloatArray();
        double[] v = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            v[i] = alpha * xs[i];
        }
        for (int k = 0; k < COLOURS; k++) {
            if (ctx[k] != 0) {
                float[] p = patterns.get(k).toFloatArray();
                for (int i = 0; i < v.length; i++) {
                    v[i] += ctx[k] * p[i];
                }
            }
        }
        return handOut(v, x.shape());
    }

    /** {@code alpha x + bias}: the text is ignored. */
    private Tensor blindVelocity(Tensor x, double timestep, Tensor context, int step) {
        float[] xs = x.toFloatArray();
        float[] b = patterns.get(COLOURS).toFloatArray();
        double[] v = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            v[i] = alpha * xs[i] + b[i];
        }
        return handOut(v, x.shape());
    }

    private Tensor handOut(double[] v, int[] shape) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        Tensor t = Tensor.of(f, shape);
        handedOut.add(t);
        return t;
    }

    private double[] randomLevels(int n) {
        double[] l = new double[n];
        for (int i = 0; i < n; i++) {
            l[i] = 0.05 + 0.95 * random.nextDouble();
        }
        l[n - 1] = 1.0;   // the top of the range is allowed
        return l;
    }

    private void assertAllClosed() {
        assertFalse(handedOut.isEmpty());
        for (Tensor t : handedOut) {
            assertFalse(t.segment().scope().isAlive(), "a stub's tensor was left open, seed " + seed);
        }
    }

    @Test
    void aColourOnlyModelReadsTheColourAndNothingElse() {
        ClipGenerator data = new ClipGenerator(random.nextLong(), SPEC);
        double[] levels = randomLevels(3);
        CaptionSensitivity.Result r = CaptionSensitivity.measure(this::colourVelocity, this::colourText, data, 4,
                levels, random.nextLong());
        assertEquals(levels.length, r.levels().size());
        assertEquals(4, r.captions().size());
        for (int l = 0; l < levels.length; l++) {
            Level level = r.levels().get(l);
            String at = "level " + level.level() + ", seed " + seed;
            assertEquals(levels[l], level.level());
            assertTrue(Math.abs(level.timestep() - 1000 * levels[l]) < 1, at);
            assertTrue(level.loss() > 0 && Double.isFinite(level.loss()), at);
            assertEquals(0.0, level.change(Variant.SHAPE), at);
            assertEquals(0.0, level.change(Variant.DIRECTION), at);
            assertEquals(level.loss(), level.shapeLoss(), at);
            assertEquals(level.loss(), level.directionLoss(), at);
            assertNotEquals(0.0, level.change(Variant.COLOUR), at);
            assertNotEquals(0.0, level.change(Variant.EMPTY), at);
            assertEquals(level.colourLoss() / level.loss() - 1, level.change(Variant.COLOUR), 1e-12, at);
        }
        // one-hot colour features: another colour moves them by |e_a - e_b| / |e_a| = sqrt 2, the empty caption's
        // zeros by 1, the shape and direction words not at all
        assertEquals(Math.sqrt(2), r.textChange(Variant.COLOUR), 1e-12, "seed " + seed);
        assertEquals(1.0, r.textChange(Variant.EMPTY), 1e-12, "seed " + seed);
        assertEquals(0.0, r.textChange(Variant.SHAPE), "seed " + seed);
        assertEquals(0.0, r.textChange(Variant.DIRECTION), "seed " + seed);
        assertAllClosed();
    }

    @Test
    void aTextBlindModelShowsNoChangeAtAll() {
        ClipGenerator data = new ClipGenerator(random.nextLong(), SPEC);
        CaptionSensitivity.Result r = CaptionSensitivity.measure(this::blindVelocity, this::colourText, data, 3,
                randomLevels(2), random.nextLong());
        for (Level level : r.levels()) {
            assertTrue(level.loss() > 0, "seed " + seed);
            for (Variant v : Variant.values()) {
                assertEquals(0.0, level.change(v), v + " at level " + level.level() + ", seed " + seed);
            }
        }
        assertAllClosed();
    }

    /** One clip at one level: the loss against x_t, v and the target recomputed here in double. */
    @Test
    void theRightCaptionsLossIsTheFlowMatchingLoss() {
        long dataSeed = random.nextLong();
        long noiseSeed = random.nextLong();
        double level = 0.05 + 0.95 * random.nextDouble();
        ClipGenerator data = new ClipGenerator(dataSeed, SPEC);
        CaptionSensitivity.Result r = CaptionSensitivity.measure(this::colourVelocity, this::colourText, data, 1,
                new double[] {level}, noiseSeed);

        Clip clip = new ClipGenerator(dataSeed, SPEC).clip(0);
        double expected;
        try (Tensor video = clip.video(); Tensor noiseT = Noise.gaussian(noiseSeed, SPEC.shape())) {
            float[] x0 = video.toFloatArray();
            float[] e = noiseT.toFloatArray();
            float[] p = patterns.get(clip.attributes().colour().ordinal()).toFloatArray();
            double s = 0;
            for (int i = 0; i < x0.length; i++) {
                double xt = (1 - level) * x0[i] + level * e[i];
                double v = alpha * xt + p[i];
                double d = v - ((double) e[i] - x0[i]);
                s += d * d;
            }
            expected = s / x0.length;
        }
        // x_t and v pass through f32 in the model's path: agreement to f32 rounding
        assertEquals(expected, r.levels().get(0).loss(), 1e-5 * expected, "seed " + seed);
        assertEquals(clip.caption(), r.captions().get(0).right());
    }

    @Test
    void eachSwapChangesExactlyItsAttribute() {
        ClipGenerator data = new ClipGenerator(random.nextLong(), SPEC);
        SplittableRandom swaps = new SplittableRandom(random.nextLong());
        int withBackground = 0;
        for (int c = 0; c < 60; c++) {
            Clip clip = data.clip(c);
            clip.video().close();
            ClipAttributes a = clip.attributes();
            String at = "clip " + c + " \"" + clip.caption() + "\", seed " + seed;

            ClipAttributes colour = CaptionSensitivity.swap(a, Variant.COLOUR, swaps);
            assertNotEquals(a.colour(), colour.colour(), at);
            assertEquals(a, withColour(colour, a.colour()), at);

            ClipAttributes shape = CaptionSensitivity.swap(a, Variant.SHAPE, swaps);
            assertNotEquals(a.shape(), shape.shape(), at);
            assertEquals(a, new ClipAttributes(a.shape(), shape.colour(), shape.direction(), shape.startX(),
                    shape.startY(), shape.speed(), shape.size(), shape.background()), at);

            ClipAttributes direction = CaptionSensitivity.swap(a, Variant.DIRECTION, swaps);
            assertEquals(-a.direction().signX(), direction.direction().signX(), at);
            assertEquals(-a.direction().signY(), direction.direction().signY(), at);
            assertEquals(a, new ClipAttributes(direction.shape(), direction.colour(), a.direction(),
                    direction.startX(), direction.startY(), direction.speed(), direction.size(),
                    direction.background()), at);

            // the captions, read back by the project's parser: only the one word differs
            ClipCaptions caps = CaptionSensitivity.captions(clip, swaps);
            PromptRequest right = Captions.parse(caps.right());
            PromptRequest pc = Captions.parse(caps.colour());
            PromptRequest ps = Captions.parse(caps.shape());
            PromptRequest pd = Captions.parse(caps.direction());
            assertEquals(new PromptRequest(right.shape(), pc.colour(), right.direction(), right.background()), pc, at);
            assertNotEquals(right.colour(), pc.colour(), at);
            assertEquals(new PromptRequest(ps.shape(), right.colour(), right.direction(), right.background()), ps, at);
            assertNotEquals(right.shape(), ps.shape(), at);
            assertEquals(new PromptRequest(right.shape(), right.colour(), pd.direction(), right.background()), pd, at);
            assertEquals(-a.direction().signX(), pd.direction().orElseThrow().signX(), at);
            assertEquals(-a.direction().signY(), pd.direction().orElseThrow().signY(), at);
            boolean bg = caps.right().endsWith(" background");
            withBackground += bg ? 1 : 0;
            for (String s : new String[] {caps.colour(), caps.shape(), caps.direction()}) {
                assertEquals(bg, s.endsWith(" background"), at + ": " + s);
                assertEquals(caps.right().split(" ").length, s.split(" ").length, at + ": " + s);
            }
            assertEquals("", caps.caption(Variant.EMPTY));
        }
        assertTrue(withBackground > 0 && withBackground < 60, "both caption forms are covered: " + withBackground);
    }

    private static ClipAttributes withColour(ClipAttributes a, ShapeColour colour) {
        return new ClipAttributes(a.shape(), colour, a.direction(), a.startX(), a.startY(), a.speed(), a.size(),
                a.background());
    }

    @Test
    void badArgumentsAreNamed() {
        ClipGenerator data = new ClipGenerator(1, SPEC);
        ConditionalVelocityModel m = this::blindVelocity;
        Function<String, Tensor> text = this::colourText;
        IllegalArgumentException clips = assertThrows(IllegalArgumentException.class,
                () -> CaptionSensitivity.measure(m, text, data, 0, new double[] {0.5}, 1));
        assertTrue(clips.getMessage().contains("clips is 0"), clips.getMessage());
        for (double bad : new double[] {0, -0.1, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CaptionSensitivity.measure(m, text, data, 1, new double[] {0.5, bad}, 1));
            assertTrue(e.getMessage().contains(String.valueOf(bad)) && e.getMessage().contains("(0, 1]"),
                    e.getMessage());
        }
        assertThrows(IllegalArgumentException.class,
                () -> CaptionSensitivity.measure(m, text, data, 1, new double[0], 1));
        Clip clip = data.clip(0);
        clip.video().close();
        Clip foreign = new Clip(0, clip.video(), clip.attributes(), "a red thing");
        assertThrows(IllegalArgumentException.class, () -> CaptionSensitivity.captions(foreign, new SplittableRandom()));
    }
}

package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.data.Direction;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CaptionWordValue} against the definition computed directly in float64 (per clip, the squared distance of
 * its finer class mean from its coarser one, with the means grouped here on their own), within 1e-9 relative; and on
 * trailing clips the direction is worth far more than the sampling inflation.
 */
class CaptionWordValueTest {
    private static final ClipSpec TRAILING = ClipSpec.of(8, 24, 24)
            .withMotion(new ClipMotion(0.4, 0.6, 0.1).withTrailingStart(true));

    @Test
    void matchesTheDefinitionComputedClipByClip() {
        int n = 240;
        long seed = 17;
        ClipGenerator data = new ClipGenerator(5, TRAILING);
        CaptionWordValue.Result r = CaptionWordValue.measure(data, n, seed);

        List<float[]> x = new ArrayList<>();
        String[][] keys = new String[n][];
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            Clip c = data.clip(i);
            try (Tensor v = c.video()) {
                x.add(v.toFloatArray());
            }
            var a = c.attributes();
            Direction d = Direction.values()[random.nextInt(Direction.values().length)];
            keys[i] = new String[] {"all", "c" + a.colour(), "c" + a.colour() + "s" + a.shape(),
                "c" + a.colour() + "d" + a.direction(), "c" + a.colour() + "r" + d};
        }
        Map<String, double[]> mean = new HashMap<>();
        Map<String, Integer> count = new HashMap<>();
        for (int i = 0; i < n; i++) {
            for (String k : keys[i]) {
                double[] m = mean.computeIfAbsent(k, key -> new double[x.get(0).length]);
                float[] v = x.get(i);
                for (int j = 0; j < v.length; j++) {
                    m[j] += v[j];
                }
                count.merge(k, 1, Integer::sum);
            }
        }
        mean.forEach((k, m) -> {
            for (int j = 0; j < m.length; j++) {
                m[j] /= count.get(k);
            }
        });
        double[] want = new double[5];   // variance; colour; shape, direction, random direction given colour
        for (int i = 0; i < n; i++) {
            float[] v = x.get(i);
            double[] all = mean.get(keys[i][0]);
            double[] col = mean.get(keys[i][1]);
            for (int j = 0; j < v.length; j++) {
                want[0] += (v[j] - all[j]) * (v[j] - all[j]);
                want[1] += (col[j] - all[j]) * (col[j] - all[j]);
                for (int q = 2; q < 5; q++) {
                    double diff = mean.get(keys[i][q])[j] - col[j];
                    want[q] += diff * diff;
                }
            }
        }
        double per = (double) n * x.get(0).length;
        double[] got = {r.variance(), r.colour(), r.shapeGivenColour(), r.directionGivenColour(),
            r.randomDirectionGivenColour()};
        for (int q = 0; q < 5; q++) {
            assertEquals(want[q] / per, got[q], 1e-9 * want[q] / per, "value " + q);
            assertTrue(got[q] > 0, "value " + q + " is " + got[q]);
        }
        assertEquals(n, r.clips());
    }

    /** A trailing start ties each direction to where the object is in every frame: a large value. */
    @Test
    void onTrailingClipsTheDirectionIsWorthFarMoreThanTheSamplingInflation() {
        CaptionWordValue.Result r = CaptionWordValue.measure(new ClipGenerator(9, TRAILING), 1500, 3);
        assertTrue(r.directionGivenColour() > 5 * r.randomDirectionGivenColour(), r.toString());
        assertTrue(r.directionGivenColour() > r.colour() && r.directionGivenColour() < r.variance(), r.toString());
    }

    @Test
    void badArgumentsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CaptionWordValue.measure(new ClipGenerator(1, TRAILING), 1, 0));
        assertTrue(e.getMessage().contains("clips 1") && e.getMessage().contains("at least 2"), e.getMessage());
    }
}

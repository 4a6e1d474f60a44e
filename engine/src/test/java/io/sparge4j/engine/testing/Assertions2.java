package io.sparge4j.engine.testing;

import org.junit.jupiter.api.Assertions;

/**
 * Element-wise closeness checks against float64 references, with the failing index and values in the
 * message. An element passes when |actual - expected| <= atol + rtol * |expected|.
 */
public final class Assertions2 {
    private Assertions2() {
    }

    /** Asserts {@code actual} matches {@code expected} within the tolerances. */
    public static void assertClose(double[] expected, float[] actual, double rtol, double atol, String what) {
        Assertions.assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (!(diff <= atol + rtol * Math.abs(expected[i]))) {
                Assertions.fail(String.format("%s: element %d is %.9g, expected %.9g (|diff| %.3g > atol %.1g + rtol %.1g * |expected|)",
                        what, i, actual[i], expected[i], diff, atol, rtol));
            }
        }
    }

    /** Asserts {@code actual} matches {@code expected} within the tolerances. */
    public static void assertClose(double[] expected, double[] actual, double rtol, double atol, String what) {
        Assertions.assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (!(diff <= atol + rtol * Math.abs(expected[i]))) {
                Assertions.fail(String.format("%s: element %d is %.12g, expected %.12g (|diff| %.3g)", what, i, actual[i],
                        expected[i], diff));
            }
        }
    }

    /** @return max |a - b| / max(1e-30, max |b|): a relative error over the whole array */
    public static double relativeMaxError(float[] a, double[] b) {
        double num = 0;
        double den = 1e-30;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs(a[i] - b[i]));
            den = Math.max(den, Math.abs(b[i]));
        }
        return num / den;
    }
}

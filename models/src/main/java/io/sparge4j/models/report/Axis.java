package io.sparge4j.models.report;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * A linear axis over a data range: "nice" tick values (1, 2 or 5 times a power of ten) and their labels, and the
 * mapping from data to pixels.
 *
 * @param lo the data value at the axis start
 * @param hi the data value at the axis end, above lo
 */
record Axis(double lo, double hi) {

    Axis {
        if (!(hi > lo) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
            throw new IllegalArgumentException("Axis: range is [" + lo + ", " + hi + "], expected finite lo < hi");
        }
    }

    /** The range of the values padded by 5% each side; a single value gets a range of its own size (or 1). */
    static Axis covering(double min, double max) {
        if (max > min) {
            double pad = 0.05 * (max - min);
            return new Axis(min - pad, max + pad);
        }
        double half = min == 0 ? 0.5 : Math.abs(min) * 0.1;
        return new Axis(min - half, max + half);
    }

    /** @return the tick step: 1, 2 or 5 times a power of ten giving about {@code target} ticks */
    double step(int target) {
        double raw = (hi - lo) / Math.max(1, target);
        double pow = Math.pow(10, Math.floor(Math.log10(raw)));
        double m = raw / pow;
        double nice = m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10;
        return nice * pow;
    }

    /** @return tick values inside the range, multiples of {@link #step} */
    List<Double> ticks(int target) {
        double step = step(target);
        List<Double> ticks = new ArrayList<>();
        for (long i = (long) Math.ceil(lo / step - 1e-9); i * step <= hi + 1e-9 * step; i++) {
            ticks.add(i * step);
        }
        return ticks;
    }

    /** @return a tick label with as many decimals as the step needs (no "0.30000000000000004") */
    String label(double value, int target) {
        double step = step(target);
        int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
        return new BigDecimal(value).setScale(decimals, java.math.RoundingMode.HALF_EVEN).toPlainString()
                .replaceFirst("^-(0\\.?0*)$", "$1");
    }

    /** @return the pixel of a value on an axis drawn from pixel {@code from} (at lo) to {@code to} (at hi) */
    double pixel(double value, double from, double to) {
        return from + (value - lo) / (hi - lo) * (to - from);
    }
}

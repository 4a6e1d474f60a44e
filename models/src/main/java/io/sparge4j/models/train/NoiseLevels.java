package io.sparge4j.models.train;

import io.sparge4j.models.sampling.FlowSchedule;

import java.util.SplittableRandom;

/**
 * How training draws each clip's noise level s in [0, 1): Wan's shifted uniform (shift 1 is uniform, above 1 leans
 * to noise), and optionally a share of the draws uniform in a band of levels instead, to train more where a model is
 * weak (tiny-demo loses the shape between about 0.4 and 0.8: bench/tiny-demo/RECIPE.md, "Where the shape is lost").
 *
 * @param shift Wan's timestep shift, finite and above 0
 * @param bandLow the band's lowest level, in [0, 1)
 * @param bandHigh the band's end, in (bandLow, 1]
 * @param bandShare the share of draws taken from the band, in [0, 1]; 0 draws exactly as
 *     {@link Losses#drawNoiseLevel} does, from the same random numbers
 */
public record NoiseLevels(double shift, double bandLow, double bandHigh, double bandShare) {
    /**
     * @throws IllegalArgumentException naming the value out of range
     */
    public NoiseLevels {
        if (!(shift > 0) || !Double.isFinite(shift)) {
            throw new IllegalArgumentException("NoiseLevels: shift is " + shift + ", expected a finite number above 0");
        }
        if (!(bandLow >= 0 && bandLow < bandHigh && bandHigh <= 1)) {
            throw new IllegalArgumentException("NoiseLevels: band is [" + bandLow + ", " + bandHigh
                    + "), expected 0 <= low < high <= 1");
        }
        if (!(bandShare >= 0 && bandShare <= 1)) {
            throw new IllegalArgumentException("NoiseLevels: bandShare is " + bandShare
                    + ", expected a share in [0, 1]");
        }
    }

    /**
     * @param shift Wan's timestep shift
     * @return the shifted uniform alone
     */
    public static NoiseLevels shifted(double shift) {
        return new NoiseLevels(shift, 0, 1, 0);
    }

    /** @return whether some draws come from the band */
    public boolean banded() {
        return bandShare > 0;
    }

    /**
     * @param random the sample's generator: one number is taken without a band, two with one
     * @return a noise level in [0, 1)
     */
    public double draw(SplittableRandom random) {
        if (!banded()) {
            return Losses.drawNoiseLevel(random, shift);
        }
        boolean inBand = random.nextDouble() < bandShare;
        double u = random.nextDouble();
        return inBand ? bandLow + (bandHigh - bandLow) * u : FlowSchedule.shift(u, shift);
    }
}

package io.sparge4j.engine.cpu.attention;

import jdk.incubator.vector.FloatVector;

import java.util.SplittableRandom;

/** Calls {@link SimdTileMath#exp2} lane-wise; kept apart so that only SIMD tests load the Vector API. */
final class SimdExp2Probe {
    private SimdExp2Probe() {
    }

    static float[] evaluate(float[] xs) {
        // The same species SimdTileMath uses.
        var species = FloatVector.SPECIES_PREFERRED.length() <= 16 ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_512;
        float[] out = new float[xs.length];
        float[] buf = new float[species.length()];
        for (int i = 0; i < xs.length; i++) {
            java.util.Arrays.fill(buf, xs[i]);
            SimdTileMath.exp2(FloatVector.fromArray(species, buf, 0)).intoArray(buf, 0);
            out[i] = buf[0];
        }
        return out;
    }

    static double worstRelativeError(SplittableRandom rng, int samples) {
        float[] xs = new float[samples];
        for (int i = 0; i < samples; i++) {
            xs[i] = (float) rng.nextDouble(-126, 8);
        }
        float[] ys = evaluate(xs);
        double worst = 0;
        for (int i = 0; i < samples; i++) {
            double want = Math.pow(2, xs[i]);
            worst = Math.max(worst, Math.abs(ys[i] - want) / want);
        }
        return worst;
    }
}

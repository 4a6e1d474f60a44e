package io.sparge4j.models.report;

import io.sparge4j.engine.sparse.PooledAttentionMap;

import java.util.Arrays;

/**
 * The paper's Case 2 measure of how concentrated attention is: for one row of the pooled block attention map
 * (one query block), the fewest key blocks whose pooled mass reaches a fraction of the row's total (0.6 in our
 * experiment), and the block sparsity that leaves, {@code 1 - kept / keyBlocks}. A more concentrated map needs fewer
 * blocks for the same mass, so its sparsity is higher.
 *
 * <p>Sums run in float64 over the map's f32 entries, largest first (ties do not change the count). The mass is a
 * fraction of the row's own sum, which the softmax makes 1 up to rounding. Every key block counts the same (the
 * maps here have equal blocks; a short last block would count as a whole one).
 */
public final class Concentration {
    private Concentration() {
    }

    /**
     * @param row a row of non-negative weights, not all zero
     * @param mass the fraction of the row's total to hold, in (0, 1]
     * @return the fewest entries whose sum reaches {@code mass} times the total
     */
    public static int blocksForMass(double[] row, double mass) {
        checkMass(mass);
        if (row == null || row.length == 0) {
            throw new IllegalArgumentException("Concentration: row is " + (row == null ? "null" : "empty")
                    + ", expected at least one key block");
        }
        double[] sorted = row.clone();
        double total = 0;
        for (int j = 0; j < sorted.length; j++) {
            if (!(sorted[j] >= 0) || !Double.isFinite(sorted[j])) {
                throw new IllegalArgumentException("Concentration: entry " + j + " is " + sorted[j]
                        + ", expected a finite value >= 0");
            }
            total += sorted[j];
        }
        if (!(total > 0)) {
            throw new IllegalArgumentException("Concentration: the row sums to " + total + ", expected a positive mass");
        }
        Arrays.sort(sorted);
        double target = mass * total;
        double sum = 0;
        for (int kept = 1; kept <= sorted.length; kept++) {
            sum += sorted[sorted.length - kept];
            if (sum >= target) {
                return kept;
            }
        }
        return sorted.length;   // rounding kept the full sum a hair below mass * total with mass = 1
    }

    /**
     * @param map a pooled map
     * @param b batch index
     * @param h head index
     * @param mass the fraction of each row's mass to hold, in (0, 1]
     * @return the sparsity {@code 1 - kept / keyBlocks} of each query block's row
     */
    public static double[] rowSparsities(PooledAttentionMap map, int b, int h, double mass) {
        checkMass(mass);
        if (b < 0 || b >= map.batch() || h < 0 || h >= map.heads()) {
            throw new IllegalArgumentException("Concentration: (batch, head) is (" + b + ", " + h + "), expected"
                    + " within (" + map.batch() + ", " + map.heads() + ")");
        }
        int nq = map.queryGrid().blocks();
        int nk = map.keyGrid().blocks();
        double[] out = new double[nq];
        double[] row = new double[nk];
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                row[j] = map.prob(b, h, i, j);
            }
            out[i] = 1.0 - (double) blocksForMass(row, mass) / nk;
        }
        return out;
    }

    /**
     * @param map a pooled map
     * @param mass the fraction of each row's mass to hold, in (0, 1]
     * @return per head, the sparsity needed to hold that mass, averaged over query blocks and the batch
     */
    public static double[] headSparsities(PooledAttentionMap map, double mass) {
        double[] out = new double[map.heads()];
        for (int h = 0; h < map.heads(); h++) {
            double sum = 0;
            for (int b = 0; b < map.batch(); b++) {
                sum += Arrays.stream(rowSparsities(map, b, h, mass)).average().orElseThrow();
            }
            out[h] = sum / map.batch();
        }
        return out;
    }

    static void checkMass(double mass) {
        if (!(mass > 0 && mass <= 1)) {
            throw new IllegalArgumentException("Concentration: mass is " + mass + ", expected a fraction in (0, 1]");
        }
    }
}

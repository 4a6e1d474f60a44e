package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

/**
 * A few host numbers exchanged among the ranks exactly (as 64-bit patterns): step statistics, status flags, hashes,
 * the measurements every rank must agree on.
 */
public final class HostValues {
    private HostValues() {
    }

    /**
     * All-gathers one long array per rank; every rank calls it together, with arrays of the same length.
     *
     * @param comm the ranks
     * @param values this rank's values
     * @return every rank's values, rank 0's first
     */
    public static long[] allGather(Communicator comm, long[] values) {
        int world = comm.worldSize();
        if (values.length == 0) {
            return new long[0];
        }
        try (Tensor mine = Tensor.allocate(DType.I64, values.length);
             Tensor all = Tensor.allocate(DType.I64, world * values.length)) {
            for (int i = 0; i < values.length; i++) {
                mine.setLong(i, values[i]);
            }
            comm.allGather(mine, all);
            long[] out = new long[world * values.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = all.getLong(i);
            }
            return out;
        }
    }

    /**
     * All-gathers one double array per rank, bit for bit.
     *
     * @param comm the ranks
     * @param values this rank's values
     * @return every rank's values, rank 0's first
     */
    public static double[] allGather(Communicator comm, double[] values) {
        long[] bits = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Double.doubleToRawLongBits(values[i]);
        }
        long[] all = allGather(comm, bits);
        double[] out = new double[all.length];
        for (int i = 0; i < all.length; i++) {
            out[i] = Double.longBitsToDouble(all[i]);
        }
        return out;
    }
}

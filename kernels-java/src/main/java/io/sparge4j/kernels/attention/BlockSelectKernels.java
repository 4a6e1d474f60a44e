package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * SpargeAttention2's per-row block selection on the device, exactly as the CPU's {@code BlockSelector}: each row
 * of the pooled map is sorted by descending probability (ties: lower block index first, comparing the float bits
 * of {@code p + 0.0f} like {@code PooledAttentionMap}); Top-k keeps the first {@code topk} entries, Top-p the
 * shortest prefix whose float64 running sum reaches p (the crossing entry kept, at least one, all when p &gt;= 1);
 * hybrid keeps the longer of the two prefixes, which is their union.
 *
 * <p>The float64 running sum is computed with integer arithmetic on IEEE-754 bit patterns (round to nearest
 * even, exactly what {@code double +} does), so that devices without fp64 give the CPU's very answer.
 *
 * <p>How the modes map onto the arguments: dense {@code topk = nk, pBits = 0}; Top-k {@code topk =
 * BlockSelector.topkCount(k, nk), pBits = 0}; Top-p {@code topk = 0, pBits = Double.doubleToRawLongBits(p)};
 * hybrid {@code topk = topkCount(k, nk), pBits = doubleToRawLongBits(p)}.
 */
public final class BlockSelectKernels {
    /** Work-group size: launch {@code rows * GROUP} work-items in groups of {@code GROUP}. */
    public static final int GROUP = 256;
    /** Most key blocks per row: the row is bitonic-sorted in local arrays of this many entries (16 KiB). */
    public static final int MAX_KEY_BLOCKS = 2048;

    private static final long FRACTION = 0xFFFFFFFFFFFFFL;
    private static final long HIDDEN = 1L << 52;
    /** Bits of 1.0: a Top-p threshold at or above it keeps the whole row. */
    private static final long ONE_BITS = 0x3FF0000000000000L;

    private BlockSelectKernels() {
    }

    /**
     * One work-group of {@link #GROUP} per row: a bitonic sort of (probability bits, block index) in local memory
     * padded to a power of two (each work-item takes whole compare-exchange pairs, so no lane idles), then one work-item walks the sorted row for the Top-p count, then every entry's
     * keep flag is written. Launch: 1D grid of {@code rows * GROUP}, local size {@link #GROUP};
     * {@code nk <= MAX_KEY_BLOCKS}.
     *
     * @param ctx the work-item
     * @param probs the pooled map (rows, nk), non-negative and finite
     * @param keep output (rows, nk): 1 where the block is kept, else 0
     * @param counts output (rows): kept blocks per row
     * @param nk key blocks per row
     * @param topk Top-k count (0 for Top-p alone)
     * @param pBits {@code Double.doubleToRawLongBits(p)} of the Top-p threshold (0 for Top-k alone or dense)
     */
    public static void selectBlocks(KernelContext ctx, FloatArray probs, ByteArray keep, IntArray counts, int nk,
            int topk, long pBits) {
        int[] keys = ctx.allocateIntLocalArray(MAX_KEY_BLOCKS);
        int[] index = ctx.allocateIntLocalArray(MAX_KEY_BLOCKS);
        int[] kept = ctx.allocateIntLocalArray(1);
        int lid = ctx.localIdx;
        int row = ctx.groupIdx;
        int base = row * nk;
        int size = 1;
        while (size < nk) {
            size *= 2;
        }
        for (int e = lid; e < size; e += GROUP) {
            // Non-negative floats order like their bits; padding (-1) sorts after every real entry.
            keys[e] = e < nk ? orderBits(probs.get(base + e)) : -1;
            index[e] = e;
        }
        ctx.localBarrier();
        for (int k = 2; k <= size; k *= 2) {
            for (int j = k / 2; j > 0; j /= 2) {
                // one work-item per compared pair (e, e + j), e with bit j clear: every lane busy, half the trips
                for (int pair = lid; pair < size / 2; pair += GROUP) {
                    int e = ((pair & ~(j - 1)) << 1) | (pair & (j - 1));
                    int partner = e + j;
                    int ke = keys[e];
                    int kp = keys[partner];
                    int ie = index[e];
                    int ip = index[partner];
                    boolean inOrder = ke > kp || (ke == kp && ie < ip);
                    boolean ascendingRun = (e & k) == 0;
                    if (ascendingRun != inOrder) {
                        keys[e] = kp;
                        keys[partner] = ke;
                        index[e] = ip;
                        index[partner] = ie;
                    }
                }
                ctx.localBarrier();
            }
        }
        if (lid == 0) {
            int toppCount = nk;
            if (pBits < ONE_BITS) {
                long mass = 0L;
                int e = 0;
                while (e < nk && mass < pBits) {
                    mass = addNonNegative(mass, floatToDoubleBits(keys[e]));
                    e++;
                }
                toppCount = e < 1 ? 1 : e;
            }
            int count = topk > toppCount ? topk : toppCount;
            kept[0] = count < nk ? count : nk;
            counts.set(row, kept[0]);
        }
        ctx.localBarrier();
        int count = kept[0];
        for (int e = lid; e < nk; e += GROUP) {
            keep.set(base + index[e], e < count ? (byte) 1 : (byte) 0);
        }
    }

    /**
     * The bits of {@code v + 0.0f} (the CPU's sort key: -0 becomes +0) taken without float arithmetic, so that a
     * device flushing subnormals in arithmetic still sorts them like the CPU.
     */
    private static int orderBits(float v) {
        int bits = Float.floatToRawIntBits(v);
        return bits == Integer.MIN_VALUE ? 0 : bits;
    }

    /** The float64 bit pattern of a non-negative finite float given by its bits (exact, subnormals included). */
    private static long floatToDoubleBits(int f) {
        int exponent = (f >>> 23) & 0xff;
        long mantissa = f & 0x7fffff;
        long bits = 0L;
        if (exponent != 0) {
            bits = ((long) (exponent - 127 + 1023) << 52) | (mantissa << 29);
        } else if (mantissa != 0) {
            int shift = 0;
            while ((mantissa & 0x800000L) == 0) {
                mantissa <<= 1;
                shift++;
            }
            bits = ((long) (-126 - shift + 1023) << 52) | ((mantissa & 0x7fffffL) << 29);
        }
        return bits;
    }

    /**
     * {@code a + b} for non-negative finite float64 values given by their bits, rounded to nearest even like
     * Java's {@code double +}: align with guard, round and sticky bits, add, renormalise, round.
     */
    private static long addNonNegative(long x, long y) {
        long a = x >= y ? x : y;
        long b = x >= y ? y : x;
        long result = a;
        if (b != 0L) {
            int ea = (int) (a >>> 52);
            int eb = (int) (b >>> 52);
            long ma = a & FRACTION;
            long mb = b & FRACTION;
            if (ea == 0) {
                ea = 1;
            } else {
                ma |= HIDDEN;
            }
            if (eb == 0) {
                eb = 1;
            } else {
                mb |= HIDDEN;
            }
            ma <<= 3;
            mb <<= 3;
            int shift = ea - eb;
            if (shift >= 60) {
                mb = 1L;
            } else if (shift > 0) {
                long lost = mb & ((1L << shift) - 1L);
                mb = (mb >>> shift) | (lost != 0L ? 1L : 0L);
            }
            long sum = ma + mb;
            int e = ea;
            if (sum >= (1L << 56)) {
                sum = (sum >>> 1) | (sum & 1L);
                e++;
            }
            long rest = sum & 7L;
            sum >>>= 3;
            if (rest > 4L || (rest == 4L && (sum & 1L) != 0L)) {
                sum++;
            }
            result = ((long) (e - 1) << 52) + sum;
        }
        return result;
    }
}

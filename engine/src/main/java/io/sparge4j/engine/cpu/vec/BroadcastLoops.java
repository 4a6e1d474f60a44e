package io.sparge4j.engine.cpu.vec;

import io.sparge4j.engine.cpu.CpuRuntime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * NumPy-style broadcasting loops over contiguous row-major f32 data.
 *
 * <p>Shapes are first simplified: size-1 output dimensions are dropped and neighbouring dimensions that
 * broadcast the same way are merged into one "run". The innermost run then becomes one call of a
 * {@link FloatKernels} loop (vector-vector, vector-scalar or scalar-vector), so broadcasting a bias over
 * rows costs no more than a plain add. Callers validate shapes; these methods assume they broadcast.
 */
public final class BroadcastLoops {
    /** Elements per parallel chunk: large enough to amortise task overhead. */
    private static final int CHUNK_ELEMENTS = 16384;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private BroadcastLoops() {
    }

    /**
     * @param a a shape
     * @param b another shape
     * @return the broadcast shape of {@code a} and {@code b}, or null if they do not broadcast
     */
    public static int[] broadcastShape(int[] a, int[] b) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int d = 0; d < r; d++) {
            int da = dimFromEnd(a, r - 1 - d);
            int db = dimFromEnd(b, r - 1 - d);
            if (da != db && da != 1 && db != 1) {
                return null;
            }
            out[d] = da == 1 ? db : da;
        }
        return out;
    }

    /**
     * @param from a shape
     * @param to a target shape
     * @return true if {@code from} broadcasts to exactly {@code to}
     */
    public static boolean broadcastsTo(int[] from, int[] to) {
        int[] s = broadcastShape(from, to);
        return s != null && Arrays.equals(s, to);
    }

    private static int dimFromEnd(int[] shape, int fromEnd) {
        int i = shape.length - 1 - fromEnd;
        return i >= 0 ? shape[i] : 1;
    }

    private static int[] padLeft(int[] shape, int rank) {
        int[] p = new int[rank];
        Arrays.fill(p, 1);
        System.arraycopy(shape, 0, p, rank - shape.length, shape.length);
        return p;
    }

    /**
     * {@code out = a op b} with broadcasting. {@code out} may be {@code a} itself when {@code a} already has
     * the output shape (in-place update).
     *
     * @param k the kernels to run
     * @param op the operation
     * @param a first operand's data
     * @param aShape its shape
     * @param b second operand's data
     * @param bShape its shape
     * @param out output data, holding {@code broadcastShape(aShape, bShape)}
     */
    public static void binary(FloatKernels k, BinaryOp op, MemorySegment a, int[] aShape, MemorySegment b, int[] bShape,
            MemorySegment out) {
        int[] outShape = broadcastShape(aShape, bShape);
        int r = outShape.length;
        int[] ap = padLeft(aShape, r);
        int[] bp = padLeft(bShape, r);
        // runs: merged dimensions, each with a kind (bit 0: a broadcast, bit 1: b broadcast)
        int[] sizes = new int[r];
        int[] kinds = new int[r];
        int runs = 0;
        for (int d = 0; d < r; d++) {
            if (outShape[d] == 1) {
                continue;
            }
            int kind = (ap[d] == 1 ? 1 : 0) | (bp[d] == 1 ? 2 : 0);
            if (runs > 0 && kinds[runs - 1] == kind) {
                sizes[runs - 1] *= outShape[d];
            } else {
                sizes[runs] = outShape[d];
                kinds[runs] = kind;
                runs++;
            }
        }
        long total = 1;
        for (int s : outShape) {
            total *= s;
        }
        if (total == 0) {
            return;
        }
        if (runs == 0) {
            k.binary(op, a, 0, b, 0, out, 0, 1);
            return;
        }
        long[] aStride = new long[runs];
        long[] bStride = new long[runs];
        long sa = 1;
        long sb = 1;
        for (int j = runs - 1; j >= 0; j--) {
            aStride[j] = (kinds[j] & 1) != 0 ? 0 : sa;
            bStride[j] = (kinds[j] & 2) != 0 ? 0 : sb;
            if ((kinds[j] & 1) == 0) {
                sa *= sizes[j];
            }
            if ((kinds[j] & 2) == 0) {
                sb *= sizes[j];
            }
        }
        int inner = sizes[runs - 1];
        int innerKind = kinds[runs - 1];
        int outerRuns = runs - 1;
        long rows = total / inner;
        // long inner runs (same-shape operands merge into one run) are cut into pieces so all threads work
        int pieces = (inner + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
        int pieceLen = (inner + pieces - 1) / pieces;
        int grain = Math.max(1, CHUNK_ELEMENTS / inner);
        CpuRuntime.parallelForRange(Math.toIntExact(rows * pieces), grain, (from, to) -> {
            for (int item = from; item < to; item++) {
                int row = item / pieces;
                int start = (item % pieces) * pieceLen;
                int n = Math.min(pieceLen, inner - start);
                long ao = 0;
                long bo = 0;
                long rem = row;
                for (int j = outerRuns - 1; j >= 0; j--) {
                    long c = rem % sizes[j];
                    rem /= sizes[j];
                    ao += c * aStride[j];
                    bo += c * bStride[j];
                }
                long oo = (long) row * inner + start;
                switch (innerKind) {
                    case 0 -> k.binary(op, a, ao + start, b, bo + start, out, oo, n);
                    case 1 -> k.binaryScalarLeft(op, a.getAtIndex(F, ao), b, bo + start, out, oo, n);
                    case 2 -> k.binaryScalarRight(op, a, ao + start, b.getAtIndex(F, bo), out, oo, n);
                    default -> throw new IllegalStateException("merged run broadcast on both sides");
                }
            }
        });
    }

    /**
     * Sums {@code src} over the dimensions in which {@code dstShape} is broadcast, writing {@code dst}
     * (overwritten): the gradient of a broadcast input.
     *
     * @param k the kernels to run
     * @param src data of shape {@code srcShape}
     * @param srcShape the full shape
     * @param dst output data of shape {@code dstShape}, which must broadcast to {@code srcShape}
     * @param dstShape the reduced shape
     */
    public static void sumTo(FloatKernels k, MemorySegment src, int[] srcShape, MemorySegment dst, int[] dstShape) {
        int r = srcShape.length;
        int[] dp = padLeft(dstShape, r);
        int[] sizes = new int[r];
        boolean[] kept = new boolean[r];
        int runs = 0;
        for (int d = 0; d < r; d++) {
            if (srcShape[d] == 1) {
                continue;
            }
            boolean keep = dp[d] != 1;
            if (runs > 0 && kept[runs - 1] == keep) {
                sizes[runs - 1] *= srcShape[d];
            } else {
                sizes[runs] = srcShape[d];
                kept[runs] = keep;
                runs++;
            }
        }
        dst.fill((byte) 0);
        long total = 1;
        for (int s : srcShape) {
            total *= s;
        }
        if (total == 0) {
            return;
        }
        // strides in src (all runs) and dst (kept runs only), in elements
        long[] srcStride = new long[runs];
        long[] dstStride = new long[runs];
        long ss = 1;
        long ds = 1;
        for (int j = runs - 1; j >= 0; j--) {
            srcStride[j] = ss;
            ss *= sizes[j];
            dstStride[j] = kept[j] ? ds : 0;
            if (kept[j]) {
                ds *= sizes[j];
            }
        }
        long dstTotal = ds;
        long reducedTotal = total / dstTotal;
        if (runs == 0 || reducedTotal == 1) {
            MemorySegment.copy(src, 0, dst, 0, total * Float.BYTES);
            return;
        }
        int[] keptRuns = select(runs, kept, true);
        int[] reducedRuns = select(runs, kept, false);
        if (kept[runs - 1]) {
            // innermost run kept: add whole rows of K columns, split into column blocks
            int cols = sizes[runs - 1];
            int outerKept = keptRuns.length - 1;
            int targetRows = Math.toIntExact(dstTotal / cols);
            ColumnBlocks.forEach(targetRows, cols, (t, c0, len) -> {
                long base = offset(t, keptRuns, outerKept, sizes, srcStride);
                long dOff = (long) t * cols + c0;
                for (long rr = 0; rr < reducedTotal; rr++) {
                    long sOff = base + offset(rr, reducedRuns, reducedRuns.length, sizes, srcStride) + c0;
                    k.axpy(1f, src, sOff, dst, dOff, len);
                }
            });
        } else {
            // innermost run reduced: each output element is a sum of contiguous row sums
            int n = sizes[runs - 1];
            int outerReduced = reducedRuns.length - 1;
            long outerCount = reducedTotal / n;
            int grain = Math.max(1, Math.toIntExact(Math.min(Integer.MAX_VALUE, CHUNK_ELEMENTS / Math.max(1, reducedTotal))));
            CpuRuntime.parallelForRange(Math.toIntExact(dstTotal), grain, (from, to) -> {
                for (int t = from; t < to; t++) {
                    long base = offset(t, keptRuns, keptRuns.length, sizes, srcStride);
                    float s = 0;
                    for (long rr = 0; rr < outerCount; rr++) {
                        s += k.sum(src, base + offset(rr, reducedRuns, outerReduced, sizes, srcStride), n);
                    }
                    dst.setAtIndex(F, t, s);
                }
            });
        }
    }

    private static int[] select(int runs, boolean[] kept, boolean want) {
        int count = 0;
        for (int j = 0; j < runs; j++) {
            if (kept[j] == want) {
                count++;
            }
        }
        int[] out = new int[count];
        for (int j = 0, i = 0; j < runs; j++) {
            if (kept[j] == want) {
                out[i++] = j;
            }
        }
        return out;
    }

    /** The src offset of linear index {@code index} over the first {@code count} of {@code runIds}. */
    private static long offset(long index, int[] runIds, int count, int[] sizes, long[] srcStride) {
        long off = 0;
        long rem = index;
        for (int i = count - 1; i >= 0; i--) {
            int j = runIds[i];
            off += (rem % sizes[j]) * srcStride[j];
            rem /= sizes[j];
        }
        return off;
    }
}

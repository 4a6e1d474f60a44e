package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Data-movement ops: concat, split, reshape, permute and transpose, with their backward passes.
 *
 * <p>They work on any dtype (they copy elements bit for bit) and return new tensors that own their
 * memory, except {@link #reshape}, which returns a view. Axes may be negative, counting from the end.
 * Each op is linear, and its backward is the adjoint: {@link #split} is the backward of
 * {@link #concat} and the other way round, {@link #permuteBackward} undoes {@link #permute},
 * {@link #transpose} is its own backward, and the backward of {@code reshape(x, shape)} is
 * {@code reshape(dy, x.shape())}.
 */
public final class Shapes {
    /** Elements per parallel work chunk: below this, threading costs more than it saves. */
    private static final int PARALLEL_GRAIN_ELEMENTS = 1 << 15;
    /** Tile edge for transposing copies: 16 f32 fill one 64-byte cache line. */
    private static final int TILE = 16;
    /** Runs at least this many bytes long are moved with a bulk copy rather than an element loop. */
    private static final int BULK_BYTES = 64;

    private static final ValueLayout.OfByte B1 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort B2 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt B4 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong B8 = ValueLayout.JAVA_LONG_UNALIGNED;

    private Shapes() {
    }

    // ---------------------------------------------------------------- concat / split

    /**
     * Joins tensors along one axis.
     *
     * @param axis the axis to join along (negative counts from the end)
     * @param ts at least one tensor; all share dtype, rank and every size except along {@code axis}
     * @return a new tensor whose size along {@code axis} is the sum of the inputs' sizes
     */
    public static Tensor concat(int axis, Tensor... ts) {
        String op = "concat";
        Check.that(ts != null && ts.length > 0, op, "ts", ts == null ? "null" : "empty", "at least one tensor");
        Tensor first = Check.notNull(op, "ts[0]", ts[0]);
        int a = normalizeAxis(op, "axis", axis, first.rank());
        int[] outShape = first.shape();
        int total = 0;
        for (int i = 0; i < ts.length; i++) {
            Tensor t = Check.dtype(op, "ts[" + i + "]", ts[i], first.dtype());
            int[] expected = first.shape();
            expected[a] = -1;
            Check.shape(op, "ts[" + i + "]", t, expected);
            total = Math.addExact(total, t.dim(a));
        }
        outShape[a] = total;
        Tensor out = Tensor.allocate(first.dtype(), outShape);
        long inner = Tensor.numelOf(Arrays.copyOfRange(outShape, a + 1, outShape.length));
        int outer = Math.toIntExact(Tensor.numelOf(Arrays.copyOfRange(outShape, 0, a)));
        long[] offsets = new long[ts.length];
        long[] chunks = new long[ts.length];
        long offset = 0;
        for (int i = 0; i < ts.length; i++) {
            offsets[i] = offset;
            chunks[i] = ts[i].dim(a) * inner;
            offset += chunks[i];
        }
        long outRow = total * inner;
        long esize = first.dtype().byteSize();
        MemorySegment dst = out.segment();
        CpuRuntime.parallelForRange(outer, grainFor(outRow), (from, to) -> {
            for (int o = from; o < to; o++) {
                for (int i = 0; i < ts.length; i++) {
                    MemorySegment.copy(ts[i].segment(), o * chunks[i] * esize, dst, (o * outRow + offsets[i]) * esize,
                            chunks[i] * esize);
                }
            }
        });
        return out;
    }

    /**
     * Cuts a tensor into consecutive pieces along one axis; the backward of {@link #concat}.
     *
     * @param t the tensor
     * @param axis the axis to cut (negative counts from the end)
     * @param sizes the pieces' sizes along {@code axis}, each at least 0, summing to {@code t.dim(axis)}
     * @return new tensors, one per size, that own copies of their elements
     */
    public static Tensor[] split(Tensor t, int axis, int... sizes) {
        String op = "split";
        Check.notNull(op, "t", t);
        int a = normalizeAxis(op, "axis", axis, t.rank());
        Check.that(sizes != null && sizes.length > 0, op, "sizes", sizes == null ? "null" : "empty", "at least one size");
        long sum = 0;
        for (int s : sizes) {
            Check.that(s >= 0, op, "sizes", Arrays.toString(sizes), "sizes >= 0");
            sum += s;
        }
        Check.that(sum == t.dim(a), op, "sizes", Arrays.toString(sizes) + " (sum " + sum + ")",
                "sizes summing to " + t.dim(a) + ", the size of axis " + a + " of shape " + Arrays.toString(t.shape()));
        int[] shape = t.shape();
        long inner = Tensor.numelOf(Arrays.copyOfRange(shape, a + 1, shape.length));
        int outer = Math.toIntExact(Tensor.numelOf(Arrays.copyOfRange(shape, 0, a)));
        Tensor[] outs = new Tensor[sizes.length];
        long[] offsets = new long[sizes.length];
        long[] chunks = new long[sizes.length];
        long offset = 0;
        for (int i = 0; i < sizes.length; i++) {
            int[] s = shape.clone();
            s[a] = sizes[i];
            outs[i] = Tensor.allocate(t.dtype(), s);
            offsets[i] = offset;
            chunks[i] = sizes[i] * inner;
            offset += chunks[i];
        }
        long inRow = t.dim(a) * inner;
        long esize = t.dtype().byteSize();
        MemorySegment src = t.segment();
        CpuRuntime.parallelForRange(outer, grainFor(inRow), (from, to) -> {
            for (int o = from; o < to; o++) {
                for (int i = 0; i < outs.length; i++) {
                    MemorySegment.copy(src, (o * inRow + offsets[i]) * esize, outs[i].segment(), o * chunks[i] * esize,
                            chunks[i] * esize);
                }
            }
        });
        return outs;
    }

    // ---------------------------------------------------------------- reshape

    /**
     * A view with a new shape (see {@link Tensor#reshape}); one size may be -1. Its backward is
     * {@code reshape(dy, x.shape())}.
     *
     * @param t the tensor
     * @param shape the new shape, holding as many elements as {@code t}
     * @return a view sharing {@code t}'s memory
     */
    public static Tensor reshape(Tensor t, int... shape) {
        Check.notNull("reshape", "t", t);
        Check.that(shape != null, "reshape", "shape", "null", "a shape");
        return t.reshape(shape);
    }

    // ---------------------------------------------------------------- permute / transpose

    /**
     * Reorders axes: output axis {@code k} is input axis {@code perm[k]}, as PyTorch's {@code permute}.
     * The result is a contiguous copy. Copies that keep the last axis in place move whole rows (for
     * example (B, N, H, d) to (B, H, N, d)); others go through cache-sized tiles.
     *
     * @param t the tensor
     * @param perm a permutation of {@code 0..rank-1} (negative entries count from the end)
     * @return a new tensor of shape {@code t.shape()[perm[k]]}
     */
    public static Tensor permute(Tensor t, int... perm) {
        Check.notNull("permute", "t", t);
        int[] p = checkPermutation("permute", t.rank(), perm);
        return permuteChecked(t, p);
    }

    /**
     * Backward of {@link #permute}: applies the inverse permutation.
     *
     * @param dy gradient with respect to {@code permute(x, perm)}
     * @param perm the permutation given to the forward pass
     * @return the gradient with respect to {@code x}
     */
    public static Tensor permuteBackward(Tensor dy, int... perm) {
        Check.notNull("permuteBackward", "dy", dy);
        int[] p = checkPermutation("permuteBackward", dy.rank(), perm);
        int[] inverse = new int[p.length];
        for (int k = 0; k < p.length; k++) {
            inverse[p[k]] = k;
        }
        return permuteChecked(dy, inverse);
    }

    /**
     * Swaps two axes (a permute); it is its own backward.
     *
     * @param t the tensor
     * @param a one axis (negative counts from the end)
     * @param b the other axis
     * @return a new tensor with axes {@code a} and {@code b} swapped
     */
    public static Tensor transpose(Tensor t, int a, int b) {
        Check.notNull("transpose", "t", t);
        int x = normalizeAxis("transpose", "a", a, t.rank());
        int y = normalizeAxis("transpose", "b", b, t.rank());
        int[] perm = new int[t.rank()];
        for (int k = 0; k < perm.length; k++) {
            perm[k] = k;
        }
        perm[x] = y;
        perm[y] = x;
        return permuteChecked(t, perm);
    }

    private static Tensor permuteChecked(Tensor t, int[] perm) {
        int[] inShape = t.shape();
        int[] outShape = new int[perm.length];
        for (int k = 0; k < perm.length; k++) {
            outShape[k] = inShape[perm[k]];
        }
        Tensor out = Tensor.allocate(t.dtype(), outShape);
        if (out.numel() == 0) {
            return out;
        }
        Plan plan = Plan.of(inShape, perm);
        int esize = t.dtype().byteSize();
        if (plan.rank() <= 1) {
            MemorySegment.copy(t.segment(), 0, out.segment(), 0, t.byteSize());
        } else if (plan.lastAxisStays()) {
            permuteRows(t.segment(), out.segment(), plan, esize);
        } else {
            permuteTiled(t.segment(), out.segment(), plan, esize);
        }
        return out;
    }

    /** The input's last axis stays last: every output row of the last axis is one contiguous input run. */
    private static void permuteRows(MemorySegment src, MemorySegment dst, Plan plan, int esize) {
        int r = plan.rank();
        int run = plan.outShape[r - 1];
        int rows = Math.toIntExact(Tensor.numelOf(Arrays.copyOf(plan.outShape, r - 1)));
        CpuRuntime.parallelForRange(rows, grainFor(run), (from, to) -> {
            int[] idx = new int[r - 1];
            decode(from, plan.outShape, r - 1, idx);
            long srcOff = 0;
            for (int k = 0; k < r - 1; k++) {
                srcOff += idx[k] * plan.srcStride[k];
            }
            for (int row = from; row < to; row++) {
                copyRuns(src, srcOff, 0, 1, dst, (long) row * run, 0, 1, 1, run, esize);
                for (int k = r - 2; k >= 0; k--) {
                    srcOff += plan.srcStride[k];
                    if (++idx[k] < plan.outShape[k]) {
                        break;
                    }
                    srcOff -= (long) idx[k] * plan.srcStride[k];
                    idx[k] = 0;
                }
            }
        });
    }

    /**
     * The input's last axis moves to output axis q: copy TILE x TILE blocks of (output axis q, output last
     * axis), so that both the strided reads and the writes stay in a few cache lines.
     */
    private static void permuteTiled(MemorySegment src, MemorySegment dst, Plan plan, int esize) {
        int r = plan.rank();
        int q = plan.outAxisOfInputLast();
        int[] others = new int[r - 2];
        for (int k = 0, j = 0; k < r - 1; k++) {
            if (k != q) {
                others[j++] = k;
            }
        }
        int[] otherShape = new int[others.length];
        for (int j = 0; j < others.length; j++) {
            otherShape[j] = plan.outShape[others[j]];
        }
        long[] dstStride = contiguousStrides(plan.outShape);
        int rowsQ = plan.outShape[q];
        int cols = plan.outShape[r - 1];
        long colSrcStride = plan.srcStride[r - 1];
        long rowDstStride = dstStride[q];
        int tilesQ = (rowsQ + TILE - 1) / TILE;
        int items = Math.toIntExact(Tensor.numelOf(otherShape) * tilesQ);
        CpuRuntime.parallelForRange(items, grainFor((long) TILE * cols), (from, to) -> {
            int[] idx = new int[others.length];
            for (int item = from; item < to; item++) {
                int tileQ = item % tilesQ;
                decode(item / tilesQ, otherShape, otherShape.length, idx);
                long srcBase = 0;
                long dstBase = 0;
                for (int j = 0; j < others.length; j++) {
                    srcBase += idx[j] * plan.srcStride[others[j]];
                    dstBase += idx[j] * dstStride[others[j]];
                }
                int i0 = tileQ * TILE;
                int ni = Math.min(TILE, rowsQ - i0);
                srcBase += i0;
                dstBase += i0 * rowDstStride;
                for (int j0 = 0; j0 < cols; j0 += TILE) {
                    int nj = Math.min(TILE, cols - j0);
                    copyRuns(src, srcBase + j0 * colSrcStride, 1, colSrcStride, dst, dstBase + j0, rowDstStride, 1, ni,
                            nj, esize);
                }
            }
        });
    }

    /**
     * A permutation simplified for copying: size-1 axes dropped and input axes that stay adjacent and
     * in order merged, so that, for example, (1, N, H, d) to (1, H, N, d) becomes a swap of (N, H) over runs of d.
     */
    private record Plan(int[] outShape, long[] srcStride) {
        static Plan of(int[] inShape, int[] perm) {
            // Keep the axes of size > 1, in output order, as indices into the input.
            int[] kept = Arrays.stream(perm).filter(ax -> inShape[ax] > 1).toArray();
            int[] sortedKept = kept.clone();
            Arrays.sort(sortedKept);
            // Merge runs of output axes that are consecutive input axes.
            int[] groupSize = new int[kept.length];
            int[] groupFirstInput = new int[kept.length];
            int groups = 0;
            for (int k = 0; k < kept.length; k++) {
                boolean merges = k > 0 && kept[k] == nextKept(sortedKept, kept[k - 1]);
                if (!merges) {
                    groupFirstInput[groups] = kept[k];
                    groupSize[groups++] = 1;
                }
                groupSize[groups - 1] *= inShape[kept[k]];
            }
            // Rank each group by its input position to get the merged permutation and input strides.
            Integer[] byInput = new Integer[groups];
            for (int g = 0; g < groups; g++) {
                byInput[g] = g;
            }
            Arrays.sort(byInput, (x, y) -> Integer.compare(groupFirstInput[x], groupFirstInput[y]));
            long[] inStrideOfGroup = new long[groups];
            long stride = 1;
            for (int i = groups - 1; i >= 0; i--) {
                int g = byInput[i];
                inStrideOfGroup[g] = stride;
                stride *= groupSize[g];
            }
            int[] outShape = new int[groups];
            long[] srcStride = new long[groups];
            for (int g = 0; g < groups; g++) {
                outShape[g] = groupSize[g];
                srcStride[g] = inStrideOfGroup[g];
            }
            return new Plan(outShape, srcStride);
        }

        private static int nextKept(int[] sortedKept, int ax) {
            int i = Arrays.binarySearch(sortedKept, ax);
            return i + 1 < sortedKept.length ? sortedKept[i + 1] : -1;
        }

        int rank() {
            return outShape.length;
        }

        boolean lastAxisStays() {
            return srcStride[rank() - 1] == 1;
        }

        int outAxisOfInputLast() {
            for (int k = 0; k < rank(); k++) {
                if (srcStride[k] == 1) {
                    return k;
                }
            }
            throw new IllegalStateException("no unit-stride axis");
        }
    }

    // ---------------------------------------------------------------- copy kernels shared with Patchify

    /**
     * Copies {@code runs} runs of {@code len} elements. Run {@code i}, element {@code j} goes from
     * {@code src[srcOff + i*srcRunStride + j*srcStep]} to {@code dst[dstOff + i*dstRunStride + j*dstStep]}.
     * Offsets and strides count elements of {@code esize} bytes.
     */
    static void copyRuns(MemorySegment src, long srcOff, long srcRunStride, long srcStep, MemorySegment dst, long dstOff,
                         long dstRunStride, long dstStep, int runs, int len, int esize) {
        if (srcStep == 1 && dstStep == 1 && (long) len * esize >= BULK_BYTES) {
            for (int i = 0; i < runs; i++) {
                MemorySegment.copy(src, (srcOff + i * srcRunStride) * esize, dst, (dstOff + i * dstRunStride) * esize,
                        (long) len * esize);
            }
            return;
        }
        switch (esize) {
            case 4 -> {
                for (int i = 0; i < runs; i++) {
                    long s = srcOff + i * srcRunStride;
                    long d = dstOff + i * dstRunStride;
                    for (int j = 0; j < len; j++, s += srcStep, d += dstStep) {
                        dst.setAtIndex(B4, d, src.getAtIndex(B4, s));
                    }
                }
            }
            case 2 -> {
                for (int i = 0; i < runs; i++) {
                    long s = srcOff + i * srcRunStride;
                    long d = dstOff + i * dstRunStride;
                    for (int j = 0; j < len; j++, s += srcStep, d += dstStep) {
                        dst.setAtIndex(B2, d, src.getAtIndex(B2, s));
                    }
                }
            }
            case 8 -> {
                for (int i = 0; i < runs; i++) {
                    long s = srcOff + i * srcRunStride;
                    long d = dstOff + i * dstRunStride;
                    for (int j = 0; j < len; j++, s += srcStep, d += dstStep) {
                        dst.setAtIndex(B8, d, src.getAtIndex(B8, s));
                    }
                }
            }
            case 1 -> {
                for (int i = 0; i < runs; i++) {
                    long s = srcOff + i * srcRunStride;
                    long d = dstOff + i * dstRunStride;
                    for (int j = 0; j < len; j++, s += srcStep, d += dstStep) {
                        dst.set(B1, d, src.get(B1, s));
                    }
                }
            }
            default -> throw new IllegalStateException("element size " + esize);
        }
    }

    /** @return work items per parallel chunk when each item moves {@code elementsPerItem} elements */
    static int grainFor(long elementsPerItem) {
        return (int) Math.max(1, PARALLEL_GRAIN_ELEMENTS / Math.max(1, elementsPerItem));
    }

    // ---------------------------------------------------------------- helpers

    static int normalizeAxis(String op, String arg, int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        Check.that(a >= 0 && a < rank, op, arg, axis, "an axis in [" + (-rank) + ", " + rank + ") for rank " + rank);
        return a;
    }

    private static int[] checkPermutation(String op, int rank, int[] perm) {
        Check.that(perm != null && perm.length == rank, op, "perm", perm == null ? "null" : Arrays.toString(perm),
                "a permutation of " + rank + " axes");
        int[] p = new int[rank];
        boolean[] seen = new boolean[rank];
        for (int k = 0; k < rank; k++) {
            int a = perm[k] < 0 ? perm[k] + rank : perm[k];
            Check.that(a >= 0 && a < rank && !seen[a], op, "perm", Arrays.toString(perm),
                    "a permutation of 0.." + (rank - 1));
            seen[a] = true;
            p[k] = a;
        }
        return p;
    }

    private static long[] contiguousStrides(int[] shape) {
        long[] s = new long[shape.length];
        long stride = 1;
        for (int k = shape.length - 1; k >= 0; k--) {
            s[k] = stride;
            stride *= shape[k];
        }
        return s;
    }

    /** Writes the row-major multi-index of {@code flat} over the first {@code n} sizes into {@code idx}. */
    private static void decode(long flat, int[] sizes, int n, int[] idx) {
        for (int k = n - 1; k >= 0; k--) {
            idx[k] = (int) (flat % sizes[k]);
            flat /= sizes[k];
        }
    }
}

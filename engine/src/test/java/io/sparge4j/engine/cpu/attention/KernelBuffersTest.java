package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The kernels' internal machinery: packed buffers reused across calls (whatever they held before must not
 * reach a result), packing only the blocks a schedule visits, and the longest-first task order.
 */
class KernelBuffersTest {
    // f32 tolerances as in AttentionTest: 1e-5 relative, 1e-5 (values) / 2e-5 (gradients) absolute.
    private static final double RTOL = 1e-5;

    static List<TileMath> maths() {
        return SparseScheduleTest.maths();
    }

    /** Fills the cached packed buffers of both kernels with NaN, as if a previous call had left garbage. */
    private static void poisonPackedBuffers(int floats) {
        for (PackedBuffer buffer : new PackedBuffer[] {FlashForward.PACKED, FlashBackward.PACKED}) {
            float[] a = buffer.acquire(floats);
            Arrays.fill(a, Float.NaN);
            buffer.release(a);
        }
    }

    /** Runs forward and backward on one shape and checks them against float64 masked attention. */
    private static void checkAgainstReference(TileMath math, int nq, int nk, int d, int bq, int bk, long seed) {
        int b = 1, h = 2;
        AttentionShape sh = new AttentionShape(b, h, nq, nk, d, AttentionLayout.BHND, bq, bk);
        SparseScheduleTest.RandomMask mask = new SparseScheduleTest.RandomMask(b * h, sh.queryBlocks(),
                sh.keyBlocks(), seed);
        float scale = 0.3f;
        SplittableRandom rng = new SplittableRandom(seed);
        try (Tensor q = Tensor.randn(rng, DType.F32, b, h, nq, d);
             Tensor k = Tensor.randn(rng, DType.F32, b, h, nk, d);
             Tensor v = Tensor.randn(rng, DType.F32, b, h, nk, d);
             Tensor dOut = Tensor.randn(rng, DType.F32, b, h, nq, d);
             Tensor out = Tensor.full(Float.NaN, b, h, nq, d);
             Tensor lse = Tensor.full(Float.NaN, b, h, nq);
             Tensor dq = Tensor.full(Float.NaN, b, h, nq, d);
             Tensor dk = Tensor.full(Float.NaN, b, h, nk, d);
             Tensor dv = Tensor.full(Float.NaN, b, h, nk, d)) {
            FlashForward.run(sh, q, k, v, scale, out, lse, mask, math);
            FlashBackward.run(sh, dOut, q, k, v, out, lse, scale, dq, dk, dv, mask, math);
            AttentionReference ref = new AttentionReference(b, h, nq, nk, d, scale,
                    (bh, i, j) -> mask.keep[bh][i / bq][j / bk]);
            double[] qd = q.toDoubleArray();
            double[] kd = k.toDoubleArray();
            double[] vd = v.toDoubleArray();
            AttentionReference.Forward want = ref.forward(qd, kd, vd);
            String what = " nq=" + nq + " nk=" + nk + " d=" + d;
            assertClose(want.out(), out.toFloatArray(), RTOL, 1e-5, "out" + what);
            assertClose(want.lse(), lse.toFloatArray(), RTOL, 1e-5, "logsumexp" + what);
            AttentionReference.Grads g = ref.backward(qd, kd, vd, dOut.toDoubleArray());
            assertClose(g.dq(), dq.toFloatArray(), RTOL, 2e-5, "dq" + what);
            assertClose(g.dk(), dk.toFloatArray(), RTOL, 2e-5, "dk" + what);
            assertClose(g.dv(), dv.toFloatArray(), RTOL, 2e-5, "dv" + what);
        }
    }

    @ParameterizedTest
    @MethodSource("maths")
    void staleBufferContentsNeverReachResults(TileMath math) {
        // NaN everywhere a packed operand could be read: any padding or vector slot the packers fail to
        // write would turn a result into NaN.
        poisonPackedBuffers(1 << 20);
        // Head dim 20 pads to 32 and the last blocks are short, so padding lands where data used to be.
        checkAgainstReference(math, 70, 90, 20, 16, 20, 21);
        // A larger shape next (head dim 32 needs no padding: whole blocks are read in one go), then the first
        // again: the cached buffer now holds the other shape's data.
        checkAgainstReference(math, 96, 77, 32, 32, 16, 22);
        checkAgainstReference(math, 70, 90, 20, 16, 20, 23);
    }

    @Test
    void sparseResultsAreBitwiseIndependentOfThreadCount() {
        int b = 2, h = 3, nq = 300, nk = 260, d = 48, bq = 64, bk = 32;
        AttentionShape sh = new AttentionShape(b, h, nq, nk, d, AttentionLayout.BNHD, bq, bk);
        SparseScheduleTest.RandomMask mask = new SparseScheduleTest.RandomMask(b * h, sh.queryBlocks(),
                sh.keyBlocks(), 5);
        TileMath math = TileMaths.best();
        SplittableRandom rng = new SplittableRandom(8);
        int threads = CpuRuntime.threads();
        try (Tensor q = Tensor.randn(rng, DType.F32, b, nq, h, d);
             Tensor k = Tensor.randn(rng, DType.F32, b, nk, h, d);
             Tensor v = Tensor.randn(rng, DType.F32, b, nk, h, d);
             Tensor dOut = Tensor.randn(rng, DType.F32, b, nq, h, d)) {
            float[][] first = null;
            for (int n : new int[] {1, 3}) {
                CpuRuntime.setThreads(n);
                try (Tensor out = Tensor.allocate(DType.F32, b, nq, h, d);
                     Tensor lse = Tensor.allocate(DType.F32, b, h, nq);
                     Tensor dq = Tensor.allocate(DType.F32, b, nq, h, d);
                     Tensor dk = Tensor.allocate(DType.F32, b, nk, h, d);
                     Tensor dv = Tensor.allocate(DType.F32, b, nk, h, d)) {
                    FlashForward.run(sh, q, k, v, 0.125f, out, lse, mask, math);
                    FlashBackward.run(sh, dOut, q, k, v, out, lse, 0.125f, dq, dk, dv, mask, math);
                    float[][] got = {out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dk.toFloatArray(),
                            dv.toFloatArray()};
                    if (first == null) {
                        first = got;
                    } else {
                        for (int i = 0; i < got.length; i++) {
                            assertArrayEquals(first[i], got[i], "output " + i + " with " + n + " threads");
                        }
                    }
                }
            }
        } finally {
            CpuRuntime.setThreads(threads);
        }
    }

    @Test
    void usedBlocksAreExactlyThoseTheScheduleVisits() {
        int heads = 3, nqb = 7, nkb = 9, first = 1;
        SparseScheduleTest.RandomMask mask = new SparseScheduleTest.RandomMask(first + heads, nqb, nkb, 11);
        // Drop every key block of one query row and one whole key column of head 1 (c = 0).
        Arrays.fill(mask.keep[1][2], false);
        for (boolean[] row : mask.keep[1]) {
            row[4] = false;
        }
        List<Integer> wantKeys = new ArrayList<>();
        List<Integer> wantQueries = new ArrayList<>();
        for (int c = 0; c < heads; c++) {
            for (int kb = 0; kb < nkb; kb++) {
                boolean any = false;
                for (int qb = 0; qb < nqb; qb++) {
                    any |= mask.keep[first + c][qb][kb];
                }
                if (any) {
                    wantKeys.add(c * nkb + kb);
                }
            }
            for (int qb = 0; qb < nqb; qb++) {
                boolean any = false;
                for (int kb = 0; kb < nkb; kb++) {
                    any |= mask.keep[first + c][qb][kb];
                }
                if (any) {
                    wantQueries.add(c * nqb + qb);
                }
            }
        }
        int[] keys = WorkOrder.usedKeyBlocks(mask, first, heads, nqb, nkb);
        int[] queries = WorkOrder.usedQueryBlocks(mask, first, heads, nqb, nkb);
        assertArrayEquals(wantKeys.stream().mapToInt(Integer::intValue).toArray(), keys, "key blocks");
        assertArrayEquals(wantQueries.stream().mapToInt(Integer::intValue).toArray(), queries, "query blocks");
        assertEquals(false, Arrays.stream(keys).anyMatch(i -> i == 4), "key block 4 of head 1 is dropped");
        assertEquals(false, Arrays.stream(queries).anyMatch(i -> i == 2), "query block 2 of head 1 is dropped");
    }

    @Test
    void tasksRunLongestFirstWithTiesByIndex() {
        int[] cost = {3, 0, 7, 3, 7, 1};
        assertArrayEquals(new int[] {2, 4, 0, 3, 5, 1}, WorkOrder.byCostDescending(cost.length, i -> cost[i]));
        assertArrayEquals(new int[0], WorkOrder.byCostDescending(0, i -> 0));
    }

    @ParameterizedTest
    @MethodSource("maths")
    void transposedTilesHoldEveryRowAndZeroPadding(TileMath math) {
        // 13 rows: one block of eight, five left over; head dim 20 pads to 32, and the tile has 16 rows.
        AttentionShape sh = new AttentionShape(1, 1, 13, 13, 20, AttentionLayout.BHND, 16, 16);
        int count = 13, d = 20, dp = 32, tile = 16, srcOff = 5, stride = 27, off = 3;
        float[] src = new float[srcOff + count * stride];
        for (int i = 0; i < src.length; i++) {
            src[i] = i + 1;
        }
        float[] dst = new float[off + dp * tile + 4];
        Arrays.fill(dst, Float.NaN);
        TilePacker.transposed(math, src, srcOff, stride, count, sh, tile, dst, off);
        for (int c = 0; c < dp; c++) {
            for (int r = 0; r < tile; r++) {
                float want = c < d && r < count ? src[srcOff + r * stride + c] : 0f;
                assertEquals(want, dst[off + c * tile + r], "column " + c + " row " + r);
            }
        }
        for (int i : new int[] {0, 1, 2, off + dp * tile, dst.length - 1}) {
            assertEquals(Float.NaN, dst[i], "outside the tile at " + i);
        }
    }
}

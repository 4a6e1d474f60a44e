package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;

/**
 * The kernels driven by a block-sparse {@link BlockSchedule}: forward and backward must equal float64
 * attention restricted to the kept (query block, key block) tiles. This is the hook block-sparse
 * attention plugs into.
 */
class SparseScheduleTest {
    // f32 tolerances as in AttentionTest: 1e-5 relative, 1e-5 (values) / 2e-5 (gradients) absolute.
    private static final double RTOL = 1e-5;

    /** A random mask per head with every query block keeping at least one key block. */
    static final class RandomMask implements BlockSchedule {
        final boolean[][][] keep; // [bh][qb][kb]

        RandomMask(int batchHeads, int qBlocks, int kBlocks, long seed) {
            SplittableRandom rng = new SplittableRandom(seed);
            keep = new boolean[batchHeads][qBlocks][kBlocks];
            for (boolean[][] head : keep) {
                for (boolean[] row : head) {
                    for (int j = 0; j < kBlocks; j++) {
                        row[j] = rng.nextDouble() < 0.4;
                    }
                    row[rng.nextInt(kBlocks)] = true;
                }
            }
        }

        @Override
        public int[] keyBlocks(int batchHead, int queryBlock) {
            List<Integer> l = new ArrayList<>();
            for (int j = 0; j < keep[batchHead][queryBlock].length; j++) {
                if (keep[batchHead][queryBlock][j]) {
                    l.add(j);
                }
            }
            return l.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public int[] queryBlocks(int batchHead, int keyBlock) {
            List<Integer> l = new ArrayList<>();
            for (int i = 0; i < keep[batchHead].length; i++) {
                if (keep[batchHead][i][keyBlock]) {
                    l.add(i);
                }
            }
            return l.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    static List<TileMath> maths() {
        List<TileMath> m = new ArrayList<>();
        m.add(ScalarTileMath.INSTANCE);
        if (SimdSupport.available()) {
            m.add(TileMaths.simd());
        }
        return m;
    }

    @ParameterizedTest
    @MethodSource("maths")
    void sparseScheduleMatchesMaskedReference(TileMath math) {
        int b = 1, h = 2, nq = 70, nk = 90, d = 24, bq = 16, bk = 20;
        AttentionShape sh = new AttentionShape(b, h, nq, nk, d, AttentionLayout.BHND, bq, bk);
        RandomMask mask = new RandomMask(b * h, sh.queryBlocks(), sh.keyBlocks(), 17);
        float scale = 0.2f;
        SplittableRandom rng = new SplittableRandom(3);
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
            assertClose(want.out(), out.toFloatArray(), RTOL, 1e-5, "out");
            assertClose(want.lse(), lse.toFloatArray(), RTOL, 1e-5, "logsumexp");
            AttentionReference.Grads g = ref.backward(qd, kd, vd, dOut.toDoubleArray());
            assertClose(g.dq(), dq.toFloatArray(), RTOL, 2e-5, "dq");
            // Keys no query attends to get exactly zero gradient, which the reference also gives.
            assertClose(g.dk(), dk.toFloatArray(), RTOL, 2e-5, "dk");
            assertClose(g.dv(), dv.toFloatArray(), RTOL, 2e-5, "dv");
        }
    }
}

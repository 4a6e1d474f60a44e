package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.cpu.attention.AttentionReference;
import io.sparge4j.engine.cpu.attention.ScalarTileMath;
import io.sparge4j.engine.cpu.attention.TileMath;
import io.sparge4j.engine.cpu.attention.TileMaths;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionTest {
    // f32 tolerances: outputs are convex combinations of v (|out| <~ 3) accumulated in f32 over up to 130 keys,
    // with a polynomial 2^x good to ~1e-7; 1e-5 relative plus 1e-5 absolute (values cross zero) covers it.
    private static final double RTOL = 1e-5;
    private static final double ATOL = 1e-5;
    // Gradients sum more products (dS has a cancelling rowsum term), so allow 2e-5 absolute.
    private static final double GRAD_ATOL = 2e-5;

    /** A case: sizes, layout, scale (NaN = default) and block sizes. */
    record Case(int b, int h, int nq, int nk, int d, AttentionLayout layout, float scale, int bq, int bk) {
        @Override
        public String toString() {
            return "B" + b + " H" + h + " Nq" + nq + " Nk" + nk + " d" + d + " " + layout
                    + (Float.isNaN(scale) ? "" : " scale" + scale) + " blocks " + bq + "x" + bk;
        }

        Attention.Options options() {
            return Attention.Options.defaults().withLayout(layout).withScale(scale).withBlocks(bq, bk);
        }

        int[] qShape() {
            return layout == AttentionLayout.BHND ? new int[] {b, h, nq, d} : new int[] {b, nq, h, d};
        }

        int[] kShape() {
            return layout == AttentionLayout.BHND ? new int[] {b, h, nk, d} : new int[] {b, nk, h, d};
        }

        AttentionReference reference() {
            return new AttentionReference(b, h, nq, nk, d, options().scaleFor(d), AttentionReference.DENSE);
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

    static List<Case> cases() {
        float dflt = Float.NaN;
        return List.of(
                new Case(1, 1, 1, 1, 64, AttentionLayout.BHND, dflt, 128, 64),
                new Case(1, 2, 37, 37, 64, AttentionLayout.BHND, dflt, 128, 64),
                new Case(2, 2, 130, 130, 64, AttentionLayout.BHND, dflt, 128, 64),
                new Case(1, 2, 130, 130, 64, AttentionLayout.BHND, dflt, 32, 16),
                new Case(1, 2, 37, 130, 80, AttentionLayout.BHND, dflt, 128, 64),
                new Case(1, 1, 130, 37, 128, AttentionLayout.BNHD, dflt, 128, 64),
                new Case(2, 3, 37, 70, 64, AttentionLayout.BNHD, 0.3f, 20, 50),
                new Case(1, 1, 20, 33, 256, AttentionLayout.BHND, dflt, 128, 64),
                new Case(1, 2, 65, 66, 3, AttentionLayout.BNHD, 0.7f, 7, 9));
    }

    static Stream<Arguments> mathAndCase() {
        return maths().stream().flatMap(m -> cases().stream().map(c -> Arguments.of(m.getClass().getSimpleName(), m, c)));
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("mathAndCase")
    void forwardMatchesFloat64Reference(String path, TileMath math, Case c) {
        SplittableRandom rng = new SplittableRandom(c.hashCode());
        try (Tensor q = Tensor.randn(rng, DType.F32, c.qShape());
             Tensor k = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor v = Tensor.randn(rng, DType.F32, c.kShape());
             Attention.Result r = Attention.forward(q, k, v, c.options(), null, math)) {
            AttentionReference ref = c.reference();
            AttentionReference.Forward want = ref.forward(AttentionReference.logical(q, c.layout()),
                    AttentionReference.logical(k, c.layout()), AttentionReference.logical(v, c.layout()));
            assertEquals(List.of(c.qShape()[0], c.qShape()[1], c.qShape()[2], c.qShape()[3]),
                    List.of(r.out().dim(0), r.out().dim(1), r.out().dim(2), r.out().dim(3)), "out shape");
            assertClose(want.out(), AttentionReference.logicalFloats(r.out(), c.layout()), RTOL, ATOL, "out");
            assertClose(want.lse(), r.logsumexp().toFloatArray(), RTOL, ATOL, "logsumexp");
        }
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("mathAndCase")
    void backwardMatchesFloat64AnalyticGradient(String path, TileMath math, Case c) {
        SplittableRandom rng = new SplittableRandom(31L * c.hashCode() + 7);
        try (Tensor q = Tensor.randn(rng, DType.F32, c.qShape());
             Tensor k = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor v = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor dOut = Tensor.randn(rng, DType.F32, c.qShape());
             Attention.Result r = Attention.forward(q, k, v, c.options(), null, math);
             Attention.Gradients g = Attention.backward(dOut, q, k, v, r.out(), r.logsumexp(), c.options(), null, math)) {
            AttentionReference.Grads want = c.reference().backward(AttentionReference.logical(q, c.layout()),
                    AttentionReference.logical(k, c.layout()), AttentionReference.logical(v, c.layout()),
                    AttentionReference.logical(dOut, c.layout()));
            assertClose(want.dq(), AttentionReference.logicalFloats(g.dq(), c.layout()), RTOL, GRAD_ATOL, "dq");
            assertClose(want.dk(), AttentionReference.logicalFloats(g.dk(), c.layout()), RTOL, GRAD_ATOL, "dk");
            assertClose(want.dv(), AttentionReference.logicalFloats(g.dv(), c.layout()), RTOL, GRAD_ATOL, "dv");
        }
    }

    static Stream<Arguments> mathsOnly() {
        return maths().stream().map(m -> Arguments.of(m.getClass().getSimpleName(), m));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mathsOnly")
    void backwardMatchesFiniteDifferencesOfReference(String path, TileMath math) {
        // Tiny cross-attention in BNHD with small blocks, so several tiles and padding are exercised.
        Case c = new Case(1, 2, 5, 7, 3, AttentionLayout.BNHD, 0.8f, 2, 3);
        SplittableRandom rng = new SplittableRandom(99);
        try (Tensor q = Tensor.randn(rng, DType.F32, c.qShape());
             Tensor k = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor v = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor dOut = Tensor.randn(rng, DType.F32, c.qShape());
             Attention.Result r = Attention.forward(q, k, v, c.options(), null, math);
             Attention.Gradients g = Attention.backward(dOut, q, k, v, r.out(), r.logsumexp(), c.options(), null, math)) {
            AttentionReference ref = c.reference();
            double[] qd = AttentionReference.logical(q, c.layout());
            double[] kd = AttentionReference.logical(k, c.layout());
            double[] vd = AttentionReference.logical(v, c.layout());
            double[] dy = AttentionReference.logical(dOut, c.layout());
            // Central differences of the float64 forward: truncation ~1e-10, so f32 tolerances apply.
            double[] dq = GradCheck.gradient(x -> GradCheck.dot(ref.forward(x, kd, vd).out(), dy), qd);
            double[] dk = GradCheck.gradient(x -> GradCheck.dot(ref.forward(qd, x, vd).out(), dy), kd);
            double[] dv = GradCheck.gradient(x -> GradCheck.dot(ref.forward(qd, kd, x).out(), dy), vd);
            assertClose(dq, AttentionReference.logicalFloats(g.dq(), c.layout()), 1e-4, 1e-5, "dq");
            assertClose(dk, AttentionReference.logicalFloats(g.dk(), c.layout()), 1e-4, 1e-5, "dk");
            assertClose(dv, AttentionReference.logicalFloats(g.dv(), c.layout()), 1e-4, 1e-5, "dv");
        }
    }

    @Test
    void halfPrecisionInputsAreConvertedWhileLoading() {
        for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
            Case c = new Case(1, 2, 70, 45, 64, AttentionLayout.BHND, Float.NaN, 32, 16);
            SplittableRandom rng = new SplittableRandom(5);
            try (Tensor q = Tensor.randn(rng, dtype, c.qShape());
                 Tensor k = Tensor.randn(rng, dtype, c.kShape());
                 Tensor v = Tensor.randn(rng, dtype, c.kShape());
                 Tensor dOut = Tensor.randn(rng, dtype, c.qShape());
                 Attention.Result r = Attention.forward(q, k, v, c.options());
                 Attention.Gradients g = Attention.backward(dOut, q, k, v, r.out(), r.logsumexp(), c.options())) {
                assertEquals(DType.F32, r.out().dtype());
                // The reference reads the same rounded values, so f32 tolerances still hold.
                AttentionReference ref = c.reference();
                double[] qd = q.toDoubleArray();
                double[] kd = k.toDoubleArray();
                double[] vd = v.toDoubleArray();
                AttentionReference.Forward want = ref.forward(qd, kd, vd);
                assertClose(want.out(), r.out().toFloatArray(), RTOL, ATOL, dtype + " out");
                assertClose(want.lse(), r.logsumexp().toFloatArray(), RTOL, ATOL, dtype + " logsumexp");
                AttentionReference.Grads wantG = ref.backward(qd, kd, vd, dOut.toDoubleArray());
                assertClose(wantG.dq(), g.dq().toFloatArray(), RTOL, GRAD_ATOL, dtype + " dq");
                assertClose(wantG.dk(), g.dk().toFloatArray(), RTOL, GRAD_ATOL, dtype + " dk");
                assertClose(wantG.dv(), g.dv().toFloatArray(), RTOL, GRAD_ATOL, dtype + " dv");
            }
        }
    }

    @Test
    void defaultPathMatchesScalarPathClosely() {
        Case c = new Case(1, 2, 300, 200, 64, AttentionLayout.BHND, Float.NaN, 128, 64);
        SplittableRandom rng = new SplittableRandom(11);
        try (Tensor q = Tensor.randn(rng, DType.F32, c.qShape());
             Tensor k = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor v = Tensor.randn(rng, DType.F32, c.kShape());
             Attention.Result fast = Attention.forward(q, k, v, c.options());
             Attention.Result scalar = Attention.forward(q, k, v, c.options(), null, ScalarTileMath.INSTANCE)) {
            float[] a = fast.out().toFloatArray();
            float[] b = scalar.out().toFloatArray();
            double[] bd = new double[b.length];
            for (int i = 0; i < b.length; i++) {
                bd[i] = b[i];
            }
            assertClose(bd, a, RTOL, ATOL, "default vs scalar out");
        }
    }

    @Test
    void resultsAreBitwiseRepeatable() {
        // Every output row is owned by one task (no atomics), so reruns on the thread pool give the same bits.
        Case c = new Case(2, 3, 200, 150, 64, AttentionLayout.BHND, Float.NaN, 64, 32);
        SplittableRandom rng = new SplittableRandom(13);
        try (Tensor q = Tensor.randn(rng, DType.F32, c.qShape());
             Tensor k = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor v = Tensor.randn(rng, DType.F32, c.kShape());
             Tensor dOut = Tensor.randn(rng, DType.F32, c.qShape());
             Attention.Result r1 = Attention.forward(q, k, v, c.options());
             Attention.Result r2 = Attention.forward(q, k, v, c.options());
             Attention.Gradients g1 = Attention.backward(dOut, q, k, v, r1.out(), r1.logsumexp(), c.options());
             Attention.Gradients g2 = Attention.backward(dOut, q, k, v, r1.out(), r1.logsumexp(), c.options())) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(r1.out().toFloatArray(), r2.out().toFloatArray(), "out");
            org.junit.jupiter.api.Assertions.assertArrayEquals(g1.dq().toFloatArray(), g2.dq().toFloatArray(), "dq");
            org.junit.jupiter.api.Assertions.assertArrayEquals(g1.dk().toFloatArray(), g2.dk().toFloatArray(), "dk");
            org.junit.jupiter.api.Assertions.assertArrayEquals(g1.dv().toFloatArray(), g2.dv().toFloatArray(), "dv");
        }
    }

    @Test
    void rejectsBadArguments() {
        try (Tensor q = Tensor.randn(1, 1, 2, 8, 16);
             Tensor k = Tensor.randn(2, 1, 2, 5, 16);
             Tensor v = Tensor.randn(3, 1, 2, 5, 16);
             Tensor k3 = Tensor.randn(4, 2, 5, 16);
             Tensor kWrongDim = Tensor.randn(5, 1, 2, 5, 8);
             Tensor kWrongHeads = Tensor.randn(6, 1, 3, 5, 16);
             Tensor vWrongLen = Tensor.randn(7, 1, 2, 6, 16);
             Tensor kBf16 = Tensor.randn(8, 1, 2, 5, 16).to(DType.BF16);
             Tensor qInt = Tensor.allocate(DType.I32, 1, 2, 8, 16);
             Tensor qBig = Tensor.randn(9, 1, 1, 2, 300);
             Tensor kBig = Tensor.randn(10, 1, 1, 2, 300)) {
            Attention.Options o = Attention.Options.defaults();
            expectMessage(() -> Attention.forward(q, k3, v, o), "attention: k has shape [2, 5, 16] (rank 3), expected rank 4");
            expectMessage(() -> Attention.forward(q, kWrongDim, v, o), "attention: k has shape [1, 2, 5, 8], expected [1, 2, *, 16]");
            expectMessage(() -> Attention.forward(q, kWrongHeads, v, o), "attention: k has shape [1, 3, 5, 16], expected [1, 2, *, 16]");
            expectMessage(() -> Attention.forward(q, k, vWrongLen, o), "attention: v has shape [1, 2, 6, 16], expected [1, 2, 5, 16]");
            expectMessage(() -> Attention.forward(q, kBf16, v, o), "attention: k has dtype bf16, expected f32");
            expectMessage(() -> Attention.forward(qInt, k, v, o), "attention: q has dtype i32, expected f32, bf16 or f16");
            expectMessage(() -> Attention.forward(qBig, kBig, kBig, o), "attention: q head dim is 300, expected at most 256");
            expectMessage(() -> Attention.forward(q, k, v, o.withScale(-1f)), "attention: options.scale is -1.0, expected a finite positive number");
            expectMessage(() -> Attention.forward(q, k, v, o.withBlocks(0, 64)), "attention: options.queryBlock is 0, expected a positive integer");
            expectMessage(() -> Attention.forward(q, k, v, o.withBlocks(128, 4096)), "attention: options.keyBlock is 4096, expected at most 1024");
            expectMessage(() -> Attention.forward(null, k, v, o), "attention: q is null");
            // In BNHD the same k reads as 2 keys per head of 5 heads: heads disagree with q's 8.
            expectMessage(() -> Attention.forward(q, k, v, o.withLayout(AttentionLayout.BNHD)),
                    "attention: k has shape [1, 2, 5, 16], expected [1, *, 8, 16]");
            try (Attention.Result r = Attention.forward(q, k, v, o);
                 Tensor badLse = Tensor.randn(11, 1, 2, 7)) {
                expectMessage(() -> Attention.backward(q, q, k, v, r.out(), badLse, o),
                        "attention.backward: logsumexp has shape [1, 2, 7], expected [1, 2, 8]");
                expectMessage(() -> Attention.backward(k, q, k, v, r.out(), r.logsumexp(), o),
                        "attention.backward: dOut has shape [1, 2, 5, 16], expected [1, 2, 8, 16] (the shape of q)");
                expectMessage(() -> Attention.backward(q, q, k, v, k, r.logsumexp(), o),
                        "attention.backward: out has shape [1, 2, 5, 16], expected [1, 2, 8, 16] (the shape of q)");
            }
        }
    }

    @Test
    void emptyScheduleGivesZeroOutputAndMinusInfinityLogsumexp() {
        try (Tensor q = Tensor.randn(1, 1, 1, 3, 16);
             Tensor k = Tensor.randn(2, 1, 1, 4, 16);
             Attention.Result r = Attention.forward(q, k, k, Attention.Options.defaults(),
                     new io.sparge4j.engine.cpu.attention.BlockSchedule() {
                         @Override
                         public int[] keyBlocks(int batchHead, int queryBlock) {
                             return new int[0];
                         }

                         @Override
                         public int[] queryBlocks(int batchHead, int keyBlock) {
                             return new int[0];
                         }
                     }, TileMaths.best())) {
            for (float x : r.out().toFloatArray()) {
                assertEquals(0f, x);
            }
            for (float x : r.logsumexp().toFloatArray()) {
                assertEquals(Float.NEGATIVE_INFINITY, x);
            }
        }
    }

    private static void expectMessage(org.junit.jupiter.api.function.Executable call, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(message), () -> "message was: " + e.getMessage() + "\nexpected: " + message);
    }
}

package io.sparge4j.engine.distributed;

import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static io.sparge4j.engine.ops.AttentionLayout.BHND;
import static io.sparge4j.engine.ops.AttentionLayout.BNHD;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Sequence-parallel sparse attention over {@link InProcessCommunicator} ranks against single-process
 * {@link SparseAttention} on the full tensors, and in dense mode against a float64 attention computed here.
 *
 * <p>Tolerances: against SparseAttention, bit-exact (every head runs the same code on the same full-sequence
 * data, only on another rank), for output, logsumexp and each head's kept blocks. Against the float64 reference,
 * |got - ref| &lt;= 1e-5 (1 + |ref|) (f32 accumulation over at most 120 keys of N(0, 1) data).
 */
class UlyssesAttentionTest {
    private static final double F64_TOL = 1e-5;

    record Case(String name, int world, MaskMode mode, AttentionLayout layout, DType dtype, int batch, int heads,
            int queries, int keys, int headDim, int queryBlock, int keyBlock) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        for (int world : new int[] {1, 2, 4}) {
            for (MaskMode mode : new MaskMode[] {MaskMode.DENSE, MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID}) {
                for (AttentionLayout layout : AttentionLayout.values()) {
                    cases.add(new Case(mode + " " + layout + " world " + world, world, mode, layout, DType.F32, 2, 4,
                            96, 96, 32, 16, 16));
                }
            }
            // Blocks that straddle the ranks' slices, fewer keys than queries, bf16 inputs, 8 heads.
            cases.add(new Case("hybrid BNHD bf16 120x80 blocks 20x12 world " + world, world, MaskMode.HYBRID, BNHD,
                    DType.BF16, 1, 8, 120, 80, 24, 20, 12));
            cases.add(new Case("topk BHND 120x80 blocks 20x12 world " + world, world, MaskMode.TOPK, BHND, DType.F32,
                    2, 8, 120, 80, 16, 20, 12));
        }
        return cases.stream();
    }

    private static SparseAttention.Config config(Case c) {
        return SparseAttention.Config.defaults().withMode(c.mode()).withTopk(0.25).withTopp(0.6)
                .withBlocks(c.queryBlock(), c.keyBlock()).withLayout(c.layout());
    }

    private static int[] shape(Case c, int tokens) {
        return c.layout() == BHND ? new int[] {c.batch(), c.heads(), tokens, c.headDim()}
                : new int[] {c.batch(), tokens, c.heads(), c.headDim()};
    }

    /**
     * q and k with a smooth low-rank part per head plus noise, so the pooled map is far from flat and Top-k/Top-p
     * drop blocks; v is N(0, 1).
     */
    private static Tensor structured(long seed, Case c, int tokens, boolean smooth) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(c.dtype(), shape(c, tokens));
        double[][] dirs = new double[c.heads()][c.headDim()];
        double[] phase = new double[c.heads()];
        for (int h = 0; h < c.heads(); h++) {
            phase[h] = rng.nextDouble(2 * Math.PI);
            for (int x = 0; x < c.headDim(); x++) {
                dirs[h][x] = rng.nextGaussian();
            }
        }
        for (int b = 0; b < c.batch(); b++) {
            for (int h = 0; h < c.heads(); h++) {
                for (int n = 0; n < tokens; n++) {
                    double wave = smooth ? 2 * Math.cos(2 * Math.PI * 2 * n / tokens + phase[h]) : 0;
                    for (int x = 0; x < c.headDim(); x++) {
                        int[] index = c.layout() == BHND ? new int[] {b, h, n, x} : new int[] {b, n, h, x};
                        t.set((float) (wave * dirs[h][x] + rng.nextGaussian()), index);
                    }
                }
            }
        }
        return t;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyRanksSliceEqualsSingleProcessSparseAttention(Case c) {
        long seed = c.name().hashCode();
        int world = c.world();
        try (Tensor q = structured(seed, c, c.queries(), true);
             Tensor k = structured(seed + 1, c, c.keys(), true);
             Tensor v = structured(seed + 2, c, c.keys(), false);
             SparseAttention.Result full = SparseAttention.forward(q, k, v, config(c))) {
            if (c.mode() != MaskMode.DENSE) {
                assertTrue(full.statistics().sparsity() > 0.1, c + ": the mask should drop blocks, sparsity "
                        + full.statistics().sparsity());
            }
            List<UlyssesAttention.Result> results = InProcessCommunicator.runRanks(world, comm -> {
                int r = comm.rank();
                try (Tensor lq = UlyssesAttention.tokenSlice(q, c.layout(), r, world);
                     Tensor lk = UlyssesAttention.tokenSlice(k, c.layout(), r, world);
                     Tensor lv = UlyssesAttention.tokenSlice(v, c.layout(), r, world)) {
                    return UlyssesAttention.forward(comm, lq, lk, lv, config(c));
                }
            });
            int h = c.heads() / world;
            for (int r = 0; r < world; r++) {
                UlyssesAttention.Result res = results.get(r);
                try (Tensor expectedOut = UlyssesAttention.tokenSlice(full.out(), c.layout(), r, world);
                     Tensor expectedLse = UlyssesAttention.tokenSlice(
                             full.logsumexp().reshape(c.batch(), c.heads(), c.queries(), 1), BHND, r, world)) {
                    assertEquals(DType.F32, res.out().dtype());
                    assertArrayEquals(shape(c, c.queries() / world), res.out().shape(), c + ": out shape");
                    assertArrayEquals(expectedOut.toFloatArray(), res.out().toFloatArray(), c + ": rank " + r + " out");
                    assertArrayEquals(new int[] {c.batch(), c.heads(), c.queries() / world}, res.logsumexp().shape());
                    assertArrayEquals(expectedLse.toFloatArray(), res.logsumexp().toFloatArray(),
                            c + ": rank " + r + " logsumexp");
                    assertSameKeptBlocks(full.selection().mask(), res.selection().mask(), r * h, c + ": rank " + r);
                }
            }
            if (c.mode() == MaskMode.DENSE) {
                assertMatchesFloat64Attention(c, q, k, v, results);
            }
            results.forEach(UlyssesAttention.Result::close);
        }
    }

    /**
     * The backward: each rank's dq, dk, dv equal its token slices of single-process {@link SparseAttention#backward}
     * on the full tensors, bit for bit (each head's backward runs the same code on the same data).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyRanksGradientsEqualSingleProcessSparseBackward(Case c) {
        long seed = c.name().hashCode() + 7;
        int world = c.world();
        try (Tensor q = structured(seed, c, c.queries(), true);
             Tensor k = structured(seed + 1, c, c.keys(), true);
             Tensor v = structured(seed + 2, c, c.keys(), false);
             Tensor dOut = Tensor.randn(seed + 3, shape(c, c.queries()));
             SparseAttention.Result full = SparseAttention.forward(q, k, v, config(c));
             Attention.Gradients want = SparseAttention.backward(dOut, q, k, v, full, config(c))) {
            List<Attention.Gradients> results = InProcessCommunicator.runRanks(world, comm -> {
                int r = comm.rank();
                try (Tensor lq = UlyssesAttention.tokenSlice(q, c.layout(), r, world);
                     Tensor lk = UlyssesAttention.tokenSlice(k, c.layout(), r, world);
                     Tensor lv = UlyssesAttention.tokenSlice(v, c.layout(), r, world);
                     Tensor ld = UlyssesAttention.tokenSlice(dOut, c.layout(), r, world);
                     UlyssesAttention.Result fwd = UlyssesAttention.forward(comm, lq, lk, lv, config(c))) {
                    return UlyssesAttention.backward(comm, lq, lk, lv, ld, fwd, config(c));
                }
            });
            double largest = 0;
            for (float x : want.dq().toFloatArray()) {
                largest = Math.max(largest, Math.abs(x));
            }
            assertTrue(largest > 0, c + ": a nonzero gradient");
            for (int r = 0; r < world; r++) {
                try (Attention.Gradients got = results.get(r);
                     Tensor dq = UlyssesAttention.tokenSlice(want.dq(), c.layout(), r, world);
                     Tensor dk = UlyssesAttention.tokenSlice(want.dk(), c.layout(), r, world);
                     Tensor dv = UlyssesAttention.tokenSlice(want.dv(), c.layout(), r, world)) {
                    assertArrayEquals(shape(c, c.queries() / world), got.dq().shape(), c + ": dq shape");
                    assertArrayEquals(dq.toFloatArray(), got.dq().toFloatArray(), c + ": rank " + r + " dq");
                    assertArrayEquals(dk.toFloatArray(), got.dk().toFloatArray(), c + ": rank " + r + " dk");
                    assertArrayEquals(dv.toFloatArray(), got.dv().toFloatArray(), c + ": rank " + r + " dv");
                }
            }
        }
    }

    private static void assertSameKeptBlocks(BlockMask full, BlockMask part, int firstHead, String what) {
        assertEquals(full.batch(), part.batch());
        assertEquals(full.queryGrid(), part.queryGrid(), what + ": query blocks cover the full sequence");
        assertEquals(full.keyGrid(), part.keyGrid(), what + ": key blocks cover the full sequence");
        for (int b = 0; b < part.batch(); b++) {
            for (int h = 0; h < part.heads(); h++) {
                for (int i = 0; i < part.queryGrid().blocks(); i++) {
                    for (int j = 0; j < part.keyGrid().blocks(); j++) {
                        assertEquals(full.kept(b, firstHead + h, i, j), part.kept(b, h, i, j),
                                what + ": kept (b=" + b + ", head " + (firstHead + h) + ", " + i + ", " + j + ")");
                    }
                }
            }
        }
    }

    /** Softmax(q k^T / sqrt(d)) v in float64 from the inputs' values, compared with every rank's tokens. */
    private static void assertMatchesFloat64Attention(Case c, Tensor q, Tensor k, Tensor v,
            List<UlyssesAttention.Result> results) {
        double scale = 1 / Math.sqrt(c.headDim());
        int n = c.queries() / c.world();
        for (int b = 0; b < c.batch(); b++) {
            for (int h = 0; h < c.heads(); h++) {
                for (int i = 0; i < c.queries(); i++) {
                    double[] s = new double[c.keys()];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < c.keys(); j++) {
                        double dot = 0;
                        for (int x = 0; x < c.headDim(); x++) {
                            dot += (double) q.get(index(c, b, h, i, x)) * k.get(index(c, b, h, j, x));
                        }
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < c.keys(); j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    Tensor out = results.get(i / n).out();
                    for (int x = 0; x < c.headDim(); x++) {
                        double ref = 0;
                        for (int j = 0; j < c.keys(); j++) {
                            ref += s[j] / sum * v.get(index(c, b, h, j, x));
                        }
                        double got = out.get(index(c, b, h, i % n, x));
                        if (!(Math.abs(got - ref) <= F64_TOL * (1 + Math.abs(ref)))) {
                            fail(c + ": out (b=" + b + ", h=" + h + ", token " + i + ", " + x + ") is " + got
                                    + ", float64 attention gives " + ref);
                        }
                    }
                }
            }
        }
    }

    private static int[] index(Case c, int b, int h, int token, int x) {
        return c.layout() == BHND ? new int[] {b, h, token, x} : new int[] {b, token, h, x};
    }

    @Test
    void maskModeUsesEachRanksHeadsOfTheGivenMask() {
        Case c = new Case("mask BNHD", 2, MaskMode.MASK, BNHD, DType.F32, 2, 4, 64, 64, 16, 16, 16);
        SplittableRandom rng = new SplittableRandom(5);
        try (Tensor q = structured(1, c, 64, true);
             Tensor k = structured(2, c, 64, true);
             Tensor v = structured(3, c, 64, false);
             Tensor mask = Tensor.allocate(DType.U8, 2, 4, 4, 4)) {
            for (int row = 0; row < 2 * 4 * 4; row++) {
                mask.setLong(row * 4L + rng.nextInt(4), 1);
                for (int j = 0; j < 4; j++) {
                    if (rng.nextDouble() < 0.3) {
                        mask.setLong(row * 4L + j, 1);
                    }
                }
            }
            var config = SparseAttention.Config.defaults().withBlocks(16, 16).withLayout(BNHD).withMask(mask);
            try (SparseAttention.Result full = SparseAttention.forward(q, k, v, config)) {
                List<Tensor> outs = InProcessCommunicator.runRanks(2, comm -> {
                    try (Tensor lq = UlyssesAttention.tokenSlice(q, BNHD, comm.rank(), 2);
                         Tensor lk = UlyssesAttention.tokenSlice(k, BNHD, comm.rank(), 2);
                         Tensor lv = UlyssesAttention.tokenSlice(v, BNHD, comm.rank(), 2);
                         UlyssesAttention.Result r = UlyssesAttention.forward(comm, lq, lk, lv, config)) {
                        assertSameKeptBlocks(full.selection().mask(), r.selection().mask(), comm.rank() * 2, "mask");
                        return r.out().copy();
                    }
                });
                for (int r = 0; r < 2; r++) {
                    try (Tensor expected = UlyssesAttention.tokenSlice(full.out(), BNHD, r, 2)) {
                        assertArrayEquals(expected.toFloatArray(), outs.get(r).toFloatArray(), "rank " + r);
                    }
                }
            }
        }
    }

    @Test
    void tokenSliceCopiesTheRanksTokensInEitherLayout() {
        try (Tensor bhnd = Tensor.randn(3, 2, 3, 8, 5);
             Tensor bnhd = Tensor.randn(4, 2, 8, 3, 5)) {
            for (int r = 0; r < 4; r++) {
                try (Tensor a = UlyssesAttention.tokenSlice(bhnd, BHND, r, 4);
                     Tensor b = UlyssesAttention.tokenSlice(bnhd, BNHD, r, 4)) {
                    assertArrayEquals(new int[] {2, 3, 2, 5}, a.shape());
                    assertArrayEquals(new int[] {2, 2, 3, 5}, b.shape());
                    for (int i0 = 0; i0 < 2; i0++) {
                        for (int h = 0; h < 3; h++) {
                            for (int t = 0; t < 2; t++) {
                                for (int x = 0; x < 5; x++) {
                                    assertEquals(bhnd.get(i0, h, 2 * r + t, x), a.get(i0, h, t, x));
                                    assertEquals(bnhd.get(i0, 2 * r + t, h, x), b.get(i0, t, h, x));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- errors

    @Test
    void headsNotDivisibleByTheWorldSizeAreReportedOnEveryRank() {
        var e = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(4, comm -> {
            try (Tensor t = Tensor.randn(comm.rank(), 1, 6, 8, 16)) {
                return UlyssesAttention.forward(comm, t, t, t, SparseAttention.Config.defaults().withMode(MaskMode.DENSE));
            }
        }));
        assertTrue(e.getMessage().contains("q heads is 6, expected a multiple of the world size 4"), e.getMessage());
        assertEquals(3, e.getSuppressed().length, "the other ranks fail with the same error: "
                + List.of(e.getSuppressed()));
        for (Throwable s : e.getSuppressed()) {
            assertEquals(e.getMessage(), s.getMessage());
        }
    }

    @Test
    void unequalSlicesOfTheSequenceAreReported() {
        var e = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(2, comm -> {
            int tokens = comm.rank() == 1 ? 5 : 6; // an 11-token sequence split over 2 ranks
            try (Tensor q = Tensor.randn(comm.rank(), 1, 2, tokens, 8);
                 Tensor kv = Tensor.randn(7, 1, 2, 6, 8)) {
                return UlyssesAttention.forward(comm, q, kv, kv, SparseAttention.Config.defaults());
            }
        }));
        assertTrue(e.getMessage().contains("rank 1 has query tokens 5, rank 0 has 6"), e.getMessage());
        assertTrue(e.getMessage().contains("must divide by the world size 2"), e.getMessage());

        var odd = assertThrows(IllegalArgumentException.class,
                () -> UlyssesAttention.tokenSlice(Tensor.zeros(1, 2, 11, 4), BHND, 0, 2));
        assertTrue(odd.getMessage().contains("sequence length 11 is not divisible by the world size 2"), odd.getMessage());
        var rank = assertThrows(IllegalArgumentException.class,
                () -> UlyssesAttention.tokenSlice(Tensor.zeros(1, 2, 12, 4), BHND, 2, 2));
        assertTrue(rank.getMessage().contains("rank is 2, expected in [0, 2)"), rank.getMessage());
    }

    @Test
    void mismatchedLayoutsOrMissingArgumentsAreReported() {
        var layout = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(2, comm -> {
            var config = SparseAttention.Config.defaults().withLayout(comm.rank() == 0 ? BHND : BNHD);
            try (Tensor t = Tensor.randn(1, 1, 4, 4, 8)) {
                return UlyssesAttention.forward(comm, t, t, t, config);
            }
        }));
        assertTrue(layout.getMessage().contains("rank 1 has layout BNHD, rank 0 has BHND"), layout.getMessage());
        var comm = assertThrows(IllegalArgumentException.class, () -> UlyssesAttention.forward(null, null, null, null,
                SparseAttention.Config.defaults()));
        assertTrue(comm.getMessage().contains("comm is null"), comm.getMessage());
        var kShape = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(1, c -> {
            try (Tensor q = Tensor.randn(1, 1, 4, 4, 8);
                 Tensor k = Tensor.randn(2, 1, 3, 4, 8)) {
                return UlyssesAttention.forward(c, q, k, k, SparseAttention.Config.defaults());
            }
        }));
        assertTrue(kShape.getMessage().contains("k"), kShape.getMessage());
    }
}

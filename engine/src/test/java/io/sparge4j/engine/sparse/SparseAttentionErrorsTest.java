package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.SparseAttention.Config;
import io.sparge4j.engine.sparse.SparseReference.Dims;
import io.sparge4j.engine.sparse.SparseReference.Problem;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import static io.sparge4j.engine.sparse.MaskMode.DENSE;
import static io.sparge4j.engine.sparse.MaskMode.HYBRID;
import static io.sparge4j.engine.sparse.MaskMode.TOPK;
import static io.sparge4j.engine.sparse.MaskMode.TOPP;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad arguments: every message names the argument, the value given and what was expected. */
class SparseAttentionErrorsTest {
    private static final Dims DIMS = new Dims(2, 3, 300, 200, 64, 32, 16);

    private static void assertRejected(Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should contain '" + part + "'");
        }
    }

    @Test
    void fractionsOutsideZeroOneAreRejected() {
        Config base = Config.defaults();
        for (double bad : new double[] {0, -0.1, 1.5, Double.NaN, Double.POSITIVE_INFINITY}) {
            String got = String.valueOf(bad);
            assertRejected(() -> base.withMode(TOPK).withTopk(bad), "topk", got, "expected a fraction in (0, 1]");
            assertRejected(() -> base.withMode(HYBRID).withTopk(bad), "topk", got, "expected a fraction in (0, 1]");
            assertRejected(() -> base.withMode(TOPP).withTopp(bad), "topp", got, "expected a fraction in (0, 1]");
            assertRejected(() -> base.withMode(HYBRID).withTopp(bad), "topp", got, "expected a fraction in (0, 1]");
            // A rule the mode does not use is not checked.
            assertDoesNotThrow(() -> base.withMode(TOPK).withTopp(bad));
            assertDoesNotThrow(() -> base.withMode(TOPP).withTopk(bad));
        }
        assertDoesNotThrow(() -> base.withTopk(1.0).withTopp(1.0));
        assertDoesNotThrow(() -> base.withTopk(Double.MIN_VALUE).withTopp(Double.MIN_VALUE));
    }

    @Test
    void nonPositiveOrOversizedBlockSizesAreRejected() {
        for (int bad : new int[] {0, -3, 1025}) {
            assertRejected(() -> Config.defaults().withBlocks(bad, 64), "bq", String.valueOf(bad), "expected a positive");
            assertRejected(() -> Config.defaults().withBlocks(128, bad), "bkv", String.valueOf(bad), "expected a positive");
        }
        assertDoesNotThrow(() -> Config.defaults().withBlocks(1024, 1));
    }

    @Test
    void badScaleModeAndLayoutAreRejected() {
        for (float bad : new float[] {0f, -1f, Float.POSITIVE_INFINITY}) {
            assertRejected(() -> Config.defaults().withScale(bad), "scale", String.valueOf(bad), "expected a finite positive");
        }
        assertRejected(() -> Config.defaults().withMode(null), "mode", "expected dense, topk, topp, hybrid or mask");
        assertRejected(() -> Config.defaults().withLayout(null), "layout", "expected BHND or BNHD");
        assertRejected(() -> Config.defaults().withMode(MaskMode.MASK), "mode mask", "block mask");
        assertRejected(() -> MaskMode.parse("sparse"), "mode", "'sparse'", "expected one of dense, topk, topp, hybrid, mask");
    }

    @Test
    void mismatchedShapesAndDtypesAreRejected() {
        for (MaskMode mode : new MaskMode[] {DENSE, HYBRID}) {
            Config config = Config.defaults().withBlocks(32, 16).withMode(mode);
            try (Problem pr = SparseReference.problem(1, DIMS, AttentionLayout.BHND, DType.F32);
                 Tensor kWrongDim = Tensor.zeros(2, 3, 200, 32);
                 Tensor kWrongHeads = Tensor.zeros(2, 4, 200, 64);
                 Tensor vWrongLen = Tensor.zeros(2, 3, 199, 64);
                 Tensor kBf16 = pr.k().to(DType.BF16);
                 Tensor q3 = Tensor.zeros(6, 300, 64);
                 Tensor k5 = Tensor.zeros(1, 2, 3, 200, 64);
                 Tensor qInt = Tensor.allocate(DType.I32, 2, 3, 300, 64)) {
                assertRejected(() -> SparseAttention.forward(pr.q(), kWrongDim, pr.v(), config),
                        "SparseAttention", "k has shape [2, 3, 200, 32]", "expected [2, 3, *, 64]");
                assertRejected(() -> SparseAttention.forward(pr.q(), kWrongHeads, pr.v(), config),
                        "SparseAttention", "k has shape [2, 4, 200, 64]", "expected [2, 3, *, 64]");
                assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), vWrongLen, config),
                        "SparseAttention", "v has shape [2, 3, 199, 64]", "expected [2, 3, 200, 64]");
                assertRejected(() -> SparseAttention.forward(pr.q(), kBf16, pr.v(), config),
                        "SparseAttention", "k has dtype", "expected f32");
                assertRejected(() -> SparseAttention.forward(q3, pr.k(), pr.v(), config),
                        "SparseAttention", "q has shape [6, 300, 64]", "expected rank 4");
                assertRejected(() -> SparseAttention.forward(pr.q(), k5, pr.v(), config),
                        "SparseAttention", "k has shape [1, 2, 3, 200, 64]", "expected rank 4");
                assertRejected(() -> SparseAttention.selectBlocks(pr.q(), kWrongDim, config),
                        "SparseAttention", "k has shape [2, 3, 200, 32]", "expected [2, 3, *, 64]");
                assertRejected(() -> SparseAttention.forward(qInt, pr.k(), pr.v(), config),
                        "SparseAttention", "q has dtype", "expected f32, bf16 or f16");
                assertRejected(() -> SparseAttention.forward(null, pr.k(), pr.v(), config),
                        "SparseAttention", "q is null");
                try (Tensor qEmpty = Tensor.zeros(2, 3, 0, 64);
                     Tensor kEmpty = Tensor.zeros(2, 3, 0, 64);
                     Tensor qWide = Tensor.zeros(1, 1, 4, 257);
                     Tensor kWide = Tensor.zeros(1, 1, 4, 257)) {
                    assertRejected(() -> SparseAttention.forward(qEmpty, pr.k(), pr.v(), config),
                            "SparseAttention", "q sequence length is 0", "expected a positive integer");
                    assertRejected(() -> SparseAttention.forward(pr.q(), kEmpty, kEmpty, config),
                            "SparseAttention", "k sequence length is 0", "expected a positive integer");
                    assertRejected(() -> SparseAttention.forward(qWide, kWide, kWide, config),
                            "SparseAttention", "q head dim is 257", "expected at most 256");
                }
            }
        }
    }

    @Test
    void aSelectionWhoseGridsDoNotMatchTheConfigIsRejected() {
        try (Problem pr = SparseReference.problem(2, DIMS, AttentionLayout.BHND, DType.F32);
             Problem shorter = SparseReference.problem(3, new Dims(2, 3, 300, 190, 64, 32, 16), AttentionLayout.BHND,
                     DType.F32)) {
            Config config = Config.defaults().withBlocks(32, 16);
            SparseAttention.Selection s = SparseAttention.selectBlocks(pr.q(), pr.k(), config);
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), s, config.withBlocks(64, 16)),
                    "SparseAttention", "selection", "300 queries in blocks of 32", "expected", "blocks of 64");
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), s, config.withBlocks(32, 8)),
                    "SparseAttention", "selection", "200 keys in blocks of 16", "expected", "blocks of 8");
            assertRejected(() -> SparseAttention.forward(shorter.q(), shorter.k(), shorter.v(), s, config),
                    "SparseAttention", "selection", "200 keys", "expected", "190 keys");
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), null, config),
                    "SparseAttention", "selection is null");
            try (SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), s, config);
                 Tensor dOut = Tensor.zeros(2, 3, 300, 64)) {
                assertRejected(() -> SparseAttention.backward(dOut, pr.q(), pr.k(), pr.v(), r, config.withBlocks(32, 32)),
                        "SparseAttention", "selection", "expected", "blocks of 32");
            }
        }
    }

    @Test
    void userMasksOfWrongSizeDtypeOrWithAnEmptyRowAreRejected() {
        int nq = DIMS.queryBlocks();
        int nk = DIMS.keyBlocks();
        try (Problem pr = SparseReference.problem(4, DIMS, AttentionLayout.BHND, DType.F32);
             Tensor wrongSize = Tensor.allocate(DType.U8, 2, 3, nq, nk + 1);
             Tensor wrongRank = Tensor.allocate(DType.U8, 6, nq, nk);
             Tensor wrongDtype = Tensor.full(1f, 2, 3, nq, nk);
             Tensor emptyRow = Tensor.allocate(DType.BOOL, 2, 3, nq, nk)) {
            Config config = Config.defaults().withBlocks(32, 16);
            wrongSize.fill(1);
            wrongRank.fill(1);
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), config.withMask(wrongSize)),
                    "mask has shape [2, 3, 10, 14]", "expected [2, 3, 10, 13]");
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), config.withMask(wrongRank)),
                    "mask has shape [6, 10, 13]", "expected [2, 3, 10, 13]");
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), config.withMask(wrongDtype)),
                    "mask has dtype f32", "expected u8 or bool");
            emptyRow.fill(1);
            int row = (1 * 3 + 2) * nq + 4; // b=1, h=2, query block 4
            for (int j = 0; j < nk; j++) {
                emptyRow.setLong((long) row * nk + j, 0);
            }
            assertRejected(() -> SparseAttention.forward(pr.q(), pr.k(), pr.v(), config.withMask(emptyRow)),
                    "b=1, h=2, query block 4", "keeps no key block", "expected at least one");
        }
    }

    @Test
    void calibrationArgumentsAreChecked() {
        PooledAttentionMap map = PooledAttentionMap.ofProbabilities(1, 1, new BlockGrid(4, 1), new BlockGrid(4, 1),
                new float[16]);
        for (double bad : new double[] {-0.1, 1.0, Double.NaN}) {
            assertRejected(() -> Calibration.calibrateP(map, HYBRID, 0.1, bad), "target", String.valueOf(bad),
                    "expected a fraction in [0, 1)");
        }
        assertRejected(() -> Calibration.calibrateP(map, TOPK, 0.1, 0.5), "mode", "topk", "expected hybrid or topp");
        assertRejected(() -> Calibration.calibrateK(map, TOPP, 0.1, 0.5), "mode", "topp", "expected hybrid or topk");
        assertRejected(() -> Calibration.calibrateP(map, HYBRID, 1.5, 0.5), "topk", "1.5", "(0, 1]");
    }
}

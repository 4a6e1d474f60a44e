package io.sparge4j.engine.sparse.analysis;

import io.sparge4j.engine.sparse.MaskMode;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MaskStudyTest {
    @Test
    void rulesKeepTheSameBudgetAndErrorsArePositive() {
        // 1024 tokens in 64-token key blocks: 16 key blocks, 8 query blocks of 128; budget round(0.25 * 16) = 4.
        MaskStudy study = new MaskStudy(1024, 32, 128, 64, 0.75, 3);
        for (MaskStudy.Case c : MaskStudy.Case.values()) {
            List<MaskStudy.Row> rows = study.run(c);
            assertEquals(List.of(MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID), rows.stream().map(MaskStudy.Row::mode).toList());
            assertEquals(0.75, rows.get(0).sparsity(), 1e-12, "top-k keeps exactly the budget");
            for (MaskStudy.Row r : rows) {
                // Calibrated rules land on the nearest achievable sparsity: within one block in eight rows.
                assertEquals(0.75, r.sparsity(), 1.0 / 16 / 8 + 1e-9, c + " " + r.mode());
                assertTrue(r.relativeL1() > 0 && r.relativeL1() < 2, c + " " + r.mode() + " error " + r.relativeL1());
            }
        }
    }

    @Test
    void tooFewKeyBlocksAreRejectedNotLoopedOn() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new MaskStudy(512, 64, 128, 64, 0.875, 1));
        assertTrue(e.getMessage().contains("got 8 key blocks") && e.getMessage().contains("at least 9"), e.getMessage());
    }
}

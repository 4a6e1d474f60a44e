package io.sparge4j.models.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.data.ShapeColour;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvaluationSummaryTest {
    @Test
    void ratesCountOnlyClipsThatAskedAndMeansAverageTheScores() {
        ClipEvaluator evaluator = new ClipEvaluator();
        ClipGenerator g = new ClipGenerator(321, ClipSpec.DEFAULT);
        List<ClipEvaluation> list = new ArrayList<>();
        double smooth = 0;
        int n = 8;
        for (long i = 0; i < n; i++) {
            Clip clip = g.clip(i);
            // Even clips: the true caption. Odd clips: only a colour, and the wrong one.
            String prompt = i % 2 == 0 ? clip.caption()
                    : ShapeColour.values()[(clip.attributes().colour().ordinal() + 1) % 8].word();
            ClipEvaluation e = evaluator.evaluate(clip.video(), prompt);
            list.add(e);
            smooth += e.smoothness();
        }
        EvaluationSummary s = EvaluationSummary.of(list);
        assertEquals(n, s.clips());
        assertEquals(0.5, s.colourRate(), 1e-12); // 4 right of 8 asked
        assertEquals(1.0, s.shapeRate(), 1e-12); // 4 right of 4 asked
        assertEquals(1.0, s.directionRate(), 1e-12);
        assertEquals(0.5, s.allCorrectRate(), 1e-12);
        assertEquals(smooth / n, s.smoothness(), 1e-12);
        assertEquals(1.0, s.objectPresence(), 1e-12);
        assertEquals(0.0, s.backgroundNoise(), 1e-6);
        assertTrue(s.edgeSharpness() > 0);
        EvaluationSummary none = EvaluationSummary.of(List.of(evaluator.evaluate(g.clip(0).video(), "")));
        assertTrue(Double.isNaN(none.colourRate()));
        assertNull(none.toJsonMap().get("colour_rate"));
        assertEquals(1.0, none.toJsonMap().get("all_correct_rate"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EvaluationSummary.of(List.of()));
        assertTrue(e.getMessage().contains("evaluations is empty"), e.getMessage());
    }
}

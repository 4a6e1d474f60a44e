package io.sparge4j.models.train;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The progress bar's text shows what issue 7 asks of it: loss, step time, tokens/s and sparsity (and lr). */
class TrainerProgressTest {
    private static final Pattern TEXT = Pattern.compile(
            "loss (\\S+) lr (\\S+) (\\S+) s/step (\\S+) tok/s noise_level (\\S+) sparsity (\\S+)");

    /**
     * Fresh random values are read back from the text; each within the rounding its format allows (4 significant
     * digits: relative 5e-4; lr 3: 5e-3; step time 2 decimals: 0.005 s; tokens/s whole: 0.5), metrics sorted by name.
     */
    @Test
    void showsLossLrStepTimeTokensPerSecondAndTheMetrics() {
        SplittableRandom r = new SplittableRandom();
        for (int i = 0; i < 50; i++) {
            double loss = r.nextDouble(0.001, 2);
            double lr = r.nextDouble(1e-6, 1e-3);
            double seconds = r.nextDouble(0.05, 10);
            double tokens = r.nextDouble(10, 1e6);
            double sparsity = r.nextDouble(0.5, 1);
            double level = r.nextDouble(0, 1);
            TrainerStepLog log = new TrainerStepLog(i + 1, loss, lr, 1.5, seconds, tokens,
                    Map.of("sparsity", sparsity, "noise_level", level));
            String text = TrainerProgress.message(log);
            Matcher m = TEXT.matcher(text);
            assertTrue(m.matches(), text);
            assertEquals(loss, Double.parseDouble(m.group(1)), 5e-4 * loss, text);
            assertEquals(lr, Double.parseDouble(m.group(2)), 5e-3 * lr, text);
            assertEquals(seconds, Double.parseDouble(m.group(3)), 0.005 + 1e-12, text);
            assertEquals(tokens, Double.parseDouble(m.group(4)), 0.5 + 1e-9, text);
            assertEquals(level, Double.parseDouble(m.group(5)), 5e-4 * level + 1e-12, text);
            assertEquals(sparsity, Double.parseDouble(m.group(6)), 5e-4 * sparsity, text);
        }
    }
}

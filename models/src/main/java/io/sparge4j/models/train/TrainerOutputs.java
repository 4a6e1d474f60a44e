package io.sparge4j.models.train;

import java.nio.file.Path;

/**
 * Where a run writes, none of which changes its numbers (so a resumed run may use other paths).
 *
 * @param checkpointDir the directory of {@code step-NNNNNN/} checkpoints and the {@code latest} pointer, or null
 *     for none
 * @param logFile the JSON-lines log, one object per step, or null for none
 * @param progressBar whether to draw a progress bar on stderr
 */
public record TrainerOutputs(Path checkpointDir, Path logFile, boolean progressBar) {

    /** @return no checkpoints, no log, no progress bar */
    public static TrainerOutputs none() {
        return new TrainerOutputs(null, null, false);
    }
}

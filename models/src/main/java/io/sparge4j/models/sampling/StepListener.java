package io.sparge4j.models.sampling;

/** Hears about each finished denoising step, e.g. to drive a progress bar with time per step. */
@FunctionalInterface
public interface StepListener {

    /** A listener that ignores every step. */
    StepListener NONE = (step, steps, timestep, nanos) -> { };

    /**
     * Called after a step's model evaluation and update.
     *
     * @param step the 0-based index of the step just finished ({@code step + 1} of {@code steps} are done)
     * @param steps the number of steps in the schedule
     * @param timestep the model timestep of that step, on the 0-1000 scale
     * @param nanos wall time of the step (model call plus sampler update), in nanoseconds
     */
    void onStep(int step, int steps, double timestep, long nanos);
}

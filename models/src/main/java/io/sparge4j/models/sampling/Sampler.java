package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;

/** Integrates the flow-matching ODE from pure noise (sigma near 1) to data (sigma 0). */
public interface Sampler {

    /**
     * Runs every step of the schedule.
     *
     * @param model the velocity model, called once per step
     * @param noise the starting latent (any floating dtype); it is read, never modified or closed
     * @param schedule the sigma grid and model timesteps
     * @param listener told about each finished step; {@link StepListener#NONE} for none
     * @return a new f32 tensor of the noise's shape: the sample at sigma 0
     * @throws IllegalArgumentException if the model returns a tensor whose shape differs from the latent's
     */
    Tensor sample(VelocityModel model, Tensor noise, FlowSchedule schedule, StepListener listener);
}

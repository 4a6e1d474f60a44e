package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;

/**
 * The first-order flow-matching sampler: {@code x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v(x_i, t_i)}.
 *
 * <p>Each update is computed in double and rounded to f32 once per element. With a flow-prediction model this is the
 * same update as UniPC's first-order (DDIM-like) step, since {@code x0 = x - sigma * v}.
 */
public final class FlowMatchEuler implements Sampler {
    private static final String NAME = "FlowMatchEuler";

    @Override
    public Tensor sample(VelocityModel model, Tensor noise, FlowSchedule schedule, StepListener listener) {
        Latent latent = Latent.start(NAME, model, noise, schedule, listener);
        float[] x = latent.values();
        int steps = schedule.steps();
        for (int i = 0; i < steps; i++) {
            long start = System.nanoTime();
            double timestep = schedule.timestep(i);
            float[] v = latent.velocity(NAME, model, timestep, i);
            double dt = schedule.sigma(i + 1) - schedule.sigma(i);
            for (int j = 0; j < x.length; j++) {
                x[j] = (float) (x[j] + dt * v[j]);
            }
            listener.onStep(i, steps, timestep, System.nanoTime() - start);
        }
        return latent.toTensor();
    }
}

package io.sparge4j.models.sampling;

import java.util.Arrays;

/**
 * Wan2.1's sigma grid with the timestep shift, exactly as its default sampler builds it.
 *
 * <p>Source: Wan-Video/Wan2.1 {@code wan/utils/fm_solvers_unipc.py}, {@code FlowUniPCMultistepScheduler},
 * constructed by {@code wan/text2video.py} with {@code num_train_timesteps=1000, shift=1} and then
 * {@code set_timesteps(sampling_steps, shift=shift)}:
 * <ol>
 *   <li>{@code __init__}: {@code alphas = linspace(1, 1/1000, 1000)[::-1]}, {@code sigmas = 1 - alphas} cast to
 *       float32 (shift 1 leaves them alone), so {@code sigma_max = float32(1 - 0.001)} and {@code sigma_min = 0};</li>
 *   <li>{@code set_timesteps}: {@code sigmas = linspace(sigma_max, sigma_min, steps + 1)[:-1]} in float64, shifted
 *       by {@code shift * s / (1 + (shift - 1) * s)};</li>
 *   <li>{@code timesteps = sigmas * 1000} converted to int64, that is truncated toward zero (so the model sees
 *       999, 995, ... for 50 steps at shift 5);</li>
 *   <li>the sampler's sigmas are those shifted sigmas followed by a final 0 ({@code final_sigmas_type="zero"}),
 *       cast to float32.</li>
 * </ol>
 * This class reproduces that arithmetic step by step in IEEE double (numpy's {@code linspace} computes
 * {@code start + i * ((stop - start) / steps)}), so the grid matches the reference bit for bit.
 */
public final class FlowSchedule {

    /** The training timestep count that maps sigma to the model's timestep scale. */
    public static final int NUM_TRAIN_TIMESTEPS = 1000;

    /** Wan2.1's default shift for text-to-video. */
    public static final double WAN_DEFAULT_SHIFT = 5.0;

    private final int steps;
    private final double shift;
    private final double[] sigmas;
    private final double[] timesteps;

    private FlowSchedule(int steps, double shift, double[] sigmas, double[] timesteps) {
        this.steps = steps;
        this.shift = shift;
        this.sigmas = sigmas;
        this.timesteps = timesteps;
    }

    /**
     * Builds Wan's grid.
     *
     * @param steps number of denoising steps, at least 1
     * @param shift the timestep shift, greater than 0 (1 leaves the grid linear; Wan uses 5 for text-to-video)
     * @return the schedule
     * @throws IllegalArgumentException if {@code steps <= 0} or {@code shift} is not a positive finite number
     */
    public static FlowSchedule wan(int steps, double shift) {
        if (steps <= 0) {
            throw new IllegalArgumentException("FlowSchedule: steps must be at least 1, got " + steps);
        }
        if (!(shift > 0) || !Double.isFinite(shift)) {
            throw new IllegalArgumentException("FlowSchedule: shift must be a finite number greater than 0, got " + shift);
        }
        // The scheduler's training grid: sigmas = 1 - alphas stored as float32; first and last give max and min.
        double sigmaMax = (float) (1.0 - 1.0 / NUM_TRAIN_TIMESTEPS);
        double sigmaMin = (float) (1.0 - 1.0);
        double delta = (sigmaMin - sigmaMax) / steps;
        double[] sigmas = new double[steps + 1];
        double[] timesteps = new double[steps];
        for (int i = 0; i < steps; i++) {
            double shifted = shift(sigmaMax + i * delta, shift);
            timesteps[i] = (long) (shifted * NUM_TRAIN_TIMESTEPS);
            sigmas[i] = (float) shifted;
        }
        sigmas[steps] = 0.0;
        return new FlowSchedule(steps, shift, sigmas, timesteps);
    }

    /**
     * Wan's timestep shift of one sigma.
     *
     * @param sigma a noise level in [0, 1]
     * @param shift the shift, greater than 0
     * @return {@code shift * sigma / (1 + (shift - 1) * sigma)}
     */
    public static double shift(double sigma, double shift) {
        return shift * sigma / (1 + (shift - 1) * sigma);
    }

    /** @return the number of denoising steps */
    public int steps() {
        return steps;
    }

    /** @return the shift this grid was built with */
    public double shift() {
        return shift;
    }

    /**
     * @param i an index in [0, steps]
     * @return the noise level before step {@code i} (a float32 value, as the reference keeps it); {@code sigma(steps)}
     *     is 0
     */
    public double sigma(int i) {
        if (i < 0 || i > steps) {
            throw new IndexOutOfBoundsException("FlowSchedule.sigma: index must be in [0, " + steps + "], got " + i);
        }
        return sigmas[i];
    }

    /**
     * @param i a step index in [0, steps)
     * @return the model timestep of step {@code i} on the 0-1000 scale: {@code sigma * 1000} truncated to an integer,
     *     as the reference passes it to the model
     */
    public double timestep(int i) {
        if (i < 0 || i >= steps) {
            throw new IndexOutOfBoundsException("FlowSchedule.timestep: step must be in [0, " + steps + "), got " + i);
        }
        return timesteps[i];
    }

    /** @return a copy of all {@code steps + 1} sigmas, ending in 0 */
    public double[] sigmas() {
        return sigmas.clone();
    }

    /** @return a copy of the {@code steps} model timesteps */
    public double[] timesteps() {
        return timesteps.clone();
    }

    @Override
    public String toString() {
        return "FlowSchedule[steps=" + steps + ", shift=" + shift + ", timesteps=" + Arrays.toString(timesteps) + "]";
    }
}

package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;

/**
 * Wan2.1's default sampler: UniPC multistep for flow matching, in the configuration Wan uses.
 *
 * <p>Follows Wan-Video/Wan2.1 {@code wan/utils/fm_solvers_unipc.py} ({@code FlowUniPCMultistepScheduler}, itself
 * diffusers' UniPC converted to flow matching) with its defaults: {@code solver_order=2},
 * {@code prediction_type="flow_prediction"}, {@code predict_x0=True}, {@code solver_type="bh2"},
 * {@code lower_order_final=True}, {@code disable_corrector=[]}, {@code final_sigmas_type="zero"}, no thresholding.
 * With {@code alpha = 1 - sigma} and {@code lambda = log(alpha) - log(sigma)}:
 * <ul>
 *   <li>{@code convert_model_output}: the data prediction {@code m = x - sigma * v}, taken at the uncorrected
 *       sample;</li>
 *   <li>{@code step}: from step 1 on, the UniC corrector first replaces the sample (with the order the previous
 *       predictor used); then the predictor runs with order {@code min(2, steps - i, i + 1)} (warm-up and
 *       lower-order final step);</li>
 *   <li>{@code multistep_uni_p_bh_update} from {@code s0 = sigma_i} to {@code t = sigma_{i+1}}: {@code h = lambda_t -
 *       lambda_s0}, {@code B(h) = expm1(-h)};
 *       {@code x_t = sigma_t / sigma_s0 * x - alpha_t * B(h) * m0 - alpha_t * B(h) * 0.5 * D1}, where for order 2
 *       {@code D1 = (m1 - m0) / r1}, {@code r1 = (lambda_{s1} - lambda_s0) / h} (the reference fixes
 *       {@code rhos_p = [0.5]} at order 2), and no D1 term at order 1;</li>
 *   <li>{@code multistep_uni_c_bh_update} from {@code s0 = sigma_{i-1}} to {@code t = sigma_i}, with the new
 *       output {@code m_t}: {@code x_t = sigma_t / sigma_s0 * x_last - alpha_t * B(h) * m0
 *       - alpha_t * B(h) * (rho0 * D1 + rho1 * (m_t - m0))}; at order 1 {@code rho1 = 0.5} and no D1 term; at
 *       order 2 {@code (rho0, rho1)} solves {@code [[1, 1], [r1, 1]] rho = [b1, b2]} with
 *       {@code b1 = (B(h)/(-h) - 1) / B(h)}, {@code b2 = 2 * ((B(h)/(-h) - 1)/(-h) - 1/2) / B(h)}.</li>
 * </ul>
 * The last step goes to sigma 0, where lambda is infinite, {@code B(h) = -1} and the update returns {@code m0}: the
 * data prediction itself. Coefficients are computed in double; latents and data predictions are kept in f32 as the
 * reference keeps them.
 */
public final class UniPcMultistep implements Sampler {
    private static final String NAME = "UniPcMultistep";
    private static final int SOLVER_ORDER = 2;

    @Override
    public Tensor sample(VelocityModel model, Tensor noise, FlowSchedule schedule, StepListener listener) {
        Latent latent = Latent.start(NAME, model, noise, schedule, listener);
        float[] x = latent.values();
        int n = x.length;
        int steps = schedule.steps();
        float[] lastSample = new float[n];
        float[] m = new float[n];      // data prediction of this step
        float[] mPrev = new float[n];  // of the step before
        float[] mPrev2 = new float[n]; // of the step before that
        int previousOrder = 0;
        for (int i = 0; i < steps; i++) {
            long start = System.nanoTime();
            double timestep = schedule.timestep(i);
            float[] v = latent.velocity(NAME, model, timestep, i);
            double sigma = schedule.sigma(i);
            for (int j = 0; j < n; j++) {
                m[j] = (float) (x[j] - sigma * v[j]);
            }
            if (i > 0) {
                correct(schedule, i, previousOrder, lastSample, mPrev, mPrev2, m, x);
            }
            int order = Math.min(SOLVER_ORDER, Math.min(steps - i, i + 1));
            System.arraycopy(x, 0, lastSample, 0, n);
            predict(schedule, i, order, m, mPrev, x);
            previousOrder = order;
            // Shift the history: mPrev2 <- mPrev <- m (m is overwritten next step).
            float[] recycled = mPrev2;
            mPrev2 = mPrev;
            mPrev = m;
            m = recycled;
            listener.onStep(i, steps, timestep, System.nanoTime() - start);
        }
        return latent.toTensor();
    }

    /** UniP from sigma_i to sigma_{i+1}, in place on {@code x}; {@code m1} is the previous data prediction. */
    private static void predict(FlowSchedule schedule, int i, int order, float[] m0, float[] m1, float[] x) {
        double sigmaS0 = schedule.sigma(i);
        double sigmaT = schedule.sigma(i + 1);
        double alphaT = 1 - sigmaT;
        double h = lambda(sigmaT) - lambda(sigmaS0);
        double bh = Math.expm1(-h); // h*phi_1(-h), which is also B(h) for bh2
        double xCoef = sigmaT / sigmaS0;
        double m0Coef = -alphaT * bh;
        if (order == 1) {
            for (int j = 0; j < x.length; j++) {
                x[j] = (float) (xCoef * x[j] + m0Coef * m0[j]);
            }
            return;
        }
        double r1 = (lambda(schedule.sigma(i - 1)) - lambda(sigmaS0)) / h;
        double dCoef = -alphaT * bh * 0.5 / r1;
        for (int j = 0; j < x.length; j++) {
            x[j] = (float) (xCoef * x[j] + m0Coef * m0[j] + dCoef * ((double) m1[j] - m0[j]));
        }
    }

    /**
     * UniC from sigma_{i-1} to sigma_i: rewrites {@code x} from {@code lastSample}, the previous data predictions
     * {@code m0} (step i-1) and {@code m1} (step i-2, order 2 only), and the new one {@code mT}.
     */
    private static void correct(FlowSchedule schedule, int i, int order, float[] lastSample, float[] m0, float[] m1,
                                float[] mT, float[] x) {
        double sigmaS0 = schedule.sigma(i - 1);
        double sigmaT = schedule.sigma(i);
        double alphaT = 1 - sigmaT;
        double h = lambda(sigmaT) - lambda(sigmaS0);
        double hh = -h;
        double bh = Math.expm1(hh);
        double xCoef = sigmaT / sigmaS0;
        double m0Coef = -alphaT * bh;
        double rho0 = 0;
        double rho1 = 0.5;
        double r1 = 1;
        if (order == 2) {
            double phi2 = bh / hh - 1;
            double phi3 = phi2 / hh - 0.5;
            double b1 = phi2 / bh;
            double b2 = 2 * phi3 / bh;
            r1 = (lambda(schedule.sigma(i - 2)) - lambda(sigmaS0)) / h;
            rho0 = (b1 - b2) / (1 - r1);
            rho1 = b1 - rho0;
        }
        double dCoef = -alphaT * bh * rho0 / r1;
        double tCoef = -alphaT * bh * rho1;
        for (int j = 0; j < x.length; j++) {
            double d1 = order == 2 ? (double) m1[j] - m0[j] : 0;
            x[j] = (float) (xCoef * lastSample[j] + m0Coef * m0[j] + dCoef * d1 + tCoef * ((double) mT[j] - m0[j]));
        }
    }

    /** Half the log signal-to-noise ratio of flow matching, {@code log(1 - sigma) - log(sigma)}. */
    private static double lambda(double sigma) {
        return Math.log(1 - sigma) - Math.log(sigma);
    }
}

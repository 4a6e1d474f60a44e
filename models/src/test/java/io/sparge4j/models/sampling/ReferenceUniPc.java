package io.sparge4j.models.sampling;

/**
 * An independent float64 re-derivation of Wan2.1's FlowUniPCMultistepScheduler.step, written line by line after the
 * reference's general-order code (R matrix of powers of r_k, the b vector from the h*phi_k recursion with factorials,
 * a linear solve for the corrector, rhos_p = 0.5 at order 2, model_outputs as a shifting list, lower_order_nums,
 * lower_order_final). It shares no code with the sampler and keeps every value in double.
 */
final class ReferenceUniPc {
    /** A velocity field on double state. */
    interface Field {
        double[] velocity(double[] x, int step);
    }

    private ReferenceUniPc() {
    }

    static double[] sample(double[] noise, double[] sigmas, Field field, int solverOrder) {
        int steps = sigmas.length - 1;
        double[][] modelOutputs = new double[solverOrder][];
        int lowerOrderNums = 0;
        int thisOrder = 0;
        double[] lastSample = null;
        double[] sample = noise.clone();
        for (int stepIndex = 0; stepIndex < steps; stepIndex++) {
            double[] modelOutput = field.velocity(sample, stepIndex);
            boolean useCorrector = stepIndex > 0 && lastSample != null;
            // convert_model_output, flow_prediction with predict_x0
            double[] converted = new double[sample.length];
            for (int j = 0; j < sample.length; j++) {
                converted[j] = sample[j] - sigmas[stepIndex] * modelOutput[j];
            }
            if (useCorrector) {
                sample = uniC(converted, lastSample, sample, thisOrder, modelOutputs, sigmas, stepIndex);
            }
            for (int i = 0; i < solverOrder - 1; i++) {
                modelOutputs[i] = modelOutputs[i + 1];
            }
            modelOutputs[solverOrder - 1] = converted;
            thisOrder = Math.min(solverOrder, steps - stepIndex); // lower_order_final
            thisOrder = Math.min(thisOrder, lowerOrderNums + 1);  // warm-up
            lastSample = sample;
            sample = uniP(sample, thisOrder, modelOutputs, sigmas, stepIndex);
            if (lowerOrderNums < solverOrder) {
                lowerOrderNums++;
            }
        }
        return sample;
    }

    private static double lambda(double sigma) {
        double alpha = 1 - sigma;
        return Math.log(alpha) - Math.log(sigma);
    }

    private static double[] uniP(double[] x, int order, double[][] outs, double[] sigmas, int stepIndex) {
        double[] m0 = outs[outs.length - 1];
        double sigmaT = sigmas[stepIndex + 1];
        double sigmaS0 = sigmas[stepIndex];
        double alphaT = 1 - sigmaT;
        double h = lambda(sigmaT) - lambda(sigmaS0);
        double[][] d1s = new double[order - 1][];
        double[] rks = new double[order];
        for (int i = 1; i < order; i++) {
            int si = stepIndex - i;
            double[] mi = outs[outs.length - (i + 1)];
            double rk = (lambda(sigmas[si]) - lambda(sigmaS0)) / h;
            rks[i - 1] = rk;
            d1s[i - 1] = new double[x.length];
            for (int j = 0; j < x.length; j++) {
                d1s[i - 1][j] = (mi[j] - m0[j]) / rk;
            }
        }
        rks[order - 1] = 1.0;
        double hh = -h;
        double hPhi1 = Math.expm1(hh);
        double bH = Math.expm1(hh); // bh2
        double[] rhosP = new double[0];
        if (order == 2) {
            rhosP = new double[] {0.5};
        } else if (order > 2) {
            double[][] r = powers(rks, order);
            double[] b = bVector(hh, hPhi1, bH, order);
            rhosP = solve(top(r, order - 1), java.util.Arrays.copyOf(b, order - 1));
        }
        double[] out = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            double predRes = 0;
            for (int k = 0; k < d1s.length; k++) {
                predRes += rhosP[k] * d1s[k][j];
            }
            double xt = sigmaT / sigmaS0 * x[j] - alphaT * hPhi1 * m0[j];
            out[j] = xt - alphaT * bH * predRes;
        }
        return out;
    }

    private static double[] uniC(double[] modelT, double[] lastSample, double[] thisSample, int order,
                                 double[][] outs, double[] sigmas, int stepIndex) {
        double[] m0 = outs[outs.length - 1];
        double sigmaT = sigmas[stepIndex];
        double sigmaS0 = sigmas[stepIndex - 1];
        double alphaT = 1 - sigmaT;
        double h = lambda(sigmaT) - lambda(sigmaS0);
        double[][] d1s = new double[order - 1][];
        double[] rks = new double[order];
        for (int i = 1; i < order; i++) {
            int si = stepIndex - (i + 1);
            double[] mi = outs[outs.length - (i + 1)];
            double rk = (lambda(sigmas[si]) - lambda(sigmaS0)) / h;
            rks[i - 1] = rk;
            d1s[i - 1] = new double[lastSample.length];
            for (int j = 0; j < lastSample.length; j++) {
                d1s[i - 1][j] = (mi[j] - m0[j]) / rk;
            }
        }
        rks[order - 1] = 1.0;
        double hh = -h;
        double hPhi1 = Math.expm1(hh);
        double bH = Math.expm1(hh);
        double[] rhosC = order == 1 ? new double[] {0.5} : solve(powers(rks, order), bVector(hh, hPhi1, bH, order));
        double[] out = new double[lastSample.length];
        for (int j = 0; j < out.length; j++) {
            double corrRes = 0;
            for (int k = 0; k < d1s.length; k++) {
                corrRes += rhosC[k] * d1s[k][j];
            }
            double xt = sigmaT / sigmaS0 * lastSample[j] - alphaT * hPhi1 * m0[j];
            double d1t = modelT[j] - m0[j];
            out[j] = xt - alphaT * bH * (corrRes + rhosC[order - 1] * d1t);
        }
        return out;
    }

    /** R: row i-1 holds rks^(i-1), i = 1..order. */
    private static double[][] powers(double[] rks, int order) {
        double[][] r = new double[order][rks.length];
        for (int i = 1; i <= order; i++) {
            for (int k = 0; k < rks.length; k++) {
                r[i - 1][k] = Math.pow(rks[k], i - 1);
            }
        }
        return r;
    }

    /** b_i = h_phi_k * factorial_i / B_h with the reference's recursion. */
    private static double[] bVector(double hh, double hPhi1, double bH, int order) {
        double[] b = new double[order];
        double hPhiK = hPhi1 / hh - 1;
        double factorialI = 1;
        for (int i = 1; i <= order; i++) {
            b[i - 1] = hPhiK * factorialI / bH;
            factorialI *= i + 1;
            hPhiK = hPhiK / hh - 1 / factorialI;
        }
        return b;
    }

    private static double[][] top(double[][] r, int n) {
        double[][] out = new double[n][n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(r[i], 0, out[i], 0, n);
        }
        return out;
    }

    /** Gaussian elimination with partial pivoting. */
    private static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        double[][] m = new double[n][];
        for (int i = 0; i < n; i++) {
            m[i] = java.util.Arrays.copyOf(a[i], n + 1);
            m[i][n] = b[i];
        }
        for (int c = 0; c < n; c++) {
            int p = c;
            for (int r = c + 1; r < n; r++) {
                if (Math.abs(m[r][c]) > Math.abs(m[p][c])) {
                    p = r;
                }
            }
            double[] t = m[c];
            m[c] = m[p];
            m[p] = t;
            for (int r = c + 1; r < n; r++) {
                double f = m[r][c] / m[c][c];
                for (int k = c; k <= n; k++) {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = m[r][n];
            for (int k = r + 1; k < n; k++) {
                s -= m[r][k] * x[k];
            }
            x[r] = s / m[r][r];
        }
        return x;
    }
}

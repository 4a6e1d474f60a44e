package io.sparge4j.engine.kernel.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.RowAttentionKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.assertClose;
import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static io.sparge4j.engine.kernel.nn.NnRunner.poisoned;

/**
 * {@link RowAttentionKernels#attention} on the emulator and PoCL against float64 softmax attention, with key counts
 * below, at and above the 128-key chunk (one chunk, an exact chunk, a partial last chunk: the online rescaling), d
 * from 5 to 200 (the second output dimension per work-item), scores spread wide enough (q and k of spread 2) that
 * the running maximum changes between chunks, and one case on fewer groups than rows.
 *
 * <p>Tolerance: f32 dot products of up to 200 terms, exp, and a weighted sum over up to 300 keys, normalised: 2e-5
 * relative plus 2e-6 absolute for the outputs (|out| is O(1)); the logsumexp to 2e-5 relative plus 2e-5 absolute.
 */
class RowAttentionKernelsTest {
    /** backend, heads, nq, nk, d, groups (0: one per row). */
    static final Object[][] CASES = {
        {"emulator", 2, 3, 5, 16, 0},
        {"emulator", 1, 2, 129, 64, 0},
        {"emulator", 3, 4, 128, 5, 2},
        {"opencl", 2, 37, 300, 200, 0},
        {"opencl", 4, 19, 77, 128, 3},
    };

    @ParameterizedTest(name = "{0} heads={1} nq={2} nk={3} d={4} groups={5}")
    @FieldSource("CASES")
    void attentionMatchesFloat64(String backend, int heads, int nq, int nk, int d, int groups) {
        Random rnd = new Random(heads * 1000L + nq * 10L + nk + d);
        float[] qv = gaussian(rnd, heads * nq * d, 0, 2 / Math.sqrt(Math.sqrt(d)));
        float[] kv = gaussian(rnd, heads * nk * d, 0, 2 / Math.sqrt(Math.sqrt(d)));
        float[] vv = gaussian(rnd, heads * nk * d, 0.3, 1);
        float scale = (float) (1 / Math.sqrt(d));
        FloatArray q = FloatArray.fromArray(qv);
        FloatArray k = FloatArray.fromArray(kv);
        FloatArray v = FloatArray.fromArray(vv);
        FloatArray out = poisoned(heads * nq * d);
        FloatArray lse = poisoned(heads * nq);
        int rows = heads * nq;
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("rowAttn")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, q, k, v)
                    .task("attn", RowAttentionKernels::attention, new KernelContext(), q, k, v, out, lse, heads, nq, nk,
                            d, scale)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, out, lse),
                    "attn", RowAttentionKernels.grid(groups == 0 ? rows : groups));
        }
        double[] expOut = new double[heads * nq * d];
        double[] expLse = new double[rows];
        double[] s = new double[nk];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < nq; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) {
                        dot += (double) qv[(h * nq + i) * d + e] * kv[(h * nk + j) * d + e];
                    }
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < nk; j++) {
                    sum += Math.exp(s[j] - max);
                }
                expLse[h * nq + i] = max + Math.log(sum);
                for (int j = 0; j < nk; j++) {
                    double p = Math.exp(s[j] - max) / sum;
                    for (int e = 0; e < d; e++) {
                        expOut[(h * nq + i) * d + e] += p * vv[(h * nk + j) * d + e];
                    }
                }
            }
        }
        assertClose(expOut, out.toHeapArray(), 2e-5, 2e-6, "row attention output");
        assertClose(expLse, lse.toHeapArray(), 2e-5, 2e-5, "row attention logsumexp");
    }

    /**
     * The backward kernels against float64 gradients of the same attention, given the float64 forward's output and
     * logsumexp (rounded to f32). Tolerance: dot products of up to 200 terms and sums over up to 300 keys or 37
     * queries of gradients of size ~1, in f32: 5e-5 relative + 5e-6 absolute.
     */
    @ParameterizedTest(name = "{0} heads={1} nq={2} nk={3} d={4} groups={5}")
    @FieldSource("CASES")
    void backwardMatchesFloat64(String backend, int heads, int nq, int nk, int d, int groups) {
        Random rnd = new Random(heads * 7000L + nq * 10L + nk + d);
        double spread = 2 / Math.sqrt(Math.sqrt(d));
        float[] qv = gaussian(rnd, heads * nq * d, 0, spread);
        float[] kv = gaussian(rnd, heads * nk * d, 0, spread);
        float[] vv = gaussian(rnd, heads * nk * d, 0.3, 1);
        float[] gv = gaussian(rnd, heads * nq * d, 0, 1);
        double scale = 1 / Math.sqrt(d);
        double[][] p = new double[heads * nq][nk];
        double[] o = new double[heads * nq * d];
        float[] ov = new float[o.length];
        float[] lv = new float[heads * nq];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < nq; i++) {
                int r = h * nq + i;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) {
                        dot += (double) qv[r * d + e] * kv[(h * nk + j) * d + e];
                    }
                    p[r][j] = dot * (float) scale;
                    max = Math.max(max, p[r][j]);
                }
                double sum = 0;
                for (int j = 0; j < nk; j++) {
                    sum += Math.exp(p[r][j] - max);
                }
                lv[r] = (float) (max + Math.log(sum));
                for (int j = 0; j < nk; j++) {
                    p[r][j] = Math.exp(p[r][j] - max) / sum;
                    for (int e = 0; e < d; e++) {
                        o[r * d + e] += p[r][j] * vv[(h * nk + j) * d + e];
                    }
                }
            }
        }
        for (int i = 0; i < o.length; i++) {
            ov[i] = (float) o[i];
        }
        double[] expDq = new double[heads * nq * d];
        double[] expDk = new double[heads * nk * d];
        double[] expDv = new double[heads * nk * d];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < nq; i++) {
                int r = h * nq + i;
                double dDot = 0;
                for (int e = 0; e < d; e++) {
                    dDot += (double) gv[r * d + e] * o[r * d + e];
                }
                for (int j = 0; j < nk; j++) {
                    int kr = h * nk + j;
                    double dp = 0;
                    for (int e = 0; e < d; e++) {
                        dp += (double) gv[r * d + e] * vv[kr * d + e];
                    }
                    double ds = p[r][j] * (dp - dDot);
                    for (int e = 0; e < d; e++) {
                        expDq[r * d + e] += scale * ds * kv[kr * d + e];
                        expDk[kr * d + e] += scale * ds * qv[r * d + e];
                        expDv[kr * d + e] += p[r][j] * gv[r * d + e];
                    }
                }
            }
        }
        FloatArray q = FloatArray.fromArray(qv);
        FloatArray k = FloatArray.fromArray(kv);
        FloatArray v = FloatArray.fromArray(vv);
        FloatArray out = FloatArray.fromArray(ov);
        FloatArray lse = FloatArray.fromArray(lv);
        FloatArray dOut = FloatArray.fromArray(gv);
        FloatArray dq = poisoned(heads * nq * d);
        FloatArray dk = poisoned(heads * nk * d);
        FloatArray dv = poisoned(heads * nk * d);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("rowAttnBwd")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, q, k, v, out, lse, dOut)
                    .task("dq", RowAttentionKernels::backwardDq, new KernelContext(), q, k, v, out, lse, dOut, dq,
                            heads, nq, nk, d, (float) scale)
                    .task("dkdv", RowAttentionKernels::backwardDkDv, new KernelContext(), q, k, v, out, lse, dOut, dk,
                            dv, heads, nq, nk, d, (float) scale)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, dq, dk, dv),
                    "dq", RowAttentionKernels.grid(groups == 0 ? heads * nq : groups),
                    "dkdv", RowAttentionKernels.grid(groups == 0 ? heads * nk : groups));
        }
        assertClose(expDq, dq.toHeapArray(), 5e-5, 5e-6, "row attention dq");
        assertClose(expDk, dk.toHeapArray(), 5e-5, 5e-6, "row attention dk");
        assertClose(expDv, dv.toHeapArray(), 5e-5, 5e-6, "row attention dv");
    }
}

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
}

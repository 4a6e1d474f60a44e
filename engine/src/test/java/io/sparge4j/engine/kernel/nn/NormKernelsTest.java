package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.NormKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.assertClose;
import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static io.sparge4j.engine.kernel.nn.NnRunner.poisoned;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * LayerNorm and RMSNorm kernels, forward and backward (input gradient, and the weight and bias gradients through
 * the chunked column sums), against the engine's CPU ops on the same inputs, and the per-row statistics against
 * float64. Sizes: row lengths 64, 77 and 1536 (Wan 1.3B's dim) against 256-wide groups, row counts that are not a
 * multiple of the chunk, and a grid with fewer groups than rows (the row loop).
 *
 * <p>Tolerances ({@code |diff| <= atol + rtol |expected|}): both sides are f32 with different summation orders.
 * Outputs are O(1): rtol 1e-5, atol 1e-5. The input gradient subtracts two row means from g, which cancels a
 * little: rtol 1e-5, atol 5e-6 (observed: below 5e-7; a 0.1% error in the mean of g fails it). Weight and bias
 * gradients sum up to a few hundred O(1) terms: rtol 1e-5, atol 1e-5 * sqrt(rows). Statistics against float64:
 * mean atol 1e-6 (values around 0.5 with spread 2), rstd rtol 2e-6.
 */
class NormKernelsTest {
    private static final float EPS = 1e-6f;
    private static final int CHUNK_ROWS = 4;

    /** backend, rows, cols, affine flags (layerNorm: weight | bias; rmsNorm: weight), row groups (0: one per row). */
    static final Object[][] CASES = {
        {"emulator", 5, 64, 3, 0},
        {"emulator", 3, 77, NormKernels.HAS_WEIGHT, 2},
        {"emulator", 2, 1536, 0, 0},
        {"opencl", 37, 77, 3, 0},
        {"opencl", 9, 1536, 3, 4},
        {"opencl", 41, 64, 0, 0},
        {"opencl", 6, 1536, NormKernels.HAS_BIAS, 0},
        {"opencl", 19, 5120, 3, 0},
        // groups -1: the grid sized to the row, rowGrid(rows, cols): one sub-group per row at 128 and 77 columns
        {"emulator", 5, 128, 3, -1},
        {"opencl", 37, 128, 3, -1},
        {"opencl", 9, 77, NormKernels.HAS_WEIGHT, -1},
        {"opencl", 6, 1536, 3, -1},
    };

    /** groups 0: one 256-wide group per row; above 0: that many groups looping over the rows; -1: sized to cols. */
    private static WorkerGrid1D rowGrid(int rows, int cols, int groups) {
        return groups < 0 ? NormKernels.rowGrid(rows, cols) : groups == 0 ? NormKernels.rowGrid(rows)
                : NormKernels.rowGrid(groups);
    }

    @ParameterizedTest(name = "{0} rows={1} cols={2} affine={3} groups={4}")
    @FieldSource("CASES")
    void layerNormMatchesTheCpuOp(String backend, int rows, int cols, int affine, int groups) {
        Random rnd = new Random(1000L * rows + cols + affine);
        float[] xs = gaussian(rnd, rows * cols, 0.5, 2);
        float[] ws = gaussian(rnd, cols, 1, 0.2);
        float[] bs = gaussian(rnd, cols, 0, 0.3);
        float[] dys = gaussian(rnd, rows * cols, 0, 1);
        boolean hasW = (affine & NormKernels.HAS_WEIGHT) != 0;
        boolean hasB = (affine & NormKernels.HAS_BIAS) != 0;
        int chunks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;

        FloatArray x = FloatArray.fromArray(xs);
        FloatArray w = hasW ? FloatArray.fromArray(ws) : new FloatArray(1);
        FloatArray b = hasB ? FloatArray.fromArray(bs) : new FloatArray(1);
        FloatArray dy = FloatArray.fromArray(dys);
        FloatArray y = poisoned(rows * cols);
        FloatArray stats = poisoned(2 * rows);
        FloatArray dx = poisoned(rows * cols);
        FloatArray partialW = poisoned(chunks * cols);
        FloatArray partialB = poisoned(chunks * cols);
        FloatArray dW = poisoned(cols);
        FloatArray dB = poisoned(cols);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("ln")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, w, b, dy)
                    .task("fwd", NormKernels::layerNorm, new KernelContext(), x, w, b, y, stats, rows, cols, EPS,
                            affine)
                    .task("bwd", NormKernels::layerNormBackward, new KernelContext(), dy, x, w, stats, dx, rows, cols,
                            affine)
                    .task("partials", NormKernels::layerNormParamPartials, new KernelContext(), dy, x, stats, partialW,
                            partialB, rows, cols, CHUNK_ROWS)
                    .task("sumW", ColumnSumKernels::sumChunks, new KernelContext(), partialW, dW, cols, 1, chunks)
                    .task("sumB", ColumnSumKernels::sumChunks, new KernelContext(), partialB, dB, cols, 1, chunks)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, y, stats, dx, dW, dB),
                    "fwd", rowGrid(rows, cols, groups), "bwd", rowGrid(rows, cols, groups),
                    "partials", NormKernels.partialsGrid(cols, chunks),
                    "sumW", ColumnSumKernels.sumGrid(cols, 1), "sumB", ColumnSumKernels.sumGrid(cols, 1));
        }

        Tensor xt = Tensor.of(xs, rows, cols);
        Tensor wt = hasW ? Tensor.of(ws, cols) : null;
        Tensor bt = hasB ? Tensor.of(bs, cols) : null;
        assertClose(Norms.layerNorm(xt, wt, bt, EPS).toFloatArray(), y.toHeapArray(), 1e-5, 1e-5, "y");
        Norms.NormGrads grads = Norms.layerNormBackward(Tensor.of(dys, rows, cols), xt, wt, bt, EPS);
        assertClose(grads.dx().toFloatArray(), dx.toHeapArray(), 1e-5, 5e-6, "dx");
        double sumAtol = 1e-5 * Math.sqrt(rows);
        if (hasW) {
            assertClose(grads.dWeight().toFloatArray(), dW.toHeapArray(), 1e-5, sumAtol, "dWeight");
        }
        if (hasB) {
            assertClose(grads.dBias().toFloatArray(), dB.toHeapArray(), 1e-5, sumAtol, "dBias");
        }
        checkStats(xs, rows, cols, true, stats.toHeapArray(), 2);
    }

    @ParameterizedTest(name = "{0} rows={1} cols={2} weight={3} groups={4}")
    @FieldSource("CASES")
    void rmsNormMatchesTheCpuOp(String backend, int rows, int cols, int affine, int groups) {
        Random rnd = new Random(2000L * rows + cols + affine);
        float[] xs = gaussian(rnd, rows * cols, 0.5, 2);
        float[] ws = gaussian(rnd, cols, 1, 0.2);
        float[] dys = gaussian(rnd, rows * cols, 0, 1);
        int hasWeight = affine & NormKernels.HAS_WEIGHT;
        int chunks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;

        FloatArray x = FloatArray.fromArray(xs);
        FloatArray w = hasWeight != 0 ? FloatArray.fromArray(ws) : new FloatArray(1);
        FloatArray dy = FloatArray.fromArray(dys);
        FloatArray y = poisoned(rows * cols);
        FloatArray rstd = poisoned(rows);
        FloatArray dx = poisoned(rows * cols);
        FloatArray partialW = poisoned(chunks * cols);
        FloatArray dW = poisoned(cols);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("rms")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, w, dy)
                    .task("fwd", NormKernels::rmsNorm, new KernelContext(), x, w, y, rstd, rows, cols, EPS, hasWeight)
                    .task("bwd", NormKernels::rmsNormBackward, new KernelContext(), dy, x, w, rstd, dx, rows, cols,
                            hasWeight)
                    .task("partials", NormKernels::rmsNormParamPartials, new KernelContext(), dy, x, rstd, partialW,
                            rows, cols, CHUNK_ROWS)
                    .task("sumW", ColumnSumKernels::sumChunks, new KernelContext(), partialW, dW, cols, 1, chunks)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, y, rstd, dx, dW),
                    "fwd", rowGrid(rows, cols, groups), "bwd", rowGrid(rows, cols, groups),
                    "partials", NormKernels.partialsGrid(cols, chunks), "sumW", ColumnSumKernels.sumGrid(cols, 1));
        }

        Tensor xt = Tensor.of(xs, rows, cols);
        Tensor wt = hasWeight != 0 ? Tensor.of(ws, cols) : null;
        assertClose(Norms.rmsNorm(xt, wt, EPS).toFloatArray(), y.toHeapArray(), 1e-5, 1e-5, "y");
        Norms.NormGrads grads = Norms.rmsNormBackward(Tensor.of(dys, rows, cols), xt, wt, EPS);
        assertClose(grads.dx().toFloatArray(), dx.toHeapArray(), 1e-5, 5e-6, "dx");
        if (hasWeight != 0) {
            assertClose(grads.dWeight().toFloatArray(), dW.toHeapArray(), 1e-5, 1e-5 * Math.sqrt(rows), "dWeight");
        }
        checkStats(xs, rows, cols, false, rstd.toHeapArray(), 1);
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("io.sparge4j.engine.kernel.nn.NnRunner#BACKENDS")
    void parameterGradientsAreBitIdenticalAcrossRuns(String backend) {
        int rows = 23;
        int cols = 77;
        int chunks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;
        Random rnd = new Random(5);
        FloatArray x = FloatArray.fromArray(gaussian(rnd, rows * cols, 0.5, 2));
        FloatArray dy = FloatArray.fromArray(gaussian(rnd, rows * cols, 0, 1));
        FloatArray none = new FloatArray(1);
        FloatArray y = poisoned(rows * cols);
        FloatArray stats = poisoned(2 * rows);
        FloatArray partialW = poisoned(chunks * cols);
        FloatArray partialB = poisoned(chunks * cols);
        FloatArray dW = poisoned(cols);
        TaskGraph graph = new TaskGraph("det")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, dy)
                .task("fwd", NormKernels::layerNorm, new KernelContext(), x, none, none, y, stats, rows, cols, EPS, 0)
                .task("partials", NormKernels::layerNormParamPartials, new KernelContext(), dy, x, stats, partialW,
                        partialB, rows, cols, CHUNK_ROWS)
                .task("sumW", ColumnSumKernels::sumChunks, new KernelContext(), partialW, dW, cols, 1, chunks)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, dW);
        try (NnRunner runner = NnRunner.open(backend);
                ExecutionPlan plan = runner.plan(graph, "fwd", NormKernels.rowGrid(rows),
                        "partials", NormKernels.partialsGrid(cols, chunks), "sumW", ColumnSumKernels.sumGrid(cols, 1))) {
            plan.execute();
            float[] first = dW.toHeapArray();
            dW.init(Float.NaN);
            plan.execute();
            assertArrayEquals(first, dW.toHeapArray(), "dWeight of the second run");
        }
    }

    /** Mean (LayerNorm only) and rstd of every row against float64; {@code stride} floats per row in stats. */
    private static void checkStats(float[] x, int rows, int cols, boolean centered, float[] stats, int stride) {
        double[] mean = new double[rows];
        double[] rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += x[r * cols + j];
            }
            double m = centered ? s / cols : 0;
            double sq = 0;
            for (int j = 0; j < cols; j++) {
                double c = x[r * cols + j] - m;
                sq += c * c;
            }
            mean[r] = m;
            rstd[r] = 1 / Math.sqrt(sq / cols + EPS);
        }
        float[] gotMean = new float[rows];
        float[] gotRstd = new float[rows];
        for (int r = 0; r < rows; r++) {
            gotMean[r] = centered ? stats[stride * r] : 0f;
            gotRstd[r] = stats[stride * r + stride - 1];
        }
        assertClose(mean, gotMean, 0, 1e-6, "mean");
        assertClose(rstd, gotRstd, 2e-6, 0, "rstd");
    }
}

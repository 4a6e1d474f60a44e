package io.sparge4j.engine.kernel.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static io.sparge4j.engine.kernel.nn.NnRunner.poisoned;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link TensorKernels} on the emulator and PoCL against plain Java: add and addRow round once per element, so they
 * must equal the float sums exactly (tolerance 0); the axis swap and the range copy move values, so exactly; the bf16 conversion must
 * round to nearest even exactly as {@code BFloat16Array.set} does on the host (checked bit for bit, including
 * ties, NaN and infinities). Sizes are odd, so no dimension is a multiple of the group, and one case runs on a grid
 * smaller than the array (the grid-stride loop).
 */
class TensorKernelsTest {
    /** backend, outer, first, second, inner, work-groups (0: {@link ActivationKernels#grid}). */
    static final Object[][] CASES = {
        {"emulator", 2, 7, 3, 5, 0},
        {"emulator", 1, 13, 9, 1, 1},
        {"opencl", 3, 37, 5, 64, 0},
        {"opencl", 1, 101, 67, 1, 2},
    };

    @ParameterizedTest(name = "{0} ({1}, {2}, {3}, {4}) groups={5}")
    @FieldSource("CASES")
    void elementwiseKernelsMatchJava(String backend, int outer, int first, int second, int inner, int groups) {
        int n = outer * first * second * inner;
        int cols = second * inner;
        Random rnd = new Random(n * 31L + groups);
        float[] av = gaussian(rnd, n, 0.5, 2);
        float[] bv = gaussian(rnd, n, -0.5, 3);
        float[] rowv = gaussian(rnd, cols, 0, 1);
        av[0] = 1.00390625f; // 1 + 2^-8: a bf16 tie, rounds to even (1.0)
        av[1] = 1.01171875f; // 1 + 3 * 2^-8: a tie that rounds up
        av[2] = Float.NaN;
        av[3] = Float.NEGATIVE_INFINITY;
        FloatArray a = FloatArray.fromArray(av);
        FloatArray b = FloatArray.fromArray(bv);
        FloatArray row = FloatArray.fromArray(rowv);
        FloatArray sum = poisoned(n);
        FloatArray rowSum = poisoned(n);
        FloatArray swapped = poisoned(n);
        FloatArray sliced = poisoned(n);
        int half = n / 2;
        BFloat16Array bf = new BFloat16Array(n);
        bf.init(Float.NaN);
        var grid = ActivationKernels.grid(groups == 0 ? n : (long) groups * ActivationKernels.GROUP);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("tensor")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b, row)
                    .task("add", TensorKernels::add, new KernelContext(), a, b, sum, n)
                    .task("addRow", TensorKernels::addRow, new KernelContext(), a, row, rowSum, n, cols)
                    .task("swap", TensorKernels::swapMiddleAxes, new KernelContext(), a, swapped, outer, first, second,
                            inner)
                    .task("bf16", TensorKernels::toBFloat16, new KernelContext(), a, bf, n)
                    .task("copyHigh", TensorKernels::copy, new KernelContext(), a, half, sliced, 0, n - half)
                    .task("copyLow", TensorKernels::copy, new KernelContext(), b, 0, sliced, n - half, half)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, sum, rowSum, swapped, bf, sliced),
                    "add", grid, "addRow", grid, "swap", grid, "bf16", grid, "copyHigh", grid, "copyLow", grid);
        }
        double[] expSum = new double[n];
        double[] expRow = new double[n];
        double[] expSwap = new double[n];
        double[] expSlice = new double[n];
        BFloat16Array expBf = new BFloat16Array(n);
        for (int o = 0; o < outer; o++) {
            for (int f = 0; f < first; f++) {
                for (int s = 0; s < second; s++) {
                    for (int e = 0; e < inner; e++) {
                        int src = ((o * first + f) * second + s) * inner + e;
                        int dst = ((o * second + s) * first + f) * inner + e;
                        expSwap[dst] = av[src];
                    }
                }
            }
        }
        for (int i = 0; i < n; i++) {
            expSum[i] = av[i] + bv[i];
            expRow[i] = av[i] + rowv[i % cols];
            expBf.set(i, av[i]);
            expSlice[i] = i < n - half ? av[half + i] : bv[i - (n - half)];
        }
        assertSame(expSum, sum.toHeapArray(), "add");
        assertSame(expRow, rowSum.toHeapArray(), "addRow");
        assertSame(expSwap, swapped.toHeapArray(), "swapMiddleAxes");
        assertSame(expSlice, sliced.toHeapArray(), "copy");
        for (int i = 0; i < n; i++) {
            assertEquals(expBf.getHalfBits(i), bf.getHalfBits(i), "toBFloat16 bits of element " + i + " (" + av[i]
                    + ")");
        }
        assertEquals(1.0f, bf.get(0), "bf16 tie to even");
        assertEquals(1.015625f, bf.get(1), "bf16 tie up to even");
    }

    /** Exact equality of every element (NaN equal to NaN, infinities to themselves). */
    private static void assertSame(double[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            assertEquals((float) expected[i], actual[i], 0f, what + " element " + i);
        }
    }
}

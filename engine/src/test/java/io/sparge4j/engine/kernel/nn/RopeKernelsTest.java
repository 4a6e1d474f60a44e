package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.RopeKernels;
import io.sparge4j.kernels.nn.RopeTables;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.assertClose;
import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static io.sparge4j.engine.kernel.nn.NnRunner.poisoned;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The 3D RoPE kernels against the engine's CPU op ({@code Rope.apply} and {@code Rope.backward}, which compute the
 * angles and the products in float64 and round once), in both layouts, with padding tokens past the grid
 * (L > frames * rows * cols), head dims 10 (uneven axis split), 64 and 128, and a grid smaller than the work.
 *
 * <p>Tolerance: the kernels rotate in float with float-rounded cos and sin, so each output is within a few float
 * ulps of |x| of the CPU's: rtol 1e-6, atol 1e-6 (inputs are O(1)).
 */
class RopeKernelsTest {
    /** backend, B, L, H, d, frames, rows, cols, layout BLHD, work-groups (0: one work-item per pair). */
    static final Object[][] CASES = {
        {"emulator", 2, 33, 3, 64, 2, 3, 5, true, 4},
        {"emulator", 1, 7, 2, 10, 1, 2, 3, true, 0},
        {"emulator", 2, 30, 2, 64, 2, 3, 5, false, 3},
        {"opencl", 2, 130, 4, 128, 3, 5, 8, true, 0},
        {"opencl", 1, 61, 12, 64, 2, 5, 6, true, 0},
        {"opencl", 2, 45, 3, 128, 3, 3, 5, false, 0},
    };

    @Test
    void axisSplitIsTheCpuOps() {
        for (int d = 2; d <= 256; d += 2) {
            assertArrayEquals(Rope.axisPairs(d), RopeTables.axisPairs(d), "headDim " + d);
        }
    }

    @Test
    void tablesRejectBadArguments() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RopeTables.cosSin(1, 2, 3, 7));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("headDim is 7"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RopeTables.cosSin(0, 2, 3, 8));
    }

    @ParameterizedTest(name = "{0} B={1} L={2} H={3} d={4} grid={5}x{6}x{7} BLHD={8} groups={9}")
    @FieldSource("CASES")
    void applyAndBackwardMatchTheCpuOp(String backend, int batch, int tokens, int heads, int headDim, int frames,
            int gridRows, int gridCols, boolean blhd, int groups) {
        Random rnd = new Random(7L * tokens + headDim + heads + (blhd ? 1 : 0));
        int n = batch * tokens * heads * headDim;
        float[] xs = gaussian(rnd, n, 0, 1);
        float[] dys = gaussian(rnd, n, 0, 1);
        int gridTokens = frames * gridRows * gridCols;
        // (B, H, L, d) is the (B, L, H, d) kernel with one head per row: rows = B * H * L
        int rows = blhd ? batch * tokens : batch * heads * tokens;
        int rowHeads = blhd ? heads : 1;
        FloatArray x = FloatArray.fromArray(xs);
        FloatArray dy = FloatArray.fromArray(dys);
        FloatArray table = RopeTables.cosSin(frames, gridRows, gridCols, headDim);
        FloatArray out = poisoned(n);
        FloatArray dx = poisoned(n);
        WorkerGrid1D grid = ActivationKernels.grid(groups == 0 ? n / 2 : (long) groups * ActivationKernels.GROUP);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("rope")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, dy, table)
                    .task("apply", RopeKernels::ropeApply, new KernelContext(), x, table, out, rows, tokens,
                            gridTokens, rowHeads, headDim)
                    .task("backward", RopeKernels::ropeBackward, new KernelContext(), dy, table, dx, rows, tokens,
                            gridTokens, rowHeads, headDim)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, out, dx),
                    "apply", grid, "backward", grid);
        }
        Rope.Layout layout = blhd ? Rope.Layout.BLHD : Rope.Layout.BHLD;
        int[] shape = blhd ? new int[] {batch, tokens, heads, headDim} : new int[] {batch, heads, tokens, headDim};
        Rope.Grid g = new Rope.Grid(frames, gridRows, gridCols);
        assertClose(Rope.apply(Tensor.of(xs, shape), g, layout).toFloatArray(), out.toHeapArray(), 1e-6, 1e-6,
                "apply");
        assertClose(Rope.backward(Tensor.of(dys, shape), g, layout).toFloatArray(), dx.toHeapArray(), 1e-6, 1e-6,
                "backward");
    }
}

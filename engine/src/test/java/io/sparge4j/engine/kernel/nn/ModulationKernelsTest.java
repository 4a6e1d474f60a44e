package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.ModulationKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.assertClose;
import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static io.sparge4j.engine.kernel.nn.NnRunner.poisoned;

/**
 * adaLN modulation and the gated residual, forward and backward, against the engine's CPU ops on the same inputs,
 * with tokens (B, L, C) and modulation vectors (B, 1, C) or shared (C), mixed within one call, L and the row
 * counts not multiples of the chunk, C = 64, 77 and 1536.
 *
 * <p>Tolerances: the element-wise results are the same fused multiply-add (or product) as the CPU's: rtol 2e-7
 * (1 ulp), atol 0. The shift, scale and gate gradients are column sums over up to a few hundred O(1) terms in a
 * different order: rtol 1e-5, atol 1e-5 * sqrt(rows summed).
 */
class ModulationKernelsTest {
    private static final int CHUNK_ROWS = 5;

    /** backend, B, L, C, shift rows, scale rows, gate rows (1 or B). */
    static final Object[][] CASES = {
        {"emulator", 2, 13, 77, 2, 2, 1},
        {"emulator", 2, 7, 64, 1, 1, 2},
        {"emulator", 1, 3, 1536, 1, 1, 1},
        {"opencl", 2, 37, 1536, 2, 2, 2},
        {"opencl", 3, 50, 77, 1, 3, 1},
        {"opencl", 3, 21, 64, 3, 1, 3},
    };

    private static Tensor modTensor(float[] v, int rows, int batch, int cols) {
        return rows == 1 ? Tensor.of(v, cols) : Tensor.of(v, batch, 1, cols);
    }

    @ParameterizedTest(name = "{0} B={1} L={2} C={3} rows shift={4} scale={5} gate={6}")
    @FieldSource("CASES")
    void modulationAndGatedResidualMatchTheCpuOps(String backend, int batch, int tokens, int cols, int shiftRows,
            int scaleRows, int gateRows) {
        Random rnd = new Random(31L * batch + 7L * tokens + cols + shiftRows + scaleRows + gateRows);
        int n = batch * tokens * cols;
        float[] xs = gaussian(rnd, n, 0, 1);
        float[] ys = gaussian(rnd, n, 0, 1);
        float[] dys = gaussian(rnd, n, 0, 1);
        float[] shifts = gaussian(rnd, shiftRows * cols, 0, 0.5);
        float[] scales = gaussian(rnd, scaleRows * cols, 0, 0.5);
        float[] gates = gaussian(rnd, gateRows * cols, 0, 0.5);
        // backward groups: the gradient of a shared vector sums over every token, of a per-batch one per batch
        int scaleGroups = scaleRows == 1 ? 1 : batch;
        int scaleGroupRows = batch * tokens / scaleGroups;
        int scaleChunks = scaleGroups * ColumnSumKernels.chunksPerGroup(scaleGroupRows, CHUNK_ROWS);
        int gateGroups = gateRows == 1 ? 1 : batch;
        int gateGroupRows = batch * tokens / gateGroups;
        int gateChunks = gateGroups * ColumnSumKernels.chunksPerGroup(gateGroupRows, CHUNK_ROWS);

        FloatArray x = FloatArray.fromArray(xs);
        FloatArray y = FloatArray.fromArray(ys);
        FloatArray dy = FloatArray.fromArray(dys);
        FloatArray shift = FloatArray.fromArray(shifts);
        FloatArray scale = FloatArray.fromArray(scales);
        FloatArray gate = FloatArray.fromArray(gates);
        FloatArray modulated = poisoned(n);
        FloatArray dxMod = poisoned(n);
        FloatArray partialShift = poisoned(scaleChunks * cols);
        FloatArray partialScale = poisoned(scaleChunks * cols);
        FloatArray dShift = poisoned(scaleRows * cols);
        FloatArray dScale = poisoned(scaleRows * cols);
        FloatArray gated = poisoned(n);
        FloatArray dyGated = poisoned(n);
        FloatArray partialGate = poisoned(gateChunks * cols);
        FloatArray dGate = poisoned(gateRows * cols);
        WorkerGrid1D grid = ActivationKernels.grid(n);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("mod")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, y, dy, shift, scale, gate)
                    .task("modulate", ModulationKernels::modulate, new KernelContext(), x, shift, scale, modulated, n,
                            cols, tokens, shiftRows, scaleRows)
                    .task("modulateBackward", ModulationKernels::modulateBackward, new KernelContext(), dy, scale,
                            dxMod, n, cols, tokens, scaleRows)
                    .task("modPartials", ModulationKernels::modulateParamPartials, new KernelContext(), dy, x,
                            partialShift, partialScale, cols, scaleGroups, scaleGroupRows, CHUNK_ROWS)
                    .task("sumShift", ColumnSumKernels::sumChunks, new KernelContext(), partialShift, dShift, cols,
                            scaleGroups, scaleChunks / scaleGroups)
                    .task("sumScale", ColumnSumKernels::sumChunks, new KernelContext(), partialScale, dScale, cols,
                            scaleGroups, scaleChunks / scaleGroups)
                    .task("gatedAdd", ModulationKernels::gatedAdd, new KernelContext(), x, gate, y, gated, n, cols,
                            tokens, gateRows)
                    .task("gatedAddBackward", ModulationKernels::gatedAddBackward, new KernelContext(), dy, gate,
                            dyGated, n, cols, tokens, gateRows)
                    .task("gatePartials", ColumnSumKernels::productPartials, new KernelContext(), dy, y, partialGate,
                            cols, gateGroups, gateGroupRows, CHUNK_ROWS)
                    .task("sumGate", ColumnSumKernels::sumChunks, new KernelContext(), partialGate, dGate, cols,
                            gateGroups, gateChunks / gateGroups)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, modulated, dxMod, dShift, dScale, gated, dyGated,
                            dGate),
                    "modulate", grid, "modulateBackward", grid, "gatedAdd", grid, "gatedAddBackward", grid,
                    "modPartials", ColumnSumKernels.partialsGrid(cols, scaleChunks),
                    "sumShift", ColumnSumKernels.sumGrid(cols, scaleGroups),
                    "sumScale", ColumnSumKernels.sumGrid(cols, scaleGroups),
                    "gatePartials", ColumnSumKernels.partialsGrid(cols, gateChunks),
                    "sumGate", ColumnSumKernels.sumGrid(cols, gateGroups));
        }

        Tensor xt = Tensor.of(xs, batch, tokens, cols);
        Tensor yt = Tensor.of(ys, batch, tokens, cols);
        Tensor dyt = Tensor.of(dys, batch, tokens, cols);
        Tensor scaleT = modTensor(scales, scaleRows, batch, cols);
        Tensor gateT = modTensor(gates, gateRows, batch, cols);
        assertClose(Elementwise.modulate(xt, modTensor(shifts, shiftRows, batch, cols), scaleT).toFloatArray(),
                modulated.toHeapArray(), 2e-7, 0, "modulate");
        Elementwise.ModulateGrads mg = Elementwise.modulateBackward(dyt, xt, scaleT);
        assertClose(mg.dx().toFloatArray(), dxMod.toHeapArray(), 2e-7, 0, "modulate dx");
        double scaleAtol = 1e-5 * Math.sqrt(scaleGroupRows);
        assertClose(mg.dShift().toFloatArray(), dShift.toHeapArray(), 1e-5, scaleAtol, "modulate dShift");
        assertClose(mg.dScale().toFloatArray(), dScale.toHeapArray(), 1e-5, scaleAtol, "modulate dScale");
        assertClose(Elementwise.gatedAdd(xt, gateT, yt).toFloatArray(), gated.toHeapArray(), 2e-7, 0, "gatedAdd");
        Elementwise.GatedAddGrads gg = Elementwise.gatedAddBackward(dyt, gateT, yt);
        assertClose(gg.dy().toFloatArray(), dyGated.toHeapArray(), 2e-7, 0, "gatedAdd dy");
        assertClose(gg.dGate().toFloatArray(), dGate.toHeapArray(), 1e-5, 1e-5 * Math.sqrt(gateGroupRows),
                "gatedAdd dGate");
    }
}

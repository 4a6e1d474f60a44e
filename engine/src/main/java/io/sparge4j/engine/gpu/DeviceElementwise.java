package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.ModulationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;

/**
 * Element-wise ops of a DiT block on the device, as {@code io.sparge4j.engine.ops.Elementwise} computes them: the
 * residual sum, Wan's adaLN modulation {@code x * (1 + scale) + shift} and the gated residual {@code x + gate * y}.
 */
public final class DeviceElementwise {
    private DeviceElementwise() {
    }

    /**
     * @param a f32 tensor
     * @param b f32 tensor of a's shape, or of shape (D) with D a's last dimension (added to every row)
     * @return a new tensor {@code a + b}, shaped like a
     */
    public static DeviceTensor add(DeviceTensor a, DeviceTensor b) {
        Op op = Op.of("DeviceElementwise.add", a);
        FloatArray aa = op.f32("a", a);
        FloatArray ba = op.f32("b", b);
        int n = (int) a.numel();
        boolean same = Arrays.equals(a.shape(), b.shape());
        boolean row = !same && a.rank() >= 1 && b.rank() == 1 && b.dim(0) == a.dim(-1) && b.dim(0) > 0;
        if (!same && !row) {
            throw op.fail("b's shape", Arrays.toString(b.shape()), Arrays.toString(a.shape()) + " (a's shape) or ("
                    + (a.rank() >= 1 ? a.dim(-1) : "D") + ")");
        }
        DeviceTensor out = op.session.allocate(DType.F32, a.shape());
        FloatArray oa = (FloatArray) out.array();
        if (same) {
            op.graph.task("add", TensorKernels::add, new KernelContext(), aa, ba, oa, n);
        } else {
            op.graph.task("add", TensorKernels::addRow, new KernelContext(), aa, ba, oa, n, b.dim(0));
        }
        op.grid("add", ActivationKernels.grid(n));
        return Ops.runOrFree(op, out);
    }

    /**
     * {@code x.fill_(value)}: every element of x becomes value, on the device.
     *
     * @param x f32, updated
     * @param value the value
     */
    public static void fill(DeviceTensor x, float value) {
        Op op = Op.of("DeviceElementwise.fill", x);
        FloatArray xa = op.f32("x", x);
        int n = (int) x.numel();
        op.graph.task("fill", TensorKernels::fill, new KernelContext(), xa, value, n);
        op.grid("fill", ActivationKernels.grid(Math.max(1, n)));
        op.run();
    }

    /**
     * @param x f32 tokens (B, L, D), or (L, D) for one batch
     * @param shift f32 (D), (B, D) or (B, 1, D); a batch size of 1 broadcasts over the batch
     * @param scale f32, shaped like one of the shapes allowed for shift
     * @return a new tensor {@code x * (1 + scale) + shift}, shaped like x
     */
    public static DeviceTensor modulate(DeviceTensor x, DeviceTensor shift, DeviceTensor scale) {
        Op op = Op.of("DeviceElementwise.modulate", x);
        Tokens t = tokens(op, x);
        FloatArray sh = op.f32("shift", shift);
        FloatArray sc = op.f32("scale", scale);
        int shiftRows = modRows(op, "shift", shift, t);
        int scaleRows = modRows(op, "scale", scale, t);
        DeviceTensor out = op.session.allocate(DType.F32, x.shape());
        op.graph.task("modulate", ModulationKernels::modulate, new KernelContext(), op.f32("x", x), sh, sc,
                (FloatArray) out.array(), t.n(), t.cols(), t.tokens(), shiftRows, scaleRows);
        op.grid("modulate", ActivationKernels.grid(t.n()));
        return Ops.runOrFree(op, out);
    }

    /**
     * @param x f32 tokens (B, L, D), or (L, D)
     * @param gate f32 (D), (B, D) or (B, 1, D); a batch size of 1 broadcasts over the batch
     * @param y f32, shaped like x
     * @return a new tensor {@code x + gate * y}, shaped like x
     */
    public static DeviceTensor gatedAdd(DeviceTensor x, DeviceTensor gate, DeviceTensor y) {
        Op op = Op.of("DeviceElementwise.gatedAdd", x);
        Tokens t = tokens(op, x);
        FloatArray g = op.f32("gate", gate);
        FloatArray ya = op.f32("y", y);
        op.shape("y", y, x.shape());
        int gateRows = modRows(op, "gate", gate, t);
        DeviceTensor out = op.session.allocate(DType.F32, x.shape());
        op.graph.task("gatedAdd", ModulationKernels::gatedAdd, new KernelContext(), op.f32("x", x), g, ya,
                (FloatArray) out.array(), t.n(), t.cols(), t.tokens(), gateRows);
        op.grid("gatedAdd", ActivationKernels.grid(t.n()));
        return Ops.runOrFree(op, out);
    }

    /**
     * The gradients of {@link #modulate}; closing closes all three.
     *
     * @param dx gradient with respect to x, shaped like x
     * @param dShift gradient with respect to shift (summed over tokens), shaped like scale
     * @param dScale gradient with respect to scale (summed over tokens), shaped like scale
     */
    public record ModulateGrads(DeviceTensor dx, DeviceTensor dShift, DeviceTensor dScale) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            dShift.close();
            dScale.close();
        }
    }

    /**
     * The gradients of {@link #gatedAdd}; closing closes all three.
     *
     * @param dx gradient with respect to x (a copy of the upstream gradient)
     * @param dGate gradient with respect to the gate (summed over tokens), shaped like the gate
     * @param dy gradient with respect to y, shaped like y
     */
    public record GatedAddGrads(DeviceTensor dx, DeviceTensor dGate, DeviceTensor dy) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            dGate.close();
            dy.close();
        }
    }

    /**
     * The backward of {@link #modulate}, as {@code Elementwise.modulateBackward} (shift and scale shaped alike).
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @param scale the forward scale
     * @return dx, dShift, dScale
     */
    public static ModulateGrads modulateBackward(DeviceTensor dy, DeviceTensor x, DeviceTensor scale) {
        Op op = Op.of("DeviceElementwise.modulateBackward", dy);
        Tokens t = tokens(op, x);
        FloatArray dya = op.f32("dy", dy);
        op.shape("dy", dy, x.shape());
        FloatArray sc = op.f32("scale", scale);
        int rows = modRows(op, "scale", scale, t);
        int groupRows = rows == 1 ? t.batch() * t.tokens() : t.tokens();
        DeviceTensor dx = op.session.allocate(DType.F32, x.shape());
        DeviceTensor dShift = op.session.allocate(DType.F32, scale.shape());
        DeviceTensor dScale = op.session.allocate(DType.F32, scale.shape());
        DeviceTensor pShift = ColumnSums.partials(op, rows, groupRows, t.cols());
        DeviceTensor pScale = ColumnSums.partials(op, rows, groupRows, t.cols());
        op.graph.task("dx", ModulationKernels::modulateBackward, new KernelContext(), dya, sc, (FloatArray) dx.array(),
                t.n(), t.cols(), t.tokens(), rows);
        op.grid("dx", ActivationKernels.grid(t.n()));
        op.graph.task("partials", ModulationKernels::modulateParamPartials, new KernelContext(), dya, op.f32("x", x),
                (FloatArray) pShift.array(), (FloatArray) pScale.array(), t.cols(), rows, groupRows,
                ColumnSums.CHUNK_ROWS);
        op.grid("partials", ColumnSumKernels.partialsGrid(t.cols(), rows * ColumnSums.chunks(groupRows)));
        ColumnSums.sum(op, "dShift", pShift, dShift, t.cols(), rows, groupRows);
        ColumnSums.sum(op, "dScale", pScale, dScale, t.cols(), rows, groupRows);
        ModulateGrads g = new ModulateGrads(dx, dShift, dScale);
        try {
            op.run();
            return g;
        } catch (RuntimeException e) {
            g.close();
            throw e;
        } finally {
            pShift.close();
            pScale.close();
        }
    }

    /**
     * The backward of {@link #gatedAdd}, as {@code Elementwise.gatedAddBackward}.
     *
     * @param dOut upstream gradient, shaped like x
     * @param gate the forward gate
     * @param y the forward y
     * @return dx (a copy of dOut), dGate, dy
     */
    public static GatedAddGrads gatedAddBackward(DeviceTensor dOut, DeviceTensor gate, DeviceTensor y) {
        Op op = Op.of("DeviceElementwise.gatedAddBackward", dOut);
        Tokens t = tokens(op, y);
        FloatArray da = op.f32("dOut", dOut);
        op.shape("dOut", dOut, y.shape());
        FloatArray g = op.f32("gate", gate);
        int rows = modRows(op, "gate", gate, t);
        int groupRows = rows == 1 ? t.batch() * t.tokens() : t.tokens();
        DeviceTensor dx = op.session.allocate(DType.F32, y.shape());
        DeviceTensor dGate = op.session.allocate(DType.F32, gate.shape());
        DeviceTensor dy = op.session.allocate(DType.F32, y.shape());
        DeviceTensor partial = ColumnSums.partials(op, rows, groupRows, t.cols());
        op.graph.task("dx", TensorKernels::copy, new KernelContext(), da, 0, (FloatArray) dx.array(), 0, t.n());
        op.grid("dx", ActivationKernels.grid(t.n()));
        op.graph.task("dy", ModulationKernels::gatedAddBackward, new KernelContext(), da, g, (FloatArray) dy.array(),
                t.n(), t.cols(), t.tokens(), rows);
        op.grid("dy", ActivationKernels.grid(t.n()));
        op.graph.task("partials", ColumnSumKernels::productPartials, new KernelContext(), da, op.f32("y", y),
                (FloatArray) partial.array(), t.cols(), rows, groupRows, ColumnSums.CHUNK_ROWS);
        op.grid("partials", ColumnSumKernels.partialsGrid(t.cols(), rows * ColumnSums.chunks(groupRows)));
        ColumnSums.sum(op, "dGate", partial, dGate, t.cols(), rows, groupRows);
        GatedAddGrads grads = new GatedAddGrads(dx, dGate, dy);
        try {
            op.run();
            return grads;
        } catch (RuntimeException e) {
            grads.close();
            throw e;
        } finally {
            partial.close();
        }
    }

    /** x as (batch, tokens, cols). */
    private record Tokens(int batch, int tokens, int cols, int n) {
    }

    private static Tokens tokens(Op op, DeviceTensor x) {
        op.f32("x", x);
        if ((x.rank() != 2 && x.rank() != 3) || x.numel() == 0) {
            throw op.fail("x's shape", Arrays.toString(x.shape()), "(B, L, D) or (L, D) with no zero dimension");
        }
        int batch = x.rank() == 3 ? x.dim(0) : 1;
        return new Tokens(batch, x.dim(-2), x.dim(-1), (int) x.numel());
    }

    /** The rows of a modulation vector: 1 (shared) or B (per batch). */
    private static int modRows(Op op, String arg, DeviceTensor m, Tokens t) {
        int[] s = m.shape();
        int rows = s.length == 0 || s[s.length - 1] != t.cols() ? -1 : (int) (m.numel() / t.cols());
        boolean shapeOk = s.length == 1 || s.length == 2 || (s.length == 3 && s[1] == 1);
        if (!shapeOk || (rows != 1 && rows != t.batch())) {
            throw op.fail(arg + "'s shape", Arrays.toString(s), "(" + t.cols() + "), (" + t.batch() + ", " + t.cols()
                    + ") or (" + t.batch() + ", 1, " + t.cols() + ") (or a batch of 1) for x of batch " + t.batch());
        }
        return rows;
    }
}

package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.vec.BinaryOp;
import io.sparge4j.engine.cpu.vec.BroadcastLoops;
import io.sparge4j.engine.cpu.vec.ColumnBlocks;
import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Element-wise arithmetic on f32 tensors, with NumPy/PyTorch broadcasting, and the adaLN pieces of a
 * DiT block: modulation {@code x * (1 + scale) + shift} and the gated residual {@code x + gate * y}.
 * Every op has its backward. Outputs are new tensors unless the name says "InPlace".
 */
public final class Elementwise {
    /** Elements per parallel chunk of a flat loop. */
    private static final int CHUNK = 16384;

    private Elementwise() {
    }

    /**
     * Gradients of a broadcasting binary op, each reduced (summed) back to its input's shape.
     *
     * @param da gradient with respect to the first input, shaped like it
     * @param db gradient with respect to the second input, shaped like it
     */
    public record BroadcastGrads(Tensor da, Tensor db) {
    }

    /**
     * Gradients of {@link #modulate}.
     *
     * @param dx gradient with respect to x, shaped like x
     * @param dShift gradient with respect to shift (summed over tokens), shaped like scale
     * @param dScale gradient with respect to scale (summed over tokens), shaped like scale
     */
    public record ModulateGrads(Tensor dx, Tensor dShift, Tensor dScale) {
    }

    /**
     * Gradients of {@link #gatedAdd}.
     *
     * @param dx gradient with respect to x (a copy of the upstream gradient)
     * @param dGate gradient with respect to the gate (summed over tokens), shaped like the gate
     * @param dy gradient with respect to y, shaped like y
     */
    public record GatedAddGrads(Tensor dx, Tensor dGate, Tensor dy) {
    }

    // ------------------------------------------------------------------ broadcasting binary ops

    /**
     * {@code a + b} with broadcasting.
     *
     * @param a f32 tensor
     * @param b f32 tensor whose shape broadcasts with {@code a}'s
     * @return a new tensor of the broadcast shape
     */
    public static Tensor add(Tensor a, Tensor b) {
        return binary("add", BinaryOp.ADD, a, b, FloatKernels.preferred());
    }

    /**
     * {@code a - b} with broadcasting.
     *
     * @param a f32 tensor
     * @param b f32 tensor whose shape broadcasts with {@code a}'s
     * @return a new tensor of the broadcast shape
     */
    public static Tensor sub(Tensor a, Tensor b) {
        return binary("sub", BinaryOp.SUB, a, b, FloatKernels.preferred());
    }

    /**
     * {@code a * b} with broadcasting.
     *
     * @param a f32 tensor
     * @param b f32 tensor whose shape broadcasts with {@code a}'s
     * @return a new tensor of the broadcast shape
     */
    public static Tensor mul(Tensor a, Tensor b) {
        return binary("mul", BinaryOp.MUL, a, b, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #add}: {@code da = sumTo(dy, a.shape)}, {@code db = sumTo(dy, b.shape)}.
     *
     * @param dy upstream gradient, of the broadcast shape
     * @param a the first input (only its shape is used)
     * @param b the second input (only its shape is used)
     * @return the gradients
     */
    public static BroadcastGrads addBackward(Tensor dy, Tensor a, Tensor b) {
        return linearBackward("addBackward", dy, a, b, false, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #sub}: {@code da = sumTo(dy, a.shape)}, {@code db = -sumTo(dy, b.shape)}.
     *
     * @param dy upstream gradient, of the broadcast shape
     * @param a the first input (only its shape is used)
     * @param b the second input (only its shape is used)
     * @return the gradients
     */
    public static BroadcastGrads subBackward(Tensor dy, Tensor a, Tensor b) {
        return linearBackward("subBackward", dy, a, b, true, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #mul}: {@code da = sumTo(dy * b, a.shape)}, {@code db = sumTo(dy * a, b.shape)}.
     *
     * @param dy upstream gradient, of the broadcast shape
     * @param a the first input
     * @param b the second input
     * @return the gradients
     */
    public static BroadcastGrads mulBackward(Tensor dy, Tensor a, Tensor b) {
        return mulBackward(dy, a, b, FloatKernels.preferred());
    }

    /**
     * Sums {@code t} over the dimensions that {@code shape} broadcasts (the reverse of broadcasting).
     *
     * @param t f32 tensor
     * @param shape a shape that broadcasts to {@code t}'s shape
     * @return a new tensor of {@code shape}
     */
    public static Tensor sumTo(Tensor t, int... shape) {
        return sumTo("sumTo", t, shape, FloatKernels.preferred());
    }

    /**
     * @param a a shape
     * @param b another shape
     * @return the NumPy broadcast shape of the two
     * @throws IllegalArgumentException if they do not broadcast
     */
    public static int[] broadcastShape(int[] a, int[] b) {
        return broadcastShape("broadcastShape", "b", a, b);
    }

    static Tensor binary(String op, BinaryOp kind, Tensor a, Tensor b, FloatKernels k) {
        Check.f32(op, "a", a);
        Check.f32(op, "b", b);
        int[] shape = broadcastShape(op, "b", a.shape(), b.shape());
        Tensor out = Tensor.allocate(DType.F32, shape);
        BroadcastLoops.binary(k, kind, a.segment(), a.shape(), b.segment(), b.shape(), out.segment());
        return out;
    }

    static BroadcastGrads linearBackward(String op, Tensor dy, Tensor a, Tensor b, boolean negateB, FloatKernels k) {
        checkBinaryBackward(op, dy, a, b);
        Tensor da = sumTo(op, dy, a.shape(), k);
        Tensor db = sumTo(op, dy, b.shape(), k);
        if (negateB) {
            scaleInto(db, -1f, db, k);
        }
        return new BroadcastGrads(da, db);
    }

    static BroadcastGrads mulBackward(Tensor dy, Tensor a, Tensor b, FloatKernels k) {
        String op = "mulBackward";
        checkBinaryBackward(op, dy, a, b);
        Tensor da;
        Tensor db;
        try (Tensor dyb = binary(op, BinaryOp.MUL, dy, b, k)) {
            da = sumTo(op, dyb, a.shape(), k);
        }
        try (Tensor dya = binary(op, BinaryOp.MUL, dy, a, k)) {
            db = sumTo(op, dya, b.shape(), k);
        }
        return new BroadcastGrads(da, db);
    }

    private static void checkBinaryBackward(String op, Tensor dy, Tensor a, Tensor b) {
        Check.f32(op, "dy", dy);
        Check.f32(op, "a", a);
        Check.f32(op, "b", b);
        int[] shape = broadcastShape(op, "b", a.shape(), b.shape());
        Check.shape(op, "dy", dy, shape);
    }

    static Tensor sumTo(String op, Tensor t, int[] shape, FloatKernels k) {
        Check.f32(op, "t", t);
        if (!BroadcastLoops.broadcastsTo(shape, t.shape())) {
            throw new IllegalArgumentException(op + ": target shape " + Arrays.toString(shape)
                    + " does not broadcast to the gradient's shape " + Arrays.toString(t.shape())
                    + ", expected a shape that broadcasts to it");
        }
        Tensor out = Tensor.allocate(DType.F32, shape);
        BroadcastLoops.sumTo(k, t.segment(), t.shape(), out.segment(), shape);
        return out;
    }

    static int[] broadcastShape(String op, String arg, int[] a, int[] b) {
        int[] s = BroadcastLoops.broadcastShape(a, b);
        if (s == null) {
            throw new IllegalArgumentException(op + ": " + arg + " has shape " + Arrays.toString(b)
                    + ", expected a shape that broadcasts with " + Arrays.toString(a)
                    + " (trailing dimensions must be equal or 1)");
        }
        return s;
    }

    // ------------------------------------------------------------------ scaling and in-place updates

    /**
     * @param a f32 tensor
     * @param alpha the factor
     * @return a new tensor {@code alpha * a}
     */
    public static Tensor scale(Tensor a, float alpha) {
        Check.f32("scale", "a", a);
        Tensor out = Tensor.allocate(DType.F32, a.shape());
        scaleInto(a, alpha, out, FloatKernels.preferred());
        return out;
    }

    /**
     * Multiplies {@code a} by {@code alpha} in place.
     *
     * @param a f32 tensor, updated
     * @param alpha the factor
     */
    public static void scaleInPlace(Tensor a, float alpha) {
        Check.f32("scaleInPlace", "a", a);
        scaleInto(a, alpha, a, FloatKernels.preferred());
    }

    /**
     * {@code a += b}, where {@code b} broadcasts to {@code a}'s shape.
     *
     * @param a f32 tensor, updated
     * @param b f32 tensor broadcastable to {@code a}
     */
    public static void addInPlace(Tensor a, Tensor b) {
        addInPlace(a, b, FloatKernels.preferred());
    }

    static void addInPlace(Tensor a, Tensor b, FloatKernels k) {
        String op = "addInPlace";
        Check.f32(op, "a", a);
        Check.f32(op, "b", b);
        if (!BroadcastLoops.broadcastsTo(b.shape(), a.shape())) {
            throw new IllegalArgumentException(op + ": b has shape " + Arrays.toString(b.shape())
                    + ", expected a shape that broadcasts to a's " + Arrays.toString(a.shape()));
        }
        BroadcastLoops.binary(k, BinaryOp.ADD, a.segment(), a.shape(), b.segment(), b.shape(), a.segment());
    }

    /**
     * {@code y += alpha * x} (same shapes): the gradient-accumulation step.
     *
     * @param alpha the factor
     * @param x f32 tensor
     * @param y f32 tensor of {@code x}'s shape, updated
     */
    public static void axpy(float alpha, Tensor x, Tensor y) {
        axpy(alpha, x, y, FloatKernels.preferred());
    }

    static void axpy(float alpha, Tensor x, Tensor y, FloatKernels k) {
        Check.f32("axpy", "x", x);
        Check.f32("axpy", "y", y);
        Check.sameShape("axpy", "x", x, "y", y);
        MemorySegment xs = x.segment();
        MemorySegment ys = y.segment();
        flatChunks(x.numel(), (from, len) -> k.axpy(alpha, xs, from, ys, from, len));
    }

    static void scaleInto(Tensor a, float alpha, Tensor out, FloatKernels k) {
        MemorySegment as = a.segment();
        MemorySegment os = out.segment();
        flatChunks(a.numel(), (from, len) -> k.scale(as, from, alpha, os, from, len));
    }

    /** A loop body over a flat range {@code [from, from + len)}. */
    @FunctionalInterface
    interface FlatBody {
        void run(long from, int len);
    }

    /** Runs {@code body} over {@code [0, n)} in parallel chunks (shared by the other op classes). */
    static void flatChunks(long n, FlatBody body) {
        long chunks = (n + CHUNK - 1) / CHUNK;
        CpuRuntime.parallelForRange(Math.toIntExact(chunks), 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long from = (long) c * CHUNK;
                body.run(from, (int) Math.min(CHUNK, n - from));
            }
        });
    }

    // ------------------------------------------------------------------ adaLN modulation

    /**
     * adaLN modulation {@code x * (1 + scale) + shift}, broadcast over tokens.
     *
     * @param x f32 tokens (B, L, D), or (L, D) for one batch
     * @param shift f32 (D), (B, D) or (B, 1, D); a batch size of 1 broadcasts over the batch
     * @param scale f32, shaped like one of the shapes allowed for shift
     * @return a new tensor shaped like x
     */
    public static Tensor modulate(Tensor x, Tensor shift, Tensor scale) {
        return modulate(x, shift, scale, FloatKernels.preferred());
    }

    static Tensor modulate(Tensor x, Tensor shift, Tensor scale, FloatKernels k) {
        String op = "modulate";
        TokenLayout t = TokenLayout.of(op, x);
        int shiftRows = t.modulationRows(op, "shift", shift);
        int scaleRows = t.modulationRows(op, "scale", scale);
        int d = t.dim;
        Tensor out = Tensor.allocate(DType.F32, x.shape());
        // 1 + scale once per modulation row, so the token loop is one fused multiply-add
        try (Tensor onePlusScale = Tensor.allocate(DType.F32, scaleRows, d)) {
            k.binaryScalarLeft(BinaryOp.ADD, 1f, scale.segment(), 0, onePlusScale.segment(), 0, scaleRows * d);
            MemorySegment xs = x.segment();
            MemorySegment os = out.segment();
            MemorySegment ss = onePlusScale.segment();
            MemorySegment hs = shift.segment();
            t.forEachRow((row, batch) -> k.mulAdd(xs, (long) row * d, ss, (long) (scaleRows == 1 ? 0 : batch) * d,
                    hs, (long) (shiftRows == 1 ? 0 : batch) * d, os, (long) row * d, d));
        }
        return out;
    }

    /**
     * Backward of {@link #modulate}: {@code dx = dy * (1 + scale)}, {@code dShift = sum dy},
     * {@code dScale = sum dy * x}, the sums over tokens (and over the batch where scale has one row).
     * shift must have had scale's shape; both gradients take it.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @param scale the forward scale
     * @return dx, dShift, dScale
     */
    public static ModulateGrads modulateBackward(Tensor dy, Tensor x, Tensor scale) {
        return modulateBackward(dy, x, scale, FloatKernels.preferred());
    }

    static ModulateGrads modulateBackward(Tensor dy, Tensor x, Tensor scale, FloatKernels k) {
        String op = "modulateBackward";
        TokenLayout t = TokenLayout.of(op, x);
        Check.f32(op, "dy", dy);
        Check.sameShape(op, "x", x, "dy", dy);
        int rows = t.modulationRows(op, "scale", scale);
        int d = t.dim;
        Tensor dx = Tensor.allocate(DType.F32, x.shape());
        Tensor dShift = Tensor.allocate(DType.F32, scale.shape());
        Tensor dScale = Tensor.allocate(DType.F32, scale.shape());
        MemorySegment dys = dy.segment();
        MemorySegment xs = x.segment();
        MemorySegment ss = scale.segment();
        MemorySegment dxs = dx.segment();
        // dx = dy * scale + dy
        t.forEachRow((row, batch) -> k.mulAdd(dys, (long) row * d, ss, (long) (rows == 1 ? 0 : batch) * d,
                dys, (long) row * d, dxs, (long) row * d, d));
        MemorySegment dhs = dShift.segment();
        MemorySegment dcs = dScale.segment();
        int rowsPerGroup = t.tokens * t.batch / Math.max(1, rows);
        ColumnBlocks.forEach(rows, d, (g, c0, len) -> {
            long out = (long) g * d + c0;
            for (int r = g * rowsPerGroup, end = r + rowsPerGroup; r < end; r++) {
                long in = (long) r * d + c0;
                k.axpy(1f, dys, in, dhs, out, len);
                k.accumulateProduct(dys, in, xs, in, dcs, out, len);
            }
        });
        return new ModulateGrads(dx, dShift, dScale);
    }

    // ------------------------------------------------------------------ gated residual

    /**
     * The gated residual {@code x + gate * y}, the gate broadcast over tokens.
     *
     * @param x f32 tokens (B, L, D), or (L, D)
     * @param gate f32 (D), (B, D) or (B, 1, D); a batch size of 1 broadcasts over the batch
     * @param y f32, shaped like x
     * @return a new tensor shaped like x
     */
    public static Tensor gatedAdd(Tensor x, Tensor gate, Tensor y) {
        return gatedAdd(x, gate, y, FloatKernels.preferred());
    }

    static Tensor gatedAdd(Tensor x, Tensor gate, Tensor y, FloatKernels k) {
        String op = "gatedAdd";
        TokenLayout t = TokenLayout.of(op, x);
        Check.f32(op, "y", y);
        Check.sameShape(op, "x", x, "y", y);
        int rows = t.modulationRows(op, "gate", gate);
        int d = t.dim;
        Tensor out = Tensor.allocate(DType.F32, x.shape());
        MemorySegment xs = x.segment();
        MemorySegment gs = gate.segment();
        MemorySegment ys = y.segment();
        MemorySegment os = out.segment();
        t.forEachRow((row, batch) -> k.mulAdd(gs, (long) (rows == 1 ? 0 : batch) * d, ys, (long) row * d,
                xs, (long) row * d, os, (long) row * d, d));
        return out;
    }

    /**
     * Backward of {@link #gatedAdd}: {@code dx = dOut}, {@code dGate = sum dOut * y} over tokens (and over
     * the batch where the gate has one row), {@code dy = gate * dOut}.
     *
     * @param dOut upstream gradient, shaped like x
     * @param gate the forward gate
     * @param y the forward y
     * @return dx (a copy of dOut), dGate, dy
     */
    public static GatedAddGrads gatedAddBackward(Tensor dOut, Tensor gate, Tensor y) {
        return gatedAddBackward(dOut, gate, y, FloatKernels.preferred());
    }

    static GatedAddGrads gatedAddBackward(Tensor dOut, Tensor gate, Tensor y, FloatKernels k) {
        String op = "gatedAddBackward";
        TokenLayout t = TokenLayout.of(op, y);
        Check.f32(op, "dOut", dOut);
        Check.sameShape(op, "y", y, "dOut", dOut);
        int rows = t.modulationRows(op, "gate", gate);
        int d = t.dim;
        Tensor dx = dOut.copy();
        Tensor dy = Tensor.allocate(DType.F32, y.shape());
        Tensor dGate = Tensor.allocate(DType.F32, gate.shape());
        MemorySegment dos = dOut.segment();
        MemorySegment gs = gate.segment();
        MemorySegment ys = y.segment();
        MemorySegment dys = dy.segment();
        t.forEachRow((row, batch) -> k.binary(BinaryOp.MUL, gs, (long) (rows == 1 ? 0 : batch) * d,
                dos, (long) row * d, dys, (long) row * d, d));
        MemorySegment dgs = dGate.segment();
        int rowsPerGroup = t.tokens * t.batch / Math.max(1, rows);
        ColumnBlocks.forEach(rows, d, (g, c0, len) -> {
            long out = (long) g * d + c0;
            for (int r = g * rowsPerGroup, end = r + rowsPerGroup; r < end; r++) {
                long in = (long) r * d + c0;
                k.accumulateProduct(dos, in, ys, in, dgs, out, len);
            }
        });
        return new GatedAddGrads(dx, dGate, dy);
    }

    /** The (batch, tokens, dim) view of a modulated activation, and the check of its modulation vectors. */
    private record TokenLayout(int batch, int tokens, int dim) {
        static TokenLayout of(String op, Tensor x) {
            Check.f32(op, "x", x);
            if (x.rank() == 3) {
                return new TokenLayout(x.dim(0), x.dim(1), x.dim(2));
            }
            if (x.rank() == 2) {
                return new TokenLayout(1, x.dim(0), x.dim(1));
            }
            throw new IllegalArgumentException(op + ": x has shape " + Arrays.toString(x.shape())
                    + ", expected (B, L, D) or (L, D)");
        }

        /** @return 1 if {@code m} is shared by the whole batch, else the batch size */
        int modulationRows(String op, String arg, Tensor m) {
            Check.f32(op, arg, m);
            int[] s = m.shape();
            boolean lastIsDim = s.length >= 1 && s[s.length - 1] == dim;
            int rows = switch (s.length) {
                case 1 -> 1;
                case 2 -> s[0];
                case 3 -> s[1] == 1 ? s[0] : -1;
                default -> -1;
            };
            if (!lastIsDim || (rows != 1 && rows != batch)) {
                throw new IllegalArgumentException(op + ": " + arg + " has shape " + Arrays.toString(s) + ", expected ("
                        + dim + "), (" + batch + ", " + dim + ") or (" + batch + ", 1, " + dim + ")");
            }
            return rows;
        }

        /** A loop body over one token row. */
        interface RowBody {
            void run(int row, int batchIndex);
        }

        void forEachRow(RowBody body) {
            int n = Math.multiplyExact(batch, tokens);
            int grain = Math.max(1, CHUNK / Math.max(1, dim));
            CpuRuntime.parallelForRange(n, grain, (from, to) -> {
                for (int r = from; r < to; r++) {
                    body.run(r, r / tokens);
                }
            });
        }
    }
}

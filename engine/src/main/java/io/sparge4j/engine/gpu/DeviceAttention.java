package io.sparge4j.engine.gpu;

import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.FlashBackwardTasks;
import io.sparge4j.kernels.attention.FlashForwardKernels;
import io.sparge4j.kernels.attention.FlashForwardTasks;
import io.sparge4j.kernels.nn.RowAttentionKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.Arrays;
import java.util.List;
import java.util.function.IntUnaryOperator;

/**
 * Softmax attention on the device, f32, in the (B, H, N, d) layout ({@link DeviceShapes#swapTokensHeads} turns
 * Wan's (B, N, H, d) into it): SpargeAttention2's block-sparse attention over a mask built on the device, and dense
 * attention. Both return the output and the logsumexp (the natural log of each query's softmax denominator of the
 * scaled scores), as {@code io.sparge4j.engine.ops.Attention.forward} does.
 *
 * <p>Self-attention with d of 64 or 128 runs the flash kernels ({@code FlashForwardKernels}, 128 x 64 blocks; dense
 * is the same kernel over a mask keeping every block). Anything else (cross-attention with its own key count,
 * other d up to {@value RowAttentionKernels#MAX_D}) runs densely on {@link RowAttentionKernels}.
 */
public final class DeviceAttention {
    /** Query rows per block of the device masks and flash kernels. */
    public static final int QUERY_BLOCK = FlashForwardKernels.QUERY_BLOCK;
    /** Key rows per block of the device masks and flash kernels. */
    public static final int KEY_BLOCK = FlashForwardKernels.KEY_BLOCK;

    private DeviceAttention() {
    }

    /**
     * An attention output with its logsumexp; closing closes both.
     *
     * @param out f32 (B, H, Nq, d)
     * @param logsumexp f32 (B, H, Nq)
     */
    public record Result(DeviceTensor out, DeviceTensor logsumexp) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            logsumexp.close();
        }
    }

    /**
     * Dense attention {@code softmax(scale q k^T) v} per head.
     *
     * @param q f32 (B, H, Nq, d)
     * @param k f32 (B, H, Nk, d)
     * @param v f32 (B, H, Nk, d)
     * @param scale the softmax scale; NaN means {@code 1 / sqrt(d)}
     * @return the output and logsumexp
     */
    public static Result dense(DeviceTensor q, DeviceTensor k, DeviceTensor v, float scale) {
        Op op = Op.of("DeviceAttention.dense", q);
        Shape s = shape(op, q, k, v);
        float sc = scale(op, scale, s.d);
        if (s.nq == s.nk && flashHeadDim(s.d)) {
            int rows = s.heads() * ceil(s.nq, QUERY_BLOCK);
            int nk = ceil(s.nk, KEY_BLOCK);
            DeviceTensor rowStart = op.session.constant("dense rowStart " + rows + " " + nk,
                    () -> ints(rows + 1, i -> i * nk));
            DeviceTensor rowBlocks = op.session.constant("dense rowBlocks " + rows + " " + nk,
                    () -> ints(rows * nk, e -> e % nk));
            return flash(op, q, k, v, s, sc, (IntArray) rowStart.array(), (IntArray) rowBlocks.array());
        }
        if (s.d > RowAttentionKernels.MAX_D) {
            throw op.fail("head dim d", s.d, "at most " + RowAttentionKernels.MAX_D);
        }
        DeviceTensor out = op.session.allocate(DType.F32, s.b, s.h, s.nq, s.d);
        DeviceTensor lse = op.session.allocate(DType.F32, s.b, s.h, s.nq);
        op.graph.task("rowAttention", RowAttentionKernels::attention, new KernelContext(), op.f32("q", q),
                op.f32("k", k), op.f32("v", v), (FloatArray) out.array(), (FloatArray) lse.array(), s.heads(), s.nq,
                s.nk, s.d, sc);
        op.grid("rowAttention", RowAttentionKernels.grid(s.heads() * s.nq));
        return run(op, out, lse);
    }

    /**
     * SpargeAttention2's block mask, built on the device from q and k: block pooling, the pooled softmax, the
     * selection and the kept-block lists, for query blocks of {@value #QUERY_BLOCK} and key blocks of
     * {@value #KEY_BLOCK} tokens.
     *
     * @param q f32 (B, H, N, d), d at most 256
     * @param k f32 (B, H, N, d)
     * @param mode DENSE, TOPK, TOPP or HYBRID
     * @param topk Top-k fraction in (0, 1] (TOPK and HYBRID)
     * @param topp Top-p threshold in (0, 1] (TOPP and HYBRID)
     * @param scale the softmax scale of the pooled map; NaN means {@code 1 / sqrt(d)}
     * @return the mask, on the device, owned by the caller
     */
    public static DeviceBlockMask blockMask(DeviceTensor q, DeviceTensor k, MaskMode mode, double topk, double topp,
            float scale) {
        Op op = Op.of("DeviceAttention.blockMask", q);
        Shape s = shape(op, q, k, k);
        if (s.nq != s.nk) {
            throw op.fail("k's token count", s.nk, s.nq + " (q's: the mask is for self-attention)");
        }
        if (mode == null || mode == MaskMode.MASK) {
            throw op.fail("mode", mode, "DENSE, TOPK, TOPP or HYBRID");
        }
        boolean usesK = mode == MaskMode.TOPK || mode == MaskMode.HYBRID;
        boolean usesP = mode == MaskMode.TOPP || mode == MaskMode.HYBRID;
        if (usesK && !(topk > 0 && topk <= 1)) {
            throw op.fail("topk", topk, "a fraction in (0, 1] for " + mode);
        }
        if (usesP && !(topp > 0 && topp <= 1)) {
            throw op.fail("topp", topp, "a threshold in (0, 1] for " + mode);
        }
        float sc = scale(op, scale, s.d);
        BlockMaskTasks tasks = new BlockMaskTasks(s.heads(), s.nq, s.d, QUERY_BLOCK, KEY_BLOCK);
        int nk = tasks.keyBlocks();
        int count = switch (mode) {
            case DENSE -> nk;
            case TOPK, HYBRID -> BlockSelector.topkCount(topk, nk);
            default -> 0;
        };
        DeviceBlockMask mask = new DeviceBlockMask(op.session, tasks, s.b, s.h, s.nq, mode);
        try {
            tasks.addPooledMap(op.graph, op.grids, "m", op.f32("q", q), op.f32("k", k), sc, s.h, false);
            tasks.addSelection(op.graph, op.grids, "m", count, usesP ? topp : 0);
            op.run();
            return mask;
        } catch (RuntimeException e) {
            mask.close();
            throw e;
        }
    }

    /**
     * Block-sparse attention: each query block attends only to the key blocks its mask keeps (a query block with
     * none gets output 0 and logsumexp -inf).
     *
     * @param q f32 (B, H, N, d), d 64 or 128
     * @param k f32 (B, H, N, d)
     * @param v f32 (B, H, N, d)
     * @param mask a mask of q's batch, heads and tokens, from {@link #blockMask}
     * @param scale the softmax scale; NaN means {@code 1 / sqrt(d)}
     * @return the output and logsumexp
     */
    public static Result sparse(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceBlockMask mask, float scale) {
        Op op = Op.of("DeviceAttention.sparse", q);
        Shape s = shape(op, q, k, v);
        if (s.nq != s.nk) {
            throw op.fail("k's token count", s.nk, s.nq + " (q's: sparse attention is self-attention)");
        }
        if (!flashHeadDim(s.d)) {
            throw op.fail("head dim d", s.d, "64 or 128 (the flash kernels are specialised for these)");
        }
        if (mask == null || mask.session() != op.session) {
            throw op.fail("mask", mask == null ? null : "a mask of another session", "a DeviceBlockMask of q's session");
        }
        if (mask.batch() != s.b || mask.heads() != s.h || mask.tokens() != s.nq) {
            throw op.fail("mask", "for (B, H, N) = (" + mask.batch() + ", " + mask.heads() + ", " + mask.tokens() + ")",
                    "one for q's (" + s.b + ", " + s.h + ", " + s.nq + ")");
        }
        BlockMaskTasks tasks = mask.tasks();
        return flash(op, q, k, v, s, scale(op, scale, s.d), tasks.rowStart, tasks.rowBlocks);
    }

    /**
     * The gradients of an attention; closing closes all three.
     *
     * @param dq gradient with respect to q
     * @param dk gradient with respect to k
     * @param dv gradient with respect to v
     */
    public record Gradients(DeviceTensor dq, DeviceTensor dk, DeviceTensor dv) implements AutoCloseable {
        @Override
        public void close() {
            dq.close();
            dk.close();
            dv.close();
        }
    }

    /**
     * The backward of {@link #dense} or {@link #sparse}, as {@code Attention.backward} computes it with the same
     * mask: on the flash kernels ({@code FlashBackwardKernels}: a dQ pass over each query block's kept key blocks and a
     * dK/dV pass over each key block's query blocks) where the forward ran them, else (cross-attention, other d) on
     * {@link RowAttentionKernels}' backward.
     *
     * @param dOut gradient with respect to the output, f32 (B, H, Nq, d)
     * @param q the forward's queries
     * @param k the forward's keys
     * @param v the forward's values
     * @param forward the forward's output and logsumexp
     * @param mask the forward's mask, or null for dense
     * @param scale the forward's scale; NaN means {@code 1 / sqrt(d)}
     * @return dq, dk, dv
     */
    public static Gradients backward(DeviceTensor dOut, DeviceTensor q, DeviceTensor k, DeviceTensor v,
            Result forward, DeviceBlockMask mask, float scale) {
        Op op = Op.of("DeviceAttention.backward", q);
        Shape s = shape(op, q, k, v);
        boolean flash = s.nq == s.nk && flashHeadDim(s.d);
        if (mask != null && !flash) {
            throw op.fail("mask", "given", "none for these shapes (a mask needs self-attention with d 64 or 128)");
        }
        if (forward == null) {
            throw op.fail("forward", null, "the Result of the forward");
        }
        op.shape("dOut", dOut, q.shape());
        op.shape("forward.out", forward.out(), q.shape());
        op.shape("forward.logsumexp", forward.logsumexp(), s.b, s.h, s.nq);
        float sc = scale(op, scale, s.d);
        if (!flash) {
            return rowBackward(op, dOut, q, k, v, forward, s, sc);
        }
        IntArray rowStart;
        IntArray rowBlocks;
        IntArray colStart;
        IntArray colBlocks;
        if (mask == null) {
            int nq = ceil(s.nq, QUERY_BLOCK);
            int nk = ceil(s.nk, KEY_BLOCK);
            int rows = s.heads() * nq;
            int columns = s.heads() * nk;
            rowStart = (IntArray) op.session.constant("dense rowStart " + rows + " " + nk,
                    () -> ints(rows + 1, i -> i * nk)).array();
            rowBlocks = (IntArray) op.session.constant("dense rowBlocks " + rows + " " + nk,
                    () -> ints(rows * nk, e -> e % nk)).array();
            colStart = (IntArray) op.session.constant("dense colStart " + columns + " " + nq,
                    () -> ints(columns + 1, c -> c * nq)).array();
            colBlocks = (IntArray) op.session.constant("dense colBlocks " + columns + " " + nq,
                    () -> ints(columns * nq, e -> e % nq)).array();
        } else {
            if (mask.session() != op.session || mask.batch() != s.b || mask.heads() != s.h || mask.tokens() != s.nq) {
                throw op.fail("mask", "for (B, H, N) = (" + mask.batch() + ", " + mask.heads() + ", " + mask.tokens()
                        + ")", "the forward's mask, for q's (" + s.b + ", " + s.h + ", " + s.nq + ") in q's session");
            }
            BlockMaskTasks t = mask.tasks();
            rowStart = t.rowStart;
            rowBlocks = t.rowBlocks;
            colStart = t.colStart;
            colBlocks = t.colBlocks;
        }
        FlashBackwardTasks tasks = op.session.scratch("flash backward " + s.heads() + " " + s.nq + " " + s.d,
                () -> new FlashBackwardTasks(s.heads(), s.nq, s.d, QUERY_BLOCK, KEY_BLOCK),
                t -> List.of(t.qdo, t.kv, t.stats));
        DeviceTensor dq = op.session.allocate(DType.F32, q.shape());
        DeviceTensor dk = op.session.allocate(DType.F32, q.shape());
        DeviceTensor dv = op.session.allocate(DType.F32, q.shape());
        Gradients g = new Gradients(dq, dk, dv);
        try {
            tasks.addBackward(op.graph, op.grids, "b", op.f32("q", q), op.f32("k", k), op.f32("v", v),
                    op.f32("dOut", dOut), op.f32("forward.out", forward.out()),
                    op.f32("forward.logsumexp", forward.logsumexp()), rowStart, rowBlocks, colStart, colBlocks,
                    (FloatArray) dq.array(), (FloatArray) dk.array(), (FloatArray) dv.array(), sc);
            op.run();
            return g;
        } catch (RuntimeException e) {
            g.close();
            throw e;
        }
    }

    private static Gradients rowBackward(Op op, DeviceTensor dOut, DeviceTensor q, DeviceTensor k, DeviceTensor v,
            Result forward, Shape s, float scale) {
        if (s.d > RowAttentionKernels.MAX_D) {
            throw op.fail("head dim d", s.d, "at most " + RowAttentionKernels.MAX_D);
        }
        DeviceTensor dq = op.session.allocate(DType.F32, q.shape());
        DeviceTensor dk = op.session.allocate(DType.F32, k.shape());
        DeviceTensor dv = op.session.allocate(DType.F32, k.shape());
        Gradients g = new Gradients(dq, dk, dv);
        FloatArray qa = op.f32("q", q);
        FloatArray ka = op.f32("k", k);
        FloatArray va = op.f32("v", v);
        FloatArray oa = op.f32("forward.out", forward.out());
        FloatArray la = op.f32("forward.logsumexp", forward.logsumexp());
        FloatArray ga = op.f32("dOut", dOut);
        op.graph.task("dq", RowAttentionKernels::backwardDq, new KernelContext(), qa, ka, va, oa, la, ga,
                (FloatArray) dq.array(), s.heads(), s.nq, s.nk, s.d, scale);
        op.grid("dq", RowAttentionKernels.grid(s.heads() * s.nq));
        op.graph.task("dkdv", RowAttentionKernels::backwardDkDv, new KernelContext(), qa, ka, va, oa, la, ga,
                (FloatArray) dk.array(), (FloatArray) dv.array(), s.heads(), s.nq, s.nk, s.d, scale);
        op.grid("dkdv", RowAttentionKernels.grid(s.heads() * s.nk));
        try {
            op.run();
            return g;
        } catch (RuntimeException e) {
            g.close();
            throw e;
        }
    }

    private static Result flash(Op op, DeviceTensor q, DeviceTensor k, DeviceTensor v, Shape s, float scale,
            IntArray rowStart, IntArray rowBlocks) {
        DeviceTensor out = op.session.allocate(DType.F32, s.b, s.h, s.nq, s.d);
        DeviceTensor lse = op.session.allocate(DType.F32, s.b, s.h, s.nq);
        FlashForwardTasks.addForward(op.graph, op.grids, "flash", op.f32("q", q), op.f32("k", k), op.f32("v", v),
                (FloatArray) out.array(), (FloatArray) lse.array(), rowStart, rowBlocks, s.heads(), s.nq, s.d, scale);
        return run(op, out, lse);
    }

    private static Result run(Op op, DeviceTensor out, DeviceTensor lse) {
        try {
            op.run();
            return new Result(out, lse);
        } catch (RuntimeException e) {
            out.close();
            lse.close();
            throw e;
        }
    }

    private record Shape(int b, int h, int nq, int nk, int d) {
        int heads() {
            return b * h;
        }
    }

    private static Shape shape(Op op, DeviceTensor q, DeviceTensor k, DeviceTensor v) {
        op.f32("q", q);
        op.f32("k", k);
        op.f32("v", v);
        if (q.rank() != 4 || q.numel() == 0) {
            throw op.fail("q's shape", Arrays.toString(q.shape()), "(B, H, N, d) with no zero dimension");
        }
        int[] qs = q.shape();
        int[] ks = k.shape();
        if (k.rank() != 4 || ks[0] != qs[0] || ks[1] != qs[1] || ks[3] != qs[3] || ks[2] < 1) {
            throw op.fail("k's shape", Arrays.toString(ks), "(" + qs[0] + ", " + qs[1] + ", Nk, " + qs[3] + ") for q "
                    + Arrays.toString(qs));
        }
        op.shape("v", v, ks);
        return new Shape(qs[0], qs[1], qs[2], ks[2], qs[3]);
    }

    private static float scale(Op op, float scale, int d) {
        if (Float.isNaN(scale)) {
            return (float) (1 / Math.sqrt(d));
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw op.fail("scale", scale, "a finite number > 0, or NaN for 1/sqrt(d)");
        }
        return scale;
    }

    private static boolean flashHeadDim(int d) {
        return d == 64 || d == 128;
    }

    private static int ceil(int a, int b) {
        return (a + b - 1) / b;
    }

    private static Tensor ints(int n, IntUnaryOperator value) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = value.applyAsInt(i);
        }
        return Tensor.ofInts(v, n);
    }
}

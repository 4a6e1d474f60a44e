package io.sparge4j.engine.gpu;

import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.FlashBackwardMmaTasks;
import io.sparge4j.kernels.attention.FlashBackwardTasks;
import io.sparge4j.kernels.attention.FlashForwardKernels;
import io.sparge4j.kernels.attention.FlashForwardMmaTasks;
import io.sparge4j.kernels.attention.FlashForwardTasks;
import io.sparge4j.kernels.nn.RowAttentionKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntUnaryOperator;

/**
 * Softmax attention on the device, in the (B, H, N, d) layout ({@link DeviceShapes#swapTokensHeads} turns Wan's
 * (B, N, H, d) into it): SpargeAttention2's block-sparse attention over a mask built on the device, and dense
 * attention. Both return the output and the logsumexp (the natural log of each query's softmax denominator of the
 * scaled scores), as {@code io.sparge4j.engine.ops.Attention.forward} does.
 *
 * <p>Precision is chosen per call by the inputs' dtype, f32, bf16 or f16; q, k and v share it, and outputs,
 * logsumexp and gradients are f32 in every case:
 * <ul>
 * <li>f32: self-attention with d of 64 or 128 runs the f32 flash kernels ({@code FlashForwardKernels} and
 * {@code FlashBackwardKernels}, 128 x 64 blocks; dense is the same kernel over a mask keeping every block).</li>
 * <li>bf16 or f16 ({@link DeviceCasts#toBFloat16} or {@link DeviceCasts#toFloat16} makes them from f32
 * projections): self-attention with d of 64 or 128 runs the tensor-core kernels ({@code FlashForwardMmaKernels},
 * {@code FlashBackwardMmaKernels}) on the 16-bit values with f32 accumulation. They round the softmax
 * probabilities P (and, in the backward, dS) to the inputs' type before the products with V (and K, Q), so the
 * output differs from f32 attention on the same 16-bit inputs by at most about u {@code sum p |v| / l}, u = 2^-8
 * for bf16 and 2^-11 for f16 (whose subnormals add at most 2^-25 {@code sum |v| / l}). The backward rounds an f32
 * dOut to the inputs' type too (a dOut of that type is used as is): in f16, values below 2^-14 lose precision,
 * below 2^-25 become 0 and beyond 65504 infinite, so scale a loss whose gradients are that small or large. The
 * mask ({@link #blockMask}) pools the 16-bit q and k directly, giving the very mask the f32 kernels give on the
 * widened values.</li>
 * </ul>
 * Cross-attention (its own key count, such as Wan's 512 text tokens) with d of 64 or 128 runs the f32 flash kernels
 * over every key block, forward ({@code FlashForwardKernels.flashForwardCross}) and backward
 * ({@code FlashBackwardKernels} with keys other than tokens); anything else (other d up to
 * {@value RowAttentionKernels#MAX_D}) runs densely in f32 on {@link RowAttentionKernels}. bf16 and f16 inputs are
 * widened to f32 copies for these (exact), which live only for the op.
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
     * @param q f32, bf16 or f16 (B, H, Nq, d)
     * @param k (B, H, Nk, d), q's dtype
     * @param v (B, H, Nk, d), q's dtype
     * @param scale the softmax scale; NaN means {@code 1 / sqrt(d)}
     * @return the output and logsumexp, f32
     */
    public static Result dense(DeviceTensor q, DeviceTensor k, DeviceTensor v, float scale) {
        Op op = Op.of("DeviceAttention.dense", q);
        Shape s = shape(op, q, k, v);
        float sc = scale(op, scale, s.d);
        if (s.nq == s.nk && flashHeadDim(s.d)) {
            IntArray[] lists = everyBlock(op, s);
            return flash(op, q, k, v, s, sc, lists[0], lists[1]);
        }
        if (flashHeadDim(s.d)) {
            return crossFlash(op, q, k, v, s, sc);
        }
        if (s.d > RowAttentionKernels.MAX_D) {
            throw op.fail("head dim d", s.d, "at most " + RowAttentionKernels.MAX_D);
        }
        List<DeviceTensor> temps = new ArrayList<>();
        try {
            FloatArray qa = floats(op, "q", q, temps);
            FloatArray ka = floats(op, "k", k, temps);
            FloatArray va = floats(op, "v", v, temps);
            DeviceTensor out = op.session.allocate(DType.F32, s.b, s.h, s.nq, s.d);
            DeviceTensor lse = op.session.allocate(DType.F32, s.b, s.h, s.nq);
            op.graph.task("rowAttention", RowAttentionKernels::attention, new KernelContext(), qa, ka, va,
                    (FloatArray) out.array(), (FloatArray) lse.array(), s.heads(), s.nq, s.nk, s.d, sc);
            op.grid("rowAttention", RowAttentionKernels.grid(s.heads() * s.nq));
            return run(op, out, lse);
        } finally {
            temps.forEach(DeviceTensor::close);
        }
    }

    /**
     * SpargeAttention2's block mask, built on the device from q and k: block pooling, the pooled softmax, the
     * selection and the kept-block lists, for query blocks of {@value #QUERY_BLOCK} and key blocks of
     * {@value #KEY_BLOCK} tokens.
     *
     * @param q f32, bf16 or f16 (B, H, N, d), d at most 256; bf16 and f16 are pooled as they lie (no f32 copy) when
     *     d is even
     * @param k (B, H, N, d), q's dtype
     * @param mode DENSE, TOPK, TOPP or HYBRID
     * @param topk Top-k fraction in (0, 1] (TOPK and HYBRID)
     * @param topp Top-p threshold in (0, 1] (TOPP and HYBRID)
     * @param scale the softmax scale of the pooled map; NaN means {@code 1 / sqrt(d)}
     * @return the mask, on the device, owned by the caller
     */
    public static DeviceBlockMask blockMask(DeviceTensor q, DeviceTensor k, MaskMode mode, double topk, double topp,
            float scale) {
        return blockMask(Op.of("DeviceAttention.blockMask", q), q, k, mode, new double[] {topk}, topp, scale);
    }

    /**
     * {@link #blockMask(DeviceTensor, DeviceTensor, MaskMode, double, double, float)} with a Top-k fraction per batch
     * entry: the clips of a diffusion batch at different noise levels, each with the k its noise level calls for
     * (a late Top-k). Each entry's rows equal those of a mask built for that entry alone with its k.
     *
     * @param topk one Top-k fraction in (0, 1] per batch entry (q's dim 0)
     * @return the mask, on the device, owned by the caller
     */
    public static DeviceBlockMask blockMask(DeviceTensor q, DeviceTensor k, MaskMode mode, double[] topk, double topp,
            float scale) {
        Op op = Op.of("DeviceAttention.blockMask", q);
        if (topk == null || topk.length != q.dim(0)) {
            throw op.fail("topk", topk == null ? null : topk.length + " fractions", "one per batch entry ("
                    + q.dim(0) + ")");
        }
        return blockMask(op, q, k, mode, topk, topp, scale);
    }

    private static DeviceBlockMask blockMask(Op op, DeviceTensor q, DeviceTensor k, MaskMode mode, double[] topks,
            double topp, float scale) {
        Shape s = shape(op, q, k, k);
        if (s.nq != s.nk) {
            throw op.fail("k's token count", s.nk, s.nq + " (q's: the mask is for self-attention)");
        }
        if (mode == null || mode == MaskMode.MASK) {
            throw op.fail("mode", mode, "DENSE, TOPK, TOPP or HYBRID");
        }
        boolean usesK = mode == MaskMode.TOPK || mode == MaskMode.HYBRID;
        boolean usesP = mode == MaskMode.TOPP || mode == MaskMode.HYBRID;
        boolean perBatch = false;
        for (double topk : topks) {
            if (usesK && !(topk > 0 && topk <= 1)) {
                throw op.fail("topk", topk, "a fraction in (0, 1] for " + mode);
            }
            perBatch |= usesK && topk != topks[0];
        }
        if (usesP && !(topp > 0 && topp <= 1)) {
            throw op.fail("topp", topp, "a threshold in (0, 1] for " + mode);
        }
        float sc = scale(op, scale, s.d);
        String key = DeviceBlockMask.recycleKey(s.heads(), s.nq, s.d);
        BlockMaskTasks recycled = op.session.takeRecycled(key);
        BlockMaskTasks tasks = recycled != null ? recycled
                : new BlockMaskTasks(s.heads(), s.nq, s.d, QUERY_BLOCK, KEY_BLOCK);
        int nk = tasks.keyBlocks();
        int count = switch (mode) {
            case DENSE -> nk;
            case TOPK, HYBRID -> BlockSelector.topkCount(topks[0], nk);
            default -> 0;
        };
        DeviceBlockMask mask = new DeviceBlockMask(op.session, tasks, s.b, s.h, s.nq, mode, key);
        List<DeviceTensor> temps = new ArrayList<>();
        try {
            if (s.half() && s.d % 2 == 0) {
                tasks.addPooledMapPairs(op.graph, op.grids, "m", pairs(op, "q", q, s.dtype), pairs(op, "k", k, s.dtype),
                        s.bf16(), sc, s.h, false);
            } else {
                tasks.addPooledMap(op.graph, op.grids, "m", floats(op, "q", q, temps), floats(op, "k", k, temps), sc,
                        s.h, false);
            }
            if (perBatch) {
                int[] counts = new int[topks.length];
                for (int b = 0; b < counts.length; b++) {
                    counts[b] = BlockSelector.topkCount(topks[b], nk);
                }
                DeviceTensor batchCounts = op.session.upload(Tensor.ofInts(counts, counts.length));
                temps.add(batchCounts);
                tasks.addSelection(op.graph, op.grids, "m", (IntArray) batchCounts.array(), s.h, usesP ? topp : 0);
            } else {
                tasks.addSelection(op.graph, op.grids, "m", count, usesP ? topp : 0);
            }
            op.run();
            return mask;
        } catch (RuntimeException e) {
            mask.close();
            throw e;
        } finally {
            temps.forEach(DeviceTensor::close);
        }
    }

    /**
     * Block-sparse attention: each query block attends only to the key blocks its mask keeps (a query block with
     * none gets output 0 and logsumexp -inf).
     *
     * @param q f32, bf16 or f16 (B, H, N, d), d 64 or 128
     * @param k (B, H, N, d), q's dtype
     * @param v (B, H, N, d), q's dtype
     * @param mask a mask of q's batch, heads and tokens, from {@link #blockMask}
     * @param scale the softmax scale; NaN means {@code 1 / sqrt(d)}
     * @return the output and logsumexp, f32
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
     * mask: on the flash kernels ({@code FlashBackwardKernels} for f32, {@code FlashBackwardMmaKernels} for bf16
     * and f16: a dQ pass over each query block's kept key blocks and a dK/dV pass over each key block's query blocks)
     * where the forward ran them; cross-attention with d of 64 or 128 on the f32 flash kernels over every key block
     * (16-bit inputs widened); other d on {@link RowAttentionKernels}' backward in f32. The gradients are f32 in
     * every case.
     *
     * @param dOut gradient with respect to the output (B, H, Nq, d): f32, or for bf16 or f16 inputs f32 (rounded to
     *     their type for the tensor cores) or of their type
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
        boolean flash = flashHeadDim(s.d);
        boolean self = s.nq == s.nk;
        if (mask != null && !(flash && self)) {
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
        DeviceTensor dq = op.session.allocate(DType.F32, q.shape());
        DeviceTensor dk = op.session.allocate(DType.F32, k.shape());
        DeviceTensor dv = op.session.allocate(DType.F32, k.shape());
        Gradients g = new Gradients(dq, dk, dv);
        List<DeviceTensor> temps = new ArrayList<>();
        try {
            FloatArray out = op.f32("forward.out", forward.out());
            FloatArray lse = op.f32("forward.logsumexp", forward.logsumexp());
            if (s.half() && self) {
                // the key names the type ("bf16" or "f16"): the scratch's tasks are built for one
                FlashBackwardMmaTasks tasks = op.session.scratch("flash backward " + s.dtype + " " + s.heads() + " "
                        + s.nq + " " + s.d, () -> new FlashBackwardMmaTasks(s.heads(), s.nq, s.d, QUERY_BLOCK,
                        KEY_BLOCK, s.bf16()), t -> List.of(t.delta, t.kFrag, t.vFrag));
                tasks.addBackward(op.graph, op.grids, "b", pairs(op, "q", q, s.dtype), pairs(op, "k", k, s.dtype),
                        pairs(op, "v", v, s.dtype), halves(op, "dOut", dOut, s.dtype, temps), out, lse, rowStart,
                        rowBlocks, colStart, colBlocks, (FloatArray) dq.array(), (FloatArray) dk.array(),
                        (FloatArray) dv.array(), sc);
            } else {
                FlashBackwardTasks tasks = op.session.scratch("flash backward " + s.heads() + " " + s.nq + " " + s.nk
                        + " " + s.d, () -> new FlashBackwardTasks(s.heads(), s.nq, s.nk, s.d, QUERY_BLOCK, KEY_BLOCK),
                        t -> List.of(t.qdo, t.kv, t.stats));
                // f32 inputs as they are; 16-bit ones (cross-attention: the tensor-core backward is
                // self-attention's) widened by tasks of the op
                tasks.addBackward(op.graph, op.grids, "b", floats(op, "q", q, temps), floats(op, "k", k, temps),
                        floats(op, "v", v, temps), floats(op, "dOut", dOut, temps), out, lse, rowStart, rowBlocks,
                        colStart, colBlocks,
                        (FloatArray) dq.array(), (FloatArray) dk.array(), (FloatArray) dv.array(), sc);
            }
            op.run();
            return g;
        } catch (RuntimeException e) {
            g.close();
            throw e;
        } finally {
            temps.forEach(DeviceTensor::close);
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
        List<DeviceTensor> temps = new ArrayList<>();
        try {
            FloatArray qa = floats(op, "q", q, temps);
            FloatArray ka = floats(op, "k", k, temps);
            FloatArray va = floats(op, "v", v, temps);
            FloatArray oa = op.f32("forward.out", forward.out());
            FloatArray la = op.f32("forward.logsumexp", forward.logsumexp());
            FloatArray ga = floats(op, "dOut", dOut, temps);
            op.graph.task("dq", RowAttentionKernels::backwardDq, new KernelContext(), qa, ka, va, oa, la, ga,
                    (FloatArray) dq.array(), s.heads(), s.nq, s.nk, s.d, scale);
            op.grid("dq", RowAttentionKernels.grid(s.heads() * s.nq));
            op.graph.task("dkdv", RowAttentionKernels::backwardDkDv, new KernelContext(), qa, ka, va, oa, la, ga,
                    (FloatArray) dk.array(), (FloatArray) dv.array(), s.heads(), s.nq, s.nk, s.d, scale);
            op.grid("dkdv", RowAttentionKernels.grid(s.heads() * s.nk));
            op.run();
            return g;
        } catch (RuntimeException e) {
            g.close();
            throw e;
        } finally {
            temps.forEach(DeviceTensor::close);
        }
    }

    private static Result flash(Op op, DeviceTensor q, DeviceTensor k, DeviceTensor v, Shape s, float scale,
            IntArray rowStart, IntArray rowBlocks) {
        DeviceTensor out = op.session.allocate(DType.F32, s.b, s.h, s.nq, s.d);
        DeviceTensor lse = op.session.allocate(DType.F32, s.b, s.h, s.nq);
        try {
            if (s.half()) {
                FlashForwardMmaTasks.addForward(op.graph, op.grids, "flash", s.bf16(), pairs(op, "q", q, s.dtype),
                        pairs(op, "k", k, s.dtype), pairs(op, "v", v, s.dtype), (FloatArray) out.array(),
                        (FloatArray) lse.array(),
                        rowStart, rowBlocks, s.heads(), s.nq, s.d, scale,
                        FlashForwardMmaTasks.selectedVariant(s.d, op.session.features().localMemoryBytes()));
            } else {
                FlashForwardTasks.addForward(op.graph, op.grids, "flash", op.f32("q", q), op.f32("k", k),
                        op.f32("v", v), (FloatArray) out.array(), (FloatArray) lse.array(), rowStart, rowBlocks,
                        s.heads(), s.nq, s.d, scale);
            }
        } catch (RuntimeException e) {
            out.close();
            lse.close();
            throw e;
        }
        return run(op, out, lse);
    }

    /**
     * The row lists of a dense mask, kept by the session per size: every query block of every head lists every key
     * block. @return {rowStart, rowBlocks}
     */
    private static IntArray[] everyBlock(Op op, Shape s) {
        int rows = s.heads() * ceil(s.nq, QUERY_BLOCK);
        int nk = ceil(s.nk, KEY_BLOCK);
        DeviceTensor rowStart = op.session.constant("dense rowStart " + rows + " " + nk,
                () -> ints(rows + 1, i -> i * nk));
        DeviceTensor rowBlocks = op.session.constant("dense rowBlocks " + rows + " " + nk,
                () -> ints(rows * nk, e -> e % nk));
        return new IntArray[] {(IntArray) rowStart.array(), (IntArray) rowBlocks.array()};
    }

    /**
     * Dense attention of Nq queries over Nk != Nq keys (cross-attention) on the f32 flash kernel, every key block
     * listed for every query block; bf16 and f16 inputs are widened first (the copies are freed with the op).
     */
    private static Result crossFlash(Op op, DeviceTensor q, DeviceTensor k, DeviceTensor v, Shape s, float scale) {
        IntArray[] lists = everyBlock(op, s);
        List<DeviceTensor> temps = new ArrayList<>();
        try {
            FloatArray qa = floats(op, "q", q, temps);
            FloatArray ka = floats(op, "k", k, temps);
            FloatArray va = floats(op, "v", v, temps);
            DeviceTensor out = op.session.allocate(DType.F32, s.b, s.h, s.nq, s.d);
            DeviceTensor lse = op.session.allocate(DType.F32, s.b, s.h, s.nq);
            FlashForwardTasks.addCrossForward(op.graph, op.grids, "crossFlash", qa, ka, va, (FloatArray) out.array(),
                    (FloatArray) lse.array(), lists[0], lists[1], s.heads(), s.nq, s.nk, s.d, scale);
            return run(op, out, lse);
        } finally {
            temps.forEach(DeviceTensor::close);
        }
    }

    /** The f32 array of t, or of an f32 copy of a 16-bit t widened by a task of the op (the copy joins temps). */
    private static FloatArray floats(Op op, String arg, DeviceTensor t, List<DeviceTensor> temps) {
        if (t != null && (t.dtype() == DType.BF16 || t.dtype() == DType.F16)) {
            op.array(arg, t, t.dtype());   // open and of this session, before the copy is allocated
            DeviceTensor wide = op.session.allocate(DType.F32, t.shape());
            temps.add(wide);
            DeviceCasts.addToFloat32(op, arg + "ToF32", arg, t, (FloatArray) wide.array());
            return (FloatArray) wide.array();
        }
        return op.f32(arg, t);
    }

    /** The int-pair view of a bf16 or f16 tensor (even element count), as the tensor-core kernels read it. */
    private static IntArray pairs(Op op, String arg, DeviceTensor t, DType half) {
        op.array(arg, t, half);
        return op.session.intPairs(t);
    }

    /** The int-pair view of t of type half, or of a half copy of an f32 t rounded by a task of the op (joins temps). */
    private static IntArray halves(Op op, String arg, DeviceTensor t, DType half, List<DeviceTensor> temps) {
        if (t != null && t.dtype() == DType.F32) {
            FloatArray src = op.f32(arg, t);
            DeviceTensor narrow = op.session.allocate(half, t.shape());
            temps.add(narrow);
            DeviceCasts.addToHalf(op, arg + (half == DType.BF16 ? "ToBf16" : "ToF16"), src, narrow);
            return op.session.intPairs(narrow);
        }
        return pairs(op, arg, t, half);
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

    private record Shape(int b, int h, int nq, int nk, int d, DType dtype) {
        int heads() {
            return b * h;
        }

        /** bf16 or f16: the tensor-core kernels' inputs. */
        boolean half() {
            return dtype == DType.BF16 || dtype == DType.F16;
        }

        boolean bf16() {
            return dtype == DType.BF16;
        }
    }

    private static Shape shape(Op op, DeviceTensor q, DeviceTensor k, DeviceTensor v) {
        if (q == null || (q.dtype() != DType.F32 && q.dtype() != DType.BF16 && q.dtype() != DType.F16)) {
            throw op.fail("q", q, "an F32, BF16 or F16 device tensor");
        }
        DType dtype = q.dtype();
        op.array("q", q, dtype);
        op.array("k", k, dtype);
        op.array("v", v, dtype);
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
        return new Shape(qs[0], qs[1], qs[2], ks[2], qs[3], dtype);
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

package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.attention.AttentionShape;
import io.sparge4j.engine.cpu.attention.BlockSchedule;
import io.sparge4j.engine.cpu.attention.DenseBlockSchedule;
import io.sparge4j.engine.cpu.attention.FlashBackward;
import io.sparge4j.engine.cpu.attention.FlashForward;
import io.sparge4j.engine.cpu.attention.TileMath;
import io.sparge4j.engine.cpu.attention.TileMaths;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

/**
 * Dense scaled dot-product attention, {@code softmax(q k^T * scale) v}, fused on the CPU: scores are
 * formed one query-block x key-block tile at a time with an online softmax, so the N x N matrix is never
 * stored. The backward recomputes the scores from the saved logsumexp (FlashAttention-2).
 *
 * <p>q is (B, H, Nq, d) and k, v are (B, H, Nk, d) in the default {@link AttentionLayout#BHND} layout, or
 * (B, Nq, H, d) and (B, Nk, H, d) in {@link AttentionLayout#BNHD}. Inputs may be f32, bf16 or f16 (all
 * three the same dtype; converted to f32 as tiles load); outputs and gradients are f32. Nq may differ
 * from Nk (cross-attention); d is at most {@value #MAX_HEAD_DIM}.
 *
 * <pre>{@code
 * try (Attention.Result r = Attention.forward(q, k, v, Attention.Options.defaults())) {
 *     Attention.Gradients g = Attention.backward(dOut, q, k, v, r.out(), r.logsumexp(), Attention.Options.defaults());
 * }
 * }</pre>
 */
public final class Attention {
    /** The largest head dimension supported. */
    public static final int MAX_HEAD_DIM = 256;
    /** The largest query or key block size accepted. */
    public static final int MAX_BLOCK = 1024;

    private static final String FORWARD = "attention";
    private static final String BACKWARD = "attention.backward";

    private Attention() {
    }

    /**
     * How to run attention.
     *
     * @param layout element order of q, k, v (and of out and the gradients)
     * @param scale the softmax scale; NaN means the default {@code 1 / sqrt(d)}
     * @param queryBlock query rows per tile (default 128)
     * @param keyBlock key rows per tile (default 64)
     */
    public record Options(AttentionLayout layout, float scale, int queryBlock, int keyBlock) {
        /** Default query block size. */
        public static final int DEFAULT_QUERY_BLOCK = 128;
        /** Default key block size. */
        public static final int DEFAULT_KEY_BLOCK = 64;

        /** @return BHND layout, scale 1/sqrt(d), blocks 128 x 64 */
        public static Options defaults() {
            return new Options(AttentionLayout.BHND, Float.NaN, DEFAULT_QUERY_BLOCK, DEFAULT_KEY_BLOCK);
        }

        /** @return a copy with another layout */
        public Options withLayout(AttentionLayout newLayout) {
            return new Options(newLayout, scale, queryBlock, keyBlock);
        }

        /** @return a copy with an explicit softmax scale */
        public Options withScale(float newScale) {
            return new Options(layout, newScale, queryBlock, keyBlock);
        }

        /** @return a copy with other block sizes */
        public Options withBlocks(int newQueryBlock, int newKeyBlock) {
            return new Options(layout, scale, newQueryBlock, newKeyBlock);
        }

        /** @return the scale to use for head dimension {@code headDim} */
        public float scaleFor(int headDim) {
            return Float.isNaN(scale) ? (float) (1 / Math.sqrt(headDim)) : scale;
        }
    }

    /**
     * The forward's results; closing it frees both tensors.
     *
     * @param out f32, the shape and layout of q
     * @param logsumexp f32 (B, H, Nq): the natural log of each query's softmax denominator (of the scaled
     *                  scores), saved for the backward
     */
    public record Result(Tensor out, Tensor logsumexp) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            logsumexp.close();
        }
    }

    /**
     * The backward's results, f32 and shaped like q, k and v; closing it frees all three.
     *
     * @param dq gradient with respect to q
     * @param dk gradient with respect to k
     * @param dv gradient with respect to v
     */
    public record Gradients(Tensor dq, Tensor dk, Tensor dv) implements AutoCloseable {
        @Override
        public void close() {
            dq.close();
            dk.close();
            dv.close();
        }
    }

    /** Attention with {@link Options#defaults()}. */
    public static Result forward(Tensor q, Tensor k, Tensor v) {
        return forward(q, k, v, Options.defaults());
    }

    /**
     * @param q queries
     * @param k keys
     * @param v values
     * @param options layout, scale and block sizes
     * @return the output and the logsumexp
     * @throws IllegalArgumentException on wrong ranks, shapes, dtypes or options
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, Options options) {
        return forward(q, k, v, options, null, TileMaths.best());
    }

    /**
     * Block-sparse attention: each query block attends only to the key blocks {@code schedule} lists, with the
     * softmax normalised over those keys. Blocks are {@code options}' query and key blocks.
     *
     * @param q queries
     * @param k keys
     * @param v values
     * @param options layout, scale and block sizes (the schedule's units)
     * @param schedule kept key blocks per query block and the transpose; null means dense
     * @return the output and the logsumexp (a query with no kept block gets 0 and -inf)
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, Options options, BlockSchedule schedule) {
        return forward(q, k, v, options, schedule, TileMaths.best());
    }

    /** The forward with an explicit tile schedule (null = dense) and arithmetic; for tests and sparse attention. */
    static Result forward(Tensor q, Tensor k, Tensor v, Options options, BlockSchedule schedule, TileMath math) {
        AttentionShape sh = validate(FORWARD, q, k, v, options);
        float scale = checkedScale(FORWARD, options, sh.headDim());
        Tensor out = Tensor.allocate(DType.F32, q.shape());
        Tensor lse = Tensor.allocate(DType.F32, sh.batch(), sh.heads(), sh.queryLen());
        FlashForward.run(sh, q, k, v, scale, out, lse, orDense(schedule, sh), math);
        return new Result(out, lse);
    }

    /**
     * The gradients of a loss with respect to q, k and v, given its gradient with respect to the output.
     *
     * @param dOut gradient with respect to out (shape of q; f32, bf16 or f16)
     * @param q the forward's queries
     * @param k the forward's keys
     * @param v the forward's values
     * @param out the forward's output
     * @param logsumexp the forward's logsumexp, f32 (B, H, Nq)
     * @param options the forward's options
     * @return dq, dk, dv
     * @throws IllegalArgumentException on wrong ranks, shapes, dtypes or options
     */
    public static Gradients backward(Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor out, Tensor logsumexp,
                                     Options options) {
        return backward(dOut, q, k, v, out, logsumexp, options, null, TileMaths.best());
    }

    /**
     * The backward of {@link #forward(Tensor, Tensor, Tensor, Options, BlockSchedule)}: gradients flow only through
     * the tiles the schedule lists, using its transposed lists for dK and dV.
     *
     * @param dOut gradient with respect to out
     * @param q the forward's queries
     * @param k the forward's keys
     * @param v the forward's values
     * @param out the forward's output
     * @param logsumexp the forward's logsumexp
     * @param options the forward's options
     * @param schedule the forward's schedule; null means dense
     * @return dq, dk, dv
     */
    public static Gradients backward(Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor out, Tensor logsumexp,
                                     Options options, BlockSchedule schedule) {
        return backward(dOut, q, k, v, out, logsumexp, options, schedule, TileMaths.best());
    }

    /** The backward with an explicit tile schedule (null = dense) and arithmetic; for tests and sparse attention. */
    static Gradients backward(Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor out, Tensor logsumexp, Options options,
                              BlockSchedule schedule, TileMath math) {
        AttentionShape sh = validate(BACKWARD, q, k, v, options);
        float scale = checkedScale(BACKWARD, options, sh.headDim());
        Check.floating(BACKWARD, "dOut", dOut);
        Check.sameShape(BACKWARD, "q", q, "dOut", dOut);
        Check.floating(BACKWARD, "out", out);
        Check.sameShape(BACKWARD, "q", q, "out", out);
        Check.f32(BACKWARD, "logsumexp", logsumexp);
        Check.shape(BACKWARD, "logsumexp", logsumexp, sh.batch(), sh.heads(), sh.queryLen());
        Tensor dq = Tensor.allocate(DType.F32, q.shape());
        Tensor dk = Tensor.allocate(DType.F32, k.shape());
        Tensor dv = Tensor.allocate(DType.F32, v.shape());
        FlashBackward.run(sh, dOut, q, k, v, out, logsumexp, scale, dq, dk, dv, orDense(schedule, sh), math);
        return new Gradients(dq, dk, dv);
    }

    private static BlockSchedule orDense(BlockSchedule schedule, AttentionShape sh) {
        return schedule != null ? schedule : new DenseBlockSchedule(sh.queryBlocks(), sh.keyBlocks());
    }

    private static AttentionShape validate(String op, Tensor q, Tensor k, Tensor v, Options options) {
        if (options == null) {
            throw new IllegalArgumentException(op + ": options is null, expected Attention.Options");
        }
        AttentionLayout layout = options.layout();
        Check.that(layout != null, op, "options.layout", null, "BHND or BNHD");
        Check.floating(op, "q", q);
        Check.rank(op, "q", q, 4);
        Check.dtype(op, "k", k, q.dtype());
        Check.rank(op, "k", k, 4);
        Check.dtype(op, "v", v, q.dtype());
        boolean bhnd = layout == AttentionLayout.BHND;
        int seqAxis = bhnd ? 2 : 1;
        int headAxis = bhnd ? 1 : 2;
        int batch = q.dim(0);
        int heads = q.dim(headAxis);
        int queryLen = q.dim(seqAxis);
        int headDim = q.dim(3);
        Check.positive(op, "q batch size", batch);
        Check.positive(op, "q heads", heads);
        Check.positive(op, "q sequence length", queryLen);
        Check.positive(op, "q head dim", headDim);
        Check.that(headDim <= MAX_HEAD_DIM, op, "q head dim", headDim, "at most " + MAX_HEAD_DIM);
        int keyLen = k.dim(seqAxis);
        int[] kExpected = bhnd ? new int[] {batch, heads, -1, headDim} : new int[] {batch, -1, heads, headDim};
        Check.shape(op, "k", k, kExpected);
        Check.positive(op, "k sequence length", keyLen);
        Check.sameShape(op, "k", k, "v", v);
        int bq = Check.positive(op, "options.queryBlock", options.queryBlock());
        int bk = Check.positive(op, "options.keyBlock", options.keyBlock());
        Check.that(bq <= MAX_BLOCK, op, "options.queryBlock", bq, "at most " + MAX_BLOCK);
        Check.that(bk <= MAX_BLOCK, op, "options.keyBlock", bk, "at most " + MAX_BLOCK);
        return new AttentionShape(batch, heads, queryLen, keyLen, headDim, layout, bq, bk);
    }

    private static float checkedScale(String op, Options options, int headDim) {
        return Check.positive(op, "options.scale", options.scaleFor(headDim));
    }
}

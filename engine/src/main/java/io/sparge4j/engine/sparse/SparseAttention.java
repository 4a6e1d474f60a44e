package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.ops.Check;
import io.sparge4j.engine.tensor.Tensor;

/**
 * SpargeAttention2 on the CPU: a hybrid Top-k + Top-p block mask built from mean-pooled queries and keys, then
 * block-sparse FlashAttention over the kept blocks only, forward and backward.
 *
 * <pre>{@code
 * var config = SparseAttention.Config.defaults().withTopk(0.03).withTopp(0.2);   // hybrid, 128 x 64 blocks
 * try (var r = SparseAttention.forward(q, k, v, config)) {
 *     System.out.println(r.statistics().sparsity());
 *     var grads = SparseAttention.backward(dOut, q, k, v, r, config);
 * }
 * }</pre>
 *
 * <p>The mask is rebuilt from q and k at every call and has no gradient; the softmax is normalised over the kept
 * keys. Memory beyond the output and logsumexp is O(N d) for packed tiles plus O(nq nk) for the mask.
 */
public final class SparseAttention {
    private static final String OP = "SparseAttention";

    private SparseAttention() {
    }

    /**
     * What to keep and how to compute.
     *
     * @param mode dense, topk, topp, hybrid (the default) or mask (a given block mask)
     * @param topk Top-k fraction of key blocks per row, in (0, 1] (paper: 0.03)
     * @param topp Top-p pooled-mass threshold, in (0, 1] (paper: 0.2 at 1.3B/480p)
     * @param queryBlock tokens per query block (paper: 128)
     * @param keyBlock tokens per key block (paper: 64)
     * @param layout (B,H,N,d), the default, or (B,N,H,d) as PyTorch and diffusers models hold it
     * @param scale softmax scale; NaN means 1/sqrt(d)
     * @param mask the block mask for mode {@link MaskMode#MASK}: u8 or bool (B,H,nq,nk); null otherwise
     */
    public record Config(MaskMode mode, double topk, double topp, int queryBlock, int keyBlock, AttentionLayout layout,
            float scale, Tensor mask) {
        /** Validates every field; errors name the field, the value and what is expected. */
        public Config {
            if (mode == null) {
                throw new IllegalArgumentException(OP + ": mode is null, expected dense, topk, topp, hybrid or mask");
            }
            if (mode == MaskMode.TOPK || mode == MaskMode.HYBRID) {
                BlockSelector.checkFraction("topk", topk);
            }
            if (mode == MaskMode.TOPP || mode == MaskMode.HYBRID) {
                BlockSelector.checkFraction("topp", topp);
            }
            if (queryBlock <= 0 || queryBlock > Attention.MAX_BLOCK) {
                throw new IllegalArgumentException("bq: got " + queryBlock + ", expected a positive block size of at most "
                        + Attention.MAX_BLOCK);
            }
            if (keyBlock <= 0 || keyBlock > Attention.MAX_BLOCK) {
                throw new IllegalArgumentException("bkv: got " + keyBlock + ", expected a positive block size of at most "
                        + Attention.MAX_BLOCK);
            }
            if (layout == null) {
                throw new IllegalArgumentException(OP + ": layout is null, expected BHND or BNHD");
            }
            if (!Float.isNaN(scale) && !(scale > 0 && Float.isFinite(scale))) {
                throw new IllegalArgumentException(OP + ": scale is " + scale + ", expected a finite positive number");
            }
            if (mode == MaskMode.MASK && mask == null) {
                throw new IllegalArgumentException(OP + ": mode mask needs a block mask tensor, got none");
            }
        }

        /** @return hybrid, k 0.03, p 0.2, blocks 128 x 64, (B,H,N,d), scale 1/sqrt(d): the paper's settings */
        public static Config defaults() {
            return new Config(MaskMode.HYBRID, 0.03, 0.2, 128, 64, AttentionLayout.BHND, Float.NaN, null);
        }

        /** @return a copy with another mode */
        public Config withMode(MaskMode newMode) {
            return new Config(newMode, topk, topp, queryBlock, keyBlock, layout, scale, mask);
        }

        /** @return a copy with another Top-k fraction */
        public Config withTopk(double newTopk) {
            return new Config(mode, newTopk, topp, queryBlock, keyBlock, layout, scale, mask);
        }

        /** @return a copy with another Top-p threshold */
        public Config withTopp(double newTopp) {
            return new Config(mode, topk, newTopp, queryBlock, keyBlock, layout, scale, mask);
        }

        /** @return a copy with other block sizes */
        public Config withBlocks(int newQueryBlock, int newKeyBlock) {
            return new Config(mode, topk, topp, newQueryBlock, newKeyBlock, layout, scale, mask);
        }

        /** @return a copy with another layout */
        public Config withLayout(AttentionLayout newLayout) {
            return new Config(mode, topk, topp, queryBlock, keyBlock, newLayout, scale, mask);
        }

        /** @return a copy with another softmax scale (NaN = 1/sqrt(d)) */
        public Config withScale(float newScale) {
            return new Config(mode, topk, topp, queryBlock, keyBlock, layout, newScale, mask);
        }

        /** @return a copy in mode {@link MaskMode#MASK} with the given u8/bool (B,H,nq,nk) block mask */
        public Config withMask(Tensor newMask) {
            return new Config(MaskMode.MASK, topk, topp, queryBlock, keyBlock, layout, scale, newMask);
        }

        /** @return the attention kernels' options for this config */
        public Attention.Options attentionOptions() {
            return Attention.Options.defaults().withLayout(layout).withScale(scale).withBlocks(queryBlock, keyBlock);
        }
    }

    /**
     * A chosen mask, with the pooled map it was chosen from.
     *
     * @param mask the block mask
     * @param pooledMap the pooled map, or null for modes dense and mask
     * @param statistics what the mask keeps
     */
    public record Selection(BlockMask mask, PooledAttentionMap pooledMap, MaskStatistics statistics) {
    }

    /**
     * The forward's outputs.
     *
     * @param out attention output, f32, in q's layout
     * @param logsumexp natural-log logsumexp per query over the kept keys, f32 (B,H,Nq)
     * @param selection the mask used and its statistics
     */
    public record Result(Tensor out, Tensor logsumexp, Selection selection) implements AutoCloseable {
        /** @return the statistics of the mask used */
        public MaskStatistics statistics() {
            return selection.statistics();
        }

        @Override
        public void close() {
            out.close();
            logsumexp.close();
        }
    }

    /**
     * Builds the block mask of {@code config} from q and k (the mask builder on its own, for analysis).
     *
     * @param q queries
     * @param k keys
     * @param config mode, k, p, blocks, layout and scale
     * @return the mask, the pooled map and the statistics
     */
    public static Selection selectBlocks(Tensor q, Tensor k, Config config) {
        checkConfig(config);
        Dims dims = Dims.of(q, k, null, config.layout() == AttentionLayout.BNHD);
        BlockGrid qg = new BlockGrid(dims.queries, config.queryBlock());
        BlockGrid kg = new BlockGrid(dims.keys, config.keyBlock());
        return switch (config.mode()) {
            case DENSE -> {
                BlockMask m = BlockMask.dense(dims.batch, dims.heads, qg, kg);
                yield new Selection(m, null, MaskStatistics.of(m, null));
            }
            case MASK -> {
                BlockMask m = BlockMask.fromTensor(config.mask(), dims.batch, dims.heads, qg, kg);
                yield new Selection(m, null, MaskStatistics.of(m, null));
            }
            default -> {
                float scale = Float.isNaN(config.scale()) ? (float) (1 / Math.sqrt(dims.headDim)) : config.scale();
                PooledAttentionMap map = PooledAttentionMap.compute(q, k, config.queryBlock(), config.keyBlock(), scale,
                        config.layout());
                BlockMask m = BlockSelector.select(map, config.mode(), config.topk(), config.topp());
                yield new Selection(m, map, MaskStatistics.of(m, map));
            }
        };
    }

    /**
     * Builds the mask from q and k, then runs block-sparse attention.
     *
     * @param q queries (B,H,N,d) or (B,N,H,d); f32, bf16 or f16
     * @param k keys
     * @param v values
     * @param config mode, k, p, blocks, layout and scale
     * @return output, logsumexp and the mask with its statistics
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, Config config) {
        checkConfig(config);
        Dims.of(q, k, v, config.layout() == AttentionLayout.BNHD); // before the mask is built
        return forward(q, k, v, selectBlocks(q, k, config), config);
    }

    /**
     * Block-sparse attention with a mask chosen earlier (for example by {@link #selectBlocks}).
     *
     * @param q queries
     * @param k keys
     * @param v values
     * @param selection the mask to use; its grids must match q, k and the config's block sizes
     * @param config layout, scale and block sizes
     * @return output, logsumexp and the mask
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, Selection selection, Config config) {
        checkConfig(config);
        if (selection == null) {
            throw new IllegalArgumentException(OP + ": selection is null, expected the result of selectBlocks");
        }
        checkMatches(q, k, v, selection.mask(), config);
        Attention.Result r = Attention.forward(q, k, v, config.attentionOptions(), new BlockMaskSchedule(selection.mask()));
        return new Result(r.out(), r.logsumexp(), selection);
    }

    /**
     * Gradients of a loss with respect to q, k and v through the kept blocks only (section 3 of the method): the
     * dQ pass walks each query block's kept key blocks, the dK/dV pass each key block's transposed list. No gradient
     * flows through pooling or selection.
     *
     * @param dOut gradient with respect to the output
     * @param q the forward's queries
     * @param k the forward's keys
     * @param v the forward's values
     * @param forward the forward's result (output, logsumexp and mask)
     * @param config the forward's config
     * @return dq, dk, dv (f32)
     */
    public static Attention.Gradients backward(Tensor dOut, Tensor q, Tensor k, Tensor v, Result forward, Config config) {
        checkConfig(config);
        if (forward == null) {
            throw new IllegalArgumentException(OP + ": forward is null, expected the forward's Result");
        }
        BlockMask mask = forward.selection().mask();
        checkMatches(q, k, v, mask, config);
        return Attention.backward(dOut, q, k, v, forward.out(), forward.logsumexp(), config.attentionOptions(),
                new BlockMaskSchedule(mask));
    }

    private static void checkConfig(Config config) {
        if (config == null) {
            throw new IllegalArgumentException(OP + ": config is null, expected a SparseAttention.Config");
        }
    }

    private static void checkMatches(Tensor q, Tensor k, Tensor v, BlockMask mask, Config config) {
        Dims dims = Dims.of(q, k, v, config.layout() == AttentionLayout.BNHD);
        boolean ok = mask.batch() == dims.batch && mask.heads() == dims.heads
                && mask.queryGrid().equals(new BlockGrid(dims.queries, config.queryBlock()))
                && mask.keyGrid().equals(new BlockGrid(dims.keys, config.keyBlock()));
        if (!ok) {
            throw new IllegalArgumentException(OP + ": selection covers " + describe(mask.batch(), mask.heads(),
                    mask.queryGrid(), mask.keyGrid()) + ", expected " + describe(dims.batch, dims.heads,
                    new BlockGrid(dims.queries, config.queryBlock()), new BlockGrid(dims.keys, config.keyBlock()))
                    + " (from q, k and the config)");
        }
    }

    private static String describe(int batch, int heads, BlockGrid queries, BlockGrid keys) {
        return "B=" + batch + " H=" + heads + ", " + queries.length() + " queries in blocks of " + queries.blockSize()
                + ", " + keys.length() + " keys in blocks of " + keys.blockSize();
    }

    /** Sizes read from q and k in either layout, after checking that q and k (and v when given) agree. */
    private record Dims(int batch, int heads, int queries, int keys, int headDim) {
        static Dims of(Tensor q, Tensor k, Tensor v, boolean bnhd) {
            Check.floating(OP, "q", q);
            Check.rank(OP, "q", q, 4);
            Check.notNull(OP, "k", k);
            Check.rank(OP, "k", k, 4);
            Check.dtype(OP, "k", k, q.dtype());
            Dims dims = bnhd
                    ? new Dims(q.dim(0), q.dim(2), q.dim(1), k.dim(1), q.dim(3))
                    : new Dims(q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3));
            Check.positive(OP, "q batch size", dims.batch);
            Check.positive(OP, "q heads", dims.heads);
            Check.positive(OP, "q sequence length", dims.queries);
            Check.positive(OP, "q head dim", dims.headDim);
            Check.that(dims.headDim <= Attention.MAX_HEAD_DIM, OP, "q head dim", dims.headDim,
                    "at most " + Attention.MAX_HEAD_DIM);
            Check.shape(OP, "k", k, bnhd ? new int[] {dims.batch, -1, dims.heads, dims.headDim}
                    : new int[] {dims.batch, dims.heads, -1, dims.headDim});
            Check.positive(OP, "k sequence length", dims.keys);
            if (v != null) {
                Check.dtype(OP, "v", v, q.dtype());
                Check.sameShape(OP, "k", k, "v", v);
            }
            return dims;
        }
    }
}

package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceActivations;
import io.sparge4j.engine.gpu.DeviceAttention;
import io.sparge4j.engine.gpu.DeviceBlockMask;
import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceLinear;
import io.sparge4j.engine.gpu.DeviceMasks;
import io.sparge4j.engine.gpu.DeviceNorms;
import io.sparge4j.engine.gpu.DeviceScope;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceShapes;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.ops.Patchify;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskStatistics;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanInputs;
import io.sparge4j.models.wan.WanModel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * The device twin of {@link WanGraph}: the Wan2.1 DiT as a differentiable graph on the device op layer
 * ({@code io.sparge4j.engine.gpu}), for training on a GPU. {@link #forward} runs the ops of {@code DeviceWanModel}
 * and keeps a {@link Tape} on the device; {@link #backward} chains the device ops' backward functions (the
 * block-sparse flash backward through the mask the forward chose, the dense backward for cross-attention) and adds
 * every parameter's gradient into the {@link DeviceWanStore}, so micro-batches accumulate there. Nothing is read
 * back during a forward or backward: only the patchified input, the sinusoid and the padded text go up, and the
 * velocity, the masks and the input gradients come down only when asked for.
 *
 * <p>A forward takes one clip, or a batch of B clips of one size with a timestep and a caption each
 * ({@link #forward(Tensor, double[], Tensor, int)}): the batch runs as one sequence of kernels over B * L tokens
 * (each clip attends only to itself), which is what makes small clips worth a GPU. Parameter gradients are summed
 * over the batch's clips.
 *
 * <p>The velocity lives on the device in the token layout (B * L, out_dim * pt * ph * pw) that the head produces
 * ({@link Tape#velocityTokens()}); a loss computed there (for example {@link DeviceWanLoss}) hands its gradient in the
 * same layout to {@link #backward(Tape, DeviceTensor)}. {@link #tokens} puts a host video (a flow-matching target) in
 * that layout; {@link Tape#velocity()} reads the velocity back as a video, as {@link WanGraph} gives it.
 *
 * <p>f32 throughout by default ({@link GemmPrecision#BF16} runs the forward's GEMMs and self-attention on bf16
 * operands, see {@link #DeviceWanGraph(DeviceWanStore, WanAttention, boolean, GemmPrecision)}; there is no f16
 * training, see {@link #trainingPrecision}). Self-attention
 * needs head dim 64 or 128 and blocks of {@value DeviceAttention#QUERY_BLOCK} x
 * {@value DeviceAttention#KEY_BLOCK} tokens (the device kernels' sizes). With {@code checkpointBlocks} the tape keeps
 * only each block's input and mask and the backward recomputes the block with that mask, which gives bit-identical
 * gradients.
 *
 * <pre>{@code
 * try (DeviceWanStore frozen = DeviceWanStore.upload(session, config, weights);    // the teacher: never stepped
 *      DeviceWanStore trained = DeviceWanStore.upload(session, config, weights);
 *      DeviceWanOptimizer adamW = new DeviceWanOptimizer(trained, 0.9, 0.999, 1e-8, 0.01)) {
 *     DeviceWanGraph teacher = new DeviceWanGraph(frozen, WanAttention.dense(), false);
 *     DeviceWanGraph student = new DeviceWanGraph(trained, WanAttention.defaults(), true);
 *     try (DeviceTensor target = teacher.predictTokens(x, t, ctx, step);
 *          DeviceWanGraph.Tape tape = student.forward(x, t, ctx, step);
 *          DeviceMeanSquaredError.Result loss = DeviceWanLoss.mse(tape, target)) {
 *         student.backward(tape, loss.grad());
 *         adamW.clipGradNorm(1.0, false);
 *         adamW.step(lr);
 *         trained.zeroGrads();
 *         double value = loss.lossValue();   // the step's one read back
 *     }
 * }
 * }</pre>
 */
public final class DeviceWanGraph {
    private static final String OP = "DeviceWanGraph";

    private final DeviceWanStore store;
    private final WanConfig config;
    private final WanAttention attention;
    private final boolean checkpointBlocks;
    private final GemmPrecision precision;
    private final List<DeviceWanBlockGraph> blocks;
    /** Where the blocks' parameters come from when the store does not hold them (full sharding); null: the store. */
    private final BlockParameters blockParameters;

    /**
     * @param store the parameters (and where gradients go), on the device
     * @param attention how self-attention runs (a late Top-k per clip, at its noise level); blocks must be
     *                  {@value DeviceAttention#QUERY_BLOCK} x {@value DeviceAttention#KEY_BLOCK}; cross-attention is
     *                  always dense
     * @param checkpointBlocks whether to keep only each block's input (and mask) and recompute it in the backward
     * @throws IllegalArgumentException for a head dim other than 64 or 128, or other block sizes
     */
    public DeviceWanGraph(DeviceWanStore store, WanAttention attention, boolean checkpointBlocks) {
        this(store, attention, checkpointBlocks, GemmPrecision.F32);
    }

    /**
     * A graph whose forward may run in mixed precision: with {@link GemmPrecision#BF16} every forward linear layer
     * multiplies bf16-rounded operands with f32 accumulation (the f32 master weights rounded per call) and
     * self-attention runs the tensor-core flash kernels on bf16 copies of q, k, v (mask pooled from them, backward
     * on them); the backward's GEMMs, the norms, the element-wise ops, cross-attention and every gradient stay f32
     * (as under {@code torch.autocast}, except that the backward GEMMs are not narrowed).
     *
     * @param precision F32 (the default) or BF16; F16 is refused ({@link #trainingPrecision})
     * @see #DeviceWanGraph(DeviceWanStore, WanAttention, boolean)
     */
    public DeviceWanGraph(DeviceWanStore store, WanAttention attention, boolean checkpointBlocks,
            GemmPrecision precision) {
        this(store, attention, checkpointBlocks, precision, null);
    }

    private DeviceWanGraph(DeviceWanStore store, WanAttention attention, boolean checkpointBlocks,
            GemmPrecision precision, BlockParameters blockParameters) {
        this.blockParameters = blockParameters;
        this.precision = trainingPrecision(OP, precision);
        this.store = Objects.requireNonNull(store, OP + ": store is null, expected a DeviceWanStore");
        this.config = store.config();
        this.attention = checkAttention(attention);
        this.checkpointBlocks = checkpointBlocks;
        int d = config.headDim();
        if (d != 64 && d != 128) {
            throw new IllegalArgumentException(OP + ": head dim (dim / num_heads = " + config.dim() + " / "
                    + config.numHeads() + ") is " + d + ", expected 64 or 128 (the device flash kernels' sizes);"
                    + " train this model with the CPU's WanGraph");
        }
        List<DeviceWanBlockGraph> list = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            list.add(new DeviceWanBlockGraph(i, config, store, precision));
        }
        this.blocks = List.copyOf(list);
    }

    private static WanAttention checkAttention(WanAttention a) {
        Objects.requireNonNull(a, OP + ": attention is null, expected a WanAttention");
        if (a.queryBlock() != DeviceAttention.QUERY_BLOCK || a.keyBlock() != DeviceAttention.KEY_BLOCK) {
            throw new IllegalArgumentException(OP + ": attention blocks are " + a.queryBlock() + " x " + a.keyBlock()
                    + ", expected " + DeviceAttention.QUERY_BLOCK + " x " + DeviceAttention.KEY_BLOCK
                    + " (the device kernels are built for these), or train with the CPU's WanGraph");
        }
        return a;
    }

    /**
     * @param newAttention other self-attention settings (a dense teacher)
     * @return a graph on the same store
     */
    public DeviceWanGraph withAttention(WanAttention newAttention) {
        return new DeviceWanGraph(store, newAttention, checkpointBlocks, precision, blockParameters);
    }

    /**
     * @param checkpoint whether blocks are recomputed in the backward
     * @return a graph on the same store
     */
    public DeviceWanGraph withCheckpointBlocks(boolean checkpoint) {
        return new DeviceWanGraph(store, attention, checkpoint, precision, blockParameters);
    }

    /** @return whether the blocks' parameters come from a {@link BlockParameters} source, not the store */
    public boolean readsBlocksFromSource() {
        return blockParameters != null;
    }

    /**
     * The same graph with its blocks' parameters off the device (FSDP-style full sharding, after
     * {@link DeviceWanStore#dropBlocks}): each block's are acquired from {@code source} and mounted on the device just
     * before the block runs and unmounted just after, and its gradients are read back and handed to {@code source}
     * when its backward is done.
     *
     * @param source the blocks' parameters, or null when the store holds every block
     * @return a graph on the same store
     */
    public DeviceWanGraph withBlockParameters(BlockParameters source) {
        return new DeviceWanGraph(store, attention, checkpointBlocks, precision, source);
    }

    /**
     * Checks a training precision: F32 or BF16. F16 is refused because nothing here scales the loss: the attention
     * backward rounds dOut and dS to its inputs' type, where f16 flushes gradients below 2^-25 to zero (bf16 has
     * f32's range).
     *
     * @param op the caller, for the message
     * @param precision the precision asked for
     * @return precision
     * @throws IllegalArgumentException for F16; NullPointerException for null
     */
    static GemmPrecision trainingPrecision(String op, GemmPrecision precision) {
        Objects.requireNonNull(precision, op + ": precision is null, expected F32 or BF16");
        if (precision == GemmPrecision.F16) {
            throw new IllegalArgumentException(op + ": precision is F16, expected F32 or BF16 (training has no f16:"
                    + " without loss scaling the gradients the attention backward rounds to f16 would underflow;"
                    + " f16 is for inference, DeviceWanModel)");
        }
        return precision;
    }

    /** @return how the forward's linear layers and self-attention multiply */
    public GemmPrecision precision() {
        return precision;
    }

    /** @return the configuration */
    public WanConfig config() {
        return config;
    }

    /** @return the self-attention settings */
    public WanAttention attention() {
        return attention;
    }

    /** @return whether the backward recomputes each block from its saved input */
    public boolean checkpointBlocks() {
        return checkpointBlocks;
    }

    /** @return the parameters and gradients */
    public DeviceWanStore store() {
        return store;
    }

    private DeviceSession session() {
        return store.session();
    }

    private DeviceTensor param(String name) {
        return store.param(name);
    }

    private DeviceTensor linear(DeviceTensor x, String module) {
        return DeviceLinear.linear(x, param(module + ".weight"), param(module + ".bias"), precision);
    }

    /**
     * What a forward keeps on the device for the backward: the velocity tokens, the embeddings' intermediates, each
     * block's input and mask and (without checkpointing) its intermediates; after {@link #backward}, the gradients
     * with respect to the input and the text features. Close it to free them.
     */
    public static final class Tape implements AutoCloseable {
        private final DeviceScope scope = new DeviceScope();
        private final int[] videoShape;
        private final int batch;
        private final boolean batched;
        private final Rope.Grid grid;
        private final int step;
        private final int contextRows;
        private final boolean checkpointed;
        private final List<DeviceTensor> blockInputs = new ArrayList<>();
        private final List<DeviceBlockMask> masks = new ArrayList<>();
        private final List<DeviceWanBlockGraph.Tape> blockTapes = new ArrayList<>();
        private DeviceTensor patches;
        private DeviceTensor sinusoid;
        private DeviceTensor timeHidden;
        private DeviceTensor timeSilu;
        private DeviceTensor e;
        private DeviceTensor eSilu;
        private DeviceTensor e6;
        private DeviceTensor padded;
        private DeviceTensor textHidden;
        private DeviceTensor textGelu;
        private DeviceTensor context;
        private DeviceTensor tokens;
        private DeviceTensor headNorm;
        private DeviceTensor headModulated;
        private DeviceTensor headScale;
        private DeviceTensor velocityTokens;
        private Tensor velocity;
        private DeviceTensor dPatches;
        private DeviceTensor dContext;
        private Tensor dContextHost;
        private Tensor dInputHost;
        private boolean consumed;
        private int[] patch;
        private int inDim;
        private int outDim;

        private Tape(int[] videoShape, int batch, boolean batched, Rope.Grid grid, int step, int contextRows,
                boolean checkpointed) {
            this.videoShape = videoShape;
            this.batch = batch;
            this.batched = batched;
            this.grid = grid;
            this.step = step;
            this.contextRows = contextRows;
            this.checkpointed = checkpointed;
        }

        /**
         * @return the predicted velocity in the head's token layout (B * L, out_dim * pt * ph * pw), clip by clip,
         *         owned by the tape
         */
        public DeviceTensor velocityTokens() {
            return velocityTokens;
        }

        /**
         * @return the predicted velocity (out_dim, F, H, W), or (B, out_dim, F, H, W) for a batched forward, read
         *         back and unpatchified on first call, f32, owned by the tape
         */
        public Tensor velocity() {
            if (velocity == null) {
                velocity = unpatchify(velocityTokens, outDim);
            }
            return velocity;
        }

        private Tensor unpatchify(DeviceTensor tokensOnDevice, int channels) {
            try (Tensor y = tokensOnDevice.toHost();
                 Tensor video = Patchify.unpatchify(y.reshape(batch, y.dim(0) / batch, y.dim(1)), channels,
                         grid.frames(), grid.rows(), grid.cols(), patch[0], patch[1], patch[2])) {
                return clipsShape(video, channels);
            }
        }

        /** A (B, C, F, H, W) host video as the caller's layout: (C, F, H, W) for a single clip. */
        private Tensor clipsShape(Tensor video, int channels) {
            int[] v = videoShape;
            return (batched ? video.reshape(batch, channels, v[1], v[2], v[3])
                    : video.reshape(channels, v[1], v[2], v[3])).copy();
        }

        /** @return the denoising step index the forward ran at */
        public int step() {
            return step;
        }

        /** @return whether the tape holds only block inputs (the backward recomputes the blocks) */
        public boolean checkpointed() {
            return checkpointed;
        }

        /** @return each block's self-attention mask on the device, null for a dense block, in block order */
        public List<DeviceBlockMask> masks() {
            return Collections.unmodifiableList(masks);
        }

        /**
         * @return each block's self-attention sparsity in this forward (the fraction of key blocks its mask skipped,
         *         0 for a dense block), in block order; reads every mask back (one wait for the device)
         */
        public double[] layerSparsity() {
            double[] out = new double[masks.size()];
            for (int i = 0; i < out.length; i++) {
                DeviceBlockMask m = masks.get(i);
                out[i] = m == null ? 0 : MaskStatistics.of(m.toHost(), null).sparsity();
            }
            return out;
        }

        /**
         * @return the gradient with respect to the text features (L, text_dim), or (B, L, text_dim) for a batched
         *         forward, as given to the forward (the padding rows' gradient dropped), read back on first call,
         *         f32, owned by the tape
         * @throws IllegalStateException before {@link DeviceWanGraph#backward}
         */
        public Tensor contextGradient() {
            requireBackward();
            if (dContextHost == null) {
                try (Tensor all = dContext.toHost()) {
                    int textLen = all.dim(0) / batch;
                    Tensor rows = batched ? Tensor.allocate(DType.F32, batch, contextRows, all.dim(1))
                            : Tensor.allocate(DType.F32, contextRows, all.dim(1));
                    for (int b = 0; b < batch; b++) {
                        (batched ? rows.select(b) : rows).copyFrom(all.narrow(b * textLen, contextRows));
                    }
                    dContextHost = rows;
                }
            }
            return dContextHost;
        }

        /**
         * @return the gradient with respect to the text features, all text_len rows of each clip (the padding rows'
         *         too) as (B * text_len, text_dim), on the device, owned by the tape (for a text encoder trained on
         *         the device)
         * @throws IllegalStateException before {@link DeviceWanGraph#backward}
         */
        public DeviceTensor contextGradientOnDevice() {
            requireBackward();
            return dContext;
        }

        /**
         * @return the gradient with respect to the input video (in_dim, F, H, W), or (B, in_dim, F, H, W) for a
         *         batched forward, read back on first call, f32, owned by the tape
         * @throws IllegalStateException before {@link DeviceWanGraph#backward}
         */
        public Tensor inputGradient() {
            requireBackward();
            if (dInputHost == null) {
                // the patch embedding's features are (c, kt, kh, kw): the adjoint of patchify puts them back
                try (Tensor d = dPatches.toHost();
                     Tensor video = Patchify.patchifyBackward(d.reshape(batch, d.dim(0) / batch, d.dim(1)), inDim,
                             grid.frames(), grid.rows(), grid.cols(), patch[0], patch[1], patch[2])) {
                    dInputHost = clipsShape(video, inDim);
                }
            }
            return dInputHost;
        }

        private void requireBackward() {
            if (!consumed) {
                throw new IllegalStateException(OP + ": the tape's backward has not run, expected "
                        + "DeviceWanGraph.backward first");
            }
        }

        @Override
        public void close() {
            for (DeviceWanBlockGraph.Tape t : blockTapes) {
                if (t != null) {
                    t.close();
                }
            }
            blockTapes.clear();
            for (DeviceBlockMask m : masks) {
                if (m != null) {
                    m.close();
                }
            }
            masks.clear();
            scope.close();
            for (Tensor t : new Tensor[] {velocity, dContextHost, dInputHost}) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    /**
     * The predicted velocity for one sample, keeping what the backward needs.
     *
     * @param x latents or pixels (in_dim, F, H, W), f32, bf16 or f16, F, H, W multiples of the patch size
     * @param timestep on Wan's 0..1000 scale
     * @param context text features (L, text_dim), 0 &lt;= L &lt;= text_len (zero-padded to text_len)
     * @param step the step index, for {@link WanAttention#denseSteps()}
     * @return the tape; the caller closes it
     */
    public Tape forward(Tensor x, double timestep, Tensor context, int step) {
        return run(Batch.single(config, x, timestep, context, step), step, null, checkpointBlocks, true);
    }

    /**
     * The predicted velocities of a batch of clips in one pass, keeping what the backward needs; each clip gets
     * exactly what {@link #forward(Tensor, double, Tensor, int)} would give it alone (up to the order of f32 sums in
     * parameter gradients, which add over the batch).
     *
     * @param x latents or pixels (B, in_dim, F, H, W), f32, bf16 or f16
     * @param timesteps one per clip, on Wan's 0..1000 scale
     * @param context text features (B, L, text_dim), 0 &lt;= L &lt;= text_len (zero-padded to text_len)
     * @param step the step index, for {@link WanAttention#denseSteps()}
     * @return the tape, whose velocities and input gradients are (B, ...); the caller closes it
     */
    public Tape forward(Tensor x, double[] timesteps, Tensor context, int step) {
        return run(Batch.of(config, x, timesteps, context, step), step, null, checkpointBlocks, true);
    }

    /**
     * {@link #forward} with every sparse block's self-attention mask given instead of chosen (for example the masks
     * the CPU's {@link WanGraph} chose, {@code tape.selections().get(i).mask()}): the same forward and backward with
     * that mask held fixed.
     *
     * @param masks one mask per block ((1, heads) over the block's tokens, {@value DeviceAttention#QUERY_BLOCK} x
     *              {@value DeviceAttention#KEY_BLOCK} blocks); an entry of a dense block is ignored
     * @see #forward(Tensor, double, Tensor, int)
     * @return the tape; the caller closes it
     */
    public Tape forward(Tensor x, double timestep, Tensor context, int step, List<BlockMask> masks) {
        if (masks == null || masks.size() != config.numLayers()) {
            throw new IllegalArgumentException(OP + ".forward: masks has " + (masks == null ? "null" : masks.size()
                    + " entries") + ", expected one per block (" + config.numLayers() + ")");
        }
        return run(Batch.single(config, x, timestep, context, step), step, masks, checkpointBlocks, true);
    }

    /**
     * The velocity without a tape (a frozen teacher, evaluation), one block's intermediates alive at a time.
     *
     * @return the velocity (out_dim, F, H, W), f32, read back, a new tensor the caller closes
     */
    public Tensor predict(Tensor x, double timestep, Tensor context, int step) {
        try (Tape tape = run(Batch.single(config, x, timestep, context, step), step, null, false, false)) {
            return tape.velocity().copy();
        }
    }

    /**
     * The velocity without a tape, left on the device in the token layout (a teacher's target for
     * {@link DeviceWanLoss}).
     *
     * @return (L, out_dim * pt * ph * pw), a new device tensor the caller closes
     */
    public DeviceTensor predictTokens(Tensor x, double timestep, Tensor context, int step) {
        try (Tape tape = run(Batch.single(config, x, timestep, context, step), step, null, false, false)) {
            return tape.velocityTokens.reshape(tape.velocityTokens.shape());
        }
    }

    /**
     * {@link #predictTokens(Tensor, double, Tensor, int)} of a batch, shaped as
     * {@link #forward(Tensor, double[], Tensor, int)} takes it.
     *
     * @return (B * L, out_dim * pt * ph * pw), a new device tensor the caller closes
     */
    public DeviceTensor predictTokens(Tensor x, double[] timesteps, Tensor context, int step) {
        try (Tape tape = run(Batch.of(config, x, timesteps, context, step), step, null, false, false)) {
            return tape.velocityTokens.reshape(tape.velocityTokens.shape());
        }
    }

    /**
     * A host video in the velocity's device token layout (a flow-matching target {@code noise - x0}).
     *
     * @param video (out_dim, F, H, W), or a batch (B, out_dim, F, H, W); F, H, W multiples of the patch size
     * @return (B * L, out_dim * pt * ph * pw) on the device (B = 1 for a single clip), owned by the caller
     */
    public DeviceTensor tokens(Tensor video) {
        boolean single = video != null && video.rank() == 4;
        if (video == null || (video.rank() != 4 && video.rank() != 5) || video.dim(single ? 0 : 1) != config.outDim()) {
            throw new IllegalArgumentException(OP + ".tokens: video is " + (video == null ? "null"
                    : Arrays.toString(video.shape())) + ", expected (out_dim = " + config.outDim()
                    + ", F, H, W) or (B, out_dim, F, H, W)");
        }
        List<Integer> p = config.patchSize();
        Tensor clips = single ? video.reshape(1, video.dim(0), video.dim(1), video.dim(2), video.dim(3)) : video;
        // the head's features are (kt, kh, kw, c), channel fastest, as Wan2.1's unpatchify reads them
        try (Tensor patches = Patchify.unpatchifyBackward(clips, p.get(0), p.get(1), p.get(2));
             Tensor f32 = patches.dtype() == DType.F32 ? null : patches.to(DType.F32)) {
            Tensor src = f32 == null ? patches : f32;
            return session().upload(src.reshape(src.dim(0) * src.dim(1), src.dim(2)));
        }
    }

    /**
     * A forward's inputs as a batch: x (B, in_dim, F, H, W), a timestep per clip and the text features
     * (B, L, text_dim); {@code batched} says whether the caller gave a batch (the tape then answers in batch shapes).
     */
    private record Batch(Tensor x, double[] timesteps, Tensor context, boolean batched) {
        static Batch single(WanConfig config, Tensor x, double timestep, Tensor context, int step) {
            WanInputs.check(OP + ".forward", config, x, timestep, context, step);
            int[] v = x.shape();
            return new Batch(x.reshape(1, v[0], v[1], v[2], v[3]), new double[] {timestep},
                    context.reshape(1, context.dim(0), context.dim(1)), false);
        }

        static Batch of(WanConfig config, Tensor x, double[] timesteps, Tensor context, int step) {
            String op = OP + ".forward";
            if (x == null || x.rank() != 5 || x.dim(0) < 1) {
                throw new IllegalArgumentException(op + ": x is " + (x == null ? "null" : x.dtype() + " "
                        + Arrays.toString(x.shape())) + ", expected a batch (B, in_dim = " + config.inDim()
                        + ", F, H, W) with B at least 1");
            }
            int b = x.dim(0);
            if (timesteps == null || timesteps.length != b) {
                throw new IllegalArgumentException(op + ": timesteps has " + (timesteps == null ? "null"
                        : timesteps.length + " entries") + ", expected one per clip (" + b + ")");
            }
            if (context == null || context.rank() != 3 || context.dim(0) != b) {
                throw new IllegalArgumentException(op + ": context is " + (context == null ? "null" : context.dtype()
                        + " " + Arrays.toString(context.shape())) + ", expected (B = " + b + ", L, text_dim = "
                        + config.textDim() + ")");
            }
            for (int i = 0; i < b; i++) {
                WanInputs.check(op + " (clip " + i + ")", config, x.select(i), timesteps[i], context.select(i), step);
            }
            return new Batch(x, timesteps.clone(), context, true);
        }

        int size() {
            return x.dim(0);
        }
    }

    private Tape run(Batch in, int step, List<BlockMask> fixedMasks, boolean checkpoint, boolean keep) {
        Tensor x = in.x();
        int batch = in.size();
        if (fixedMasks != null && batch != 1) {
            throw new IllegalArgumentException(OP + ".forward: masks are given for a batch of " + batch
                    + ", expected a single clip");
        }
        List<Integer> patch = config.patchSize();
        int pt = patch.get(0);
        int ph = patch.get(1);
        int pw = patch.get(2);
        Rope.Grid grid = new Rope.Grid(x.dim(2) / pt, x.dim(3) / ph, x.dim(4) / pw);
        int len = Math.toIntExact(grid.tokens());
        int dim = config.dim();
        int textRows = in.context().dim(1);
        Tape tape = new Tape(Arrays.copyOfRange(x.shape(), 1, 5), batch, in.batched(), grid, step, textRows,
                checkpoint);
        tape.patch = new int[] {pt, ph, pw};
        tape.inDim = config.inDim();
        tape.outDim = config.outDim();
        DeviceScope s = tape.scope;
        try {
            // patch embedding: patchify on the host, one upload, one GEMM
            try (Tensor p = Patchify.patchify(x, pt, ph, pw);
                 Tensor f32 = p.dtype() == DType.F32 ? null : p.to(DType.F32)) {
                Tensor src = f32 == null ? p : f32;
                tape.patches = s.own(session().upload(src.reshape(batch * len, src.dim(2))));
            }
            DeviceTensor h = s.own(linear(tape.patches, "patch_embedding"));
            if (config.absolutePosition() != AbsolutePosition.NONE) {   // no parameters: the backward is unchanged
                h = s.own(store.positionSignal().addTo(h, grid, 0));
            }
            // text: each clip's rows zero-padded to text_len on the host, Linear-GELU(tanh)-Linear
            try (Tensor host = Tensor.allocate(DType.F32, batch * config.textLen(), config.textDim())) {
                if (textRows > 0) {
                    for (int b = 0; b < batch; b++) {
                        host.narrow(b * config.textLen(), textRows).copyFrom(in.context().select(b));
                    }
                }
                tape.padded = s.own(session().upload(host));
            }
            tape.textHidden = s.own(linear(tape.padded, "text_embedding.0"));
            tape.textGelu = s.own(DeviceActivations.gelu(tape.textHidden));
            tape.context = s.own(linear(tape.textGelu, "text_embedding.2"));
            // time: float64 sinusoids on the host, Linear-SiLU-Linear to e (plus the text,
            // with a text modulation), Linear(SiLU(e)) to the six modulations
            float[] sinusoids = new float[batch * config.freqDim()];
            for (int b = 0; b < batch; b++) {
                float[] one = WanModel.sinusoid(in.timesteps()[b], config.freqDim());
                System.arraycopy(one, 0, sinusoids, b * config.freqDim(), config.freqDim());
            }
            try (Tensor sin = Tensor.of(sinusoids, batch, config.freqDim())) {
                tape.sinusoid = s.own(session().upload(sin));
            }
            tape.timeHidden = s.own(linear(tape.sinusoid, "time_embedding.0"));
            tape.timeSilu = s.own(DeviceActivations.silu(tape.timeHidden));
            tape.e = s.own(linear(tape.timeSilu, "time_embedding.2"));
            config.textModulation().addTo(tape.e, tape.context);
            tape.eSilu = s.own(DeviceActivations.silu(tape.e));
            tape.e6 = s.own(linear(tape.eSilu, "time_projection.1"));   // (B, 6 * dim)
            // each clip's Top-k at its own noise level (a late Top-k; the same k for every clip otherwise)
            double[] topk = new double[batch];
            for (int b = 0; b < batch; b++) {
                topk[b] = attention.at(in.timesteps()[b]).topk();
            }
            for (DeviceWanBlockGraph block : blocks) {
                int i = block.index();
                DeviceBlockMask fixed = null;
                if (fixedMasks != null && !attention.denseAt(i, step)) {
                    fixed = DeviceMasks.upload(session(), fixedMasks.get(i), config.headDim());
                }
                DeviceWanBlockGraph.Tape bt;
                acquire(i, BlockParameters.Pass.FORWARD);
                try {
                    bt = block.forward(h, tape.e6, tape.context, grid, attention, topk, step, fixed);
                } catch (RuntimeException | Error e) {
                    if (fixed != null) {
                        fixed.close();
                    }
                    throw e;
                } finally {
                    release(i);
                }
                DeviceTensor out = bt.out;
                if (keep) {
                    tape.blockInputs.add(h);
                    tape.masks.add(bt.mask);
                    s.own(out);
                    if (checkpoint) {
                        bt.close();
                    }
                    tape.blockTapes.add(checkpoint ? null : bt);
                } else {
                    // inference: one block's intermediates alive at a time
                    bt.close();
                    if (bt.mask != null) {
                        bt.mask.close();
                    }
                    if (i > 0) {
                        h.close();
                    }
                }
                h = out;
            }
            if (!keep && !blocks.isEmpty()) {
                s.own(h);
            }
            tape.tokens = h;
            // head: head.modulation + e to shift and scale per clip, modulated LayerNorm, Linear (tokens stay on
            // the device)
            DeviceTensor shift = s.own(s.own(DeviceElementwise.add(tape.e, headModulation(s, 0))).reshape(batch, 1,
                    dim));
            tape.headScale = s.own(s.own(DeviceElementwise.add(tape.e, headModulation(s, 1))).reshape(batch, 1, dim));
            tape.headNorm = s.own(DeviceNorms.layerNorm(h, null, null, (float) config.eps()));
            DeviceTensor modulated = s.own(DeviceElementwise.modulate(s.own(tape.headNorm.reshape(batch, len, dim)),
                    shift, tape.headScale));
            tape.headModulated = s.own(modulated.reshape(batch * len, dim));
            tape.velocityTokens = s.own(linear(tape.headModulated, "head.head"));
            return tape;
        } catch (RuntimeException | Error e) {
            tape.close();
            throw e;
        }
    }

    /** Row {@code row} of head.modulation (0: shift, 1: scale) as a (dim) vector added to each clip's e. */
    private DeviceTensor headModulation(DeviceScope s, int row) {
        return s.own(s.own(DeviceShapes.narrow(param("head.modulation"), row, 1)).reshape(config.dim()));
    }

    /**
     * Adds the gradients of a loss with respect to every parameter into the store, given the loss's gradient with
     * respect to the velocity in video layout, as {@link WanGraph#backward} takes it (patchified on the host and
     * uploaded; a loss on the device should call {@link #backward(Tape, DeviceTensor)}).
     *
     * @param tape the forward's tape, open
     * @param dVelocity f32 (out_dim, F, H, W)
     */
    public void backward(Tape tape, Tensor dVelocity) {
        checkTape(tape);
        int[] clip = {config.outDim(), tape.videoShape[1], tape.videoShape[2], tape.videoShape[3]};
        int[] expected = tape.batched ? new int[] {tape.batch, clip[0], clip[1], clip[2], clip[3]} : clip;
        if (dVelocity == null || dVelocity.dtype() != DType.F32 || !Arrays.equals(dVelocity.shape(), expected)) {
            throw new IllegalArgumentException(OP + ".backward: dVelocity is " + (dVelocity == null ? "null"
                    : dVelocity.dtype() + " " + Arrays.toString(dVelocity.shape())) + ", expected f32 "
                    + Arrays.toString(expected) + " (the velocity's shape)");
        }
        try (DeviceTensor d = tokens(dVelocity)) {
            backward(tape, d);
        }
    }

    /**
     * Adds the gradients of a loss with respect to every parameter into the store ({@link DeviceWanStore#grad}),
     * given the loss's gradient with respect to {@link Tape#velocityTokens()}, and leaves the input's and the text
     * features' gradients in the tape. The tape's block intermediates are freed on the way; a tape takes one
     * backward. Enqueues only: nothing is read back.
     *
     * @param tape the forward's tape, open
     * @param dVelocityTokens f32, shaped like {@link Tape#velocityTokens()}
     */
    public void backward(Tape tape, DeviceTensor dVelocityTokens) {
        checkTape(tape);
        if (dVelocityTokens == null || dVelocityTokens.dtype() != DType.F32
                || !Arrays.equals(dVelocityTokens.shape(), tape.velocityTokens.shape())) {
            throw new IllegalArgumentException(OP + ".backward: dVelocityTokens is " + (dVelocityTokens == null
                    ? "null" : dVelocityTokens.dtype() + " " + Arrays.toString(dVelocityTokens.shape()))
                    + ", expected f32 " + Arrays.toString(tape.velocityTokens.shape()) + " (the velocity tokens')");
        }
        tape.consumed = true;
        int dim = config.dim();
        float eps = (float) config.eps();
        Rope.Grid grid = tape.grid;
        try (DeviceScope s = new DeviceScope();
             DeviceWanSum de6 = new DeviceWanSum();
             DeviceWanSum dContextEmb = new DeviceWanSum()) {
            // head
            DeviceLinear.Grads head = s.own(DeviceLinear.linearBackward(dVelocityTokens, tape.headModulated,
                    param("head.head.weight"), true));
            store.addGrad("head.head.weight", head.dWeight());
            store.addGrad("head.head.bias", head.dBias());
            int batch = tape.batch;
            int len = tape.velocityTokens.dim(0) / batch;
            DeviceElementwise.ModulateGrads hm = s.own(DeviceElementwise.modulateBackward(
                    s.own(head.dx().reshape(batch, len, dim)), s.own(tape.headNorm.reshape(batch, len, dim)),
                    tape.headScale));
            DeviceTensor dShift = s.own(hm.dShift().reshape(batch, dim));
            DeviceTensor dScale = s.own(hm.dScale().reshape(batch, dim));
            if (batch == 1) {
                store.addGrad("head.modulation", s.own(DeviceShapes.concat(dShift, dScale)));
            } else {
                store.addGrad("head.modulation", s.own(s.own(DeviceShapes.concat(
                        s.own(DeviceGradients.sumRows(dShift)), s.own(DeviceGradients.sumRows(dScale))))
                        .reshape(2, dim)));
            }
            DeviceTensor de = s.own(DeviceElementwise.add(dShift, dScale));
            DeviceTensor dTokens;
            try (DeviceNorms.Grads ln = DeviceNorms.layerNormBackward(s.own(hm.dx().reshape(batch * len, dim)),
                    tape.tokens, null, null, eps)) {
                dTokens = DeviceShapes.narrow(ln.dx(), 0, ln.dx().dim(0));
            }
            // blocks, last first, each freed (or recomputed from its input with its mask) as it is reached
            for (int i = blocks.size() - 1; i >= 0; i--) {
                DeviceWanBlockGraph block = blocks.get(i);
                DeviceWanBlockGraph.Tape bt = tape.blockTapes.get(i);
                acquire(i, BlockParameters.Pass.BACKWARD);
                try {
                    if (bt == null) {
                        bt = block.forward(tape.blockInputs.get(i), tape.e6, tape.context, grid, attention, null,
                                tape.step, tape.masks.get(i));   // the forward's mask: no k needed
                        bt.out.close();
                    }
                    try (DeviceTensor dOut = dTokens) {
                        dTokens = block.backward(bt, dOut, tape.context, grid, de6, dContextEmb);
                    } finally {
                        bt.close();
                        tape.blockTapes.set(i, null);
                    }
                } finally {
                    release(i);
                }
                if (blockParameters != null) {
                    blockParameters.gradientsReady(i, store.takeGrads(i));
                }
            }
            s.own(dTokens);
            // time projection and embedding (the timestep itself takes no gradient)
            DeviceLinear.Grads proj = s.own(DeviceLinear.linearBackward(de6.value(), tape.eSilu,
                    param("time_projection.1.weight"), true));
            addLinear("time_projection.1", proj);
            DeviceTensor deProj = s.own(DeviceActivations.siluBackward(proj.dx(), tape.e));
            DeviceGradients.accumulate(1f, deProj, de);
            DeviceTensor dContextAll = s.own(config.textModulation().addGradient(de, dContextEmb.value()));
            DeviceLinear.Grads time2 = s.own(DeviceLinear.linearBackward(de, tape.timeSilu,
                    param("time_embedding.2.weight"), true));
            addLinear("time_embedding.2", time2);
            DeviceTensor dTimeHidden = s.own(DeviceActivations.siluBackward(time2.dx(), tape.timeHidden));
            addLinear("time_embedding.0", s.own(DeviceLinear.linearBackward(dTimeHidden, tape.sinusoid,
                    param("time_embedding.0.weight"), true)));
            // text embedding (all text_len rows; the padding rows are dropped when read back)
            DeviceLinear.Grads text2 = s.own(DeviceLinear.linearBackward(dContextAll, tape.textGelu,
                    param("text_embedding.2.weight"), true));
            addLinear("text_embedding.2", text2);
            DeviceTensor dTextHidden = s.own(DeviceActivations.geluBackward(text2.dx(), tape.textHidden));
            DeviceLinear.Grads text0 = s.own(DeviceLinear.linearBackward(dTextHidden, tape.padded,
                    param("text_embedding.0.weight"), true));
            addLinear("text_embedding.0", text0);
            tape.dContext = tape.scope.own(text0.dx().reshape(text0.dx().shape()));
            // patch embedding
            DeviceLinear.Grads pe = s.own(DeviceLinear.linearBackward(dTokens, tape.patches,
                    param("patch_embedding.weight"), true));
            addLinear("patch_embedding", pe);
            tape.dPatches = tape.scope.own(pe.dx().reshape(pe.dx().shape()));
        }
    }

    private void addLinear(String module, DeviceLinear.Grads g) {
        store.addGrad(module + ".weight", g.dWeight());
        store.addGrad(module + ".bias", g.dBias());
    }

    private void checkTape(Tape tape) {
        if (tape == null) {
            throw new IllegalArgumentException(OP + ".backward: tape is null, expected the forward's Tape");
        }
        if (tape.consumed) {
            throw new IllegalStateException(OP + ".backward: this tape's backward already ran, expected a fresh "
                    + "forward per backward");
        }
        if (tape.velocityTokens == null || tape.blockInputs.size() != blocks.size()) {
            throw new IllegalArgumentException(OP + ".backward: the tape comes from predict or was closed, expected "
                    + "the tape of forward");
        }
    }

    /** With {@link #blockParameters}: the block's parameters on the device until {@link #release}. */
    private void acquire(int block, BlockParameters.Pass pass) {
        if (blockParameters != null) {
            store.mount(block, blockParameters.acquire(block, pass));
        }
    }

    private void release(int block) {
        if (blockParameters != null) {
            store.unmount(block);
            blockParameters.release(block);
        }
    }
}

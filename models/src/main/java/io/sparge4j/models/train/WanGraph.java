package io.sparge4j.models.train;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.ops.Patchify;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.ops.Shapes;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanAttentionStats;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanInputs;
import io.sparge4j.models.wan.WanModel;
import io.sparge4j.models.wan.WanParameters;
import io.sparge4j.models.wan.WanWeights;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The Wan2.1 diffusion transformer as a differentiable graph on the CPU ops, for training: {@link #forward} runs the
 * same ops as {@link WanModel#forward(Tensor, double, Tensor, int)} in the same order (so the velocity is bit-identical
 * to it for the same weights and attention settings) and keeps a {@link Tape}; {@link #backward} chains the ops'
 * backward functions (SpargeAttention2's sparse backward for self-attention, through the mask the forward chose) and
 * adds every parameter's gradient into the caller's map, so that micro-batches accumulate.
 *
 * <p>The parameters are the caller's map of f32 tensors under the original Wan2.1 names ({@link WanParameters}); they
 * are looked up at every forward and never copied, so an optimizer may update them in place between steps. With
 * {@code checkpointBlocks} the tape keeps only each block's input (and its attention mask) and the backward
 * recomputes the block, which gives bit-identical gradients for a fraction of the memory.
 *
 * <pre>{@code
 * var student = new WanGraph(config, params, WanAttention.defaults(), true);
 * Map<String, Tensor> grads = new LinkedHashMap<>();
 * try (WanGraph.Tape tape = student.forward(x, t, context, step);
 *      Tensor dv = lossGradient(tape.velocity())) {
 *     student.backward(tape, dv, grads);
 *     textEncoder.backward(tape.contextGradient());
 * }
 * }</pre>
 */
public final class WanGraph {
    private static final String OP = "WanGraph";
    private static final String BLOCK_PREFIX = "blocks.";

    private final WanConfig config;
    private final Map<String, Tensor> params;
    private final WanAttention attention;
    private final boolean checkpointBlocks;
    private final WanAttentionStats stats;
    private final List<WanBlockGraph> blocks;
    /** Where the blocks' parameters come from when they are not in {@link #params} whole; null: from params. */
    private final BlockParameters blockParameters;
    /** The acquired block's parameters, while it runs (with {@link #blockParameters} only). */
    private final Map<String, Tensor> live = new HashMap<>();

    /**
     * @param config the model's configuration; its head dim must be even and at most {@value Attention#MAX_HEAD_DIM}
     * @param params every parameter under its Wan2.1 name, f32 (see {@link WanParameters#expected}); read at every
     *               forward and backward, never copied
     * @param attention how self-attention runs (per block and step, and per clip: a late Top-k applies at the clip's
     *     noise level); cross-attention is always dense
     * @param checkpointBlocks whether to keep only each block's input and recompute the block in the backward
     * @throws IllegalArgumentException naming every missing, unexpected, mis-shaped or non-f32 parameter, or a config
     *                                  the graph cannot run
     */
    public WanGraph(WanConfig config, Map<String, Tensor> params, WanAttention attention, boolean checkpointBlocks) {
        this(config, params, attention, checkpointBlocks, new WanAttentionStats(), null);
        WanWeights.check(config, params);
        List<String> notF32 = new ArrayList<>();
        params.forEach((name, t) -> {
            if (t.dtype() != DType.F32) {
                notF32.add(name + " " + t.dtype());
            }
        });
        if (!notF32.isEmpty()) {
            throw new IllegalArgumentException(OP + ": parameters " + notF32 + " are not f32, expected every "
                    + "trainable parameter in f32 (convert with Tensor.to(DType.F32))");
        }
        int d = config.headDim();
        if (d % 2 != 0 || d > Attention.MAX_HEAD_DIM) {
            throw new IllegalArgumentException(OP + ": head dim (dim / num_heads = " + config.dim() + " / "
                    + config.numHeads() + ") is " + d + ", expected an even number of at most "
                    + Attention.MAX_HEAD_DIM);
        }
    }

    private WanGraph(WanConfig config, Map<String, Tensor> params, WanAttention attention, boolean checkpointBlocks,
                     WanAttentionStats stats, BlockParameters blockParameters) {
        this.config = Objects.requireNonNull(config, OP + ": config is null, expected a WanConfig");
        if (params == null) {
            throw new IllegalArgumentException(OP + ": params is null, expected a map of Wan2.1 parameter names");
        }
        this.params = params;
        this.attention = Objects.requireNonNull(attention, OP + ": attention is null, expected a WanAttention");
        this.checkpointBlocks = checkpointBlocks;
        this.stats = stats;
        this.blockParameters = blockParameters;
        List<WanBlockGraph> list = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            list.add(new WanBlockGraph(i, config, this::param));
        }
        this.blocks = List.copyOf(list);
    }

    /**
     * The same parameters with other attention settings (the dense teacher of a distillation run, or an evaluation),
     * with statistics of its own.
     *
     * @param newAttention the settings
     * @return a graph sharing this one's parameter map
     */
    public WanGraph withAttention(WanAttention newAttention) {
        return new WanGraph(config, params, newAttention, checkpointBlocks, new WanAttentionStats(), blockParameters);
    }

    /**
     * @param checkpoint whether blocks are recomputed in the backward
     * @return a graph sharing this one's parameter map and statistics
     */
    public WanGraph withCheckpointBlocks(boolean checkpoint) {
        return new WanGraph(config, params, attention, checkpoint, stats, blockParameters);
    }

    /**
     * The same graph reading its blocks' parameters from {@code source} (FSDP-style full sharding): each block's are
     * acquired just before it runs and released just after, and its gradients are handed to {@code source} when its
     * backward is done instead of being added to the caller's map. The block entries of {@link #parameters()} are then
     * never read. One graph runs one forward or backward at a time.
     *
     * @param source the blocks' parameters, or null to read them from the parameter map again
     * @return a graph sharing this one's parameter map and statistics
     */
    public WanGraph withBlockParameters(BlockParameters source) {
        return new WanGraph(config, params, attention, checkpointBlocks, stats, source);
    }

    /** @return whether the blocks' parameters come from a {@link BlockParameters} source, not the map */
    public boolean readsBlocksFromSource() {
        return blockParameters != null;
    }

    /**
     * @param name a parameter name
     * @return the block that uses it (the {@code i} of {@code blocks.i.*}), or -1 for the others
     */
    public static int blockOf(String name) {
        if (!name.startsWith(BLOCK_PREFIX)) {
            return -1;
        }
        int dot = name.indexOf('.', BLOCK_PREFIX.length());
        return Integer.parseInt(name.substring(BLOCK_PREFIX.length(), dot < 0 ? name.length() : dot));
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

    /** @return the parameter map (the caller's, not a copy) */
    public Map<String, Tensor> parameters() {
        return params;
    }

    /**
     * @return every forward's self-attention mask statistics (per-layer sparsity, by step) and attention times;
     *         recomputes in the backward are not recorded
     */
    public WanAttentionStats stats() {
        return stats;
    }

    private Tensor param(String name) {
        if (blockParameters != null) {
            Tensor t = live.get(name);
            if (t != null) {
                return t;
            }
            if (name.startsWith(BLOCK_PREFIX)) {
                throw new IllegalStateException(OP + ": parameter " + name + " read outside its block's turn, expected"
                        + " block parameters only between BlockParameters.acquire and release");
            }
        }
        Tensor t = params.get(name);
        if (t == null) {
            throw new IllegalStateException(OP + ": parameter " + name + " is no longer in the parameter map, expected "
                    + "every name of WanParameters.expected to stay");
        }
        return t;
    }

    private Tensor linear(Tensor x, String module) {
        return Linear.linear(x, param(module + ".weight"), param(module + ".bias"));
    }

    /**
     * What a forward keeps for the backward: the velocity, the embeddings' intermediates, each block's input and
     * mask, and (without checkpointing) each block's intermediates; after {@link #backward}, the gradients with
     * respect to the input video and the text features. Close it to free them.
     */
    public static final class Tape implements AutoCloseable {
        private final TensorScope scope = new TensorScope();
        private final int[] videoShape;
        private final Rope.Grid grid;
        private final int step;
        private final int contextRows;
        private final boolean checkpointed;
        private final List<Tensor> blockInputs = new ArrayList<>();
        private final List<SparseAttention.Config> configs = new ArrayList<>();
        private final List<SparseAttention.Selection> selections = new ArrayList<>();
        private final List<WanBlockGraph.Tape> blockTapes = new ArrayList<>();
        private Tensor patches;
        private Tensor sinusoid;
        private Tensor timeHidden;
        private Tensor timeSilu;
        private Tensor e;
        private Tensor eSilu;
        private Tensor e6;
        private Tensor padded;
        private Tensor textHidden;
        private Tensor textGelu;
        private Tensor context;
        private Tensor tokens;
        private Tensor headNorm;
        private Tensor headModulated;
        private Tensor headScale;
        private Tensor velocity;
        private Tensor dInput;
        private Tensor dContext;
        private boolean consumed;

        private Tape(int[] videoShape, Rope.Grid grid, int step, int contextRows, boolean checkpointed) {
            this.videoShape = videoShape;
            this.grid = grid;
            this.step = step;
            this.contextRows = contextRows;
            this.checkpointed = checkpointed;
        }

        /** @return the predicted velocity (out_dim, F, H, W), f32, owned by the tape */
        public Tensor velocity() {
            return velocity;
        }

        /** @return the denoising step index the forward ran at */
        public int step() {
            return step;
        }

        /** @return whether the tape holds only block inputs (the backward recomputes the blocks) */
        public boolean checkpointed() {
            return checkpointed;
        }

        /** @return each block's self-attention mask, with its pooled map and statistics, in block order */
        public List<SparseAttention.Selection> selections() {
            return Collections.unmodifiableList(selections);
        }

        /**
         * @return each block's self-attention sparsity in this forward (the fraction of key blocks its mask skipped,
         *         0 for a dense block), in block order, for a trainer's progress display
         */
        public double[] layerSparsity() {
            return selections.stream().mapToDouble(sel -> sel.statistics().sparsity()).toArray();
        }

        /** @return each block's self-attention config at this step (mode dense where the settings keep it dense) */
        public List<SparseAttention.Config> attentionConfigs() {
            return Collections.unmodifiableList(configs);
        }

        /**
         * @return the gradient with respect to the input video (in_dim, F, H, W), f32, owned by the tape
         * @throws IllegalStateException before {@link WanGraph#backward}
         */
        public Tensor inputGradient() {
            requireBackward();
            return dInput;
        }

        /**
         * @return the gradient with respect to the text features (L, text_dim) as given to the forward (the padding
         *         rows' gradient dropped), f32, owned by the tape; feed it to a jointly trained text encoder
         * @throws IllegalStateException before {@link WanGraph#backward}
         */
        public Tensor contextGradient() {
            requireBackward();
            return dContext;
        }

        private void requireBackward() {
            if (!consumed) {
                throw new IllegalStateException(OP + ": the tape's backward has not run, expected WanGraph.backward "
                        + "first");
            }
        }

        @Override
        public void close() {
            for (WanBlockGraph.Tape t : blockTapes) {
                if (t != null) {
                    t.close();
                }
            }
            blockTapes.clear();
            scope.close();
        }
    }

    /**
     * The predicted velocity for one sample, keeping what the backward needs.
     *
     * @param x latents or pixels (in_dim, F, H, W), f32, bf16 or f16, F, H, W multiples of the patch size
     * @param timestep on Wan's 0..1000 scale
     * @param context text features (L, text_dim), 0 &lt;= L &lt;= text_len, zero-padded to text_len rows as in
     *                {@link WanModel}
     * @param step the step index, for {@link WanAttention#denseSteps()} and the statistics
     * @return the tape; {@link Tape#velocity()} is the output; the caller closes it
     * @throws IllegalArgumentException naming the argument, its value and what is expected
     */
    public Tape forward(Tensor x, double timestep, Tensor context, int step) {
        return run(x, timestep, context, step, checkpointBlocks, true);
    }

    /**
     * The predicted velocity without a tape (a frozen teacher, evaluation): the same numbers as {@link #forward}, with
     * one block's intermediates alive at a time.
     *
     * @param x latents or pixels (in_dim, F, H, W)
     * @param timestep on Wan's 0..1000 scale
     * @param context text features (L, text_dim)
     * @param step the step index
     * @return the velocity (out_dim, F, H, W), f32, a new tensor the caller closes
     */
    public Tensor predict(Tensor x, double timestep, Tensor context, int step) {
        try (Tape tape = run(x, timestep, context, step, false, false)) {
            return tape.velocity.copy();
        }
    }

    private Tape run(Tensor x, double timestep, Tensor context, int step, boolean checkpoint, boolean keep) {
        WanInputs.check(OP + ".forward", config, x, timestep, context, step);
        List<Integer> patch = config.patchSize();
        int pt = patch.get(0);
        int ph = patch.get(1);
        int pw = patch.get(2);
        Rope.Grid grid = new Rope.Grid(x.dim(1) / pt, x.dim(2) / ph, x.dim(3) / pw);
        int len = Math.toIntExact(grid.tokens());
        Tape tape = new Tape(x.shape(), grid, step, context.dim(0), checkpoint);
        TensorScope s = tape.scope;
        try {
            // patch embedding: Conv3d with kernel = stride = patch, as patchify and one GEMM
            int[] v = x.shape();
            Tensor p = s.own(Patchify.patchify(x.reshape(1, v[0], v[1], v[2], v[3]), pt, ph, pw));
            if (p.dtype() != DType.F32) {
                p = s.own(p.to(DType.F32));
            }
            tape.patches = p.reshape(len, p.dim(2));
            Tensor h = s.own(Linear.linear(tape.patches, param("patch_embedding.weight").reshape(config.dim(), -1),
                    param("patch_embedding.bias")));
            config.absolutePosition().addTo(h, grid);   // no parameters: the backward is unchanged
            // text: zero-padded to text_len rows, Linear-GELU(tanh)-Linear
            tape.padded = s.own(Tensor.allocate(DType.F32, config.textLen(), config.textDim()));
            if (context.dim(0) > 0) {
                tape.padded.narrow(0, context.dim(0)).copyFrom(context);
            }
            tape.textHidden = s.own(linear(tape.padded, "text_embedding.0"));
            tape.textGelu = s.own(Activations.gelu(tape.textHidden));
            tape.context = s.own(linear(tape.textGelu, "text_embedding.2"));
            // time: float64 sinusoid, Linear-SiLU-Linear to e (plus the text, with a text modulation),
            // Linear(SiLU(e)) to the six modulations
            tape.sinusoid = s.own(Tensor.of(WanModel.sinusoid(timestep, config.freqDim()), 1, config.freqDim()));
            tape.timeHidden = s.own(linear(tape.sinusoid, "time_embedding.0"));
            tape.timeSilu = s.own(Activations.silu(tape.timeHidden));
            tape.e = s.own(linear(tape.timeSilu, "time_embedding.2"));
            config.textModulation().addTo(tape.e, tape.context);
            tape.eSilu = s.own(Activations.silu(tape.e));
            tape.e6 = s.own(linear(tape.eSilu, "time_projection.1")).reshape(6, config.dim());
            WanAttention now = attention.at(timestep);   // a late Top-k at low noise levels
            for (WanBlockGraph block : blocks) {
                SparseAttention.Config cfg = now.configAt(block.index(), step);
                WanBlockGraph.Tape bt;
                acquire(block.index(), BlockParameters.Pass.FORWARD);
                try {
                    bt = block.forward(h, tape.e6, tape.context, grid, cfg, null, stats, step);
                } finally {
                    release(block.index());
                }
                Tensor out = bt.out;
                if (keep) {
                    tape.blockInputs.add(h);
                    tape.configs.add(cfg);
                    tape.selections.add(bt.selection);
                    s.own(out);
                    if (checkpoint) {
                        bt.close();
                    }
                    tape.blockTapes.add(checkpoint ? null : bt);
                } else {
                    // inference: one block's intermediates alive at a time; the first input belongs to the scope
                    bt.close();
                    if (block.index() > 0) {
                        h.close();
                    }
                }
                h = out;
            }
            if (!keep) {
                s.own(h);
            }
            tape.tokens = h;
            // head: head.modulation + e to shift and scale, modulated LayerNorm, Linear, unpatchify
            Tensor[] mod;
            try (Tensor sum = Elementwise.add(param("head.modulation").reshape(2, config.dim()), tape.e)) {
                mod = s.own(Shapes.split(sum, 0, 1, 1));
            }
            tape.headScale = mod[1];
            tape.headNorm = s.own(Norms.layerNorm(h, null, null, (float) config.eps()));
            tape.headModulated = s.own(Elementwise.modulate(tape.headNorm, mod[0], mod[1]));
            try (Tensor y = linear(tape.headModulated, "head.head")) {
                tape.velocity = s.own(Patchify.unpatchify(y.reshape(1, len, y.dim(1)), config.outDim(), grid.frames(),
                        grid.rows(), grid.cols(), pt, ph, pw)).reshape(config.outDim(), v[1], v[2], v[3]);
            }
            return tape;
        } catch (RuntimeException | Error e) {
            tape.close();
            throw e;
        }
    }

    /**
     * Adds the gradients of a loss with respect to every parameter into {@code grads}, given the loss's gradient with
     * respect to the velocity, and leaves the input video's and the text features' gradients in the tape
     * ({@link Tape#inputGradient()}, {@link Tape#contextGradient()}). The tape's block intermediates are freed on the
     * way; a tape takes one backward.
     *
     * @param tape the forward's tape, open
     * @param dVelocity gradient with respect to {@link Tape#velocity()}, f32, same shape
     * @param grads gradients by parameter name, added to; missing entries are created as zeros (so the map must be
     *              mutable), present ones must be f32 and shaped like their parameter
     * @return {@code grads}
     * @throws IllegalArgumentException on a wrong dVelocity or gradient entry
     * @throws IllegalStateException when the tape's backward already ran
     */
    public Map<String, Tensor> backward(Tape tape, Tensor dVelocity, Map<String, Tensor> grads) {
        if (tape == null) {
            throw new IllegalArgumentException(OP + ".backward: tape is null, expected the forward's Tape");
        }
        if (tape.consumed) {
            throw new IllegalStateException(OP + ".backward: this tape's backward already ran, expected a fresh "
                    + "forward per backward");
        }
        if (tape.velocity == null || tape.blockInputs.size() != blocks.size()) {
            throw new IllegalArgumentException(OP + ".backward: the tape comes from predict or was closed, expected "
                    + "the tape of forward");
        }
        if (dVelocity == null || dVelocity.dtype() != DType.F32
                || !Arrays.equals(dVelocity.shape(), tape.velocity.shape())) {
            throw new IllegalArgumentException(OP + ".backward: dVelocity is " + (dVelocity == null ? "null"
                    : dVelocity.dtype() + " " + Arrays.toString(dVelocity.shape())) + ", expected f32 "
                    + Arrays.toString(tape.velocity.shape()) + " (the velocity's shape)");
        }
        if (grads == null) {
            throw new IllegalArgumentException(OP + ".backward: grads is null, expected a mutable map to add into");
        }
        tape.consumed = true;
        ParameterGrads sink = new ParameterGrads(grads, this::param);
        List<Integer> patch = config.patchSize();
        int pt = patch.get(0);
        int ph = patch.get(1);
        int pw = patch.get(2);
        int dim = config.dim();
        Rope.Grid grid = tape.grid;
        int len = Math.toIntExact(grid.tokens());
        int[] v = tape.videoShape;
        try (TensorScope s = new TensorScope()) {
            // head
            Tensor de;
            Tensor dTokens;
            try (TensorScope h = new TensorScope()) {
                Tensor dy = h.own(Patchify.unpatchifyBackward(dVelocity.reshape(1, config.outDim(), v[1], v[2], v[3]),
                        pt, ph, pw));
                Linear.LinearGrads head = h.own(Linear.linearBackward(dy.reshape(len, dy.dim(2)), tape.headModulated,
                        param("head.head.weight"), true));
                sink.add("head.head", head);
                Elementwise.ModulateGrads hm = h.own(Elementwise.modulateBackward(head.dx(), tape.headNorm,
                        tape.headScale));
                sink.add("head.modulation", h.own(Shapes.concat(0, hm.dShift(), hm.dScale())));
                de = s.own(Elementwise.add(hm.dShift(), hm.dScale()));
                dTokens = Norms.layerNormBackward(hm.dx(), tape.tokens, null, null, (float) config.eps()).dx();
            }
            // blocks, last first, each freed (or recomputed from its input) as it is reached
            Tensor de6 = s.own(Tensor.zeros(6, dim));
            Tensor dContextEmb = s.own(Tensor.zeros(config.textLen(), dim));
            for (int i = blocks.size() - 1; i >= 0; i--) {
                WanBlockGraph block = blocks.get(i);
                WanBlockGraph.Tape bt = tape.blockTapes.get(i);
                acquire(i, BlockParameters.Pass.BACKWARD);
                try {
                    if (bt == null) {
                        // checkpointed: recompute the block from its input, reusing the forward's mask
                        bt = block.forward(tape.blockInputs.get(i), tape.e6, tape.context, grid, tape.configs.get(i),
                                tape.selections.get(i), null, tape.step);
                        bt.out.close();
                    }
                    try (Tensor dOut = dTokens) {
                        dTokens = block.backward(bt, dOut, tape.context, grid, sink, de6, dContextEmb);
                    } finally {
                        bt.close();
                        tape.blockTapes.set(i, null);
                    }
                } finally {
                    release(i);
                }
                handOverGradients(i, grads);
            }
            s.own(dTokens);
            // time projection and embedding (the timestep itself takes no gradient)
            Linear.LinearGrads proj = s.own(Linear.linearBackward(de6.reshape(1, 6 * dim), tape.eSilu,
                    param("time_projection.1.weight"), true));
            sink.add("time_projection.1", proj);
            Tensor deProj = s.own(Activations.siluBackward(proj.dx(), tape.e));
            Elementwise.axpy(1f, deProj, de);
            config.textModulation().addGradient(de, dContextEmb);
            Linear.LinearGrads time2 = s.own(Linear.linearBackward(de, tape.timeSilu,
                    param("time_embedding.2.weight"), true));
            sink.add("time_embedding.2", time2);
            Tensor dTimeHidden = s.own(Activations.siluBackward(time2.dx(), tape.timeHidden));
            sink.add("time_embedding.0", s.own(Linear.linearBackward(dTimeHidden, tape.sinusoid,
                    param("time_embedding.0.weight"), true)));
            // text embedding, then the padding rows dropped
            Linear.LinearGrads text2 = s.own(Linear.linearBackward(dContextEmb, tape.textGelu,
                    param("text_embedding.2.weight"), true));
            sink.add("text_embedding.2", text2);
            Tensor dTextHidden = s.own(Activations.geluBackward(text2.dx(), tape.textHidden));
            Linear.LinearGrads text0 = s.own(Linear.linearBackward(dTextHidden, tape.padded,
                    param("text_embedding.0.weight"), true));
            sink.add("text_embedding.0", text0);
            tape.dContext = tape.scope.own(text0.dx().narrow(0, tape.contextRows).copy());
            // patch embedding
            Linear.LinearGrads pe = s.own(Linear.linearBackward(dTokens, tape.patches,
                    param("patch_embedding.weight").reshape(dim, -1), true));
            sink.add("patch_embedding", pe);
            tape.dInput = tape.scope.own(Patchify.patchifyBackward(pe.dx().reshape(1, len, pe.dx().dim(1)),
                    config.inDim(), grid.frames(), grid.rows(), grid.cols(), pt, ph, pw))
                    .reshape(v[0], v[1], v[2], v[3]);
        }
        return grads;
    }

    /** With {@link #blockParameters}: the block's parameters, in {@link #live} until {@link #release}. */
    private void acquire(int block, BlockParameters.Pass pass) {
        if (blockParameters != null) {
            live.putAll(blockParameters.acquire(block, pass));
        }
    }

    private void release(int block) {
        if (blockParameters != null) {
            live.clear();
            blockParameters.release(block);
        }
    }

    /** With {@link #blockParameters}: moves the block's gradients out of the caller's map, to the source. */
    private void handOverGradients(int block, Map<String, Tensor> grads) {
        if (blockParameters == null) {
            return;
        }
        String prefix = BLOCK_PREFIX + block + ".";
        Map<String, Tensor> mine = new LinkedHashMap<>();
        grads.entrySet().removeIf(e -> {
            if (e.getKey().startsWith(prefix)) {
                mine.put(e.getKey(), e.getValue());
                return true;
            }
            return false;
        });
        blockParameters.gradientsReady(block, mine);
    }
}

package io.sparge4j.models.wan;

import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.gpu.DeviceActivations;
import io.sparge4j.engine.gpu.DeviceAttention;
import io.sparge4j.engine.gpu.DeviceBlockMask;
import io.sparge4j.engine.gpu.DeviceCasts;
import io.sparge4j.engine.gpu.DeviceCollectives;
import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceLinear;
import io.sparge4j.engine.gpu.DeviceNorms;
import io.sparge4j.engine.gpu.DeviceRope;
import io.sparge4j.engine.gpu.DeviceScope;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceShapes;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.ops.Patchify;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.MaskStatistics;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.MemoryStats;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The Wan2.1 DiT of {@link WanModel} on a GPU (or the emulator) through the device ops of
 * {@code io.sparge4j.engine.gpu}: the weights are uploaded once, and a forward pass uploads the patchified input, the
 * sinusoidal timestep and the padded text, runs every layer on the device with no host round trip between ops, and
 * reads back the head's tokens. Patchify and unpatchify, pure reorderings, run on the host at either end.
 *
 * <p>Self-attention is SpargeAttention2 on the device: the mask from pooled q and k ({@link DeviceAttention#blockMask},
 * blocks of {@value DeviceAttention#QUERY_BLOCK} x {@value DeviceAttention#KEY_BLOCK} tokens, so the model's
 * attention settings must use those sizes), then the block-sparse flash forward; dense layers and steps run the flash
 * kernel over every block. Cross-attention is dense. The statistics read each mask back after its attention has been
 * timed; the attention time is measured between two device synchronisations.
 *
 * <p>{@link GemmPrecision#F32} runs everything in f32. {@link GemmPrecision#BF16} and {@link GemmPrecision#F16} run
 * the GEMMs on tensor cores with the matrices uploaded in that type (rounded to nearest even) and self-attention on
 * the tensor-core flash kernels over copies of q, k, v in that type (the mask pooled from the same values), all with
 * f32 accumulation; biases, norms, cross-attention and the activations between ops stay f32. f16 keeps three more
 * mantissa bits than bf16 but only f16's range: a matrix or GEMM input beyond 65504 becomes infinite.
 *
 * <p>{@link #withSequenceParallel} splits the tokens over the ranks of a {@link Communicator} (one GPU each,
 * DeepSpeed-Ulysses style): every rank embeds, normalises, projects and runs cross-attention and the FFN on its
 * contiguous slice of the sequence; for self-attention an all-to-all turns the slices into a split by heads, so each
 * rank applies RoPE and SpargeAttention2 to its {@code H / P} heads over the whole sequence (its own masks), and a
 * second all-to-all brings the output back to the token split; the head's tokens are all-gathered at the end, so
 * every rank returns the whole velocity. The result is the single-GPU forward's: each token and each head go through
 * the same kernels.
 */
public final class DeviceWanModel implements WanTransformer {
    private static final String OP = "DeviceWanModel";

    private final DeviceSession session;
    private final boolean ownsSession;
    private final WanConfig config;
    private final WanAttention attention;
    private final GemmPrecision precision;
    private final Map<String, DeviceTensor> params;
    private final boolean ownsParams;
    private final WanAttentionStats stats = new WanAttentionStats();
    /** The config's absolute position signal, uploaded at the first forward that needs it. */
    private DevicePositionSignal positionSignal;
    private final float eps;
    /** The ranks sharing the sequence, or null when this model has all of it. */
    private final Communicator comm;

    /**
     * Checks the weights against the config (as {@link WanModel} does) and uploads them.
     *
     * @param session the device; not closed by the model
     * @param config the model's configuration; head dim 64 or 128 (the flash kernels' sizes)
     * @param weights every parameter under the original Wan2.1 names; read once, not kept
     * @param attention how self-attention runs; blocks must be {@value DeviceAttention#QUERY_BLOCK} x
     *                  {@value DeviceAttention#KEY_BLOCK}
     * @param precision f32 GEMMs, or bf16 or f16 GEMMs (and self-attention) with f32 accumulation
     * @throws IllegalArgumentException naming every bad weight, or a setting the device path cannot run
     */
    public DeviceWanModel(DeviceSession session, WanConfig config, Map<String, Tensor> weights, WanAttention attention,
            GemmPrecision precision) {
        this(session, false, config, weights, attention, precision);
    }

    /**
     * Opens a session on {@code backend} that the model owns and closes.
     *
     * @param backend {@code cuda}, {@code opencl} or {@code emulator}
     * @see #DeviceWanModel(DeviceSession, WanConfig, Map, WanAttention, GemmPrecision)
     * @return the model
     */
    public static DeviceWanModel open(String backend, WanConfig config, Map<String, Tensor> weights,
            WanAttention attention, GemmPrecision precision) {
        return open(new BackendSelection(backend, null), config, weights, attention, precision);
    }

    /**
     * {@link #open(String, WanConfig, Map, WanAttention, GemmPrecision)} on a chosen device (a rank's own GPU).
     *
     * @param backend the backend and device
     * @return the model, owning its session
     */
    public static DeviceWanModel open(BackendSelection backend, WanConfig config, Map<String, Tensor> weights,
            WanAttention attention, GemmPrecision precision) {
        DeviceSession s = DeviceSession.open(backend);
        try {
            return new DeviceWanModel(s, true, config, weights, attention, precision);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private DeviceWanModel(DeviceSession session, boolean ownsSession, WanConfig config, Map<String, Tensor> weights,
            WanAttention attention, GemmPrecision precision) {
        this.session = Objects.requireNonNull(session, OP + ": session is null, expected an open DeviceSession");
        this.ownsSession = ownsSession;
        this.config = Objects.requireNonNull(config, OP + ": config is null, expected a WanConfig");
        this.attention = checkAttention(attention);
        this.precision = Objects.requireNonNull(precision, OP + ": precision is null, expected F32, BF16 or F16");
        this.eps = (float) config.eps();
        this.comm = null;
        int d = config.headDim();
        if (d != 64 && d != 128) {
            throw new IllegalArgumentException(OP + ": head dim (dim / num_heads = " + config.dim() + " / "
                    + config.numHeads() + ") is " + d + ", expected 64 or 128 (the device flash kernels' sizes);"
                    + " run this model with --backend cpu");
        }
        if (weights == null) {
            throw new IllegalArgumentException(OP + ": weights is null, expected a map of Wan2.1 parameter names");
        }
        WanModel.checkWeights(WanParameters.expected(config), weights);
        this.params = new HashMap<>();
        this.ownsParams = true;
        try {
            for (String name : WanParameters.expected(config).keySet()) {
                params.put(name, upload(name, weights.get(name)));
            }
        } catch (RuntimeException e) {
            params.values().forEach(DeviceTensor::close);
            throw e;
        }
    }

    private DeviceWanModel(DeviceWanModel other, WanAttention attention, Communicator comm) {
        this.session = other.session;
        this.ownsSession = false;
        this.config = other.config;
        this.attention = checkAttention(attention);
        this.precision = other.precision;
        this.eps = other.eps;
        this.params = other.params;
        this.ownsParams = false;
        this.comm = comm;
    }

    private static WanAttention checkAttention(WanAttention a) {
        Objects.requireNonNull(a, OP + ": attention is null, expected a WanAttention");
        if (a.queryBlock() != DeviceAttention.QUERY_BLOCK || a.keyBlock() != DeviceAttention.KEY_BLOCK) {
            throw new IllegalArgumentException(OP + ": attention blocks are " + a.queryBlock() + " x " + a.keyBlock()
                    + ", expected " + DeviceAttention.QUERY_BLOCK + " x " + DeviceAttention.KEY_BLOCK
                    + " (--bq/--bkv; the device kernels are built for these), or run with --backend cpu");
        }
        return a;
    }

    /** Matrices in the GEMM's dtype (the patch embedding flattened); everything else f32, modulations as rows. */
    private DeviceTensor upload(String name, Tensor t) {
        Tensor host = t;
        if (name.equals("patch_embedding.weight")) {
            host = t.reshape(t.dim(0), -1);
        } else if (name.endsWith("modulation")) {
            host = t.reshape(t.dim(1), t.dim(2));
        }
        boolean matrix = name.endsWith(".weight") && host.rank() == 2;
        DType target = matrix ? precision.operandType() : DType.F32;
        if (host.dtype() == target) {
            return session.upload(host);
        }
        try (Tensor converted = host.to(target)) {
            return session.upload(converted);
        }
    }

    @Override
    public WanConfig config() {
        return config;
    }

    @Override
    public WanAttention attention() {
        return attention;
    }

    @Override
    public WanAttentionStats stats() {
        return stats;
    }

    @Override
    public String backend() {
        return session.backendName();
    }

    /** @return the device session's memory */
    @Override
    public MemoryStats memory() {
        return session.memory();
    }

    /** @return how the GEMMs multiply */
    public GemmPrecision precision() {
        return precision;
    }

    /** @return the device session the model runs on */
    public DeviceSession session() {
        return session;
    }

    @Override
    public DeviceWanModel withAttention(WanAttention newAttention) {
        return new DeviceWanModel(this, newAttention, comm);
    }

    /**
     * The same model (the same device weights, not copied) with its sequence split over {@code ranks}; every rank
     * calls {@link #forward} together with the same inputs. The heads and the sequence's tokens must divide by the
     * world size. Close the base model, not this one.
     *
     * @param ranks the ranks, one per GPU (NCCL), or for tests an in-process communicator; a world of one is the
     *              plain model
     * @return the sequence-parallel model
     * @throws IllegalArgumentException if the heads do not divide by the world size
     */
    public DeviceWanModel withSequenceParallel(Communicator ranks) {
        Objects.requireNonNull(ranks, OP + ".withSequenceParallel: ranks is null, expected a Communicator");
        if (config.numHeads() % ranks.worldSize() != 0) {
            throw new IllegalArgumentException(OP + ".withSequenceParallel: the model's " + config.numHeads()
                    + " heads do not divide by the world size " + ranks.worldSize() + ", expected a divisor of the"
                    + " heads (each rank attends with heads / world size of them)");
        }
        return new DeviceWanModel(this, attention, ranks.worldSize() == 1 ? null : ranks);
    }

    @Override
    public Tensor forward(Tensor x, double timestep, Tensor context, int step) {
        WanInputs.check(OP + ".forward", config, x, timestep, context, step);
        List<Integer> p = config.patchSize();
        int pt = p.get(0);
        int ph = p.get(1);
        int pw = p.get(2);
        Rope.Grid grid = new Rope.Grid(x.dim(1) / pt, x.dim(2) / ph, x.dim(3) / pw);
        int len = Math.toIntExact(grid.tokens());
        int world = comm == null ? 1 : comm.worldSize();
        if (len % world != 0) {
            throw new IllegalArgumentException(OP + ".forward: x has " + len + " tokens (" + grid + "), expected a"
                    + " multiple of the world size " + world + " (every rank takes an equal slice of the sequence)");
        }
        DeviceTensor h = null;
        try (DeviceScope scope = new DeviceScope()) {
            h = patchEmbedding(x, grid, pt, ph, pw, len);
            DeviceTensor ctx = textEmbedding(scope, context);
            DeviceTensor e = timeEmbedding(scope, timestep);
            config.textModulation().addTo(e, ctx);
            DeviceTensor e6 = scope.own(scope.own(linear(scope.own(DeviceActivations.silu(e)), "time_projection.1"))
                    .reshape(6, config.dim()));
            WanAttention now = attention.at(timestep);   // a late Top-k at low noise levels
            for (int i = 0; i < config.numLayers(); i++) {
                try (DeviceScope block = new DeviceScope()) {
                    DeviceTensor out = block(block, i, h, e6, ctx, grid, step, now);
                    h.close();   // the previous activations go as soon as the next exist
                    h = out;
                }
            }
            DeviceTensor y = head(scope, h, e);
            if (comm != null) {
                DeviceTensor all = scope.own(session.empty(DType.F32, len, y.dim(1)));
                DeviceCollectives.allGather(comm, y, all);
                y = all;
            }
            try (Tensor tokens = y.toHost();
                 Tensor video = Patchify.unpatchify(tokens.reshape(1, len, tokens.dim(1)), config.outDim(),
                         grid.frames(), grid.rows(), grid.cols(), pt, ph, pw)) {
                return video.reshape(config.outDim(), x.dim(1), x.dim(2), x.dim(3)).copy();
            }
        } finally {
            if (h != null) {
                h.close();
            }
        }
    }

    /**
     * Conv3d with kernel = stride = patch: patchify on the host, upload (this rank's slice of the tokens when the
     * sequence is split), one GEMM; then the config's absolute position signal. @return (L, dim), or (L / P, dim)
     */
    private DeviceTensor patchEmbedding(Tensor x, Rope.Grid grid, int pt, int ph, int pw, int len) {
        int[] s = x.shape();
        int world = comm == null ? 1 : comm.worldSize();
        int local = len / world;
        int first = comm == null ? 0 : comm.rank() * local;
        try (Tensor patches = Patchify.patchify(x.reshape(1, s[0], s[1], s[2], s[3]), pt, ph, pw);
             Tensor f32 = patches.dtype() == DType.F32 ? null : patches.to(DType.F32);
             DeviceTensor tokens = session.upload((f32 == null ? patches : f32).reshape(len, patches.dim(2))
                     .narrow(first, local))) {
            DeviceTensor h = linear(tokens, "patch_embedding");
            if (config.absolutePosition() == AbsolutePosition.NONE) {
                return h;
            }
            if (positionSignal == null) {
                positionSignal = new DevicePositionSignal(session, config.absolutePosition());
            }
            try (DeviceTensor embedded = h) {
                return positionSignal.addTo(embedded, grid, first);
            }
        }
    }

    /** The float64 sinusoid on the host (as {@link WanModel}), then Linear-SiLU-Linear. @return e (1, dim) */
    private DeviceTensor timeEmbedding(DeviceScope scope, double t) {
        DeviceTensor sinusoid;
        try (Tensor host = Tensor.of(WanModel.sinusoid(t, config.freqDim()), 1, config.freqDim())) {
            sinusoid = scope.own(session.upload(host));
        }
        DeviceTensor a = scope.own(linear(sinusoid, "time_embedding.0"));
        return scope.own(linear(scope.own(DeviceActivations.silu(a)), "time_embedding.2"));
    }

    /** Zero-pads the text to text_len rows on the host, then Linear-GELU(tanh)-Linear. @return (text_len, dim) */
    private DeviceTensor textEmbedding(DeviceScope scope, Tensor context) {
        DeviceTensor padded;
        try (Tensor host = Tensor.allocate(DType.F32, config.textLen(), config.textDim())) {   // zeroed
            if (context.dim(0) > 0) {
                host.narrow(0, context.dim(0)).copyFrom(context);
            }
            padded = scope.own(session.upload(host));
        }
        DeviceTensor a = scope.own(linear(padded, "text_embedding.0"));
        return scope.own(linear(scope.own(DeviceActivations.gelu(a)), "text_embedding.2"));
    }

    /** One {@code WanAttentionBlock}; every intermediate belongs to {@code scope}. @return (L, dim) */
    private DeviceTensor block(DeviceScope scope, int index, DeviceTensor x, DeviceTensor e6, DeviceTensor ctx,
            Rope.Grid grid, int step, WanAttention now) {
        String b = "blocks." + index + ".";
        DeviceTensor modSum = scope.own(DeviceElementwise.add(params.get(b + "modulation"), e6));
        DeviceTensor[] mod = new DeviceTensor[6];   // shift1, scale1, gate1, shift2, scale2, gate2
        for (int j = 0; j < 6; j++) {
            mod[j] = scope.own(DeviceShapes.narrow(modSum, j, 1));
        }
        int len = x.dim(0);
        // self-attention on the modulated LayerNorm
        DeviceTensor h1 = modulatedNorm(scope, x, mod[0], mod[1]);
        DeviceTensor q = selfHeads(scope, normed(scope, h1, b + "self_attn.q", b + "self_attn.norm_q.weight"), len,
                grid);
        DeviceTensor k = selfHeads(scope, normed(scope, h1, b + "self_attn.k", b + "self_attn.norm_k.weight"), len,
                grid);
        DeviceTensor v = selfHeads(scope, scope.own(linear(h1, b + "self_attn.v")), len, null);
        DeviceTensor attended = selfAttention(scope, index, step, now, q, k, v);
        DeviceTensor y = scope.own(linear(selfTokens(scope, attended, len), b + "self_attn.o"));
        DeviceTensor x1 = scope.own(DeviceElementwise.gatedAdd(x, mod[2], y));
        // cross-attention, dense over every text row
        DeviceTensor n3 = config.crossAttnNorm()
                ? scope.own(DeviceNorms.layerNorm(x1, params.get(b + "norm3.weight"), params.get(b + "norm3.bias"), eps))
                : x1;
        int textLen = ctx.dim(0);
        DeviceTensor cq = heads(scope, normed(scope, n3, b + "cross_attn.q", b + "cross_attn.norm_q.weight"), len,
                null);
        DeviceTensor ck = heads(scope, normed(scope, ctx, b + "cross_attn.k", b + "cross_attn.norm_k.weight"),
                textLen, null);
        DeviceTensor cv = heads(scope, scope.own(linear(ctx, b + "cross_attn.v")), textLen, null);
        // not timed: that would need two more synchronisations per block
        DeviceAttention.Result cross = scope.own(DeviceAttention.dense(cq, ck, cv, Float.NaN));
        DeviceTensor cy = scope.own(linear(tokens(scope, cross.out(), len), b + "cross_attn.o"));
        DeviceTensor x2 = scope.own(DeviceElementwise.add(x1, cy));
        // FFN on the modulated LayerNorm, gated residual
        DeviceTensor h2 = modulatedNorm(scope, x2, mod[3], mod[4]);
        DeviceTensor f1 = scope.own(linear(h2, b + "ffn.0"));
        DeviceTensor f2 = scope.own(linear(scope.own(DeviceActivations.gelu(f1)), b + "ffn.2"));
        return DeviceElementwise.gatedAdd(x2, mod[5], f2);
    }

    /**
     * SpargeAttention2 (or dense) between two synchronisations, so that its time is the attention's alone; the mask
     * is read back for the statistics after the clock stops.
     */
    private DeviceTensor selfAttention(DeviceScope scope, int index, int step, WanAttention attention, DeviceTensor q,
            DeviceTensor k, DeviceTensor v) {
        boolean dense = attention.denseAt(index, step);
        session.synchronize();
        long start = System.nanoTime();
        // in BF16 and F16 the tensor-core kernels (and the mask, pooled from the same values); the casts count as
        // attention
        q = attentionOperand(scope, q);
        k = attentionOperand(scope, k);
        v = attentionOperand(scope, v);
        DeviceBlockMask mask = null;
        DeviceAttention.Result r;
        if (dense) {
            r = DeviceAttention.dense(q, k, v, Float.NaN);
        } else {
            mask = scope.own(DeviceAttention.blockMask(q, k, attention.mode(), attention.topk(), attention.topp(),
                    Float.NaN));
            r = DeviceAttention.sparse(q, k, v, mask, Float.NaN);
        }
        scope.own(r);
        session.synchronize();
        long nanos = System.nanoTime() - start;
        MaskStatistics statistics = mask == null ? denseStatistics(q.dim(1), q.dim(2))
                : MaskStatistics.of(mask.toHost(), null);
        stats.recordSelf(index, step, dense, statistics, nanos);
        return r.out();
    }

    /** t in the precision's operand type: as is for F32, else a copy the scope owns. */
    private DeviceTensor attentionOperand(DeviceScope scope, DeviceTensor t) {
        return switch (precision) {
            case F32 -> t;
            case BF16 -> scope.own(DeviceCasts.toBFloat16(t));
            case F16 -> scope.own(DeviceCasts.toFloat16(t));
        };
    }

    /** What a dense call keeps: every block of every row. */
    private static MaskStatistics denseStatistics(int heads, int tokens) {
        int keyBlocks = (tokens + DeviceAttention.KEY_BLOCK - 1) / DeviceAttention.KEY_BLOCK;
        double nan = Double.NaN;
        return new MaskStatistics(0, new double[heads], keyBlocks, keyBlocks, keyBlocks, nan, nan, nan);
    }

    /** LayerNorm without affine, then {@code * (1 + scale) + shift}. */
    private DeviceTensor modulatedNorm(DeviceScope scope, DeviceTensor x, DeviceTensor shift, DeviceTensor scale) {
        DeviceTensor n = scope.own(DeviceNorms.layerNorm(x, null, null, eps));
        return scope.own(DeviceElementwise.modulate(n, shift, scale));
    }

    /** Linear, then RMSNorm over the whole dim when qk_norm. */
    private DeviceTensor normed(DeviceScope scope, DeviceTensor in, String prefix, String normWeight) {
        DeviceTensor projected = scope.own(linear(in, prefix));
        return config.qkNorm() ? scope.own(DeviceNorms.rmsNorm(projected, params.get(normWeight), eps)) : projected;
    }

    /**
     * Self-attention's (1, heads, L, headDim) from this rank's (n, dim) tokens: {@link #heads} on one GPU; with the
     * sequence split, an all-to-all to (1, H / P, L, headDim) (RoPE, when {@code grid} is given, over the whole
     * sequence after the exchange).
     */
    private DeviceTensor selfHeads(DeviceScope scope, DeviceTensor tokens, int len, Rope.Grid grid) {
        if (comm == null) {
            return heads(scope, tokens, len, grid);
        }
        int world = comm.worldSize();
        int h = config.numHeads() / world;
        int d = config.headDim();
        // (n, P, h d) to (P, n, h d): chunk j holds heads [j h, (j + 1) h) of this rank's tokens, for rank j
        DeviceTensor send = scope.own(scope.own(DeviceShapes.swapTokensHeads(scope.own(tokens.reshape(1, len, world,
                h * d)))).reshape(world, len, h * d));
        DeviceTensor received = scope.own(session.empty(DType.F32, world, len, h * d));
        DeviceCollectives.allToAll(comm, send, received);
        // chunk s holds rank s's tokens: in rank order, the whole sequence of this rank's heads
        DeviceTensor full = scope.own(received.reshape(1, world * len, h, d));
        if (grid != null) {
            full = scope.own(DeviceRope.apply(full, grid));
        }
        return scope.own(DeviceShapes.swapTokensHeads(full));
    }

    /** The inverse of {@link #selfHeads}: (1, H / P, L, headDim) back to this rank's (n, dim) tokens. */
    private DeviceTensor selfTokens(DeviceScope scope, DeviceTensor heads, int len) {
        if (comm == null) {
            return tokens(scope, heads, len);
        }
        int world = comm.worldSize();
        int h = config.numHeads() / world;
        int d = config.headDim();
        // (h, L, d) to (L, h, d) = (P, n, h d): chunk j holds rank j's tokens of this rank's heads
        DeviceTensor send = scope.own(scope.own(DeviceShapes.swapTokensHeads(heads)).reshape(world, len, h * d));
        DeviceTensor received = scope.own(session.empty(DType.F32, world, len, h * d));
        DeviceCollectives.allToAll(comm, send, received);
        // chunk s holds heads [s h, (s + 1) h) of this rank's tokens: to (n, P, h d) = (n, dim)
        return scope.own(scope.own(DeviceShapes.swapTokensHeads(scope.own(received.reshape(1, world, len, h * d))))
                .reshape(len, config.dim()));
    }

    /** (len, dim) to (1, heads, len, headDim), with 3D RoPE first when {@code grid} is given. */
    private DeviceTensor heads(DeviceScope scope, DeviceTensor tokens, int len, Rope.Grid grid) {
        DeviceTensor split = scope.own(tokens.reshape(1, len, config.numHeads(), config.headDim()));
        if (grid != null) {
            split = scope.own(DeviceRope.apply(split, grid));
        }
        return scope.own(DeviceShapes.swapTokensHeads(split));
    }

    /** (1, heads, len, headDim) back to (len, dim). */
    private DeviceTensor tokens(DeviceScope scope, DeviceTensor heads, int len) {
        return scope.own(scope.own(DeviceShapes.swapTokensHeads(heads)).reshape(len, config.dim()));
    }

    /** The modulated head: head.modulation + e gives shift and scale. @return (L, out_dim * pt * ph * pw) */
    private DeviceTensor head(DeviceScope scope, DeviceTensor tokens, DeviceTensor e) {
        DeviceTensor sum = scope.own(DeviceElementwise.add(params.get("head.modulation"),
                scope.own(e.reshape(config.dim()))));
        DeviceTensor shift = scope.own(DeviceShapes.narrow(sum, 0, 1));
        DeviceTensor scale = scope.own(DeviceShapes.narrow(sum, 1, 1));
        return scope.own(linear(modulatedNorm(scope, tokens, shift, scale), "head.head"));
    }

    private DeviceTensor linear(DeviceTensor x, String prefix) {
        return DeviceLinear.linear(x, params.get(prefix + ".weight"), params.get(prefix + ".bias"), precision);
    }

    /** Frees the device weights (and the session, when the model opened it); a derived model frees nothing. */
    @Override
    public void close() {
        if (positionSignal != null) {
            positionSignal.close();
        }
        if (ownsParams) {
            params.values().forEach(DeviceTensor::close);
            params.clear();
        }
        if (ownsSession) {
            session.close();
        }
    }
}

package io.sparge4j.bench;

import io.sparge4j.cli.ModelPreset;
import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanModel;
import io.sparge4j.models.wan.WanWeights;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One denoising step (one forward) of the tiny-4096 Wan2.1 DiT on the CPU ({@code sparge model-bench}'s preset:
 * dim 256, 4 heads of 64, 8 blocks, 4096 tokens, random seeded weights), dense against SpargeAttention2's hybrid
 * mask. The self-attention share and the sparsity reached are printed to stderr at the end of each trial (measured
 * iterations only; JMH's aux counters would sum a ratio over iterations); {@code sparge model-bench} reports them as JSON.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar WanStepBenchmark -p threads=2}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class WanStepBenchmark {
    /** Wan's timestep scale runs 0..1000; the middle of the schedule. */
    private static final double TIMESTEP = 500;

    /** Self-attention: dense or hybrid. */
    @Param({"dense", "hybrid"})
    public String mode;

    /** Top-k fraction (the paper's 0.03). */
    @Param({"0.03"})
    public double topk;

    /**
     * Top-p threshold: {@code sparge model-bench --config tiny-4096 --target-sparsity 0.95} bisects to 0.046875 at
     * seed 0 (random weights attend flatly, so the paper's 0.2 keeps about 20% of the blocks here).
     */
    @Param({"0.046875"})
    public double topp;

    /** Worker threads; 0 keeps the runtime's default. */
    @Param({"0"})
    public int threads;

    private Map<String, Tensor> weights;
    private WanModel model;
    private Tensor x;
    private Tensor context;
    private long stepNanos;
    private int step;

    /** Builds the weights and inputs once per trial. */
    @Setup(Level.Trial)
    public void setUp() {
        if (threads > 0) {
            CpuRuntime.setThreads(threads);
        }
        ModelPreset preset = ModelPreset.TINY_4096;
        WanConfig config = preset.config();
        weights = WanWeights.randomInit(config, 0);
        MaskMode m = MaskMode.valueOf(mode.toUpperCase(Locale.ROOT));
        model = new WanModel(config, weights, WanAttention.defaults().withMode(m).withTopk(topk).withTopp(topp));
        x = Noise.gaussian(1, preset.inputShape());
        context = Noise.gaussian(2, config.textLen(), config.textDim());
    }

    /** Forgets the warm-up forwards, so that the share printed at the end is the measured forwards'. */
    @TearDown(Level.Iteration)
    public void afterIteration(IterationParams params) {
        if (params.getType() == IterationType.WARMUP) {
            model.stats().reset();
            stepNanos = 0;
            step = 0;
        }
    }

    /** Prints the self-attention share and sparsity over the measured forwards, then frees everything. */
    @TearDown(Level.Trial)
    public void tearDown() {
        System.err.printf(Locale.ROOT, "%nWanStepBenchmark %s: self-attention share %.3f (%.1f of %.1f ms per step),"
                + " sparsity %.4f over %d forwards%n", mode, model.stats().attentionNanos() / (double) stepNanos,
                model.stats().attentionNanos() / 1e6 / step, stepNanos / 1e6 / step, model.stats().meanSparsity(),
                step);
        model.close();
        x.close();
        context.close();
        weights.values().forEach(Tensor::close);
    }

    /** @return the velocity, closed (the forward's work is not dead code: it allocates and writes it) */
    @Benchmark
    public Tensor forward() {
        long start = System.nanoTime();
        try (Tensor v = model.forward(x, TIMESTEP, context, step)) {
            stepNanos += System.nanoTime() - start;
            step++;
            return v;
        }
    }
}

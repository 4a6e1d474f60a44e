package io.sparge4j.bench;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.attention.BlockSchedule;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.tensor.Tensor;
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

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Fused attention on the CPU, forward and backward, on shape cpu-s (B1 H4 N4096 d64) by default: dense, and
 * block-sparse through a fixed mask of about {@link #sparsity} (prebuilt, so only the attention is timed).
 * Compare dense with {@code bench/anchors/numpy_attention.py} run on the same machine, and sparse with dense.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar AttentionBenchmark} (add {@code -p threads=2} to pin
 * the thread count).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class AttentionBenchmark {
    /** Batch, heads, sequence length and head dim, as "BxHxNxd". */
    @Param({"1x4x4096x64"})
    public String shape;

    /** Query and key block sizes, as "BQxBK". */
    @Param({"128x64"})
    public String blocks;

    /** Fraction of (query block, key block) tiles the sparse mask skips. */
    @Param({"0.95"})
    public double sparsity;

    /** Worker threads; 0 keeps the runtime's default. */
    @Param({"0"})
    public int threads;

    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Tensor dOut;
    private Attention.Options options;
    private Attention.Result saved;
    private FixedMask mask;
    private Attention.Result sparseSaved;

    /** Allocates seeded random inputs and one forward result for the backward. */
    @Setup(Level.Trial)
    public void setUp() {
        String[] s = shape.split("x");
        int b = Integer.parseInt(s[0]);
        int h = Integer.parseInt(s[1]);
        int n = Integer.parseInt(s[2]);
        int d = Integer.parseInt(s[3]);
        String[] bl = blocks.split("x");
        options = Attention.Options.defaults().withBlocks(Integer.parseInt(bl[0]), Integer.parseInt(bl[1]));
        q = Tensor.randn(1, b, h, n, d);
        k = Tensor.randn(2, b, h, n, d);
        v = Tensor.randn(3, b, h, n, d);
        dOut = Tensor.randn(4, b, h, n, d);
        if (threads > 0) {
            CpuRuntime.setThreads(threads);
        }
        saved = Attention.forward(q, k, v, options);
        int queryBlocks = (n + options.queryBlock() - 1) / options.queryBlock();
        int keyBlocks = (n + options.keyBlock() - 1) / options.keyBlock();
        mask = new FixedMask(b * h, queryBlocks, keyBlocks, 1 - sparsity, 42);
        System.err.printf("sparse mask: %.4f of tiles skipped%n", mask.sparsity());
        sparseSaved = Attention.forward(q, k, v, options, mask);
    }

    /** Frees the tensors. */
    @TearDown(Level.Trial)
    public void tearDown() {
        saved.close();
        sparseSaved.close();
        q.close();
        k.close();
        v.close();
        dOut.close();
    }

    /** @return a closed result tensor, so the work is not dead code */
    @Benchmark
    public Tensor forward() {
        try (Attention.Result r = Attention.forward(q, k, v, options)) {
            return r.logsumexp();
        }
    }

    /** @return a closed gradient tensor, so the work is not dead code */
    @Benchmark
    public Tensor backward() {
        try (Attention.Gradients g = Attention.backward(dOut, q, k, v, saved.out(), saved.logsumexp(), options)) {
            return g.dq();
        }
    }

    /** @return a closed result tensor, so the work is not dead code */
    @Benchmark
    public Tensor sparseForward() {
        try (Attention.Result r = Attention.forward(q, k, v, options, mask)) {
            return r.logsumexp();
        }
    }

    /** @return a closed gradient tensor, so the work is not dead code */
    @Benchmark
    public Tensor sparseBackward() {
        try (Attention.Gradients g = Attention.backward(dOut, q, k, v, sparseSaved.out(), sparseSaved.logsumexp(),
                options, mask)) {
            return g.dq();
        }
    }

    /**
     * A seeded block mask shaped like a SpargeAttention2 hybrid selection: every query block keeps the first
     * key block (an attention sink) and its diagonal block, plus random others up to the kept fraction, so
     * rows keep different numbers of blocks.
     */
    static final class FixedMask implements BlockSchedule {
        private final int[][][] keyLists; // [head][query block] -> kept key blocks, increasing
        private final int[][][] queryLists; // [head][key block] -> query blocks keeping it, increasing
        private final long kept;
        private final long total;

        FixedMask(int heads, int queryBlocks, int keyBlocks, double keepFraction, long seed) {
            SplittableRandom rng = new SplittableRandom(seed);
            boolean[][][] keep = new boolean[heads][queryBlocks][keyBlocks];
            double perRow = keepFraction * keyBlocks;
            long count = 0;
            for (boolean[][] head : keep) {
                for (int i = 0; i < queryBlocks; i++) {
                    boolean[] row = head[i];
                    int want = (int) perRow + (rng.nextDouble() < perRow - (int) perRow ? 1 : 0);
                    want = Math.clamp(want, 1, keyBlocks);
                    int diagonal = (int) ((long) i * keyBlocks / queryBlocks);
                    row[0] = true;
                    row[diagonal] = true;
                    int have = diagonal == 0 ? 1 : 2;
                    while (have < want) {
                        int j = rng.nextInt(keyBlocks);
                        if (!row[j]) {
                            row[j] = true;
                            have++;
                        }
                    }
                    count += have;
                }
            }
            kept = count;
            total = (long) heads * queryBlocks * keyBlocks;
            keyLists = new int[heads][queryBlocks][];
            queryLists = new int[heads][keyBlocks][];
            for (int hd = 0; hd < heads; hd++) {
                for (int i = 0; i < queryBlocks; i++) {
                    keyLists[hd][i] = indices(keep[hd][i]);
                }
                for (int j = 0; j < keyBlocks; j++) {
                    boolean[] column = new boolean[queryBlocks];
                    for (int i = 0; i < queryBlocks; i++) {
                        column[i] = keep[hd][i][j];
                    }
                    queryLists[hd][j] = indices(column);
                }
            }
        }

        double sparsity() {
            return 1 - (double) kept / total;
        }

        @Override
        public int[] keyBlocks(int batchHead, int queryBlock) {
            return keyLists[batchHead][queryBlock];
        }

        @Override
        public int[] queryBlocks(int batchHead, int keyBlock) {
            return queryLists[batchHead][keyBlock];
        }

        private static int[] indices(boolean[] flags) {
            int n = 0;
            for (boolean f : flags) {
                n += f ? 1 : 0;
            }
            int[] out = new int[n];
            for (int i = 0, at = 0; i < flags.length; i++) {
                if (flags[i]) {
                    out[at++] = i;
                }
            }
            return out;
        }
    }
}

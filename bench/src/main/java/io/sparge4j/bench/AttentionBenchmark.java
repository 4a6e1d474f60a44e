package io.sparge4j.bench;

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

import java.util.concurrent.TimeUnit;

/**
 * Fused dense attention on the CPU, forward and backward, on shape cpu-s (B1 H4 N4096 d64) by default.
 * Compare with {@code bench/anchors/numpy_attention.py} run on the same machine.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar AttentionBenchmark}.
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

    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Tensor dOut;
    private Attention.Options options;
    private Attention.Result saved;

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
        saved = Attention.forward(q, k, v, options);
    }

    /** Frees the tensors. */
    @TearDown(Level.Trial)
    public void tearDown() {
        saved.close();
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
}

package io.sparge4j.bench;

import io.sparge4j.engine.cpu.vec.AdamWCoefficients;
import io.sparge4j.engine.cpu.vec.FloatKernels;
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

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * One AdamW update of tiny-demo's 1.2M parameters on one thread, the host optimizer's inner loop
 * ({@code AdamW.update}): the vector kernel against the scalar one (the plain per-element loop AdamW ran before,
 * whose MemorySegment accesses dominated a batched GPU training step's host time).
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar AdamWBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class AdamWBenchmark {
    /** Parameters: about tiny-demo's DiT. */
    private static final int N = 1_200_000;

    /** simd or scalar. */
    @Param({"simd", "scalar"})
    public String kernels;

    private FloatKernels k;
    private Tensor p;
    private Tensor m;
    private Tensor v;
    private Tensor g;
    private AdamWCoefficients c;

    /** Random parameters, moments and gradients. */
    @Setup(Level.Trial)
    public void setUp() {
        k = kernels.equals("simd") ? FloatKernels.simd() : FloatKernels.scalar();
        p = Tensor.randn(1, N);
        m = Tensor.randn(2, N);
        v = Tensor.rand(3, 0f, 1f, N);
        g = Tensor.randn(4, N);
        c = new AdamWCoefficients(1f - 2e-6f, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f, 1e-3f, 0.05f);
    }

    /** One update of every parameter. */
    @Benchmark
    public MemorySegment update() {
        k.adamW(p.segment(), m.segment(), v.segment(), g.segment(), 0, N, c);
        return p.segment();
    }

    /** Frees the tensors. */
    @TearDown(Level.Trial)
    public void tearDown() {
        p.close();
        m.close();
        v.close();
        g.close();
    }
}

package io.sparge4j.bench;

import io.sparge4j.engine.cpu.gemm.Gemm;
import io.sparge4j.engine.cpu.gemm.Operand;
import io.sparge4j.engine.tensor.DType;
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
 * f32 GEMM, C = A * B on all CPU threads, in milliseconds per product.
 *
 * <p>GFLOP/s = 2 * M * K * N / (ms * 1e6); for 2048^3 that is 17180 / ms (e.g. 90 ms = 191 GFLOP/s).
 * Shapes are "MxKxN": the 2048^3 and 1024^3 squares, and a DiT projection (4096 tokens, width 1536).
 * {@code bWeight} runs the DiT case as a linear layer does: B is a bf16 (N x K) weight used transposed.
 * The numpy/OpenBLAS anchor is {@code python3 bench/anchors/numpy_gemm.py}.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar Gemm}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class GemmBenchmark {
    @Param({"2048x2048x2048", "1024x1024x1024", "4096x1536x1536"})
    public String shape;

    private int m;
    private int k;
    private int n;
    private Tensor a;
    private Tensor b;
    private Tensor weightBf16;
    private Tensor c;

    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = shape.split("x");
        m = Integer.parseInt(parts[0]);
        k = Integer.parseInt(parts[1]);
        n = Integer.parseInt(parts[2]);
        a = Tensor.randn(1, m, k);
        b = Tensor.randn(2, k, n);
        weightBf16 = Tensor.randn(3, n, k).to(DType.BF16);
        c = Tensor.allocate(DType.F32, m, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        b.close();
        weightBf16.close();
        c.close();
    }

    /** C = A B, all f32, row-major. */
    @Benchmark
    public Tensor f32() {
        Gemm.gemm(m, n, k, 1f, Operand.f32(a.segment(), 0, k, false), Operand.f32(b.segment(), 0, n, false), 0f,
                c.segment(), 0, n);
        return c;
    }

    /** C = A W^T with W a bf16 (N x K) weight, as in a linear layer. */
    @Benchmark
    public Tensor bf16WeightTransposed() {
        Gemm.gemm(m, n, k, 1f, Operand.f32(a.segment(), 0, k, false),
                new Operand(weightBf16.segment(), DType.BF16, 0, k, true), 0f, c.segment(), 0, n);
        return c;
    }
}

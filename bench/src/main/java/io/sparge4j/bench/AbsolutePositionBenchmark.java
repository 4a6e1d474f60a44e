package io.sparge4j.bench;

import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.AbsolutePosition;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The sine-cosine position table tiny-demo adds to its tokens in every forward ({@code --absolute-position sincos};
 * the README's job runs two forwards a denoising step): tiny-demo's grid, 16 x 32 x 32 tokens at dim 128.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar AbsolutePositionBenchmark}. An A/B against another build of
 * the models module: put its jar first, {@code java -cp OTHER.jar:bench/target/benchmarks.jar org.openjdk.jmh.Main
 * AbsolutePositionBenchmark} (the fork inherits the class path, so the first jar's {@code AbsolutePosition} runs).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class AbsolutePositionBenchmark {
    /** Model width. */
    @Param({"128"})
    public int dim;

    /** @return one value of the table, so that the work is not dead code */
    @Benchmark
    public float table() {
        try (Tensor t = AbsolutePosition.SINCOS.table(new Rope.Grid(16, 32, 32), dim)) {
            return t.getFloat(1);
        }
    }
}

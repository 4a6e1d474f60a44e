package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.linalg.GemmKernels.AsyncPairTiling;
import io.sparge4j.kernels.linalg.GemmKernels.PairTiling;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels.PipelinedTiling;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The cp.async + ldmatrix pair GEMM ({@link GemmKernels#mmaGemmBF16PairsAsync}, {@link GemmKernels#mmaGemmF16PairsAsync})
 * on OpenCL (PoCL: every fallback) against a float64 reference on random inputs, at sizes with edges in m, n and
 * k: k a multiple of 8 (the asyncCopy16 path) and not (the plain-load path); likewise the register-prefetch pair
 * GEMM through its tiled entry points ({@link GemmKernels#mmaGemmBF16PairsTiled}), whose A tile pairs rows g and
 * g + 8 for 128-bit fragment loads, with 8, 16 and 32 rows per load pass; and the pipelined pair GEMM
 * ({@link PipelinedGemmKernels}). Skipped with a reason without OpenCL.
 */
class AsyncPairGemmOpenClTest {
    private static OpenClTestDevice cl;

    @BeforeAll
    static void open() {
        cl = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        cl.close();
    }

    static Stream<Arguments> cases() {
        List<AsyncPairTiling> tilings = List.of(GemmKernels.ASYNC_PAIR_TILINGS.get(0),
                GemmKernels.ASYNC_PAIR_TILINGS.get(1), GemmKernels.ASYNC_PAIR_TILINGS.get(3));
        List<Arguments> out = new ArrayList<>();
        for (AsyncPairTiling t : tilings) {
            for (boolean bf16 : new boolean[] {true, false}) {
                out.add(Arguments.of(t, bf16, 140, 136, 72));
                out.add(Arguments.of(t, bf16, 100, 90, 38));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} bf16 {1} {2}x{3}x{4}")
    @MethodSource("cases")
    void matchesFloat64(AsyncPairTiling t, boolean bf16, int m, int n, int k) throws Exception {
        Object[] args = {new KernelContext(), null, null, null, m, n, k, t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk(), t.stages()};
        check(bf16 ? "mmaGemmBF16PairsAsync" : "mmaGemmF16PairsAsync", t.label(), args, t.groupSize(), t.blockM(),
                t.blockN(), bf16, m, n, k);
    }

    static Stream<Arguments> tiledCases() {
        // rows per load pass: 8 (the default: 128 work-items, bk 32), 16 (256 work-items, bk 32), 32 (bk 16), 16
        // (128 work-items, bk 16)
        List<PairTiling> tilings = List.of(GemmKernels.DEFAULT_PAIR_TILING, new PairTiling(4, 2, 2, 8, 32),
                new PairTiling(4, 2, 2, 8, 16), new PairTiling(2, 2, 4, 8, 16));
        List<Arguments> out = new ArrayList<>();
        for (PairTiling t : tilings) {
            for (boolean bf16 : new boolean[] {true, false}) {
                out.add(Arguments.of(t, bf16, 140, 136, 72));
                out.add(Arguments.of(t, bf16, 100, 90, 38));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} bf16 {1} {2}x{3}x{4}")
    @MethodSource("tiledCases")
    void tiledMatchesFloat64(PairTiling t, boolean bf16, int m, int n, int k) throws Exception {
        Object[] args = {new KernelContext(), null, null, null, m, n, k, t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk()};
        check(bf16 ? "mmaGemmBF16PairsTiled" : "mmaGemmF16PairsTiled", t.label(), args, t.groupSize(), t.blockM(),
                t.blockN(), bf16, m, n, k);
    }

    static Stream<Arguments> pipelinedCases() {
        // two kernels only (PoCL takes a minute or two to compile each): bf16 128x128 bk32 with 3 stages, f16
        // 128x256 (8 warps) bk32 with 4; each at both sizes
        List<Arguments> out = new ArrayList<>();
        for (Object[] c : new Object[][] {{PipelinedGemmKernels.TILINGS.get(0), true},
            {PipelinedGemmKernels.TILINGS.get(4), false}}) {
            out.add(Arguments.of(c[0], c[1], 140, 136, 200));
            out.add(Arguments.of(c[0], c[1], 100, 90, 38));
        }
        return out.stream();
    }

    /** The pipelined pair GEMM: cp.async path with a ring that wraps (k 200) and the plain-load path (k 38). */
    @ParameterizedTest(name = "{0} bf16 {1} {2}x{3}x{4}")
    @MethodSource("pipelinedCases")
    void pipelinedMatchesFloat64(PipelinedTiling t, boolean bf16, int m, int n, int k) throws Exception {
        Object[] args = {new KernelContext(), null, null, null, m, n, k, t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk(), t.stages()};
        check(PipelinedGemmKernels.class, bf16 ? "mmaGemmBF16Pipelined" : "mmaGemmF16Pipelined", t.label(), args,
                t.groupSize(), t.blockM(), t.blockN(), bf16, m, n, k);
    }

    private static void check(String name, String label, Object[] args, int groupSize, int blockM, int blockN,
            boolean bf16, int m, int n, int k) throws Exception {
        check(GemmKernels.class, name, label, args, groupSize, blockM, blockN, bf16, m, n, k);
    }

    private static void check(Class<?> owner, String name, String label, Object[] args, int groupSize, int blockM,
            int blockN, boolean bf16, int m, int n, int k) throws Exception {
        cl.device("run the pair GEMM on");
        Random rnd = new Random(31L * m + 17L * k + (bf16 ? 1 : 0));
        short[] a = new short[m * k];
        short[] bt = new short[n * k];
        for (int i = 0; i < a.length; i++) {
            a[i] = bits(bf16, (float) rnd.nextGaussian());
        }
        for (int i = 0; i < bt.length; i++) {
            bt[i] = bits(bf16, (float) rnd.nextGaussian());
        }
        double[] expected = new double[m * n];
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < n; c++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) value(bf16, a[r * k + p]) * value(bf16, bt[c * k + p]);
                }
                expected[r * n + c] = s;
            }
        }
        Method method = java.util.Arrays.stream(owner.getMethods()).filter(x -> x.getName().equals(name))
                .findFirst().orElseThrow();
        GeneratedKernel kernel = KernelJit.shared().compile(method, args, Dialect.OPENCL, KernelJitCompileTest.POCL,
                groupSize);
        float[] c = new float[m * n];
        java.util.Arrays.fill(c, Float.NaN);
        DeviceBuffer da = cl.upload(MemorySegment.ofArray(a));
        DeviceBuffer db = cl.upload(MemorySegment.ofArray(bt));
        DeviceBuffer dc = cl.upload(MemorySegment.ofArray(c));
        List<Object> launch = new ArrayList<>();
        for (KernelParameter p : kernel.parameters()) {
            switch (p.role()) {
                case BUFFER -> launch.add(p.javaIndex() == 1 ? da : p.javaIndex() == 2 ? db : dc);
                case BUFFER_SIZE -> launch.add(p.javaIndex() == 1 ? a.length / 2 : p.javaIndex() == 2
                        ? bt.length / 2 : c.length);
                case SCALAR -> launch.add(args[p.javaIndex()]);
            }
        }
        long[] global = {(long) (n + blockN - 1) / blockN * groupSize, (m + blockM - 1) / blockM, 1};
        try {
            cl.device("launch on").launch(cl.device("launch on").load(kernel), global, new int[] {groupSize, 1, 1},
                    launch);
        } catch (BackendException e) {
            throw new AssertionError(e.getMessage() + "\n" + Nvcc.numbered(kernel.source()), e);
        }
        cl.read(dc, MemorySegment.ofArray(c));
        // products of 16-bit values are exact in float; k float adds of N(0,1) products: 1e-5 relative to the
        // magnitude, and 4e-5 absolute up to k 80, 5e-7 k beyond (eight times the ~6e-8 k walk of roundings)
        for (int i = 0; i < c.length; i++) {
            double tol = Math.max(4e-5, 5e-7 * k) + 1e-5 * Math.abs(expected[i]);
            if (!(Math.abs(c[i] - expected[i]) <= tol)) {
                fail(name + " " + label + " " + m + "x" + n + "x" + k + ": C[" + i / n + "][" + i % n + "] = "
                        + c[i] + ", expected " + expected[i] + " within " + tol);
            }
        }
    }

    private static short bits(boolean bf16, float x) {
        return bf16 ? KernelMath.floatToBFloat16(x) : KernelMath.floatToHalf(x);
    }

    private static float value(boolean bf16, short bits) {
        return bf16 ? KernelMath.bfloat16ToFloat(bits) : KernelMath.halfToFloat(bits);
    }
}

package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.SharedMemoryLoadKernels;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.linalg.GemmKernels.AsyncPairTiling;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a real CUDA GPU: {@code mmaLoadMatrixX4} (ldmatrix on sm_80+), the asynchronous copies (cp.async) and every
 * {@link GemmKernels#ASYNC_PAIR_TILINGS} tiling of the cp.async + ldmatrix GEMM against Java and float64 references
 * on random inputs; skipped with the reason where there is no CUDA device or NVRTC.
 */
class CudaSharedMemoryLoadsGpuTest {
    private static CudaDevice device;
    private static String missing;

    @BeforeAll
    static void open() {
        try {
            device = CudaDevice.open(0, new KernelCache(null));
            Nvrtc.load();
        } catch (BackendException e) {
            missing = e.getMessage();
        }
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    private static void needDevice() {
        assumeTrue(missing == null, () -> "CUDA GPU test skipped: " + missing);
    }

    private static GeneratedKernel compile(Class<?> owner, String name, Object[] args, int group) {
        Method m = Arrays.stream(owner.getMethods()).filter(x -> x.getName().equals(name)).findFirst().orElseThrow();
        // the JIT reads only the scalars (constants); arrays are uploaded by launch() as plain Java arrays
        Object[] scalars = Arrays.stream(args).map(a -> a instanceof Integer ? a : null).toArray();
        return KernelJit.shared().compile(m, scalars, Dialect.CUDA, device.features(), group);
    }

    /** Launches with int[]/short[]/float[] Java arguments uploaded by index; returns the buffers by Java index. */
    private static DeviceBuffer[] launch(GeneratedKernel k, long[] global, int[] local, Object[] javaArgs) {
        DeviceBuffer[] buffers = new DeviceBuffer[javaArgs.length];
        List<Object> args = new ArrayList<>();
        for (KernelParameter p : k.parameters()) {
            Object a = javaArgs[p.javaIndex()];
            MemorySegment host = switch (a) {
                case int[] v -> MemorySegment.ofArray(v);
                case short[] v -> MemorySegment.ofArray(v);
                case float[] v -> MemorySegment.ofArray(v);
                default -> null;
            };
            switch (p.role()) {
                case BUFFER -> {
                    DeviceBuffer b = device.allocate(host.byteSize());
                    device.copyToDevice(host, b, 0);
                    buffers[p.javaIndex()] = b;
                    args.add(b);
                }
                case BUFFER_SIZE -> args.add((int) (host.byteSize() / 4));
                case SCALAR -> args.add(a);
            }
        }
        device.launch(device.load(k), global, local, args);
        return buffers;
    }

    private static int[] readInts(DeviceBuffer b, int n) {
        int[] out = new int[n];
        device.copyToHost(b, 0, MemorySegment.ofArray(out));
        return out;
    }

    private static int[] randomInts(long seed, int n) {
        Random rnd = new Random(seed);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextInt();
        }
        return v;
    }

    @Test
    void loadMatrixMatchesPtxDefinition() {
        needDevice();
        int[][] cases = {{8, 20, 160, 4}, {4, 12, 4, 96}, {0, 36, 16, 288}};
        for (int[] c : cases) {
            int[] in = randomInts(51L * c[1] + c[2], SharedMemoryLoadKernels.TILE);
            Object[] args = {new KernelContext(), in, new int[2 * 32 * 4], c[0], c[1], c[2], c[3]};
            GeneratedKernel k = compile(SharedMemoryLoadKernels.class, "loadMatrix", args, 64);
            DeviceBuffer[] b = launch(k, new long[] {64}, new int[] {64}, args);
            assertArrayEquals(SharedMemoryLoadKernels.expectedLoadMatrix(in, 2, c[0], c[1], c[2], c[3]),
                    readInts(b[2], 2 * 32 * 4), "offset " + c[0] + " ld " + c[1]);
        }
    }

    @Test
    void asyncCopyMatchesItsDefinition() {
        needDevice();
        int groups = 3;
        int n = groups * 2 * SharedMemoryLoadKernels.COPY_GROUP * 4;
        int[] in = randomInts(10, n);
        Object[] args = {new KernelContext(), in, new int[n], n};
        GeneratedKernel k = compile(SharedMemoryLoadKernels.class, "asyncCopy", args,
                SharedMemoryLoadKernels.COPY_GROUP);
        DeviceBuffer[] b = launch(k, new long[] {groups * SharedMemoryLoadKernels.COPY_GROUP},
                new int[] {SharedMemoryLoadKernels.COPY_GROUP}, args);
        assertArrayEquals(SharedMemoryLoadKernels.expectedAsyncCopy(in, groups), readInts(b[2], n));
    }

    static Stream<Arguments> gemms() {
        return GemmKernels.ASYNC_PAIR_TILINGS.stream().flatMap(t -> Stream.of(Arguments.of(t, 260, 300, 72),
                Arguments.of(t, 256, 256, 256), Arguments.of(t, 130, 129, 38)));
    }

    /** bf16, k a multiple of 8 (cp.async) or not (plain loads); edges in m, n and k. */
    @ParameterizedTest(name = "{0} {1}x{2}x{3}")
    @MethodSource("gemms")
    void asyncPairGemmMatchesFloat64(AsyncPairTiling t, int m, int n, int k) {
        needDevice();
        Random rnd = new Random(7L * m + k);
        short[] a = new short[m * k];
        short[] bt = new short[n * k];
        for (int i = 0; i < a.length; i++) {
            a[i] = KernelMath.floatToBFloat16((float) rnd.nextGaussian());
        }
        for (int i = 0; i < bt.length; i++) {
            bt[i] = KernelMath.floatToBFloat16((float) rnd.nextGaussian());
        }
        float[] c = new float[m * n];
        Arrays.fill(c, Float.NaN);
        Object[] args = {new KernelContext(), a, bt, c, m, n, k, t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk(), t.stages()};
        GeneratedKernel kernel = compile(GemmKernels.class, "mmaGemmBF16PairsAsync", args, t.groupSize());
        DeviceBuffer[] b = launch(kernel, new long[] {(long) (n + t.blockN() - 1) / t.blockN() * t.groupSize(),
            (m + t.blockM() - 1) / t.blockM(), 1}, new int[] {t.groupSize(), 1, 1}, args);
        device.copyToHost(b[3], 0, MemorySegment.ofArray(c));
        for (int r = 0; r < m; r++) {
            for (int col = 0; col < n; col++) {
                double s = 0;
                double mag = 0;
                for (int p = 0; p < k; p++) {
                    double x = (double) KernelMath.bfloat16ToFloat(a[r * k + p])
                            * KernelMath.bfloat16ToFloat(bt[col * k + p]);
                    s += x;
                    mag += Math.abs(x);
                }
                // tensor cores add exact products in their own order: within 1e-5 of the sum of |products|
                double tol = 1e-5 * mag + 1e-6;
                if (!(Math.abs(c[r * n + col] - s) <= tol)) {
                    fail(t.label() + " " + m + "x" + n + "x" + k + ": C[" + r + "][" + col + "] = " + c[r * n + col]
                            + ", expected " + s + " within " + tol);
                }
            }
        }
    }
}

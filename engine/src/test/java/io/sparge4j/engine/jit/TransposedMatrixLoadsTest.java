package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.kernel.KernelEmulator;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link KernelContext#mmaLoadMatrixX4Trans} against PTX's definition of {@code ldmatrix .trans} (each matrix
 * transposed, then read as the plain load reads), on the emulator and on OpenCL (PoCL: the plain-load fallback),
 * and its documented use (a B operand from a k-major tile) against {@link KernelContext#mmaLoadB}; the CUDA form
 * compiles with nvcc to {@code ldmatrix...trans} on sm_90 and to plain loads without tensor cores. Bit-exact
 * comparisons on random ints.
 */
class TransposedMatrixLoadsTest {
    private static final DeviceFeatures TURING = new DeviceFeatures(32, true, false, true, 1024, 65536,
            "cuda|Turing|sm_75|test");
    private static OpenClTestDevice cl;

    @BeforeAll
    static void open() {
        cl = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        cl.close();
    }

    static int[] randomInts(long seed, int n) {
        Random rnd = new Random(seed);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextInt();
        }
        return v;
    }

    @ParameterizedTest(name = "offset {0} ld {1} steps {2} {3}")
    @CsvSource({"8, 20, 160, 4", "4, 12, 4, 96", "0, 36, 16, 288"})
    void transposedLoadOnTheEmulator(int offset, int ld, int step1, int step2) {
        int[] in = randomInts(17L * ld + step1, TransposedMatrixLoadKernels.TILE);
        IntArray src = IntArray.fromArray(in);
        IntArray out = new IntArray(2 * 32 * 4);
        WorkerGrid1D grid = new WorkerGrid1D(64);
        grid.setLocalWork(64, 1, 1);
        new KernelEmulator().execute(grid, ctx -> TransposedMatrixLoadKernels.loadMatrixTrans(ctx, src, out, offset,
                ld, step1, step2));
        assertArrayEquals(TransposedMatrixLoadKernels.expectedLoadMatrixTrans(in, 2, offset, ld, step1, step2),
                out.toHeapArray());
    }

    /** The Javadoc's B convention (k-major rows of n pairs) gives mmaLoadB's fragments of two 8-column tiles. */
    @Test
    void transposedLoadGivesTheBFragmentsOfAKMajorTile() {
        int ld = 12;
        int[] in = randomInts(23, 24 * ld);
        short[] halves = new short[2 * in.length];
        for (int i = 0; i < in.length; i++) {
            halves[2 * i] = (short) in[i];
            halves[2 * i + 1] = (short) (in[i] >>> 16);
        }
        List<String> mismatches = Collections.synchronizedList(new ArrayList<>());
        WorkerGrid1D grid = new WorkerGrid1D(32);
        grid.setLocalWork(32, 1, 1);
        new KernelEmulator().execute(grid, ctx -> {
            int[] tile = ctx.allocateIntLocalArray(in.length);
            System.arraycopy(in, 0, tile, 0, in.length);
            int[] regs = new int[4];
            short[] expected = new short[8];
            // B of k 5 .. 20, columns n 8 .. 23 (int 4 of each row): matrices (k 5.., n 8..), (k 13.., n 8..), ...
            ctx.mmaLoadMatrixX4Trans(tile, 5 * ld + 4, ld, 8 * ld, 4, regs, 0);
            ctx.mmaLoadB(halves, 2 * (5 * ld + 4), 2 * ld, expected, 0);
            ctx.mmaLoadB(halves, 2 * (5 * ld + 4) + 8, 2 * ld, expected, 4);
            for (int i = 0; i < 8; i++) {
                short got = (short) (regs[i / 2] >>> (16 * (i % 2)));
                if (got != expected[i]) {
                    mismatches.add("lane " + ctx.simdLaneId() + " element " + i + ": " + got + ", expected "
                            + expected[i]);
                }
            }
        });
        assertTrue(mismatches.isEmpty(), () -> String.join("\n", mismatches));
    }

    @Test
    void transposedLoadOnOpenCl() {
        cl.device("run the transposed ldmatrix fallback on");
        int[][] cases = {{8, 20, 160, 4}, {4, 12, 4, 96}, {0, 36, 16, 288}};
        for (int[] c : cases) {
            int[] in = randomInts(43L * c[1] + c[2], TransposedMatrixLoadKernels.TILE);
            int[] out = new int[2 * 32 * 4];
            GeneratedKernel k = compile("loadMatrixTrans", Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
            int[] got = launch(cl, k, 64, 64, new Object[] {null, in, out, c[0], c[1], c[2], c[3]}, 2, out.length);
            assertArrayEquals(TransposedMatrixLoadKernels.expectedLoadMatrixTrans(in, 2, c[0], c[1], c[2], c[3]), got,
                    "case ld " + c[1]);
        }
    }

    @Test
    void cudaCompilesToTransposedLdmatrixOnSm90AndPlainLoadsWithoutTensorCores() throws Exception {
        GeneratedKernel load = compile("loadMatrixTrans", Dialect.CUDA, KernelJitCompileTest.H200, 64);
        GeneratedKernel old = compile("loadMatrixTrans", Dialect.CUDA, TURING, 64);
        assertTrue(!old.source().contains("ldmatrix.sync"), "no ldmatrix below sm_80:\n" + old.source());
        assertTrue(load.paths().contains("transposed matrix loads: ldmatrix.x4.trans"), load.paths()::toString);
        Nvcc.assumePresent();
        String ptx = Nvcc.compile("loadMatrixTrans", load.source(), "sm_90", Nvcc.Output.PTX, List.of())
                .assertCleanCompile().artifactText();
        assertTrue(ptx.contains("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), ptx);
        System.out.println(Nvcc.compileCubin(load.entryName(), load.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(load.entryName()));
        System.out.println(Nvcc.compileCubin(old.entryName(), old.source(), "sm_75").assertCleanCompile()
                .assertNoSpills(old.entryName()));
    }

    static GeneratedKernel compile(String name, Dialect d, DeviceFeatures f, int group) {
        Method m = java.util.Arrays.stream(TransposedMatrixLoadKernels.class.getMethods())
                .filter(x -> x.getName().equals(name)).findFirst().orElseThrow();
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        return KernelJit.shared().compile(m, args, d, f, group);
    }

    /** Launches on OpenCL with int[] arrays as buffers by Java index; returns the int buffer at {@code outIndex}. */
    static int[] launch(OpenClTestDevice cl, GeneratedKernel k, long global, int local, Object[] javaArgs, int outIndex, int n) {
        List<DeviceBuffer> buffers = new ArrayList<>();
        List<Object> args = new ArrayList<>();
        DeviceBuffer out = null;
        for (KernelParameter p : k.parameters()) {
            Object a = javaArgs[p.javaIndex()];
            switch (p.role()) {
                case BUFFER -> {
                    DeviceBuffer b = cl.upload(MemorySegment.ofArray((int[]) a));
                    buffers.add(b);
                    args.add(b);
                    if (p.javaIndex() == outIndex) {
                        out = b;
                    }
                }
                case BUFFER_SIZE -> args.add(((int[]) a).length);
                case SCALAR -> args.add(a);
            }
        }
        cl.device("launch on").launch(cl.device("launch on").load(k), new long[] {global}, new int[] {local}, args);
        int[] result = new int[n];
        cl.read(out, MemorySegment.ofArray(result));
        return result;
    }
}

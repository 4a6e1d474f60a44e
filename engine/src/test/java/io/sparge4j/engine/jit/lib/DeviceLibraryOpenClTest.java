package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.jit.OpenClTestDevice;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs the OpenCL library (every fallback path) on an OpenCL device, e.g. PoCL, through generated driver kernels
 * loaded by {@link OpenClDevice}, and compares with Java: conversions bit for bit, sub-group and FMA results bit
 * for bit with the emulator's semantics and within a stated tolerance of float64.
 */
class DeviceLibraryOpenClTest {
    private static final DeviceFeatures NO_FEATURES =
            new DeviceFeatures(0, false, false, true, 1024, 65536, "opencl|test");
    private static final DriverSources DRIVER = new DriverSources(Dialect.OPENCL,
            DeviceLibrary.forTarget(Dialect.OPENCL, NO_FEATURES));

    private static OpenClTestDevice cl;

    @BeforeAll
    static void open() {
        cl = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        cl.close();
    }

    private static OpenClDevice cl() {
        return cl.device("run the library on");
    }

    /**
     * Loads the driver kernel {@code entry} of {@code program} (C text the library and {@link DriverSources}
     * generate), with its signature's buffers then scalars, which the device's launch checks arguments against.
     * A build failure carries the build log and the numbered source.
     */
    private static DeviceKernel driver(String program, String entry, List<KernelParameter> buffers,
            KernelParameter... scalars) {
        List<KernelParameter> parameters = new ArrayList<>(buffers);
        parameters.addAll(List.of(scalars));
        GeneratedKernel kernel = new GeneratedKernel(entry, program, Dialect.OPENCL, parameters,
                KernelCache.sha256(entry + "|" + program), List.of(), DriverSources.class.getSimpleName(), entry, 0);
        try {
            return cl().load(kernel);
        } catch (BackendException e) {
            String[] lines = program.split("\n");
            String numbered = IntStream.range(0, lines.length).mapToObj(i -> (i + 1) + ": " + lines[i])
                    .collect(Collectors.joining("\n"));
            throw new AssertionError(e.getMessage() + "\nsource:\n" + numbered, e);
        }
    }

    /** @return buffer parameters {@code 0..n-1}, one per element type, as the driver's signature lists them */
    private static List<KernelParameter> buffers(Class<?>... elementTypes) {
        List<KernelParameter> out = new ArrayList<>();
        for (int i = 0; i < elementTypes.length; i++) {
            out.add(new KernelParameter("p" + i, KernelParameter.Role.BUFFER, i, elementTypes[i]));
        }
        return out;
    }

    /** Launches a 1D range of {@code global} work-items in groups of {@code local}. */
    private static void run(DeviceKernel kernel, long global, int local, Object... arguments) {
        cl().launch(kernel, new long[] {global}, new int[] {local}, List.of(arguments));
    }

    @Test
    void halfToFloatIsExactForAll65536BitPatterns() {
        OpenClDevice rt = cl();
        short[] in = new short[65536];
        for (int i = 0; i < in.length; i++) {
            in[i] = (short) i;
        }
        int[] out = new int[in.length];
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.HALVES, DRIVER.halves()), "t_h2f",
                buffers(short.class, int.class));
        DeviceBuffer outBuffer = cl.upload(MemorySegment.ofArray(out));
        run(kernel, in.length, 64, cl.upload(MemorySegment.ofArray(in)), outBuffer);
        cl.read(outBuffer, MemorySegment.ofArray(out));
        for (int i = 0; i < in.length; i++) {
            int expected = Float.floatToRawIntBits(Float.float16ToFloat(in[i]));
            if (out[i] != expected) {
                fail("sp_half_to_float(0x" + Integer.toHexString(i) + ") on " + rt.deviceName() + ": bits 0x"
                        + Integer.toHexString(out[i]) + ", Java 0x" + Integer.toHexString(expected));
            }
        }
    }

    @Test
    void floatToHalfIsExactOnEdgesMidpointsAndRandomFloats() {
        OpenClDevice rt = cl();
        int[] bits = floatToHalfInputs(new Random(0x5eed_f16L));
        short[] out = new short[bits.length];
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.HALVES, DRIVER.halves()), "t_f2h",
                buffers(int.class, short.class));
        DeviceBuffer outBuffer = cl.upload(MemorySegment.ofArray(out));
        run(kernel, bits.length, 64, cl.upload(MemorySegment.ofArray(bits)), outBuffer);
        cl.read(outBuffer, MemorySegment.ofArray(out));
        for (int i = 0; i < bits.length; i++) {
            short expected = Float.floatToFloat16(Float.intBitsToFloat(bits[i]));
            if (out[i] != expected) {
                fail("sp_float_to_half(" + Float.intBitsToFloat(bits[i]) + ", bits 0x" + Integer.toHexString(bits[i])
                        + ") on " + rt.deviceName() + ": 0x" + Integer.toHexString(out[i] & 0xffff) + ", Java 0x"
                        + Integer.toHexString(expected & 0xffff));
            }
        }
    }

    /**
     * Every half value's float, the float midpoints between neighbouring halves and one float ulp either side
     * (both signs), edge cases, then random floats with exponents around the half range and random bit patterns
     * (NaNs with payloads included): 1,048,576 inputs in all.
     */
    private static int[] floatToHalfInputs(Random random) {
        int[] bits = new int[1 << 20];
        int n = 0;
        for (int h = 0; h < 0x7c00; h++) {
            int lo = Float.floatToRawIntBits(Float.float16ToFloat((short) h));
            int hi = Float.floatToRawIntBits(Float.float16ToFloat((short) (h + 1)));
            int mid = Float.floatToRawIntBits((Float.intBitsToFloat(lo) + Float.intBitsToFloat(hi)) / 2f);
            for (int v : new int[] {lo, mid - 1, mid, mid + 1}) {
                bits[n++] = v;
                bits[n++] = v | 0x8000_0000;
            }
        }
        int[] edges = {0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f80_0001, 0xffbf_ffff, 0x7fff_ffff, 0x0000_0001,
            0x807f_ffff, 0x0080_0000, 0x7f7f_ffff, 0x477f_e000, 0x477f_efff, 0x477f_f000, 0x477f_f001, 0x3300_0000,
            0x3300_0001, 0x32ff_ffff, 0x3380_0000, 0x387f_e000, 0x387f_f000, 0x3880_0000};
        for (int e : edges) {
            bits[n++] = e;
        }
        while (n < bits.length) {
            if ((n & 1) == 0) {
                bits[n++] = random.nextInt();
            } else {
                int exponent = 127 - 27 + random.nextInt(45);
                bits[n++] = (random.nextBoolean() ? 0x8000_0000 : 0) | exponent << 23 | random.nextInt(1 << 23);
            }
        }
        return bits;
    }

    @ParameterizedTest(name = "work-group size {0}")
    @ValueSource(ints = {64, 128, 80})
    void subGroupFallbackMatchesTheEmulatorsLaneOrderSemantics(int workGroupSize) {
        cl();
        int groups = 3;
        int n = groups * workGroupSize;
        Random random = new Random(workGroupSize);
        float[] in = new float[n];
        for (int i = 0; i < n; i++) {
            // magnitudes over 2^-8..2^8 and both signs, so that a different summation order would show
            in[i] = (float) ((random.nextDouble() + 0.1) * Math.scalb(1.0, random.nextInt(17) - 8)
                    * (random.nextBoolean() ? 1 : -1));
        }
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.SIMD, DRIVER.simd(workGroupSize)), "t_simd",
                buffers(float.class, float.class, float.class, float.class),
                new KernelParameter("delta", KernelParameter.Role.SCALAR, 4, int.class));
        for (int delta : new int[] {1, 5, 16, 31, 32}) {
            float[] sum = new float[n];
            float[] down = new float[n];
            float[] first = new float[n];
            DeviceBuffer sumB = cl.upload(MemorySegment.ofArray(sum));
            DeviceBuffer downB = cl.upload(MemorySegment.ofArray(down));
            DeviceBuffer firstB = cl.upload(MemorySegment.ofArray(first));
            run(kernel, n, workGroupSize, cl.upload(MemorySegment.ofArray(in)), sumB, downB, firstB, delta);
            cl.read(sumB, MemorySegment.ofArray(sum));
            cl.read(downB, MemorySegment.ofArray(down));
            cl.read(firstB, MemorySegment.ofArray(first));
            for (int i = 0; i < n; i++) {
                int local = i % workGroupSize;
                int base = i - local % 32;
                int lanes = Math.min(32, workGroupSize - local / 32 * 32);
                int lane = local % 32;
                float expectedSum = 0f;
                for (int j = 0; j < lanes; j++) {
                    expectedSum += in[base + j];
                }
                String where = "work-item " + i + " (group size " + workGroupSize + ", delta " + delta + ")";
                assertEquals(expectedSum, sum[i], 0f, "sp_simd_sum, " + where);
                assertEquals(lane + delta < lanes ? in[i + delta] : in[i], down[i], 0f,
                        "sp_simd_shuffle_down, " + where);
                assertEquals(in[base], first[i], 0f, "sp_simd_broadcast_first, " + where);
            }
        }
    }

    @ParameterizedTest(name = "work-group size {0}")
    @ValueSource(ints = {64, 128, 80})
    void shuffleXorFallbackExchangesWithinSubGroups(int workGroupSize) {
        cl();
        int groups = 3;
        int n = groups * workGroupSize;
        Random random = new Random(31L * workGroupSize);
        float[] in = new float[n];
        for (int i = 0; i < n; i++) {
            in[i] = (float) random.nextGaussian();
        }
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.SIMD_XOR, DRIVER.simdXor(workGroupSize)), "t_xor",
                buffers(float.class, float.class), new KernelParameter("mask", KernelParameter.Role.SCALAR, 2,
                        int.class));
        for (int mask : new int[] {1, 2, 3, 16, 31, 32}) {
            float[] out = new float[n];
            DeviceBuffer outB = cl.upload(MemorySegment.ofArray(out));
            run(kernel, n, workGroupSize, cl.upload(MemorySegment.ofArray(in)), outB, mask);
            cl.read(outB, MemorySegment.ofArray(out));
            for (int i = 0; i < n; i++) {
                int local = i % workGroupSize;
                int lanes = Math.min(32, workGroupSize - local / 32 * 32);
                int lane = local % 32;
                int partner = lane ^ mask;
                float expected = partner < lanes ? in[i - lane + partner] : in[i];
                assertEquals(expected, out[i], 0f, "sp_simd_shuffle_xor, work-item " + i + " (group size "
                        + workGroupSize + ", mask " + mask + ")");
            }
        }
    }

    @ParameterizedTest(name = "bf16 {0}")
    @ValueSource(booleans = {false, true})
    void fragmentMmaFallbackMatchesTheEmulatorAndFloat64(boolean bf16) {
        cl();
        int workGroupSize = 64;
        int warps = 4;
        Random random = new Random(bf16 ? 16 : 61);
        MmaCase[] cases = new MmaCase[warps];
        short[] a = new short[warps * 32 * 8];
        short[] b = new short[warps * 32 * 4];
        float[] c = new float[warps * 32 * 4];
        for (int w = 0; w < warps; w++) {
            cases[w] = MmaCase.random(random, bf16);
            cases[w].scatterFragments(a, b, c, w * 32);
        }
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.fragments(bf16),
                DRIVER.mmaFragments(workGroupSize, bf16)), "t_mma",
                buffers(short.class, short.class, float.class));
        DeviceBuffer cB = cl.upload(MemorySegment.ofArray(c));
        run(kernel, warps * 32, workGroupSize, cl.upload(MemorySegment.ofArray(a)),
                cl.upload(MemorySegment.ofArray(b)), cB);
        cl.read(cB, MemorySegment.ofArray(c));
        for (int w = 0; w < warps; w++) {
            cases[w].check(cases[w].gatherFragments(c, w * 32), "sp_mma_" + (bf16 ? "bf16" : "f16") + " warp " + w);
        }
    }

    @ParameterizedTest(name = "bf16 {0}")
    @ValueSource(booleans = {false, true})
    void tileMmaFallbackMatchesTheEmulatorAndFloat64(boolean bf16) {
        cl();
        int subGroupsPerGroup = 2;
        int tiles = 4;
        Random random = new Random(bf16 ? 0xb16 : 0xf16);
        MmaCase[] cases = new MmaCase[tiles];
        short[] a = new short[tiles * 256];
        short[] b = new short[tiles * 128];
        float[] c = new float[tiles * 128];
        for (int s = 0; s < tiles; s++) {
            cases[s] = MmaCase.random(random, bf16);
            System.arraycopy(cases[s].a, 0, a, s * 256, 256);
            System.arraycopy(cases[s].b, 0, b, s * 128, 128);
            System.arraycopy(cases[s].c, 0, c, s * 128, 128);
        }
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.tile(bf16),
                DRIVER.mmaTile(subGroupsPerGroup, bf16)), "t_tile",
                buffers(short.class, short.class, float.class));
        DeviceBuffer cB = cl.upload(MemorySegment.ofArray(c));
        run(kernel, tiles * 32, subGroupsPerGroup * 32, cl.upload(MemorySegment.ofArray(a)),
                cl.upload(MemorySegment.ofArray(b)), cB);
        cl.read(cB, MemorySegment.ofArray(c));
        for (int s = 0; s < tiles; s++) {
            float[] got = new float[128];
            System.arraycopy(c, s * 128, got, 0, 128);
            cases[s].check(got, "sp_mma_tile_" + (bf16 ? "bf16" : "f16") + " tile " + s);
        }
    }

    @Test
    void atomicAddsSumEveryWorkItemsValue() {
        cl();
        int n = 1024;
        int workGroupSize = 64;
        Random random = new Random(7);
        int[] vi = new int[n];
        float[] vf = new float[n];
        long[] expectedInt = new long[4];
        double[] expectedFloat = new double[4];
        double[] magnitude = new double[4];
        for (int i = 0; i < n; i++) {
            vi[i] = random.nextInt(2001) - 1000;
            vf[i] = (float) (random.nextDouble() * 2 - 1);
            expectedInt[i % 4] += vi[i];
            expectedFloat[i % 4] += vf[i];
            magnitude[i % 4] += Math.abs(vf[i]);
        }
        int[] gi = {1, 2, 3, 4};
        float[] gf = {0.5f, -0.25f, 1f, 2f};
        int[] li = new int[4];
        DeviceBuffer giB = cl.upload(MemorySegment.ofArray(gi));
        DeviceBuffer gfB = cl.upload(MemorySegment.ofArray(gf));
        DeviceBuffer liB = cl.upload(MemorySegment.ofArray(li));
        DeviceKernel kernel = driver(DRIVER.program(DriverSources.ATOMICS, DRIVER.atomics()), "t_atomic",
                buffers(int.class, float.class, int.class, int.class, float.class));
        run(kernel, n, workGroupSize, giB, gfB, liB, cl.upload(MemorySegment.ofArray(vi)),
                cl.upload(MemorySegment.ofArray(vf)));
        float[] gf0 = {0.5f, -0.25f, 1f, 2f};
        cl.read(giB, MemorySegment.ofArray(gi));
        cl.read(gfB, MemorySegment.ofArray(gf));
        cl.read(liB, MemorySegment.ofArray(li));
        for (int j = 0; j < 4; j++) {
            assertEquals(j + 1 + expectedInt[j], gi[j], "sp_atomic_add_gi slot " + j);
            assertEquals(expectedInt[j], li[j], "sp_atomic_add_li (summed over groups) slot " + j);
            // 256 float adds in any order: each rounds by at most half an ulp of the running sum
            double tolerance = 1e-5 * (magnitude[j] + Math.abs(gf0[j]));
            double expected = gf0[j] + expectedFloat[j];
            assertTrue(Math.abs(gf[j] - expected) <= tolerance, "sp_atomic_add_gf slot " + j + ": " + gf[j]
                    + ", float64 " + expected + ", tolerance " + tolerance);
        }
    }
}

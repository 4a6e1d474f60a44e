package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kernel of PortabilityKernels and GemmKernels translates for both dialects and two feature sets (PoCL-like:
 * no sub-groups, no fp16, no MMA; H200-like: 32-wide sub-groups, fp16, MMA), and the CUDA output compiles with
 * nvcc for sm_90 (skipped with a reason when nvcc is absent).
 */
class KernelJitCompileTest {
    static final DeviceFeatures POCL = new DeviceFeatures(0, false, false, true, 4096, 65536,
            "opencl|pthread-cpu|PoCL|test");
    static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    static List<Method> kernels() {
        List<Method> out = new ArrayList<>();
        for (Class<?> c : List.of(PortabilityKernels.class, GemmKernels.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())
                        && m.getReturnType() == void.class) {
                    out.add(m);
                }
            }
        }
        out.sort((a, b) -> (a.getDeclaringClass().getSimpleName() + a.getName())
                .compareTo(b.getDeclaringClass().getSimpleName() + b.getName()));
        return out;
    }

    static Object[] args(Method m) {
        Object[] args = new Object[m.getParameterCount()];
        if (m.getName().equals("windowSum")) {
            args[3] = 5;
        }
        if (m.getParameterTypes()[0] == KernelContext.class) {
            args[0] = new KernelContext();
        }
        if (m.getName().endsWith("PairsTiled")) {
            GemmKernels.PairTiling t = GemmKernels.DEFAULT_PAIR_TILING;
            Object[] tiling = {t.warpsM(), t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk()};
            System.arraycopy(tiling, 0, args, 7, tiling.length);
        }
        if (m.getName().endsWith("PairsAsync")) {
            // 32 KiB of tiles: room for the MMA fallback's scratch where CUDA has no tensor cores (48 KiB static limit)
            GemmKernels.AsyncPairTiling t = GemmKernels.ASYNC_PAIR_TILINGS.get(1);
            Object[] tiling = {t.warpsM(), t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk(), t.stages()};
            System.arraycopy(tiling, 0, args, 7, tiling.length);
        }
        return args;
    }

    static Stream<Arguments> targets() {
        List<Arguments> out = new ArrayList<>();
        for (Method m : kernels()) {
            for (Dialect d : Dialect.values()) {
                out.add(Arguments.of(m.getDeclaringClass().getSimpleName() + "." + m.getName(), m, d, POCL));
                out.add(Arguments.of(m.getDeclaringClass().getSimpleName() + "." + m.getName(), m, d, H200));
            }
        }
        return out.stream();
    }

    static int groupSize(Method m) {
        if (m.getName().endsWith("Pairs") || m.getName().endsWith("PairsTiled")) {
            return GemmKernels.PAIR_GROUP_SIZE;
        }
        return m.getName().startsWith("mmaGemm") ? 256 : m.getName().startsWith("sgemm") || m.getName().equals("gemmTiled")
                ? 256 : m.getName().startsWith("mma") || m.getName().equals("softmaxRows") ? 32 : 128;
    }

    static GeneratedKernel generate(Method m, Dialect d, DeviceFeatures f) {
        return KernelJit.shared().compile(m, args(m), d, f, groupSize(m));
    }

    @ParameterizedTest(name = "{0} {2} {3}")
    @MethodSource("targets")
    void translatesEveryKernel(String name, Method m, Dialect d, DeviceFeatures f) throws IOException {
        GeneratedKernel k = generate(m, d, f);
        assertEquals(m.getName(), k.entryName());
        assertEquals(64, k.cacheKey().length());
        assertTrue(k.source().contains(d == Dialect.CUDA ? "extern \"C\" __global__ void " + m.getName() + "("
                : "__kernel void " + m.getName() + "("), k.source());
        boolean context = m.getParameterTypes()[0] == KernelContext.class;
        assertEquals(context ? 0 : 2, k.parallelDimensions(), "parallel dimensions of " + name);
        // every Java array parameter is a BUFFER with its index, every non-@Constant scalar a SCALAR
        int expected = 0;
        for (int i = context ? 1 : 0; i < m.getParameterCount(); i++) {
            if (!m.getParameters()[i].isAnnotationPresent(io.sparge4j.kernels.annotations.Constant.class)) {
                expected++;
            }
        }
        assertEquals(expected, k.parameters().stream().filter(p -> p.role() != KernelParameter.Role.BUFFER_SIZE)
                .count(), k.parameters().toString());
        Path dir = Path.of("target", "jit-sources");
        Files.createDirectories(dir);
        String file = name + "-" + f.identity().split("\\|")[1].replaceAll("[^A-Za-z0-9]", "") + (d == Dialect.CUDA
                ? ".cu" : ".cl");
        Files.writeString(dir.resolve(file), k.source());
    }

    static Stream<Arguments> cudaTargets() {
        return targets().filter(a -> a.get()[2] == Dialect.CUDA);
    }

    @ParameterizedTest(name = "{0} {2} {3}")
    @MethodSource("cudaTargets")
    void cudaSourceCompilesWithNvcc(String name, Method m, Dialect d, DeviceFeatures f) throws Exception {
        Nvcc.assumePresent();
        GeneratedKernel k = generate(m, d, f);
        Nvcc.compile(name, k.source(), "sm_90", Nvcc.Output.CUBIN, List.of()).assertCleanCompile();
    }

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"semantics", "controlFlow", "halfAndBf16", "sizeAndLongs",
        "fill3", "scaleWithHelper", "usesDouble", "exponentialsFlushed"})
    void testKernelsCompileWithNvcc(String name) throws Exception {
        Nvcc.assumePresent();
        for (DeviceFeatures f : List.of(POCL, H200)) {
            GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel(name), null, Dialect.CUDA, f,
                    64);
            Nvcc.compile(name, k.source(), "sm_90", Nvcc.Output.CUBIN, List.of()).assertCleanCompile();
        }
    }

    /** Kept for the OpenCL tests of this package; see {@link Nvcc#numbered}. */
    static String numbered(String source) {
        return Nvcc.numbered(source);
    }

    @Test
    void sameInputGivesSameSource() {
        Method m = kernels().stream().filter(k -> k.getName().equals("mmaGemmBF16")).findFirst().orElseThrow();
        GeneratedKernel a = new KernelJit(LibrarySource.DEVICE_LIBRARY).compile(m, args(m), Dialect.CUDA, H200, 256);
        GeneratedKernel b = new KernelJit(LibrarySource.DEVICE_LIBRARY).compile(m, args(m), Dialect.CUDA, H200, 256);
        assertEquals(a.source(), b.source());
        assertEquals(a.cacheKey(), b.cacheKey());
        assertEquals(a, b);
    }
}

package io.sparge4j.engine.bench;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.execution.LaunchArguments;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.linalg.GemmKernels.AsyncPairTiling;
import io.sparge4j.kernels.linalg.GemmKernels.PairTiling;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels.PipelinedTiling;
import io.sparge4j.kernels.linalg.RingTiling;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.io.PrintWriter;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The GPU harness for the JIT's kernels (issue 4): saxpy bandwidth, the f32 register-blocked GEMM and the tensor-core
 * GEMMs at 4096³, and the device compiler's cold and cached compile times (optionally also every tiling of the bf16
 * pair GEMM). One JSON line per case; each case also checks a sample of its result against float64, so a fast wrong
 * kernel cannot pass as a result.
 *
 * <p>Times are medians over {@code reps} launches timed on the device clock, after a warm-up launch.
 */
public final class GpuKernelBench {

    private static final int WARMUP_LAUNCHES = 30;

    private final Supplier<ComputeDevice> opener;
    private final PrintWriter out;
    private final int reps;

    /**
     * @param opener opens the device; called again to measure a compile served from the disk cache
     * @param out where the JSON lines go
     * @param reps timed launches per case, {@code >= 1}
     */
    public GpuKernelBench(Supplier<ComputeDevice> opener, PrintWriter out, int reps) {
        if (reps < 1) {
            throw new IllegalArgumentException("reps is " + reps + ", expected >= 1");
        }
        this.opener = opener;
        this.out = out;
        this.reps = reps;
    }

    /**
     * Runs every case.
     *
     * @param elements saxpy length
     * @param gemm GEMM edge (m = n = k)
     */
    public void runAll(int elements, int gemm) {
        runAll(elements, gemm, EnumSet.noneOf(GemmFamily.class));
    }

    /**
     * Runs every case, then, when asked, the bf16 pair GEMM once per tiling of every family in {@code families}:
     * {@link GemmKernels#PAIR_TILINGS} through {@link GemmKernels#mmaGemmBF16PairsTiled} (the case name carries the
     * tiling's label), {@link GemmKernels#ASYNC_PAIR_TILINGS} (the cp.async + ldmatrix {@link
     * GemmKernels#mmaGemmBF16PairsAsync}) and {@link PipelinedGemmKernels#TILINGS} (the same with fragments
     * double-buffered in registers, {@link PipelinedGemmKernels#mmaGemmBF16Pipelined}). A tiling that fails prints a
     * line with its {@code error} instead, and the others still run.
     *
     * @param elements saxpy length
     * @param gemm GEMM edge (m = n = k); the tilings need it even
     * @param families the families to time tiling by tiling (empty: none)
     * @throws IllegalArgumentException when tilings are asked for with an odd GEMM edge
     */
    public void runAll(int elements, int gemm, Set<GemmFamily> families) {
        if (!families.isEmpty() && gemm % 2 != 0) {
            throw new IllegalArgumentException("gemm is " + gemm + ": the pair-GEMM tilings read k as int pairs, "
                    + "expected an even edge");
        }
        compileTimes();
        try (ComputeDevice device = opener.get()) {
            saxpy(device, elements);
            sgemm(device, gemm);
            mmaGemm(device, gemm, true);
            mmaGemm(device, gemm, false);
            if (families.contains(GemmFamily.TILED)) {
                for (PairTiling t : GemmKernels.PAIR_TILINGS) {
                    timeTiling(device, "mmaGemmBF16PairsTiled " + t.label(), () -> pairTiling(device, gemm, t));
                }
            }
            if (families.contains(GemmFamily.ASYNC)) {
                Method kernel = method(GemmKernels.class, "mmaGemmBF16PairsAsync");
                for (AsyncPairTiling t : GemmKernels.ASYNC_PAIR_TILINGS) {
                    timeTiling(device, kernel.getName() + " " + t.label(), () -> ringTiling(device, gemm, kernel, t));
                }
            }
            if (families.contains(GemmFamily.PIPELINED)) {
                Method kernel = method(PipelinedGemmKernels.class, "mmaGemmBF16Pipelined");
                for (PipelinedTiling t : PipelinedGemmKernels.TILINGS) {
                    timeTiling(device, kernel.getName() + " " + t.label(), () -> ringTiling(device, gemm, kernel, t));
                }
            }
        }
    }

    /** Runs one tiling's case; one the device refuses (e.g. its local memory) prints its error, not the others'. */
    private void timeTiling(ComputeDevice device, String kernel, Runnable run) {
        try {
            run.run();
        } catch (RuntimeException e) {
            Map<String, Object> line = header("gemm bf16 A*B^T (JIT " + kernel + ")", device.backendName(),
                    device.deviceName());
            line.put("error", e.toString());
            emit(line);
        }
    }

    /** Cold compile (fresh cache key space is the caller's: run with an empty SPARGE_CACHE_DIR) and disk-cache hit. */
    void compileTimes() {
        Method kernel = method(PortabilityKernels.class, "softmaxRows");
        Object[] args = {null, new FloatArray(32), new FloatArray(32), 1, 32};
        double cold;
        boolean coldFromDisk;
        String kind;
        String backend;
        String name;
        try (ComputeDevice device = opener.get()) {
            GeneratedKernel generated = KernelJit.shared().compile(kernel, args, device.dialect(), device.features(), 128);
            DeviceKernel loaded = device.load(generated);
            cold = loaded.compileMillis();
            coldFromDisk = loaded.fromDiskCache();
            kind = loaded.binaryKind();
            backend = device.backendName();
            name = device.deviceName();
        }
        KernelCache.standard().clearMemory();
        try (ComputeDevice device = opener.get()) {
            long start = System.nanoTime();
            GeneratedKernel generated = KernelJit.shared().compile(kernel, args, device.dialect(), device.features(), 128);
            DeviceKernel loaded = device.load(generated);
            double total = (System.nanoTime() - start) / 1e6;
            Map<String, Object> line = header("compile softmaxRows", backend, name);
            line.put("cold_compile_ms", round(cold, 2));
            line.put("cold_from_disk_cache", coldFromDisk);
            line.put("binary", kind);
            line.put("cache_hit_ms", round(loaded.compileMillis(), 3));
            line.put("cache_hit_from_disk", loaded.fromDiskCache());
            line.put("jit_plus_load_on_hit_ms", round(total, 3));
            emit(line);
        }
    }

    void saxpy(ComputeDevice device, int n) {
        SplittableRandom random = new SplittableRandom(1);
        FloatArray x = randomFloats(n, random);
        FloatArray y = randomFloats(n, random);
        float alpha = 1.5f;
        Method kernel = method(PortabilityKernels.class, "saxpy");
        int local = 256;
        Object[] args = {null, alpha, x, y, n};
        try (DeviceBuffer dx = upload(device, x); DeviceBuffer dy = upload(device, y)) {
            DeviceKernel loaded = device.load(KernelJit.shared().compile(kernel, args, device.dialect(), device.features(), local));
            long[] global = {roundUp(n, local), 1, 1};
            int[] localSize = {local, 1, 1};
            List<Object> launchArgs = arguments(loaded.generated(), args, Map.of(x, dx, y, dy));
            // One launch to check: y = alpha * x + y, then timed launches keep accumulating (bandwidth is unchanged).
            device.launch(loaded, global, localSize, launchArgs);
            FloatArray result = new FloatArray(n);
            device.copyToHost(dy, 0, result.getSegment());
            double err = 0;
            for (int i = 0; i < n; i += Math.max(1, n / 4096)) {
                double expected = (double) alpha * x.get(i) + y.get(i);
                err = Math.max(err, Math.abs(result.get(i) - expected) / Math.max(1e-6, Math.abs(expected)));
            }
            double ms = median(device, () -> device.launch(loaded, global, localSize, launchArgs));
            Map<String, Object> line = header("saxpy f32", device.backendName(), device.deviceName());
            line.put("elements", n);
            line.put("median_ms", round(ms, 4));
            line.put("gbps", round(3.0 * 4 * n / (ms / 1e3) / 1e9, 1));
            line.put("max_rel_err_sampled", err);
            line.put("paths", loaded.generated().paths());
            emit(line);
        }
    }

    void sgemm(ComputeDevice device, int s) {
        SplittableRandom random = new SplittableRandom(2);
        FloatArray a = randomFloats(s * s, random);
        FloatArray b = randomFloats(s * s, random);
        FloatArray c = new FloatArray(s * s);
        Method kernel = method(GemmKernels.class, "sgemm");
        Object[] args = {null, a, b, c, s, s, s};
        int edge = GemmKernels.SGEMM_GROUP_EDGE;
        try (DeviceBuffer da = upload(device, a); DeviceBuffer db = upload(device, b);
                DeviceBuffer dc = device.allocate(c.getNumBytesOfSegment())) {
            DeviceKernel loaded = device.load(KernelJit.shared().compile(kernel, args, device.dialect(), device.features(), edge * edge));
            long tiles = (s + GemmKernels.BLOCK - 1) / GemmKernels.BLOCK;
            long[] global = {tiles * edge, tiles * edge, 1};
            int[] local = {edge, edge, 1};
            List<Object> launchArgs = arguments(loaded.generated(), args, Map.of(a, da, b, db, c, dc));
            double ms = median(device, () -> device.launch(loaded, global, local, launchArgs));
            device.copyToHost(dc, 0, c.getSegment());
            double err = sampledGemmError(s, (i, kk) -> a.get(i * s + kk), (kk, j) -> b.get(kk * s + j), c);
            Map<String, Object> line = header("gemm f32 (JIT sgemm)", device.backendName(), device.deviceName());
            line.put("shape", List.of(s, s, s));
            line.put("median_ms", round(ms, 3));
            line.put("tflops", round(2.0 * s * s * s / (ms / 1e3) / 1e12, 2));
            line.put("max_rel_err_sampled", err);
            line.put("paths", loaded.generated().paths());
            emit(line);
        }
    }

    void mmaGemm(ComputeDevice device, int s, boolean bf16) {
        // even k: the int-pair kernels read two 16-bit elements per 32-bit load through zero-copy int views
        boolean pairs = s % 2 == 0;
        Method kernel = method(GemmKernels.class, (bf16 ? "mmaGemmBF16" : "mmaGemmF16") + (pairs ? "Pairs" : ""));
        int blockM = pairs ? GemmKernels.PAIR_BLOCK_M : GemmKernels.BLOCK;
        int blockN = pairs ? GemmKernels.PAIR_BLOCK_N : GemmKernels.BLOCK;
        int group = pairs ? GemmKernels.PAIR_GROUP_SIZE : GemmKernels.MMA_GROUP_SIZE;
        mmaGemmCase(device, s, bf16, pairs, kernel, new Object[0], group, blockM, blockN,
                "gemm " + (bf16 ? "bf16" : "f16") + " A*B^T (JIT " + kernel.getName() + ")", Map.of());
    }

    /** The bf16 pair GEMM with one tiling, through the {@code @Constant} entry point; s must be even. */
    void pairTiling(ComputeDevice device, int s, PairTiling t) {
        Method kernel = method(GemmKernels.class, "mmaGemmBF16PairsTiled");
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("tiling", t.label());
        facts.put("block", List.of(t.blockM(), t.blockN()));
        facts.put("warps", List.of(t.warpsM(), t.warpsN()));
        facts.put("warp_tile", List.of(t.warpMTiles() * 16, t.warpNTiles() * 8));
        facts.put("bk", t.bk());
        facts.put("group_size", t.groupSize());
        facts.put("local_memory_bytes", t.localMemoryBytes());
        mmaGemmCase(device, s, true, true, kernel, new Object[] {t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk()}, t.groupSize(), t.blockM(), t.blockN(),
                "gemm bf16 A*B^T (JIT " + kernel.getName() + " " + t.label() + ")", facts);
    }

    /**
     * A ring-fed bf16 pair GEMM with one tiling, through its {@code @Constant} entry point ({@code
     * GemmKernels.mmaGemmBF16PairsAsync} or {@code PipelinedGemmKernels.mmaGemmBF16Pipelined}); s must be even.
     */
    void ringTiling(ComputeDevice device, int s, Method kernel, RingTiling t) {
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("tiling", t.label());
        facts.put("block", List.of(t.blockM(), t.blockN()));
        facts.put("warps", List.of(t.warpsM(), t.warpsN()));
        facts.put("warp_tile", List.of(t.warpMTiles() * 16, t.warpNTiles() * 8));
        facts.put("bk", t.bk());
        facts.put("stages", t.stages());
        facts.put("group_size", t.groupSize());
        facts.put("local_memory_bytes", t.localMemoryBytes());
        mmaGemmCase(device, s, true, true, kernel, new Object[] {t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk(), t.stages()}, t.groupSize(), t.blockM(), t.blockN(),
                "gemm bf16 A*B^T (JIT " + kernel.getName() + " " + t.label() + ")", facts);
    }

    /**
     * Times one tensor-core GEMM at s³ and checks sampled entries: {@code kernel(ctx, a, bt, c, s, s, s,
     * constants...)} over work-groups of {@code group} x 1, {@code blockM x blockN} of C each.
     */
    private void mmaGemmCase(ComputeDevice device, int s, boolean bf16, boolean pairs, Method kernel,
            Object[] constants, int group, int blockM, int blockN, String caseName, Map<String, Object> facts) {
        SplittableRandom random = new SplittableRandom(3);
        float[] av = new float[s * s];
        float[] bv = new float[s * s];
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) (random.nextDouble() * 2 - 1);
            bv[i] = (float) (random.nextDouble() * 2 - 1);
        }
        NativeArray a = bf16 ? BFloat16Array.fromArray(av) : HalfFloatArray.fromArray(av);
        NativeArray bt = bf16 ? BFloat16Array.fromArray(bv) : HalfFloatArray.fromArray(bv);
        FloatArray c = new FloatArray(s * s);
        NativeArray aArg = pairs ? IntArray.fromSegmentShallow(a.getSegment()) : a;
        NativeArray btArg = pairs ? IntArray.fromSegmentShallow(bt.getSegment()) : bt;
        Object[] args = new Object[7 + constants.length];
        Object[] fixed = {null, aArg, btArg, c, s, s, s};
        System.arraycopy(fixed, 0, args, 0, fixed.length);
        System.arraycopy(constants, 0, args, fixed.length, constants.length);
        try (DeviceBuffer da = upload(device, a); DeviceBuffer db = upload(device, bt);
                DeviceBuffer dc = device.allocate(c.getNumBytesOfSegment())) {
            DeviceKernel loaded = device.load(KernelJit.shared().compile(kernel, args, device.dialect(), device.features(), group));
            long[] global = {(long) (s + blockN - 1) / blockN * group, (s + blockM - 1) / blockM, 1};
            int[] local = {group, 1, 1};
            List<Object> launchArgs = arguments(loaded.generated(), args, Map.of(aArg, da, btArg, db, c, dc));
            double ms = median(device, () -> device.launch(loaded, global, local, launchArgs));
            device.copyToHost(dc, 0, c.getSegment());
            double err = bf16
                    ? sampledGemmError(s, (i, kk) -> ((BFloat16Array) a).get(i * s + kk), (kk, j) -> ((BFloat16Array) bt).get(j * s + kk), c)
                    : sampledGemmError(s, (i, kk) -> ((HalfFloatArray) a).get(i * s + kk), (kk, j) -> ((HalfFloatArray) bt).get(j * s + kk), c);
            Map<String, Object> line = header(caseName, device.backendName(), device.deviceName());
            line.put("shape", List.of(s, s, s));
            line.putAll(facts);
            line.put("median_ms", round(ms, 3));
            line.put("tflops", round(2.0 * s * s * s / (ms / 1e3) / 1e12, 1));
            line.put("max_rel_err_sampled", err);
            line.put("paths", loaded.generated().paths());
            emit(line);
        }
    }

    private interface Element {
        double at(int row, int col);
    }

    /** Largest error of 64 sampled C entries, relative to the sum of |products| (the scale of the rounding). */
    private static double sampledGemmError(int s, Element a, Element b, FloatArray c) {
        SplittableRandom random = new SplittableRandom(99);
        double worst = 0;
        for (int sample = 0; sample < 64; sample++) {
            int i = random.nextInt(s);
            int j = random.nextInt(s);
            double exact = 0;
            double scale = 0;
            for (int kk = 0; kk < s; kk++) {
                double p = a.at(i, kk) * b.at(kk, j);
                exact += p;
                scale += Math.abs(p);
            }
            worst = Math.max(worst, Math.abs(c.get(i * s + j) - exact) / scale);
        }
        return worst;
    }

    private double median(ComputeDevice device, Runnable launch) {
        // Warm-up launches also let the JVM compile the launch path, whose interpreted host time would otherwise
        // leave the device idle between timed kernels.
        for (int w = 0; w < WARMUP_LAUNCHES; w++) {
            launch.run();
        }
        device.synchronize();
        double[] ms = new double[reps];
        for (int r = 0; r < reps; r++) {
            ms[r] = device.timeNanos(launch) / 1e6;
        }
        Arrays.sort(ms);
        return reps % 2 == 1 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
    }

    private static List<Object> arguments(GeneratedKernel kernel, Object[] javaArgs, Map<Object, DeviceBuffer> buffers) {
        return LaunchArguments.of("kernel-bench " + kernel.javaName(), kernel, javaArgs, buffers::get);
    }

    private static DeviceBuffer upload(ComputeDevice device, NativeArray array) {
        DeviceBuffer buffer = device.allocate(array.getNumBytesOfSegment());
        device.copyToDevice(array.getSegment(), buffer, 0);
        return buffer;
    }

    private static FloatArray randomFloats(int n, SplittableRandom random) {
        FloatArray array = new FloatArray(n);
        for (int i = 0; i < n; i++) {
            array.set(i, (float) (random.nextDouble() * 2 - 1));
        }
        return array;
    }

    private static long roundUp(long n, long multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    private static Method method(Class<?> owner, String name) {
        return Arrays.stream(owner.getMethods()).filter(m -> m.getName().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalStateException(owner.getName() + "." + name + " is missing"));
    }

    private static Map<String, Object> header(String name, String backend, String device) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("harness", "sparge4j kernel-bench");
        line.put("case", name);
        line.put("backend", backend);
        line.put("device", device);
        return line;
    }

    private void emit(Map<String, Object> line) {
        JsonLines.emit(out, "kernel-bench", line);
    }

    private static double round(double value, int digits) {
        return JsonLines.round(value, digits);
    }
}

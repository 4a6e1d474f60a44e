package io.sparge4j.engine.selftest;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.KernelCompiler;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.TaskProfile;
import io.sparge4j.kernels.WorkerGrid;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Runs the portability kernels ({@link PortabilityKernels}) and the GEMM kernels ({@link GemmKernels}) through
 * the task-graph API on one device, at small sizes that are not multiples of the tiles, and compares each
 * against a plain-Java float64 reference on the same (seeded, random, non-zero) inputs. Every kernel runs on
 * every backend; a kernel that throws is a failure, never a skip.
 *
 * <p>Tolerances are per kernel, below, with the reason: an element passes when
 * {@code |actual - expected| <= atol + rtol * |expected|}. They allow for the device's float rounding, operation
 * order (FMA contraction, tree reductions) and transcendental functions, not for wrong results.
 */
public final class SelfTest {
    /** The kernels, in the order they run. */
    public static final List<String> KERNELS = List.of("saxpy", "reduceSum", "gemmTiled", "softmaxRows", "histogram",
            "mmaTileF16", "mmaTileBF16", "geluScaled", "windowSum", "matmulLoops", "sgemm", "mmaGemmBF16",
            "mmaGemmF16");

    private final ComputeDevice device;
    private final KernelCompiler compiler;

    /** What one kernel produced and what it should have. */
    private record Outcome(float[] actual, double[] expected, double rtol, double atol, TaskProfile profile) {
    }

    /**
     * @param device the device to test; not closed by this class
     * @param compiler the compiler for its kernels
     */
    public SelfTest(ComputeDevice device, KernelCompiler compiler) {
        this.device = device;
        this.compiler = compiler;
    }

    /**
     * Opens the selected device, runs every kernel and closes it.
     *
     * @param selection the backend and device
     * @return the report
     * @throws io.sparge4j.engine.device.BackendException when the device cannot be opened
     */
    public static SelfTestReport run(BackendSelection selection) {
        try (ComputeDevice device = ExecutionBackends.openDevice(selection)) {
            return new SelfTest(device, ExecutionBackends.compiler(selection)).runAll();
        }
    }

    /** @return one result per kernel of {@link #KERNELS} */
    public SelfTestReport runAll() {
        List<SelfTestResult> results = new ArrayList<>();
        for (String k : KERNELS) {
            results.add(run(k));
        }
        return new SelfTestReport(device.backendName(), device.deviceName(), results);
    }

    /**
     * @param kernel one of {@link #KERNELS}
     * @return its result
     */
    public SelfTestResult run(String kernel) {
        Supplier<Outcome> check = switch (kernel) {
            case "saxpy" -> this::saxpy;
            case "reduceSum" -> this::reduceSum;
            case "gemmTiled" -> this::gemmTiled;
            case "softmaxRows" -> this::softmaxRows;
            case "histogram" -> this::histogram;
            case "mmaTileF16" -> () -> mmaTile(false);
            case "mmaTileBF16" -> () -> mmaTile(true);
            case "geluScaled" -> this::geluScaled;
            case "windowSum" -> this::windowSum;
            case "matmulLoops" -> this::matmulLoops;
            case "sgemm" -> this::sgemm;
            case "mmaGemmBF16" -> () -> mmaGemm(true);
            case "mmaGemmF16" -> () -> mmaGemm(false);
            default -> throw new IllegalArgumentException("SelfTest.run: kernel is '" + kernel + "', expected one of "
                    + KERNELS);
        };
        Outcome o;
        try {
            o = check.get();
        } catch (RuntimeException | Error e) {
            String message = e.getMessage() == null ? e.getClass().getName() : e.getMessage();
            return new SelfTestResult(kernel, false, "-", Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, 0,
                    e.getClass().getSimpleName() + ": " + message.lines().findFirst().orElse(""));
        }
        return compare(kernel, o);
    }

    static SelfTestResult compare(String kernel, Outcome o) {
        double maxAbs = 0;
        double maxRel = 0;
        String detail = "";
        if (o.actual.length != o.expected.length) {
            detail = o.actual.length + " results, expected " + o.expected.length;
        }
        for (int i = 0; i < Math.min(o.actual.length, o.expected.length); i++) {
            double diff = Math.abs(o.actual[i] - o.expected[i]);
            if (Double.isNaN(diff)) {
                diff = Double.POSITIVE_INFINITY;
            }
            maxAbs = Math.max(maxAbs, diff);
            maxRel = Math.max(maxRel, diff / Math.max(Math.abs(o.expected[i]), 1e-6));
            if (detail.isEmpty() && !(diff <= o.atol + o.rtol * Math.abs(o.expected[i]))) {
                detail = String.format(java.util.Locale.ROOT, "element %d is %.9g, expected %.9g", i, o.actual[i],
                        o.expected[i]);
            }
        }
        TaskProfile p = o.profile;
        return new SelfTestResult(kernel, detail.isEmpty(), p.pathReport(), maxAbs, maxRel, o.rtol, o.atol, p.kernelNanos() / 1e6, p.compileMillis(),
                detail);
    }

    /** Runs a one-task graph on the device and returns the task's profile. */
    private TaskProfile execute(TaskGraph graph, WorkerGrid grid) {
        String task = graph.snapshot().tasks().getFirst().qualifiedName();
        GridScheduler grids = grid == null ? new GridScheduler() : new GridScheduler(task, grid);
        try (ExecutionPlan plan = new ExecutionPlan(graph.snapshot()).withGridScheduler(grids)
                .withExecutor(new TaskGraphExecutor(device, compiler, false))) {
            return plan.execute().task(task);
        }
    }

    private static WorkerGrid1D grid1D(int global, int local) {
        WorkerGrid1D g = new WorkerGrid1D(global);
        g.setLocalWork(local, 1, 1);
        return g;
    }

    private static WorkerGrid2D grid2D(int gx, int gy, int lx, int ly) {
        WorkerGrid2D g = new WorkerGrid2D(gx, gy);
        g.setLocalWork(lx, ly, 1);
        return g;
    }

    private static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }

    /** An output array full of NaN, so that an element the kernel does not write fails. */
    private static FloatArray poisoned(int n) {
        FloatArray a = new FloatArray(n);
        a.init(Float.NaN);
        return a;
    }

    private Outcome saxpy() {
        Random rnd = new Random(101);
        int n = 1000;
        float alpha = 1.7f;
        FloatArray x = FloatArray.fromArray(gaussian(rnd, n));
        FloatArray y = FloatArray.fromArray(gaussian(rnd, n));
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            expected[i] = (double) alpha * x.get(i) + y.get(i);
        }
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, y)
                .task("saxpy", PortabilityKernels::saxpy, new KernelContext(), alpha, x, y, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, y), grid1D(roundUp(n, 128), 128));
        // one multiply-add in float, fused or not: 1e-6 relative, 1e-6 absolute
        return new Outcome(y.toHeapArray(), expected, 1e-6, 1e-6, p);
    }

    private Outcome reduceSum() {
        Random rnd = new Random(102);
        int n = 1000;
        int local = 128;
        int groups = (n + local - 1) / local;
        FloatArray input = FloatArray.fromArray(gaussian(rnd, n));
        FloatArray partial = poisoned(groups);
        double[] expected = new double[groups];
        for (int i = 0; i < n; i++) {
            expected[i / local] += input.get(i);
        }
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, input)
                .task("reduceSum", PortabilityKernels::reduceSum, new KernelContext(), input, partial, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, partial), grid1D(groups * local, local));
        // a tree of 127 float adds over N(0,1) values (sums ~ 11): 1e-5 relative, 1e-4 absolute
        return new Outcome(partial.toHeapArray(), expected, 1e-5, 1e-4, p);
    }

    private Outcome gemmTiled() {
        Random rnd = new Random(103);
        int m = 37;
        int n = 29;
        int k = 23;
        FloatArray a = FloatArray.fromArray(gaussian(rnd, m * k));
        FloatArray b = FloatArray.fromArray(gaussian(rnd, k * n));
        FloatArray c = poisoned(m * n);
        double[] expected = gemmReference(a, b, m, n, k);
        int t = PortabilityKernels.TILE;
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b)
                .task("gemmTiled", PortabilityKernels::gemmTiled, new KernelContext(), a, b, c, m, n, k)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, c), grid2D(roundUp(n, t), roundUp(m, t), t, t));
        // 23 float FMAs of N(0,1) products (sums ~ 5): 1e-5 relative, 1e-4 absolute
        return new Outcome(c.toHeapArray(), expected, 1e-5, 1e-4, p);
    }

    private Outcome softmaxRows() {
        Random rnd = new Random(104);
        int rows = 5;
        int cols = 77;
        FloatArray in = FloatArray.fromArray(gaussian(rnd, rows * cols));
        FloatArray out = poisoned(rows * cols);
        double[] expected = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, in.get(r * cols + c));
            }
            double sum = 0;
            for (int c = 0; c < cols; c++) {
                sum += Math.exp(in.get(r * cols + c) - max);
            }
            for (int c = 0; c < cols; c++) {
                expected[r * cols + c] = Math.exp(in.get(r * cols + c) - max) / sum;
            }
        }
        int w = PortabilityKernels.WARP;
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, in)
                .task("softmaxRows", PortabilityKernels::softmaxRows, new KernelContext(), in, out, rows, cols)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, out), grid1D(rows * w, w));
        // float exp (a few ulp on devices) and a 77-term float sum: 2e-5 relative, 1e-7 absolute
        return new Outcome(out.toHeapArray(), expected, 2e-5, 1e-7, p);
    }

    private Outcome histogram() {
        Random rnd = new Random(105);
        int n = 1000;
        int bins = 16;
        IntArray values = new IntArray(n);
        IntArray counts = new IntArray(bins);
        double[] expected = new double[bins];
        for (int i = 0; i < n; i++) {
            int v = rnd.nextInt(bins);
            values.set(i, v);
            expected[v]++;
        }
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, values, counts)
                .task("histogram", PortabilityKernels::histogram, new KernelContext(), values, counts, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, counts), grid1D(roundUp(n, 128), 128));
        float[] actual = new float[bins];
        for (int i = 0; i < bins; i++) {
            actual[i] = counts.get(i);
        }
        // integer atomics: exact
        return new Outcome(actual, expected, 0, 0, p);
    }

    private Outcome mmaTile(boolean bf16) {
        Random rnd = new Random(bf16 ? 106 : 107);
        int k = bf16 ? 32 : 48;
        float[] av = gaussian(rnd, 16 * k);
        float[] bv = gaussian(rnd, k * 8);
        HalfWidthFloatArray a = bf16 ? BFloat16Array.fromArray(av) : HalfFloatArray.fromArray(av);
        HalfWidthFloatArray b = bf16 ? BFloat16Array.fromArray(bv) : HalfFloatArray.fromArray(bv);
        FloatArray c = poisoned(16 * 8);
        double[] expected = new double[16 * 8];
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 8; j++) {
                for (int p = 0; p < k; p++) {
                    expected[i * 8 + j] += (double) a.get(i * k + p) * b.get(p * 8 + j);
                }
            }
        }
        TaskGraph graph = new TaskGraph("selftest").transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b);
        if (bf16) {
            graph.task("mmaTileBF16", PortabilityKernels::mmaTileBF16, new KernelContext(), (BFloat16Array) a,
                    (BFloat16Array) b, c, k);
        } else {
            graph.task("mmaTileF16", PortabilityKernels::mmaTileF16, new KernelContext(), (HalfFloatArray) a,
                    (HalfFloatArray) b, c, k);
        }
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, c);
        TaskProfile p = execute(graph, grid1D(PortabilityKernels.WARP, PortabilityKernels.WARP));
        // 16-bit products are exact in float; up to 48 float adds of sums ~ 7 in the tensor core's order:
        // 1e-5 relative, 1e-4 absolute
        return new Outcome(c.toHeapArray(), expected, 1e-5, 1e-4, p);
    }

    private Outcome geluScaled() {
        Random rnd = new Random(108);
        int n = 300;
        float scale = 1.5f;
        FloatArray x = FloatArray.fromArray(gaussian(rnd, n));
        FloatArray y = poisoned(n);
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            double v = x.get(i);
            expected[i] = 0.5 * v * (1 + Math.tanh(0.7978845608 * (v + 0.044715 * v * v * v))) * scale;
        }
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
                .task("geluScaled", PortabilityKernels::geluScaled, new KernelContext(), x, y, scale, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, y), grid1D(roundUp(n, 32), 32));
        // float tanh (a few ulp on devices) and float arithmetic: 1e-5 relative, 1e-6 absolute
        return new Outcome(y.toHeapArray(), expected, 1e-5, 1e-6, p);
    }

    private Outcome windowSum() {
        Random rnd = new Random(109);
        int n = 300;
        int width = 5;
        FloatArray x = FloatArray.fromArray(gaussian(rnd, n));
        FloatArray y = poisoned(n);
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < width && i + j < n; j++) {
                expected[i] += x.get(i + j);
            }
        }
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
                .task("windowSum", PortabilityKernels::windowSum, new KernelContext(), x, y, width, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, y), grid1D(roundUp(n, 64), 64));
        // 5 float adds: 1e-6 relative, 1e-6 absolute
        return new Outcome(y.toHeapArray(), expected, 1e-6, 1e-6, p);
    }

    private Outcome matmulLoops() {
        Random rnd = new Random(110);
        int n = 23;
        FloatArray a = FloatArray.fromArray(gaussian(rnd, n * n));
        FloatArray b = FloatArray.fromArray(gaussian(rnd, n * n));
        FloatArray c = poisoned(n * n);
        double[] expected = gemmReference(a, b, n, n, n);
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b)
                .task("matmulLoops", PortabilityKernels::matmulLoops, a, b, c, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, c), null);
        // 23 float FMAs (sums ~ 5): 1e-5 relative, 1e-4 absolute
        return new Outcome(c.toHeapArray(), expected, 1e-5, 1e-4, p);
    }

    private Outcome sgemm() {
        Random rnd = new Random(111);
        int m = 133;
        int n = 70;
        int k = 37;
        FloatArray a = FloatArray.fromArray(gaussian(rnd, m * k));
        FloatArray b = FloatArray.fromArray(gaussian(rnd, k * n));
        FloatArray c = poisoned(m * n);
        double[] expected = gemmReference(a, b, m, n, k);
        int e = GemmKernels.SGEMM_GROUP_EDGE;
        int block = GemmKernels.BLOCK;
        TaskProfile p = execute(new TaskGraph("selftest")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b)
                .task("sgemm", GemmKernels::sgemm, new KernelContext(), a, b, c, m, n, k)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, c),
                grid2D((n + block - 1) / block * e, (m + block - 1) / block * e, e, e));
        // 37 float FMAs of N(0,1) products (sums ~ 6): 1e-5 relative, 1e-4 absolute
        return new Outcome(c.toHeapArray(), expected, 1e-5, 1e-4, p);
    }

    /**
     * The general MMA GEMM at 70x45x48 (edges only) and the pair kernel at 260x300x70 (whole tiles and edges in
     * m, n and k), both against float64; their results are checked as one array.
     */
    private Outcome mmaGemm(boolean bf16) {
        Random rnd = new Random(bf16 ? 112 : 113);
        Outcome general = mmaGemmRun(rnd, bf16, false, 70, 45, 48);
        Outcome pairs = mmaGemmRun(rnd, bf16, true, 260, 300, 70);
        int g = general.actual().length;
        float[] actual = Arrays.copyOf(general.actual(), g + pairs.actual().length);
        double[] expected = Arrays.copyOf(general.expected(), actual.length);
        System.arraycopy(pairs.actual(), 0, actual, g, pairs.actual().length);
        System.arraycopy(pairs.expected(), 0, expected, g, pairs.expected().length);
        // 16-bit products are exact in float; up to 70 float adds of sums ~ 8 in the tensor core's order:
        // 1e-5 relative, 1e-4 absolute
        return new Outcome(actual, expected, 1e-5, 1e-4, pairs.profile());
    }

    /** Runs mmaGemmBF16/F16 or, with {@code pairs}, their int-pair variants on fresh inputs (tolerances unset). */
    private Outcome mmaGemmRun(Random rnd, boolean bf16, boolean pairs, int m, int n, int k) {
        float[] av = gaussian(rnd, m * k);
        float[] bv = gaussian(rnd, n * k);
        HalfWidthFloatArray a = bf16 ? BFloat16Array.fromArray(av) : HalfFloatArray.fromArray(av);
        HalfWidthFloatArray bt = bf16 ? BFloat16Array.fromArray(bv) : HalfFloatArray.fromArray(bv);
        FloatArray c = poisoned(m * n);
        double[] expected = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < k; p++) {
                    expected[i * n + j] += (double) a.get(i * k + p) * bt.get(j * k + p);
                }
            }
        }
        TaskGraph graph = new TaskGraph("selftest");
        if (pairs) {
            IntArray ap = IntArray.fromSegmentShallow(a.getSegment());
            IntArray bp = IntArray.fromSegmentShallow(bt.getSegment());
            graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, ap, bp);
            if (bf16) {
                graph.task("mmaGemmBF16Pairs", GemmKernels::mmaGemmBF16Pairs, new KernelContext(), ap, bp, c, m, n,
                        k);
            } else {
                graph.task("mmaGemmF16Pairs", GemmKernels::mmaGemmF16Pairs, new KernelContext(), ap, bp, c, m, n,
                        k);
            }
        } else {
            graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, a, bt);
            if (bf16) {
                graph.task("mmaGemmBF16", GemmKernels::mmaGemmBF16, new KernelContext(), (BFloat16Array) a,
                        (BFloat16Array) bt, c, m, n, k);
            } else {
                graph.task("mmaGemmF16", GemmKernels::mmaGemmF16, new KernelContext(), (HalfFloatArray) a,
                        (HalfFloatArray) bt, c, m, n, k);
            }
        }
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, c);
        int blockM = pairs ? GemmKernels.PAIR_BLOCK_M : GemmKernels.BLOCK;
        int blockN = pairs ? GemmKernels.PAIR_BLOCK_N : GemmKernels.BLOCK;
        int group = pairs ? GemmKernels.PAIR_GROUP_SIZE : GemmKernels.MMA_GROUP_SIZE;
        TaskProfile p = execute(graph, grid2D((n + blockN - 1) / blockN * group, (m + blockM - 1) / blockM, group,
                1));
        return new Outcome(c.toHeapArray(), expected, 0, 0, p);
    }

    private static double[] gemmReference(FloatArray a, FloatArray b, int m, int n, int k) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a.get(i * k + p) * b.get(p * n + j);
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }
}

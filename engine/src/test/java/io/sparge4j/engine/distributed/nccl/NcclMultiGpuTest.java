package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A real multi-GPU job: one child JVM per GPU (as {@code sparge launch} starts them, with PyTorch's variables),
 * each joining through {@link NcclCommunicator#fromEnvironment} and running every collective on rank-dependent
 * random data against a float64 reference that every rank recomputes from the seeds. Skipped, with the reason,
 * with fewer than two GPUs or without NCCL. {@code SPARGE_NCCL_TEST_WORLD} caps the ranks (default: every GPU, at
 * most 8).
 */
class NcclMultiGpuTest {
    @Test
    void everyCollectiveAcrossRealGpus() throws Exception {
        String missing = null;
        try {
            NcclLibrary.load();
        } catch (BackendException e) {
            missing = e.getMessage();
        }
        assumeTrue(missing == null, "multi-GPU NCCL test skipped: " + missing);
        int gpus = CudaDevice.deviceCount();
        assumeTrue(gpus >= 2, "multi-GPU NCCL test skipped: it needs 2 or more CUDA GPUs, this machine has " + gpus);
        String cap = System.getenv("SPARGE_NCCL_TEST_WORLD");
        int world = Math.min(cap == null ? 8 : Integer.parseInt(cap), gpus);
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        List<Process> ranks = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        try {
            for (int r = 0; r < world; r++) {
                // Output to a file: a pipe nobody reads while the ranks run could fill (NCCL_DEBUG=INFO) and block.
                Path log = Files.createTempFile("nccl-rank-" + r + "-", ".log");
                logs.add(log);
                ProcessBuilder builder = new ProcessBuilder(childJvm(Rank.class.getName())).redirectErrorStream(true)
                        .redirectOutput(log.toFile());
                builder.environment().put("RANK", Integer.toString(r));
                builder.environment().put("LOCAL_RANK", Integer.toString(r));
                builder.environment().put("WORLD_SIZE", Integer.toString(world));
                builder.environment().put("MASTER_ADDR", "127.0.0.1");
                builder.environment().put("MASTER_PORT", Integer.toString(port));
                ranks.add(builder.start());
            }
            StringBuilder report = new StringBuilder();
            List<Integer> codes = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                Process p = ranks.get(r);
                boolean done = p.waitFor(240, TimeUnit.SECONDS);
                if (!done) {
                    ranks.forEach(Process::destroyForcibly);
                }
                report.append("--- rank ").append(r).append(":\n")
                        .append(Files.readString(logs.get(r), StandardCharsets.UTF_8));
                codes.add(done ? p.exitValue() : -1);
            }
            System.out.println(report);
            assertEquals(java.util.Collections.nCopies(world, 0), codes, report::toString);
        } finally {
            ranks.forEach(Process::destroyForcibly);
            for (Path log : logs) {
                Files.deleteIfExists(log);
            }
        }
    }

    /** java, this JVM's flags, the class path the test classes came from (a console launcher's too), the class. */
    private static List<String> childJvm(String mainClass) throws URISyntaxException {
        List<String> jvm = new ArrayList<>();
        jvm.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String flag : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!flag.startsWith("-agentlib:jdwp")) {
                jvm.add(flag);
            }
        }
        Set<String> path = new LinkedHashSet<>();
        for (ClassLoader l = NcclMultiGpuTest.class.getClassLoader(); l != null; l = l.getParent()) {
            if (l instanceof URLClassLoader urls) {
                for (URL url : urls.getURLs()) {
                    path.add(Path.of(url.toURI()).toString());
                }
            }
        }
        path.addAll(List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
        jvm.add("-cp");
        jvm.add(String.join(File.pathSeparator, path));
        jvm.add(mainClass);
        return jvm;
    }

    /** One rank: joins, checks every collective, exits 0 when all matched, 1 (with the first mismatch) else. */
    public static final class Rank {
        private static final int ROWS = 6;
        private static final int COLS = 257;

        private Rank() {
        }

        /** @param args none */
        public static void main(String[] args) {
            try (NcclCommunicator comm = NcclCommunicator.fromEnvironment(System.getenv(), Duration.ofSeconds(120))) {
                System.out.println(comm.describe());
                int rank = comm.rank();
                int world = comm.worldSize();
                for (DType dtype : List.of(DType.F32, DType.BF16)) {
                    for (ReduceOp op : ReduceOp.values()) {
                        try (Tensor t = data(dtype, 10 + op.ordinal(), rank, world * ROWS)) {
                            comm.allReduce(t, op);
                            check("allReduce " + op + " " + dtype, t, reduce(dtype, 10 + op.ordinal(), world,
                                    world * ROWS, op, 0, world * ROWS * COLS), dtype, world);
                        }
                    }
                    try (Tensor in = data(dtype, 20, rank, world * ROWS);
                         Tensor out = Tensor.allocate(dtype, ROWS, COLS)) {
                        comm.reduceScatter(in, out, ReduceOp.SUM);
                        check("reduceScatter " + dtype, out, reduce(dtype, 20, world, world * ROWS, ReduceOp.SUM,
                                rank * ROWS * COLS, ROWS * COLS), dtype, world);
                    }
                    try (Tensor in = data(dtype, 30, rank, ROWS); Tensor out = Tensor.allocate(dtype, world * ROWS,
                            COLS)) {
                        comm.allGather(in, out);
                        double[] expected = new double[world * ROWS * COLS];
                        for (int r = 0; r < world; r++) {
                            System.arraycopy(values(dtype, 30, r, ROWS), 0, expected, r * ROWS * COLS, ROWS * COLS);
                        }
                        check("allGather " + dtype, out, expected);
                    }
                    try (Tensor in = data(dtype, 40, rank, world * ROWS);
                         Tensor out = Tensor.allocate(dtype, world * ROWS, COLS)) {
                        comm.allToAll(in, out);
                        double[] expected = new double[world * ROWS * COLS];
                        for (int r = 0; r < world; r++) {
                            // rank r's part for this rank: its rows [rank * ROWS, (rank + 1) * ROWS)
                            System.arraycopy(values(dtype, 40, r, world * ROWS), rank * ROWS * COLS, expected,
                                    r * ROWS * COLS, ROWS * COLS);
                        }
                        check("allToAll " + dtype, out, expected);
                    }
                    int root = world - 1;
                    try (Tensor t = data(dtype, 50, rank, ROWS)) {
                        comm.broadcast(t, root);
                        check("broadcast " + dtype, t, values(dtype, 50, root, ROWS));
                    }
                }
                comm.barrier();
                System.out.println("rank " + rank + " of " + world + ": every collective matched");
            } catch (Throwable t) {
                t.printStackTrace(System.out);
                System.exit(1);
            }
            System.exit(0);
        }

        /** Rank r's input: uniform in [-2, 2) from a generator seeded by (seed, r), rounded to the dtype. */
        private static Tensor data(DType dtype, int seed, int rank, int rows) {
            return Tensor.rand(new SplittableRandom(seed * 1000L + rank), dtype, -2f, 2f, rows, COLS);
        }

        private static double[] values(DType dtype, int seed, int rank, int rows) {
            try (Tensor t = data(dtype, seed, rank, rows)) {
                return t.toDoubleArray();
            }
        }

        /**
         * The float64 reduction over every rank's input of {@code rows} rows, elements [from, from + length), and
         * beside it the magnitude that bounds the rounding error of a reduction in the dtype: the sum of |x| for
         * SUM and AVG, the product of |x| for PROD, zero for MAX and MIN (which pick a value and round nothing).
         */
        private static double[][] reduce(DType dtype, int seed, int world, int rows, ReduceOp op, int from,
                int length) {
            double[] acc = new double[length];
            double[] magnitude = new double[length];
            for (int r = 0; r < world; r++) {
                double[] v = values(dtype, seed, r, rows);
                for (int i = 0; i < length; i++) {
                    double x = v[from + i];
                    if (r == 0) {
                        acc[i] = x;
                        magnitude[i] = op == ReduceOp.MAX || op == ReduceOp.MIN ? 0 : Math.abs(x);
                        continue;
                    }
                    acc[i] = switch (op) {
                        case SUM, AVG -> acc[i] + x;
                        case PROD -> acc[i] * x;
                        case MAX -> Math.max(acc[i], x);
                        case MIN -> Math.min(acc[i], x);
                    };
                    magnitude[i] = switch (op) {
                        case SUM, AVG -> magnitude[i] + Math.abs(x);
                        case PROD -> magnitude[i] * Math.abs(x);
                        case MAX, MIN -> 0;
                    };
                }
            }
            if (op == ReduceOp.AVG) {
                for (int i = 0; i < length; i++) {
                    acc[i] /= world;
                    magnitude[i] /= world;
                }
            }
            return new double[][] {acc, magnitude};
        }

        /** An exact copy: every element equal. */
        private static void check(String what, Tensor actual, double[] expected) {
            check(what, actual, new double[][] {expected, new double[expected.length]}, DType.F32, 1);
        }

        /**
         * A reduction: each element within 2 * world * u * magnitude of the float64 value, u the dtype's unit
         * roundoff (2^-24 for f32, 2^-8 for bf16), the classic bound for a sum of world terms rounded at each step,
         * doubled for the final rounding to the dtype.
         */
        private static void check(String what, Tensor actual, double[][] expected, DType dtype, int world) {
            double[] got = actual.toDoubleArray();
            double u = dtype == DType.F32 ? 0x1p-24 : 0x1p-8;
            for (int i = 0; i < expected[0].length; i++) {
                double tol = 2 * (world + 1) * u * expected[1][i];
                if (!(Math.abs(got[i] - expected[0][i]) <= tol)) {
                    throw new AssertionError(what + ": element " + i + " is " + got[i] + ", expected "
                            + expected[0][i] + " within " + tol);
                }
            }
        }
    }
}

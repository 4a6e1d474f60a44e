package io.sparge4j.engine.bench;

import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.gpu.DeviceCollectives;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Times the collectives on f32 device tensors ({@link DeviceCollectives}) as nccl-tests does, so the figures compare
 * with NVIDIA's: for each operation and message size, the median wall time of {@code reps} calls after a warm-up
 * call, the algorithm bandwidth {@code algbw = bytes / time} and the bus bandwidth {@code busbw = algbw * factor}
 * (all-reduce {@code 2 (n - 1) / n}; all-gather, reduce-scatter and all-to-all {@code (n - 1) / n}; n the world size),
 * where {@code bytes} is the size of the larger buffer of the call. Every rank runs every case together; rank 0 prints
 * one JSON line per case. Each case first checks its result: rank r fills its input with r + 1 (and position-marked
 * values), so the sum, the gathered parts and the exchanged chunks are known exactly.
 */
public final class CollectiveBench {

    /** The operations timed. */
    public enum Operation {
        ALL_REDUCE("all_reduce"), ALL_GATHER("all_gather"), REDUCE_SCATTER("reduce_scatter"), ALL_TO_ALL("all_to_all");

        private final String json;

        Operation(String json) {
            this.json = json;
        }

        /** @return the name in the JSON lines and on the command line ({@code all_reduce}, ...) */
        public String json() {
            return json;
        }

        /**
         * @param word {@code all_reduce}, {@code all-reduce}, ... in any case
         * @return the operation
         * @throws IllegalArgumentException naming the word and the choices
         */
        public static Operation parse(String word) {
            String w = word.strip().toLowerCase(Locale.ROOT).replace('-', '_');
            for (Operation op : values()) {
                if (op.json.equals(w)) {
                    return op;
                }
            }
            throw new IllegalArgumentException("--ops: got '" + word + "', expected all_reduce, all_gather,"
                    + " reduce_scatter or all_to_all");
        }
    }

    private final Communicator comm;
    private final DeviceSession session;
    private final PrintWriter out;

    /**
     * @param comm the ranks (every rank constructs and runs the bench together)
     * @param session this rank's device
     * @param out where rank 0 prints the JSON lines
     */
    public CollectiveBench(Communicator comm, DeviceSession session, PrintWriter out) {
        if (comm == null || session == null || out == null) {
            throw new IllegalArgumentException("CollectiveBench: comm, session and out are required, got " + comm
                    + ", " + session + ", " + out);
        }
        this.comm = comm;
        this.session = session;
        this.out = out;
    }

    /**
     * @param ops the operations
     * @param sizes message sizes in f32 elements per rank's input (rounded down to a multiple of the world size)
     * @param reps timed calls per case, at least 1
     */
    public void run(List<Operation> ops, List<Long> sizes, int reps) {
        if (reps < 1) {
            throw new IllegalArgumentException("CollectiveBench: reps is " + reps + ", expected at least 1");
        }
        int n = comm.worldSize();
        for (Operation op : ops) {
            for (long requested : sizes) {
                long elements = requested / n * n;
                if (elements < n || elements > Integer.MAX_VALUE / n) {
                    throw new IllegalArgumentException("--sizes: " + requested + " elements, expected " + n + " to "
                            + Integer.MAX_VALUE / n + " (a multiple of the world size; the kernels index 32-bit)");
                }
                runCase(op, (int) elements, reps);
            }
        }
    }

    private void runCase(Operation op, int elements, int reps) {
        int n = comm.worldSize();
        int rank = comm.rank();
        int outElements = switch (op) {
            case ALL_REDUCE, ALL_TO_ALL -> elements;
            case ALL_GATHER -> elements * n;
            case REDUCE_SCATTER -> elements / n;
        };
        try (Tensor host = Tensor.allocate(DType.F32, elements)) {
            for (int i = 0; i < elements; i++) {
                host.setFloat(i, marked(rank, i));
            }
            // all-reduce works in place on target (a copy of the input); the others write target whole
            try (DeviceTensor in = session.upload(host);
                 DeviceTensor target = op == Operation.ALL_REDUCE ? session.upload(host)
                         : session.empty(DType.F32, outElements)) {
                Runnable call = switch (op) {
                    case ALL_REDUCE -> () -> DeviceCollectives.allReduce(comm, target, ReduceOp.SUM);
                    case ALL_GATHER -> () -> DeviceCollectives.allGather(comm, in, target);
                    case REDUCE_SCATTER -> () -> DeviceCollectives.reduceScatter(comm, in, target, ReduceOp.SUM);
                    case ALL_TO_ALL -> () -> DeviceCollectives.allToAll(comm, in, target);
                };
                call.run();
                check(op, target, elements);
                Medians times = new Medians(reps);
                for (int r = 0; r < reps; r++) {
                    comm.barrier();
                    times.time(call);
                }
                double ms = times.medianMs();
                long bytes = 4L * Math.max(elements, outElements);
                double algbw = bytes / (ms * 1e-3) / 1e9;
                double factor = op == Operation.ALL_REDUCE ? 2.0 * (n - 1) / n : (n - 1.0) / n;
                if (rank == 0) {
                    Map<String, Object> line = new LinkedHashMap<>();
                    line.put("harness", "sparge4j collective-bench");
                    line.put("case", op.json());
                    line.put("backend", session.backendName());
                    line.put("device", session.deviceName());
                    line.put("world", n);
                    line.put("direct", DeviceCollectives.runsOnDevice(comm, in, target));
                    line.put("bytes", bytes);
                    line.put("median_ms", round(ms, 4));
                    line.put("algbw_gbs", round(algbw, 3));
                    line.put("busbw_gbs", round(algbw * factor, 3));
                    line.put("reps", reps);
                    line.put("checked", true);
                    emit(line);
                }
            }
        }
    }

    /** Rank r's input value at position i: r + 1 plus a small position mark, exact in f32 for i below 2^16. */
    private static float marked(int rank, int i) {
        return rank + 1 + (i % 256) / 1024f;
    }

    private void check(Operation op, DeviceTensor result, int elements) {
        int n = comm.worldSize();
        int rank = comm.rank();
        try (Tensor h = result.toHost()) {
            for (int i = 0; i < h.numel(); i += Math.max(1, (int) (h.numel() / 4096))) {
                float want = switch (op) {
                    // sum over ranks of (r + 1 + mark): n (n + 1) / 2 + n * mark
                    case ALL_REDUCE -> n * (n + 1) / 2f + n * ((i % 256) / 1024f);
                    case ALL_GATHER -> marked(i / elements, i % elements);
                    case REDUCE_SCATTER -> n * (n + 1) / 2f + n * (((rank * (elements / n) + i) % 256) / 1024f);
                    // chunk s of the output comes from rank s: its chunk r
                    case ALL_TO_ALL -> marked(i / (elements / n), rank * (elements / n) + i % (elements / n));
                };
                if (Math.abs(h.getFloat(i) - want) > 1e-3f * Math.abs(want)) {
                    throw new IllegalStateException("collective-bench: " + op.json() + " of " + elements
                            + " elements gave " + h.getFloat(i) + " at " + i + " on rank " + rank + ", expected " + want
                            + "; the collective is wrong, not slow");
                }
            }
        }
    }

    private void emit(Map<String, Object> line) {
        JsonLines.emit(out, "collective-bench", line);
    }

    private static double round(double value, int digits) {
        return JsonLines.round(value, digits);
    }
}

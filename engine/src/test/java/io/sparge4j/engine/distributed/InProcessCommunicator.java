package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A {@link Communicator} whose ranks are threads of one JVM, for tests only: the sharding and reassembly logic of
 * data- and sequence-parallel code runs on the CPU without NCCL.
 *
 * <p>Each collective is two barriers: every rank posts its arguments, waits for the others, checks every rank's
 * arguments (so all ranks throw the same error together instead of leaving one stuck), computes its own result into
 * a private buffer while reading the others' inputs, waits again, and only then writes its output. Outputs may
 * therefore alias inputs for every operation except {@link #allToAll}, which NCCL forbids too.
 *
 * <p>Reductions accumulate in float64 (integers in 64 bits) in rank order and round once to the dtype: F32, BF16,
 * F16, I32 and I64. allGather, allToAll and broadcast copy bytes, any dtype.
 *
 * <p>A barrier waits at most the group's timeout; a rank that times out, or {@link #runRanks} seeing a rank fail,
 * breaks the group so that no other rank hangs.
 */
public final class InProcessCommunicator implements Communicator {
    /** How long {@link #runRanks} and each barrier wait unless told otherwise. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private final Group group;
    private final int rank;
    private boolean closed;

    private InProcessCommunicator(Group group, int rank) {
        this.group = group;
        this.rank = rank;
    }

    /**
     * @param worldSize the number of ranks, at least 1
     * @return one communicator per rank, in rank order; each is used by one thread
     */
    public static List<InProcessCommunicator> group(int worldSize) {
        return group(worldSize, DEFAULT_TIMEOUT);
    }

    /**
     * @param worldSize the number of ranks, at least 1
     * @param timeout how long a rank waits at a barrier for the others before failing
     * @return one communicator per rank, in rank order
     */
    public static List<InProcessCommunicator> group(int worldSize, Duration timeout) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("InProcessCommunicator: worldSize is " + worldSize
                    + ", expected at least 1");
        }
        Group g = new Group(worldSize, timeout);
        List<InProcessCommunicator> ranks = new ArrayList<>(worldSize);
        for (int r = 0; r < worldSize; r++) {
            ranks.add(new InProcessCommunicator(g, r));
        }
        return List.copyOf(ranks);
    }

    /** {@link #runRanks(int, Duration, Function)} with {@link #DEFAULT_TIMEOUT}. */
    public static <T> List<T> runRanks(int worldSize, Function<Communicator, T> task) {
        return runRanks(worldSize, DEFAULT_TIMEOUT, task);
    }

    /**
     * Runs {@code task} once per rank, each on its own thread with its own communicator, and returns the results in
     * rank order. If a rank fails, the group is broken so the others stop at their next collective, and the first
     * failure (in time) is rethrown as it was, with the other ranks' failures suppressed.
     *
     * @param worldSize the number of ranks
     * @param timeout how long each barrier may wait, and (plus a second) all ranks together may take
     * @param task what one rank does; the communicator tells its rank
     * @return the tasks' results, in rank order
     * @throws IllegalStateException if the ranks did not finish within {@code timeout}
     */
    public static <T> List<T> runRanks(int worldSize, Duration timeout, Function<Communicator, T> task) {
        List<InProcessCommunicator> comms = group(worldSize, timeout);
        Group g = comms.getFirst().group;
        List<Throwable> failures = new ArrayList<>();
        AtomicInteger next = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(worldSize,
                r -> new Thread(r, "in-process-rank-" + next.getAndIncrement()));
        try {
            List<Future<T>> futures = new ArrayList<>(worldSize);
            for (InProcessCommunicator c : comms) {
                futures.add(pool.submit(() -> {
                    try (c) {
                        return task.apply(c);
                    } catch (Throwable t) {
                        synchronized (failures) {
                            failures.add(t);
                        }
                        g.breakGroup();
                        throw t;
                    }
                }));
            }
            // A second more than a barrier's timeout, so that a rank left waiting reports where it waited.
            long deadline = System.nanoTime() + timeout.toNanos() + 1_000_000_000L;
            List<T> results = new ArrayList<>(worldSize);
            for (int r = 0; r < worldSize; r++) {
                try {
                    results.add(futures.get(r).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
                } catch (TimeoutException e) {
                    g.breakGroup();
                    futures.forEach(f -> f.cancel(true));
                    throw new IllegalStateException("InProcessCommunicator.runRanks: rank " + r + " of " + worldSize
                            + " did not finish within " + timeout + " (plus 1 s); a rank may be waiting for something that never"
                            + " happens outside the communicator");
                } catch (ExecutionException e) {
                    break; // the failure is in 'failures'; wait for the others below
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("InProcessCommunicator.runRanks: interrupted", e);
                }
            }
            synchronized (failures) {
                if (failures.isEmpty()) {
                    return results;
                }
            }
            // Let the other ranks reach their broken barrier, so their failures are recorded as suppressed.
            pool.shutdown();
            awaitQuietly(pool, deadline);
            synchronized (failures) {
                Throwable first = failures.getFirst();
                for (Throwable t : failures.subList(1, failures.size())) {
                    if (t != first) {
                        first.addSuppressed(t);
                    }
                }
                if (first instanceof RuntimeException re) {
                    throw re;
                }
                if (first instanceof Error err) {
                    throw err;
                }
                throw new IllegalStateException("InProcessCommunicator.runRanks: a rank failed", first);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void awaitQuietly(ExecutorService pool, long deadline) {
        try {
            pool.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return group.worldSize;
    }

    @Override
    public void allReduce(Tensor buffer, ReduceOp op) {
        collective(new Call("allReduce", buffer, null, op, -1), calls -> firstError(
                checkSameOnEveryRank(calls, "buffer", Call::a),
                checkReducible("allReduce", calls[0].a.dtype(), op)), calls -> reduceRows(calls, 0, (int) calls[rank].a.numel(), op), (calls, result) -> result.copyTo(buffer));
    }

    @Override
    public void allGather(Tensor input, Tensor output) {
        collective(new Call("allGather", input, output, null, -1), calls -> firstError(
                checkSameOnEveryRank(calls, "input", Call::a),
                checkSameOnEveryRank(calls, "output", Call::b),
                checkStacked(calls[0], "output", calls[0].b, "input", calls[0].a, group.worldSize)), calls -> {
            long part = calls[0].a.byteSize();
            MemorySegment gathered = MemorySegment.ofArray(new byte[Math.toIntExact(part * group.worldSize)]);
            for (int r = 0; r < group.worldSize; r++) {
                MemorySegment.copy(calls[r].a.segment(), 0, gathered, r * part, part);
            }
            return new Bytes(gathered);
        }, (calls, result) -> result.copyTo(output));
    }

    @Override
    public void reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        collective(new Call("reduceScatter", input, output, op, -1), calls -> firstError(
                checkSameOnEveryRank(calls, "input", Call::a),
                checkSameOnEveryRank(calls, "output", Call::b),
                checkStacked(calls[0], "input", calls[0].a, "output", calls[0].b, group.worldSize),
                checkReducible("reduceScatter", calls[0].a.dtype(), op)), calls -> {
            int n = (int) calls[rank].b.numel();
            return reduceRows(calls, (long) rank * n, n, op);
        }, (calls, result) -> result.copyTo(output));
    }

    @Override
    public void allToAll(Tensor input, Tensor output) {
        collective(new Call("allToAll", input, output, null, -1), calls -> {
            String error = firstError(checkSameOnEveryRank(calls, "input", Call::a),
                    checkSameOnEveryRank(calls, "output", Call::b));
            if (error != null) {
                return error;
            }
            for (int r = 0; r < calls.length; r++) {
                if (calls[r].a.segment().asOverlappingSlice(calls[r].b.segment()).isPresent()) {
                    return "allToAll: rank " + r + "'s input and output share memory, expected two separate tensors"
                            + " (the exchange would overwrite rows not yet sent)";
                }
            }
            Tensor in = calls[0].a;
            Tensor out = calls[0].b;
            if (in.dtype() != out.dtype() || !in.sameShape(out)) {
                return "allToAll: output is " + describe(out) + ", expected " + describe(in) + " (the input's)";
            }
            return checkDivisible("allToAll", "input", in, group.worldSize);
        }, calls -> {
            long chunk = calls[0].a.byteSize() / group.worldSize;
            MemorySegment received = MemorySegment.ofArray(new byte[Math.toIntExact(chunk * group.worldSize)]);
            for (int r = 0; r < group.worldSize; r++) {
                MemorySegment.copy(calls[r].a.segment(), rank * chunk, received, r * chunk, chunk);
            }
            return new Bytes(received);
        }, (calls, result) -> result.copyTo(output));
    }

    @Override
    public void broadcast(Tensor buffer, int root) {
        collective(new Call("broadcast", buffer, null, null, root), calls -> {
            for (int r = 0; r < calls.length; r++) {
                if (calls[r].root != calls[0].root) {
                    return "broadcast: rank " + r + " named root " + calls[r].root + ", rank 0 named " + calls[0].root
                            + ", expected the same root on every rank";
                }
            }
            if (root < 0 || root >= group.worldSize) {
                return "broadcast: root is " + root + ", expected a rank in [0, " + group.worldSize + ")";
            }
            return checkSameOnEveryRank(calls, "buffer", Call::a);
        }, calls -> {
            MemorySegment copy = MemorySegment.ofArray(new byte[Math.toIntExact(calls[root].a.byteSize())]);
            MemorySegment.copy(calls[root].a.segment(), 0, copy, 0, copy.byteSize());
            return new Bytes(copy);
        }, (calls, result) -> result.copyTo(buffer));
    }

    @Override
    public void barrier() {
        collective(new Call("barrier", null, null, null, -1), calls -> null, calls -> null, (calls, result) -> {
        });
    }

    /** Marks this rank's communicator closed; later calls on it fail. Other ranks are unaffected. */
    @Override
    public void close() {
        closed = true;
    }

    // ---------------------------------------------------------------- the collective protocol

    /** One rank's arguments to one collective. */
    private record Call(String name, Tensor a, Tensor b, ReduceOp op, int root) {
    }

    /** Checks all ranks' calls; returns an error message, or null when they are valid. */
    private interface Validator {
        String check(Call[] calls);
    }

    private interface Compute {
        Result compute(Call[] calls);
    }

    private interface Finish {
        void finish(Call[] calls, Result result);
    }

    /** What a rank computed before the second barrier, written to its output after it. */
    private interface Result {
        void copyTo(Tensor target);
    }

    private record Bytes(MemorySegment bytes) implements Result {
        @Override
        public void copyTo(Tensor target) {
            MemorySegment.copy(bytes, 0, target.segment(), 0, bytes.byteSize());
        }
    }

    private record Values(double[] values) implements Result {
        @Override
        public void copyTo(Tensor target) {
            for (int i = 0; i < values.length; i++) {
                target.setFloat(i, (float) values[i]); // one rounding from float64 to the dtype
            }
        }
    }

    private record Longs(long[] values) implements Result {
        @Override
        public void copyTo(Tensor target) {
            for (int i = 0; i < values.length; i++) {
                target.setLong(i, values[i]);
            }
        }
    }

    private void collective(Call call, Validator validator, Compute compute, Finish finish) {
        if (closed) {
            throw new IllegalStateException("InProcessCommunicator: " + call.name + " on rank " + rank
                    + " after close(), expected an open communicator");
        }
        group.calls[rank] = call;
        await(call.name);
        Call[] calls = group.calls.clone();
        String error = checkSameOperation(calls);
        if (error == null) {
            error = checkPresent(calls);
        }
        if (error == null) {
            error = validator.check(calls);
        }
        Result result;
        try {
            result = error == null ? compute.compute(calls) : null;
        } catch (RuntimeException | Error e) {
            group.breakGroup(); // the others would wait for this rank at the next barrier
            throw e;
        }
        await(call.name); // nobody writes an output, or posts the next call, until every rank has read the inputs
        if (error != null) {
            throw new IllegalArgumentException(error);
        }
        finish.finish(calls, result);
    }

    private void await(String name) {
        try {
            group.barrier.await(group.timeout.toNanos());
        } catch (TimeoutException e) {
            throw new IllegalStateException("InProcessCommunicator: rank " + rank + " waited more than " + group.timeout
                    + " in " + name + " for the other ranks; every rank must call the same collectives in the same order");
        } catch (BrokenException e) {
            throw new IllegalStateException("InProcessCommunicator: rank " + rank + " stopped in " + name
                    + " because another rank failed or timed out");
        } catch (InterruptedException e) {
            group.breakGroup();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("InProcessCommunicator: rank " + rank + " interrupted in " + name, e);
        }
    }

    private static String checkSameOperation(Call[] calls) {
        for (int r = 1; r < calls.length; r++) {
            if (!calls[r].name.equals(calls[0].name) || calls[r].op != calls[0].op) {
                return "InProcessCommunicator: rank " + r + " called " + label(calls[r]) + " while rank 0 called "
                        + label(calls[0]) + ", expected every rank to call the same collective in the same order";
            }
        }
        return null;
    }

    private static String label(Call c) {
        return c.op == null ? c.name : c.name + "(" + c.op + ")";
    }

    private static String checkPresent(Call[] calls) {
        String name = calls[0].name;
        if (name.equals("barrier")) {
            return null;
        }
        String[] args = switch (name) {
            case "allReduce", "broadcast" -> new String[] {"buffer"};
            case "allGather", "reduceScatter", "allToAll" -> new String[] {"input", "output"};
            default -> throw new IllegalStateException(name);
        };
        for (int r = 0; r < calls.length; r++) {
            if (calls[r].a == null) {
                return name + ": rank " + r + "'s " + args[0] + " is null, expected a tensor";
            }
            if (args.length > 1 && calls[r].b == null) {
                return name + ": rank " + r + "'s " + args[1] + " is null, expected a tensor";
            }
            if (calls[r].op == null && (name.equals("allReduce") || name.equals("reduceScatter"))) {
                return name + ": rank " + r + "'s op is null, expected one of " + Arrays.toString(ReduceOp.values());
            }
        }
        return null;
    }

    private static String checkSameOnEveryRank(Call[] calls, String arg, Function<Call, Tensor> get) {
        Tensor first = get.apply(calls[0]);
        for (int r = 1; r < calls.length; r++) {
            Tensor t = get.apply(calls[r]);
            if (t.dtype() != first.dtype() || !t.sameShape(first)) {
                return calls[0].name + ": rank " + r + "'s " + arg + " is " + describe(t) + ", rank 0's is "
                        + describe(first) + ", expected the same dtype and shape on every rank";
            }
        }
        return null;
    }

    /** Checks that {@code big} is {@code worldSize} copies of {@code small} stacked along dimension 0. */
    private static String checkStacked(Call call, String bigArg, Tensor big, String smallArg, Tensor small,
            int worldSize) {
        int[] expected = small.shape();
        if (expected.length == 0) {
            return call.name + ": " + smallArg + " is a scalar, expected at least one dimension to split along";
        }
        expected[0] *= worldSize;
        if (big.dtype() != small.dtype() || !Arrays.equals(big.shape(), expected)) {
            return call.name + ": " + bigArg + " is " + describe(big) + ", expected " + small.dtype() + " "
                    + Arrays.toString(expected) + " (worldSize " + worldSize + " times " + smallArg
                    + "'s dimension 0)";
        }
        return null;
    }

    private static String checkDivisible(String name, String arg, Tensor t, int worldSize) {
        if (t.rank() == 0 || t.dim(0) % worldSize != 0) {
            return name + ": " + arg + " is " + describe(t) + ", expected dimension 0 divisible by the world size "
                    + worldSize;
        }
        return null;
    }

    private static String checkReducible(String name, DType dtype, ReduceOp op) {
        return switch (dtype) {
            case F32, BF16, F16 -> null;
            case I32, I64 -> op == ReduceOp.AVG
                    ? name + ": AVG on " + dtype + ", expected a floating-point dtype (an integer mean would truncate)"
                    : null;
            default -> name + ": cannot reduce dtype " + dtype + ", expected f32, bf16, f16, i32 or i64";
        };
    }

    private static String firstError(String... errors) {
        for (String e : errors) {
            if (e != null) {
                return e;
            }
        }
        return null;
    }

    private static String describe(Tensor t) {
        return t.dtype() + " " + Arrays.toString(t.shape());
    }

    /** Reduces elements [offset, offset + n) of every rank's first tensor, in rank order. */
    private static Result reduceRows(Call[] calls, long offset, int n, ReduceOp op) {
        if (calls[0].a.dtype().isFloatingPoint()) {
            double[] acc = new double[n];
            for (int i = 0; i < n; i++) {
                double v = calls[0].a.getFloat(offset + i);
                for (int r = 1; r < calls.length; r++) {
                    double x = calls[r].a.getFloat(offset + i);
                    v = switch (op) {
                        case SUM, AVG -> v + x;
                        case PROD -> v * x;
                        case MAX -> Math.max(v, x);
                        case MIN -> Math.min(v, x);
                    };
                }
                acc[i] = op == ReduceOp.AVG ? v / calls.length : v;
            }
            return new Values(acc);
        }
        long[] acc = new long[n];
        for (int i = 0; i < n; i++) {
            long v = calls[0].a.getLong(offset + i);
            for (int r = 1; r < calls.length; r++) {
                long x = calls[r].a.getLong(offset + i);
                v = switch (op) {
                    case SUM -> v + x;
                    case PROD -> v * x;
                    case MAX -> Math.max(v, x);
                    case MIN -> Math.min(v, x);
                    case AVG -> throw new IllegalStateException("checked before");
                };
            }
            acc[i] = v;
        }
        return new Longs(acc);
    }

    /** What the ranks of one group share. */
    private static final class Group {
        final int worldSize;
        final Duration timeout;
        final Barrier barrier;
        /** Each rank writes only its own slot, then reads all of them after a barrier. */
        final Call[] calls;

        Group(int worldSize, Duration timeout) {
            this.worldSize = worldSize;
            this.timeout = timeout;
            this.barrier = new Barrier(worldSize);
            this.calls = new Call[worldSize];
        }

        void breakGroup() {
            barrier.breakForGood();
        }
    }

    private static final class BrokenException extends Exception {
    }

    /**
     * A cyclic barrier that, once broken, stays broken (CyclicBarrier's reset would let later arrivals wait again),
     * while a rank whose barrier completed before the break still passes it.
     */
    private static final class Barrier {
        private final int parties;
        private int arrived;
        private long generation;
        private boolean broken;

        Barrier(int parties) {
            this.parties = parties;
        }

        synchronized void await(long timeoutNanos) throws InterruptedException, TimeoutException, BrokenException {
            if (broken) {
                throw new BrokenException();
            }
            long mine = generation;
            if (++arrived == parties) {
                arrived = 0;
                generation++;
                notifyAll();
                return;
            }
            long deadline = System.nanoTime() + timeoutNanos;
            while (generation == mine && !broken) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    breakForGood();
                    throw new TimeoutException();
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            if (generation == mine) {
                throw new BrokenException();
            }
        }

        synchronized void breakForGood() {
            broken = true;
            notifyAll();
        }
    }
}

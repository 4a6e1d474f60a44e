package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.cuda.CudaStreamContext;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.DeviceMemoryCollectives;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.distributed.Rendezvous;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A {@link Communicator} over one NCCL communicator: this process is one rank and drives one GPU (its
 * {@code LOCAL_RANK}). Host tensors are staged through device memory; the {@code long}-pointer overloads work on
 * device memory directly ({@code CUdeviceptr}s of the same GPU, e.g. from the engine's CUDA device, which shares the
 * primary context). Every call waits for the GPU before it returns.
 *
 * <p>Thread-safe (calls are serialised), but all ranks must issue the same collectives in the same order.
 */
public final class NcclCommunicator implements DeviceMemoryCollectives {
    private final NcclLibrary nccl;
    private final CudaStreamContext cuda;
    private final MemorySegment comm;
    private final int rank;
    private final int worldSize;
    /** {@link #stage}'s output size for collectives that work in place. */
    private static final long IN_PLACE = -1;

    private final ReentrantLock lock = new ReentrantLock();
    /** Four bytes on the device for {@link #barrier()}, an all-reduce of one float as PyTorch does it. */
    private final long barrierWord;
    private boolean failed;
    private boolean closed;

    private NcclCommunicator(NcclLibrary nccl, CudaStreamContext cuda, MemorySegment comm, int rank, int worldSize,
            long barrierWord) {
        this.nccl = nccl;
        this.cuda = cuda;
        this.comm = comm;
        this.rank = rank;
        this.worldSize = worldSize;
        this.barrierWord = barrierWord;
    }

    /**
     * Joins a communicator as one rank; blocks until every rank has joined.
     *
     * @param id the same id on every rank, made by rank 0 with {@link NcclLibrary#uniqueId()}
     * @param rank this rank, in [0, worldSize)
     * @param worldSize the number of ranks, at least 1
     * @param cudaOrdinal the GPU this rank drives (its {@code LOCAL_RANK}); one rank per GPU
     * @return the communicator
     * @throws BackendException without NCCL or the GPU ({@link NcclException} when NCCL refuses), saying what to do
     */
    public static NcclCommunicator create(NcclUniqueId id, int rank, int worldSize, int cudaOrdinal) {
        if (id == null) {
            throw new IllegalArgumentException("id: got null, expected rank 0's NcclUniqueId");
        }
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize: got " + worldSize + ", expected at least 1");
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank: got " + rank + ", expected 0 to " + (worldSize - 1)
                    + " for a world of " + worldSize);
        }
        return join(NcclLibrary.load(), id, rank, worldSize, cudaOrdinal);
    }

    /**
     * Joins as the environment says (PyTorch's names, as {@code sparge launch} and {@code torchrun} set them):
     * rank 0 makes the id and hands it to the others over TCP at {@code MASTER_ADDR:MASTER_PORT}.
     *
     * @param env {@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code MASTER_ADDR}, {@code MASTER_PORT}
     * @param timeout how long to wait for the other ranks
     * @return the communicator on GPU {@code LOCAL_RANK}
     */
    public static NcclCommunicator fromEnvironment(Map<String, String> env, Duration timeout) {
        Rendezvous.Settings settings = Rendezvous.Settings.fromEnvironment(env);
        NcclLibrary nccl = NcclLibrary.load();
        byte[] id = new Rendezvous(settings, timeout).share(() -> nccl.uniqueId().bytes());
        return join(nccl, NcclUniqueId.fromBytes(id), settings.rank(), settings.worldSize(), settings.localRank());
    }

    /** @return {@link #fromEnvironment(Map, Duration)} with this process's environment and a 5-minute timeout */
    public static NcclCommunicator fromEnvironment() {
        return fromEnvironment(System.getenv(), Duration.ofMinutes(5));
    }

    private static NcclCommunicator join(NcclLibrary nccl, NcclUniqueId id, int rank, int worldSize,
            int cudaOrdinal) {
        CudaStreamContext cuda = CudaStreamContext.open(cudaOrdinal, "NCCL");
        long word = 0;
        try {
            word = cuda.allocate(Float.BYTES);
            MemorySegment comm = nccl.commInitRank(worldSize, id, rank);
            return new NcclCommunicator(nccl, cuda, comm, rank, worldSize, word);
        } catch (RuntimeException e) {
            try {
                if (word != 0) {
                    cuda.free(word);
                }
                cuda.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    /** @return the CUDA device ordinal this rank drives */
    @Override
    public int cudaOrdinal() {
        return cuda.ordinal();
    }

    /** @return e.g. {@code NCCL 2.28.3 (libnccl.so.2)} */
    public String describe() {
        return "NCCL " + nccl.versionString() + " (" + nccl.libraryName() + "), rank " + rank + " of " + worldSize
                + " on " + cuda.deviceName() + " #" + cuda.ordinal();
    }

    // ------------------------------------------------------------------ host tensors, staged through the GPU

    @Override
    public void allReduce(Tensor buffer, ReduceOp op) {
        requireTensor("buffer", buffer);
        NcclTypes.checkReduction(buffer.dtype(), op);
        run("allReduce", () -> {
            try (Staged staged = stage(buffer, IN_PLACE)) {
                nccl.allReduce(staged.in, staged.in, buffer.numel(),
                        NcclTypes.dataType(buffer.dtype()), NcclTypes.reduceOp(op), comm, cuda.stream());
                staged.download(staged.in, buffer);
            }
        });
    }

    @Override
    public void allGather(Tensor input, Tensor output) {
        requireTensor("input", input);
        requireTensor("output", output);
        checkParts("allGather", "output", output, "input", input);
        run("allGather", () -> {
            try (Staged staged = stage(input, output.byteSize())) {
                nccl.allGather(staged.in, staged.out, input.numel(), NcclTypes.dataType(input.dtype()),
                        comm, cuda.stream());
                staged.download(staged.out, output);
            }
        });
    }

    @Override
    public void reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        requireTensor("input", input);
        requireTensor("output", output);
        checkParts("reduceScatter", "input", input, "output", output);
        NcclTypes.checkReduction(input.dtype(), op);
        run("reduceScatter", () -> {
            try (Staged staged = stage(input, output.byteSize())) {
                nccl.reduceScatter(staged.in, staged.out, output.numel(),
                        NcclTypes.dataType(input.dtype()), NcclTypes.reduceOp(op), comm, cuda.stream());
                staged.download(staged.out, output);
            }
        });
    }

    @Override
    public void allToAll(Tensor input, Tensor output) {
        requireTensor("input", input);
        requireTensor("output", output);
        checkAllToAll(input, output);
        run("allToAll", () -> {
            try (Staged staged = stage(input, output.byteSize())) {
                enqueueAllToAll(staged.in, staged.out, input.numel() / worldSize, input.dtype());
                staged.download(staged.out, output);
            }
        });
    }

    @Override
    public void broadcast(Tensor buffer, int root) {
        requireTensor("buffer", buffer);
        checkRoot(root);
        run("broadcast", () -> {
            try (Staged staged = stage(buffer, IN_PLACE)) {
                nccl.broadcast(staged.in, staged.in, buffer.numel(), NcclTypes.dataType(buffer.dtype()),
                        root, comm, cuda.stream());
                staged.download(staged.in, buffer);
            }
        });
    }

    @Override
    public void barrier() {
        run("barrier", () -> nccl.allReduce(barrierWord, barrierWord, 1, NcclTypes.dataType(DType.F32),
                NcclTypes.reduceOp(ReduceOp.SUM), comm, cuda.stream()));
    }

    // ------------------------------------------------------------------ device memory of this rank's GPU

    /**
     * All-reduce on device memory; {@code send == recv} is in place. Waits first for all work queued on the GPU's
     * context (so buffers the engine's stream writes are complete), and for NCCL before returning.
     *
     * @param send device address of {@code count} elements
     * @param recv device address of {@code count} elements
     * @param count elements
     * @param dtype element type
     * @param op the reduction
     */
    @Override
    public void allReduce(long send, long recv, long count, DType dtype, ReduceOp op) {
        checkPointers("allReduce", count, send, recv);
        NcclTypes.checkReduction(dtype, op);
        runOnDevice("allReduce", () -> nccl.allReduce(send, recv, count, NcclTypes.dataType(dtype),
                NcclTypes.reduceOp(op), comm, cuda.stream()));
    }

    /**
     * All-gather on device memory, waiting as {@link #allReduce(long, long, long, DType, ReduceOp)}.
     *
     * @param send device address of {@code sendCount} elements
     * @param recv device address of {@code worldSize * sendCount} elements; rank r's part at {@code r * sendCount}
     * @param sendCount elements each rank contributes
     * @param dtype element type
     */
    @Override
    public void allGather(long send, long recv, long sendCount, DType dtype) {
        checkPointers("allGather", sendCount, send, recv);
        runOnDevice("allGather", () -> nccl.allGather(send, recv, sendCount, NcclTypes.dataType(dtype), comm,
                cuda.stream()));
    }

    /**
     * Reduce-scatter on device memory, waiting as {@link #allReduce(long, long, long, DType, ReduceOp)}.
     *
     * @param send device address of {@code worldSize * recvCount} elements
     * @param recv device address of {@code recvCount} elements: part r of the reduction on rank r
     * @param recvCount elements each rank receives
     * @param dtype element type
     * @param op the reduction
     */
    @Override
    public void reduceScatter(long send, long recv, long recvCount, DType dtype, ReduceOp op) {
        checkPointers("reduceScatter", recvCount, send, recv);
        NcclTypes.checkReduction(dtype, op);
        runOnDevice("reduceScatter", () -> nccl.reduceScatter(send, recv, recvCount, NcclTypes.dataType(dtype),
                NcclTypes.reduceOp(op), comm, cuda.stream()));
    }

    /**
     * All-to-all on device memory (grouped ncclSend/ncclRecv), waiting as
     * {@link #allReduce(long, long, long, DType, ReduceOp)}.
     *
     * @param send device address of {@code worldSize * countPerRank} elements; part j goes to rank j
     * @param recv device address of as many, a different buffer; part r comes from rank r
     * @param countPerRank elements exchanged with each rank
     * @param dtype element type
     */
    @Override
    public void allToAll(long send, long recv, long countPerRank, DType dtype) {
        checkPointers("allToAll", countPerRank, send, recv);
        if (send == recv) {
            throw new IllegalArgumentException("allToAll: send and recv are both 0x" + Long.toHexString(send)
                    + ", expected different buffers");
        }
        runOnDevice("allToAll", () -> enqueueAllToAll(send, recv, countPerRank, dtype));
    }

    /**
     * Broadcast on device memory, waiting as {@link #allReduce(long, long, long, DType, ReduceOp)}.
     *
     * @param send device address read on {@code root} (ignored elsewhere)
     * @param recv device address written on every rank; may equal {@code send}
     * @param count elements
     * @param dtype element type
     * @param root the sending rank
     */
    @Override
    public void broadcast(long send, long recv, long count, DType dtype, int root) {
        checkPointers("broadcast", count, send, recv);
        checkRoot(root);
        runOnDevice("broadcast", () -> nccl.broadcast(send, recv, count, NcclTypes.dataType(dtype), root, comm,
                cuda.stream()));
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            RuntimeException failure = null;
            try {
                cuda.makeCurrent();
                // After a failure the peers may be gone; abort does not wait for them as destroy does.
                if (failed) {
                    nccl.commAbort(comm);
                } else {
                    nccl.commDestroy(comm);
                }
            } catch (RuntimeException e) {
                failure = e;
            }
            try {
                cuda.free(barrierWord);
                cuda.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
            if (failure != null) {
                throw failure;
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "NcclCommunicator[rank " + rank + " of " + worldSize + ", cuda #" + cuda.ordinal()
                + (closed ? ", closed" : "") + "]";
    }

    // ------------------------------------------------------------------ internals

    private void enqueueAllToAll(long send, long recv, long countPerRank, DType dtype) {
        int type = NcclTypes.dataType(dtype);
        long partBytes = countPerRank * dtype.byteSize();
        nccl.groupStart();
        try {
            for (int peer = 0; peer < worldSize; peer++) {
                nccl.send(send + peer * partBytes, countPerRank, type, peer, comm, cuda.stream());
                nccl.recv(recv + peer * partBytes, countPerRank, type, peer, comm, cuda.stream());
            }
        } finally {
            // A group must be closed even when a call in it failed; its own error then reports the first one.
            nccl.groupEnd(comm);
        }
    }

    /** Runs a collective under the lock with the context current, then waits for NCCL and checks async errors. */
    private void run(String what, Runnable collective) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException(what + ": " + this + " is used after close()");
            }
            cuda.makeCurrent();
            collective.run();
            cuda.synchronize();
            int async = nccl.asyncError(comm);
            if (async != NcclException.SUCCESS) {
                throw new NcclException(what + " (asynchronously)", async, nccl.errorString(async),
                        nccl.lastError(comm));
            }
        } catch (RuntimeException e) {
            failed = true;
            throw e;
        } finally {
            lock.unlock();
        }
    }

    private void runOnDevice(String what, Runnable collective) {
        run(what, () -> {
            cuda.synchronizeContext();
            collective.run();
        });
    }

    /** Device copies of a host tensor (in) and room for the result (out), freed on close. */
    private final class Staged implements AutoCloseable {
        final long in;
        final long out;

        Staged(long in, long out) {
            this.in = in;
            this.out = out;
        }

        void download(long pointer, Tensor target) {
            cuda.synchronize();
            if (target.byteSize() > 0) {
                cuda.copyToHost(pointer, target.segment());
            }
        }

        @Override
        public void close() {
            cuda.free(in);
            if (out != in) {
                cuda.free(out);
            }
        }
    }

    /** Copies {@code input} to the device, with room for an output of {@code outBytes} ({@link #IN_PLACE}: none). */
    private Staged stage(Tensor input, long outBytes) {
        long in = cuda.allocate(Math.max(input.byteSize(), 1));
        try {
            if (input.byteSize() > 0) {
                cuda.copyToDevice(input.segment(), in);
            }
            long out = outBytes == IN_PLACE ? in : cuda.allocate(Math.max(outBytes, 1));
            return new Staged(in, out);
        } catch (RuntimeException e) {
            cuda.free(in);
            throw e;
        }
    }

    private static void requireTensor(String name, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(name + ": got null, expected a host tensor");
        }
    }

    /** {@code whole} is (worldSize * n, ...) and {@code part} (n, ...), of one dtype. */
    private void checkParts(String op, String wholeName, Tensor whole, String partName, Tensor part) {
        if (whole.dtype() != part.dtype()) {
            throw new IllegalArgumentException(op + ": " + wholeName + " is " + whole.dtype() + " and " + partName
                    + " " + part.dtype() + ", expected one dtype");
        }
        int[] w = whole.shape();
        int[] p = part.shape();
        boolean rows = w.length == p.length && w.length > 0 && (long) w[0] == (long) p[0] * worldSize
                && Arrays.equals(w, 1, w.length, p, 1, p.length);
        boolean flat = (w.length == 0 || p.length == 0) && whole.numel() == part.numel() * worldSize;
        if (!rows && !flat) {
            throw new IllegalArgumentException(op + ": " + wholeName + " has shape " + Arrays.toString(w) + " and "
                    + partName + " " + Arrays.toString(p) + ", expected " + wholeName + " = (" + worldSize
                    + " * n, ...) for " + partName + " = (n, ...) in a world of " + worldSize);
        }
    }

    private void checkAllToAll(Tensor input, Tensor output) {
        if (input.dtype() != output.dtype() || !input.sameShape(output)) {
            throw new IllegalArgumentException("allToAll: input is " + input.dtype() + " " + Arrays.toString(
                    input.shape()) + " and output " + output.dtype() + " " + Arrays.toString(output.shape())
                    + ", expected the same dtype and shape");
        }
        if (input.rank() == 0 || input.dim(0) % worldSize != 0) {
            throw new IllegalArgumentException("allToAll: input has shape " + Arrays.toString(input.shape())
                    + ", expected a first dimension divisible by the world size " + worldSize);
        }
        if (input.segment().address() == output.segment().address() && input.byteSize() > 0) {
            throw new IllegalArgumentException("allToAll: input and output share memory, expected different tensors");
        }
    }

    private void checkRoot(int root) {
        if (root < 0 || root >= worldSize) {
            throw new IllegalArgumentException("root: got " + root + ", expected a rank from 0 to " + (worldSize - 1));
        }
    }

    private static void checkPointers(String op, long count, long send, long recv) {
        if (count < 0) {
            throw new IllegalArgumentException(op + ": count is " + count + ", expected >= 0");
        }
        if (send == 0 || recv == 0) {
            throw new IllegalArgumentException(op + ": send is 0x" + Long.toHexString(send) + " and recv 0x"
                    + Long.toHexString(recv) + ", expected device addresses (not NULL)");
        }
    }
}

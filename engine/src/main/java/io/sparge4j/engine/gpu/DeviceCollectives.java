package io.sparge4j.engine.gpu;

import io.sparge4j.engine.compute.NativeDeviceMemory;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.DeviceMemoryCollectives;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * {@link Communicator}'s collectives on device tensors, as {@code torch.distributed} runs them on CUDA tensors. When
 * the communicator works on raw GPU memory ({@link DeviceMemoryCollectives}: NCCL) and every tensor lives on that
 * GPU, the collective reads and writes the tensors' memory directly; otherwise (an in-process communicator, OpenCL,
 * the emulator) it copies through the host: read back, the host collective, written back in place. Either way the
 * results are the host collective's, and the output tensors are overwritten in place.
 *
 * <p>Shapes follow {@link Communicator}: splits and concatenations along dimension 0, in rank order; every rank
 * passes the same dtypes and shapes.
 */
public final class DeviceCollectives {
    private DeviceCollectives() {
    }

    /** Reduces {@code buffer} over the ranks in place; every rank ends with the result. */
    public static void allReduce(Communicator comm, DeviceTensor buffer, ReduceOp op) {
        check("allReduce", comm, buffer);
        DeviceMemoryCollectives direct = direct(comm, buffer);
        if (direct != null) {
            long a = address(buffer);
            direct.allReduce(a, a, buffer.numel(), buffer.dtype(), op);
            return;
        }
        try (Tensor host = buffer.toHost()) {
            comm.allReduce(host, op);
            buffer.session().write(host, buffer);
        }
    }

    /**
     * @param input this rank's part (n, ...)
     * @param output (worldSize * n, ...), overwritten: rank r's input at rows [r * n, (r + 1) * n)
     */
    public static void allGather(Communicator comm, DeviceTensor input, DeviceTensor output) {
        check("allGather", comm, input, output);
        checkCount("allGather", "output", output, (long) comm.worldSize() * input.numel(), "worldSize x input's");
        DeviceMemoryCollectives direct = direct(comm, input, output);
        if (direct != null) {
            direct.allGather(address(input), address(output), input.numel(), input.dtype());
            return;
        }
        try (Tensor in = input.toHost(); Tensor out = Tensor.allocate(output.dtype(), output.shape())) {
            comm.allGather(in, out);
            output.session().write(out, output);
        }
    }

    /**
     * @param input (worldSize * n, ...)
     * @param output (n, ...), overwritten with rows [r * n, (r + 1) * n) of the reduction on rank r
     */
    public static void reduceScatter(Communicator comm, DeviceTensor input, DeviceTensor output, ReduceOp op) {
        check("reduceScatter", comm, input, output);
        checkCount("reduceScatter", "input", input, (long) comm.worldSize() * output.numel(), "worldSize x output's");
        DeviceMemoryCollectives direct = direct(comm, input, output);
        if (direct != null) {
            direct.reduceScatter(address(input), address(output), output.numel(), input.dtype(), op);
            return;
        }
        try (Tensor in = input.toHost(); Tensor out = Tensor.allocate(output.dtype(), output.shape())) {
            comm.reduceScatter(in, out, op);
            output.session().write(out, output);
        }
    }

    /**
     * @param input (worldSize * n, ...): rows [j * n, (j + 1) * n) go to rank j
     * @param output a different tensor of input's shape, overwritten: rank r's part at rows [r * n, (r + 1) * n)
     */
    public static void allToAll(Communicator comm, DeviceTensor input, DeviceTensor output) {
        check("allToAll", comm, input, output);
        if (input == output || sameMemory(input, output)) {
            throw new IllegalArgumentException("DeviceCollectives.allToAll: input and output share their memory, "
                    + "expected two different tensors");
        }
        checkCount("allToAll", "output", output, input.numel(), "input's");
        if (input.numel() % comm.worldSize() != 0) {
            throw new IllegalArgumentException("DeviceCollectives.allToAll: input has " + input.numel()
                    + " elements, expected a multiple of the world size " + comm.worldSize());
        }
        DeviceMemoryCollectives direct = direct(comm, input, output);
        if (direct != null) {
            direct.allToAll(address(input), address(output), input.numel() / comm.worldSize(), input.dtype());
            return;
        }
        try (Tensor in = input.toHost(); Tensor out = Tensor.allocate(output.dtype(), output.shape())) {
            comm.allToAll(in, out);
            output.session().write(out, output);
        }
    }

    /** Copies {@code root}'s {@code buffer} into every rank's {@code buffer}, in place. */
    public static void broadcast(Communicator comm, DeviceTensor buffer, int root) {
        check("broadcast", comm, buffer);
        DeviceMemoryCollectives direct = direct(comm, buffer);
        if (direct != null) {
            long a = address(buffer);
            direct.broadcast(a, a, buffer.numel(), buffer.dtype(), root);
            return;
        }
        try (Tensor host = buffer.toHost()) {
            comm.broadcast(host, root);
            buffer.session().write(host, buffer);
        }
    }

    /**
     * @param comm the communicator
     * @param tensors the tensors of a collective
     * @return whether the collective works on the tensors' device memory directly (no copy through the host)
     */
    public static boolean runsOnDevice(Communicator comm, DeviceTensor... tensors) {
        return direct(comm, tensors) != null;
    }

    /**
     * @return the communicator as raw-memory collectives when it has them and every tensor lives on its GPU, else
     *         null (the host path)
     */
    private static DeviceMemoryCollectives direct(Communicator comm, DeviceTensor... tensors) {
        if (!(comm instanceof DeviceMemoryCollectives dm)) {
            return null;
        }
        for (DeviceTensor t : tensors) {
            if (!(t.storage().buffer instanceof NativeDeviceMemory m) || m.deviceOrdinal() != dm.cudaOrdinal()) {
                return null;
            }
        }
        return dm;
    }

    private static long address(DeviceTensor t) {
        return ((NativeDeviceMemory) t.storage().buffer).deviceAddress();
    }

    private static boolean sameMemory(DeviceTensor a, DeviceTensor b) {
        return a.storage() == b.storage();
    }

    private static void check(String op, Communicator comm, DeviceTensor... tensors) {
        if (comm == null) {
            throw new IllegalArgumentException("DeviceCollectives." + op + ": comm is null, expected a Communicator");
        }
        for (int i = 0; i < tensors.length; i++) {
            DeviceTensor t = tensors[i];
            if (t == null || t.isClosed()) {
                throw new IllegalArgumentException("DeviceCollectives." + op + ": tensor " + i + " is "
                        + (t == null ? "null" : "closed") + ", expected an open device tensor");
            }
            if (i > 0 && t.dtype() != tensors[0].dtype()) {
                throw new IllegalArgumentException("DeviceCollectives." + op + ": output dtype is " + t.dtype()
                        + ", expected the input's " + tensors[0].dtype());
            }
        }
    }

    private static void checkCount(String op, String arg, DeviceTensor t, long expected, String what) {
        if (t.numel() != expected) {
            throw new IllegalArgumentException("DeviceCollectives." + op + ": " + arg + " " + t.dtype() + " "
                    + Arrays.toString(t.shape()) + " has " + t.numel() + " elements, expected " + expected + " ("
                    + what + ")");
        }
    }
}

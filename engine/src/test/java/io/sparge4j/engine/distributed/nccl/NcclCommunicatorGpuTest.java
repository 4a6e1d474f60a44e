package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.device.cuda.CudaStreamContext;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A world of one through real NCCL on GPU 0: every collective on random data of every dtype, on host tensors and on
 * device memory, against the result a world of one must give (the rank's own data: a reduction over one rank is
 * that rank's values, bit for bit). The device-memory tests write out of place over a sentinel-filled output, so a
 * wrong dtype or count (too few bytes moved) fails. Skipped, with the reason, without libnccl.so.2 or a CUDA GPU;
 * NCCL failing where both are present fails the tests.
 */
class NcclCommunicatorGpuTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.BF16, DType.F16, DType.I32, DType.I64,
            DType.U8);

    private static NcclLibrary nccl;
    private static NcclCommunicator comm;
    private static String skip;

    @BeforeAll
    static void open() {
        try {
            nccl = NcclLibrary.load();
        } catch (BackendException e) {
            skip = e.getMessage();
            return;
        }
        if (CudaDevice.deviceCount() == 0) {
            skip = "no CUDA GPU (NCCL " + nccl.versionString() + " found at " + nccl.libraryName() + ")";
            return;
        }
        // From here on a failure is NCCL's or ours, not a missing prerequisite: let it fail the tests.
        comm = NcclCommunicator.create(nccl.uniqueId(), 0, 1, 0);
        System.out.println("NcclCommunicatorGpuTest: " + comm.describe());
    }

    @AfterAll
    static void close() {
        if (comm != null) {
            comm.close();
        }
    }

    private static void needGpu() {
        assumeTrue(skip == null, () -> "NCCL GPU test skipped: " + skip);
    }

    @Test
    void nvlinkMulticastIsOff() {
        needGpu();
        String user = System.getenv(NativeEnvironment.NVLS_VARIABLE);
        assertEquals(user == null ? "0" : user, NativeEnvironment.get(NativeEnvironment.NVLS_VARIABLE).orElse(null));
        assertEquals(0, comm.rank());
        assertEquals(1, comm.worldSize());
        assertTrue(nccl.version() >= 21200, "NCCL " + nccl.versionString());
    }

    @ParameterizedTest
    @EnumSource(ReduceOp.class)
    void allReduceOfOneRankIsItsOwnData(ReduceOp op) {
        needGpu();
        for (DType dtype : DTYPES) {
            try (Tensor data = random(dtype, 1000 + op.ordinal(), 37, 5); Tensor expected = data.copy()) {
                comm.allReduce(data, op);
                assertBytes(expected, data, "allReduce " + op + " " + dtype);
            }
        }
    }

    @Test
    void allGatherReduceScatterAllToAllBroadcastOnHostTensors() {
        needGpu();
        for (DType dtype : DTYPES) {
            try (Tensor input = random(dtype, 2000, 12, 7); Tensor output = random(dtype, 2001, 12, 7)) {
                comm.allGather(input, output);
                assertBytes(input, output, "allGather " + dtype);
            }
            try (Tensor input = random(dtype, 2002, 12, 7); Tensor output = random(dtype, 2003, 12, 7)) {
                comm.reduceScatter(input, output, ReduceOp.SUM);
                assertBytes(input, output, "reduceScatter " + dtype);
            }
            try (Tensor input = random(dtype, 2004, 12, 7); Tensor output = random(dtype, 2005, 12, 7)) {
                comm.allToAll(input, output);
                assertBytes(input, output, "allToAll " + dtype);
            }
            try (Tensor buffer = random(dtype, 2006, 12, 7); Tensor expected = buffer.copy()) {
                comm.broadcast(buffer, 0);
                assertBytes(expected, buffer, "broadcast " + dtype);
            }
        }
        comm.barrier();
    }

    @Test
    void collectivesOnDeviceMemoryMoveEveryByte() {
        needGpu();
        CudaStreamContext cuda = CudaStreamContext.open(comm.cudaOrdinal(), "NCCL");
        try (Arena arena = Arena.ofConfined()) {
            for (DType dtype : DTYPES) {
                long count = 4099; // odd, so that a wrong element size shows
                long bytes = count * dtype.byteSize();
                long send = cuda.allocate(bytes);
                long recv = cuda.allocate(bytes);
                try {
                    byte[] data = randomBytes(dtype, 3000 + dtype.ordinal(), (int) count);
                    cuda.copyToDevice(MemorySegment.ofArray(data), send);
                    MemorySegment host = arena.allocate(bytes);
                    for (String op : List.of("allReduce", "allGather", "reduceScatter", "allToAll", "broadcast")) {
                        fillSentinel(cuda, recv, bytes);
                        switch (op) {
                            case "allReduce" -> comm.allReduce(send, recv, count, dtype, ReduceOp.MAX);
                            case "allGather" -> comm.allGather(send, recv, count, dtype);
                            case "reduceScatter" -> comm.reduceScatter(send, recv, count, dtype, ReduceOp.MIN);
                            case "allToAll" -> comm.allToAll(send, recv, count, dtype);
                            default -> comm.broadcast(send, recv, count, dtype, 0);
                        }
                        cuda.makeCurrent();
                        cuda.copyToHost(recv, host);
                        assertArrayEquals(data, host.toArray(JAVA_BYTE), op + " on device memory, " + dtype);
                    }
                } finally {
                    cuda.makeCurrent();
                    cuda.free(send);
                    cuda.free(recv);
                }
            }
        } finally {
            cuda.close();
        }
    }

    @Test
    void ncclErrorsCarryTheirNameAndText() {
        needGpu();
        CudaStreamContext cuda = CudaStreamContext.open(0, "NCCL");
        try {
            // Rank 5 of 2 is refused before any connection is tried.
            NcclException e = assertThrows(NcclException.class, () -> nccl.commInitRank(2, nccl.uniqueId(), 5));
            assertEquals("ncclInvalidArgument", e.errorName());
            assertTrue(e.getMessage().startsWith("ncclCommInitRank failed: ncclInvalidArgument"), e.getMessage());
            assertTrue(!nccl.errorString(4).isBlank(), "ncclGetErrorString gives a text");
        } finally {
            cuda.close();
        }
    }

    @Test
    void badArgumentsAreRefusedBeforeNccl() {
        needGpu();
        try (Tensor a = random(DType.F32, 1, 4, 3); Tensor b = random(DType.F32, 2, 8, 3);
             Tensor bf = random(DType.BF16, 3, 4, 3)) {
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> comm.allGather(a, b));
            assertTrue(shape.getMessage().contains("output = (1 * n, ...)"), shape.getMessage());
            assertThrows(IllegalArgumentException.class, () -> comm.allGather(a, bf));
            IllegalArgumentException root = assertThrows(IllegalArgumentException.class, () -> comm.broadcast(a, 1));
            assertTrue(root.getMessage().contains("root: got 1, expected a rank from 0 to 0"), root.getMessage());
        }
        // The communicator still works after refusals.
        comm.barrier();
    }

    @Test
    void aSecondCommunicatorCanBeMadeAndClosed() {
        needGpu();
        try (NcclCommunicator second = NcclCommunicator.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "1"),
                java.time.Duration.ofSeconds(30))) {
            try (Tensor data = random(DType.F32, 4000, 64); Tensor expected = data.copy()) {
                second.allReduce(data, ReduceOp.AVG);
                assertBytes(expected, data, "allReduce AVG on a second communicator");
            }
        }
    }

    private static void fillSentinel(CudaStreamContext cuda, long pointer, long bytes) {
        byte[] sentinel = new byte[(int) bytes];
        java.util.Arrays.fill(sentinel, (byte) 0x5A);
        cuda.makeCurrent();
        cuda.copyToDevice(MemorySegment.ofArray(sentinel), pointer);
    }

    /** Random values: uniform in [-4, 4) for floats (no NaN), any value for integers. */
    private static Tensor random(DType dtype, long seed, int... shape) {
        SplittableRandom rng = new SplittableRandom(seed);
        if (dtype.isFloatingPoint()) {
            return Tensor.rand(rng, dtype, -4f, 4f, shape);
        }
        Tensor t = Tensor.allocate(dtype, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setLong(i, rng.nextLong());
        }
        return t;
    }

    private static byte[] randomBytes(DType dtype, long seed, int count) {
        try (Tensor t = random(dtype, seed, count)) {
            return t.segment().toArray(JAVA_BYTE);
        }
    }

    private static void assertBytes(Tensor expected, Tensor actual, String what) {
        assertArrayEquals(expected.segment().toArray(JAVA_BYTE), actual.segment().toArray(JAVA_BYTE), what);
    }
}

package io.sparge4j.engine.gpu;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.InProcessCommunicator;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.distributed.nccl.NcclCommunicator;
import io.sparge4j.engine.distributed.nccl.NcclLibrary;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Arrays;
import java.util.List;

import static io.sparge4j.engine.gpu.DeviceSessions.host;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link DeviceCollectives} against references computed here from every rank's inputs (float64 sums for the
 * reductions, exact copies for the rest): three in-process ranks, each with its own session on the emulator, PoCL or
 * CUDA (the host path); and NCCL on one CUDA GPU (the direct path, skipped with the reason where NCCL or a GPU is
 * missing). Inputs are seeded Gaussians that differ per rank, 3 x 37 x 5 per rank (dimension 0 a multiple of the
 * world size where a collective splits it). Tolerance: f32 sums of 3 terms, 1e-6 of the largest |term| sum; the rest
 * exact.
 */
class DeviceCollectivesTest {
    static final String[] BACKENDS = DeviceSessions.BACKENDS;
    private static final int WORLD = 3;
    private static final int[] SHAPE = {3, 37, 5};

    private static Tensor input(int rank) {
        return Tensor.randn(100 + rank, SHAPE);
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void everyCollectiveOnDeviceTensorsMatchesItsReference(String backend) {
        DeviceSessions.open(backend).close();   // skips, with the reason, where the backend is absent
        float[][] inputs = new float[WORLD][];
        for (int r = 0; r < WORLD; r++) {
            try (Tensor t = input(r)) {
                inputs[r] = t.toFloatArray();
            }
        }
        int n = inputs[0].length;
        double[] sum = new double[n];
        double[] scale = new double[n];
        for (float[] in : inputs) {
            for (int i = 0; i < n; i++) {
                sum[i] += in[i];
                scale[i] += Math.abs(in[i]);
            }
        }
        int part = n / WORLD;
        List<float[][]> results = InProcessCommunicator.runRanks(WORLD, comm -> {
            try (DeviceSession s = DeviceSession.open(backend); Tensor in = input(comm.rank());
                 DeviceTensor reduced = s.upload(in); DeviceTensor x = s.upload(in);
                 DeviceTensor gathered = s.zeros(WORLD * SHAPE[0], SHAPE[1], SHAPE[2]);
                 DeviceTensor scattered = s.zeros(1, SHAPE[1], SHAPE[2]);
                 DeviceTensor exchanged = s.zeros(SHAPE);
                 DeviceTensor broadcast = s.upload(in)) {
                assertFalse(DeviceCollectives.runsOnDevice(comm, x),
                        "an in-process communicator goes through the host");
                DeviceCollectives.allReduce(comm, reduced, ReduceOp.SUM);
                DeviceCollectives.allGather(comm, x, gathered);
                DeviceCollectives.reduceScatter(comm, x, scattered, ReduceOp.SUM);
                DeviceCollectives.allToAll(comm, x, exchanged);
                DeviceCollectives.broadcast(comm, broadcast, 1);
                return new float[][] {host(reduced), host(gathered), host(scattered), host(exchanged),
                        host(broadcast), host(x)};
            }
        });
        for (int r = 0; r < WORLD; r++) {
            float[][] got = results.get(r);
            for (int i = 0; i < n; i++) {
                assertEquals(sum[i], got[0][i], 1e-6 * scale[i], "rank " + r + " allReduce[" + i + "]");
            }
            for (int j = 0; j < WORLD; j++) {
                assertArrayEquals(inputs[j], Arrays.copyOfRange(got[1], j * n, (j + 1) * n),
                        "rank " + r + " allGather part " + j);
                assertArrayEquals(Arrays.copyOfRange(inputs[j], r * part, (r + 1) * part),
                        Arrays.copyOfRange(got[3], j * part, (j + 1) * part), "rank " + r + " allToAll from " + j);
            }
            for (int i = 0; i < part; i++) {
                int k = r * part + i;
                assertEquals(sum[k], got[2][i], 1e-6 * scale[k], "rank " + r + " reduceScatter[" + i + "]");
            }
            assertArrayEquals(inputs[1], got[4], "rank " + r + " broadcast from rank 1");
            assertArrayEquals(inputs[r], got[5], "rank " + r + ": the inputs are left alone");
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void integersAndMisuseAreHandled(String backend) {
        DeviceSessions.open(backend).close();
        List<int[]> maxima = InProcessCommunicator.runRanks(2, comm -> {
            try (DeviceSession s = DeviceSession.open(backend);
                 Tensor ints = Tensor.allocate(DType.I32, 4);
                 Tensor f = Tensor.allocate(DType.F32, 4)) {
                for (int i = 0; i < 4; i++) {
                    ints.setLong(i, (comm.rank() == 0 ? 1 : -1) * (i + 1) * 1_000_003L);
                }
                try (DeviceTensor d = s.upload(ints); DeviceTensor x = s.upload(f);
                     DeviceTensor small = s.zeros(3)) {
                    DeviceCollectives.allReduce(comm, d, ReduceOp.MAX);
                    IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                            () -> DeviceCollectives.allGather(comm, x, small));
                    assertTrue(size.getMessage().contains("allGather") && size.getMessage().contains("8"),
                            size.getMessage());
                    IllegalArgumentException same = assertThrows(IllegalArgumentException.class,
                            () -> DeviceCollectives.allToAll(comm, x, x));
                    assertTrue(same.getMessage().contains("share their memory"), same.getMessage());
                    IllegalArgumentException dtype = assertThrows(IllegalArgumentException.class,
                            () -> DeviceCollectives.allToAll(comm, d, x));
                    assertTrue(dtype.getMessage().contains("f32") && dtype.getMessage().contains("i32"),
                            dtype.getMessage());
                    try (Tensor h = d.toHost()) {
                        int[] out = new int[4];
                        for (int i = 0; i < 4; i++) {
                            out[i] = (int) h.getLong(i);
                        }
                        return out;
                    }
                }
            }
        });
        for (int[] m : maxima) {
            assertArrayEquals(new int[] {1_000_003, 2_000_006, 3_000_009, 4_000_012}, m);
        }
    }

    /** NCCL on a CUDA session's tensors: no host copy, every byte moved into a different output. */
    @Test
    void ncclWorksOnCudaTensorsDirectly() {
        NcclLibrary nccl;
        try {
            nccl = NcclLibrary.load();
        } catch (BackendException e) {
            assumeTrue(false, "NCCL test skipped: " + e.getMessage());
            return;
        }
        assumeTrue(CudaDevice.deviceCount() > 0, "NCCL test skipped: no CUDA GPU");
        try (NcclCommunicator comm = NcclCommunicator.create(nccl.uniqueId(), 0, 1, 0);
             DeviceSession s = DeviceSession.open("cuda"); Tensor in = input(0);
             DeviceTensor x = s.upload(in); DeviceTensor gathered = s.zeros(SHAPE);
             DeviceTensor scattered = s.zeros(SHAPE); DeviceTensor exchanged = s.zeros(SHAPE);
             DeviceTensor reduced = s.upload(in)) {
            assertTrue(DeviceCollectives.runsOnDevice(comm, x, gathered), "NCCL on the session's GPU: direct");
            DeviceCollectives.allGather(comm, x, gathered);
            DeviceCollectives.reduceScatter(comm, x, scattered, ReduceOp.SUM);
            DeviceCollectives.allToAll(comm, x, exchanged);
            DeviceCollectives.allReduce(comm, reduced, ReduceOp.SUM);
            DeviceCollectives.broadcast(comm, reduced, 0);
            float[] want = in.toFloatArray();
            for (DeviceTensor t : new DeviceTensor[] {gathered, scattered, exchanged, reduced}) {
                assertArrayEquals(want, host(t), "a world of one: every collective copies or keeps the input");
            }
        }
    }

    @Test
    void aNullCommunicatorIsNamed() {
        try (DeviceSession s = DeviceSession.open("emulator"); DeviceTensor x = s.zeros(2)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceCollectives.allReduce((Communicator) null, x, ReduceOp.SUM));
            assertTrue(e.getMessage().contains("comm is null"), e.getMessage());
        }
    }
}

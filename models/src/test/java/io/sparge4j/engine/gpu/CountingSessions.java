package io.sparge4j.engine.gpu;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Test support for the models module: a {@link DeviceSession} on a backend's device wrapped so that its traffic is
 * counted (kernel launches, copies each way, synchronisations), to state what a training step costs. It lives in
 * the engine's package (test sources only) to reach {@code DeviceSession.on}.
 */
public final class CountingSessions {
    private CountingSessions() {
    }

    /** Counts of device calls since the last {@link #reset}. */
    public static final class Counts {
        public int launches;
        public int copiesToDevice;
        public int copiesToHost;
        public int synchronizations;
        public int allocations;

        public void reset() {
            launches = 0;
            copiesToDevice = 0;
            copiesToHost = 0;
            synchronizations = 0;
            allocations = 0;
        }

        @Override
        public String toString() {
            return launches + " launches, " + copiesToDevice + " uploads, " + copiesToHost + " read backs, "
                    + synchronizations + " synchronisations, " + allocations + " new device allocations";
        }
    }

    /** A session and its counts. */
    public record Counted(DeviceSession session, Counts counts) {
    }

    /**
     * @param backend {@code emulator}, {@code opencl} or {@code cuda}
     * @return a counted session (close the session)
     */
    public static Counted open(String backend) {
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        Counts counts = new Counts();
        ComputeDevice inner = ExecutionBackends.openDevice(selection);
        return new Counted(DeviceSession.on(new Counting(inner, counts), ExecutionBackends.compiler(selection)),
                counts);
    }

    private record Counting(ComputeDevice inner, Counts c) implements ComputeDevice {
        @Override
        public String backendName() {
            return inner.backendName();
        }

        @Override
        public String deviceName() {
            return inner.deviceName();
        }

        @Override
        public DeviceFeatures features() {
            return inner.features();
        }

        @Override
        public Dialect dialect() {
            return inner.dialect();
        }

        @Override
        public DeviceBuffer allocate(long bytes) {
            c.allocations++;
            return inner.allocate(bytes);
        }

        @Override
        public void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset) {
            c.copiesToDevice++;
            inner.copyToDevice(host, dst, dstOffset);
        }

        @Override
        public void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host) {
            c.copiesToHost++;
            inner.copyToHost(src, srcOffset, host);
        }

        @Override
        public DeviceKernel load(GeneratedKernel kernel) {
            return inner.load(kernel);
        }

        @Override
        public void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments) {
            c.launches++;
            inner.launch(kernel, globalSize, localSize, arguments);
        }

        @Override
        public void synchronize() {
            c.synchronizations++;
            inner.synchronize();
        }

        @Override
        public long timeNanos(Runnable work) {
            return inner.timeNanos(work);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}

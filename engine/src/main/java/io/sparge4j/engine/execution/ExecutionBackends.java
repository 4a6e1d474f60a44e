package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.jit.KernelJit;

/**
 * The one place where the backends' compilers and device openers are wired: the emulator here, and the kernel
 * JIT with the CUDA and OpenCL runtimes. Everything else (the executor, {@code selftest}, the
 * {@code ExecutionPlan} service) goes through {@link #compiler} and {@link #openDevice}.
 */
public final class ExecutionBackends {
    private static final KernelCompiler JIT = KernelJit.shared()::compile;
    private static final DeviceOpener CUDA = selection -> CudaDevice.open(selection.cudaOrdinal());
    private static final DeviceOpener OPENCL = selection -> {
        OpenClAddress address = selection.openClAddress();
        return OpenClDevice.open(Integer.toString(address.platformIndex()), Integer.toString(address.deviceIndex()));
    };

    private static final KernelCompiler EMULATOR = new EmulatorCompiler();

    private ExecutionBackends() {
    }

    /**
     * @param selection the backend
     * @return the compiler for its devices
     */
    public static KernelCompiler compiler(BackendSelection selection) {
        return selection.isEmulator() ? EMULATOR : JIT;
    }

    /**
     * @param selection the backend and device
     * @return the opened device, owned by the caller
     * @throws BackendException when it cannot be opened
     */
    public static ComputeDevice openDevice(BackendSelection selection) {
        return switch (selection.backend()) {
            case "emulator" -> new EmulatorDevice();
            case "cuda" -> CUDA.open(selection);
            case "opencl" -> OPENCL.open(selection);
            default -> throw new IllegalArgumentException("backend: got '" + selection.backend() + "', expected one of "
                    + BackendSelection.NAMES);
        };
    }

    /**
     * @param selection the backend and device
     * @return an executor owning a newly opened device
     */
    public static TaskGraphExecutor openExecutor(BackendSelection selection) {
        ComputeDevice device = openDevice(selection);
        return new TaskGraphExecutor(device, compiler(selection), true);
    }
}

package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.device.BackendException;

/**
 * The one place where the backends' compilers and device openers are wired: the emulator here, and the kernel
 * JIT with the CUDA and OpenCL runtimes. Everything else (the executor, {@code selftest}, the
 * {@code ExecutionPlan} service) goes through {@link #compiler} and {@link #openDevice}.
 */
public final class ExecutionBackends {
    // TEMPORARY until the JIT and the device runtimes are merged: the coordinator replaces these three with
    //   JIT    = KernelJit.shared()::compile;
    //   CUDA   = s -> CudaDevice.open(s.cudaOrdinal());
    //   OPENCL = s -> { OpenClAddress a = s.openClAddress(); return OpenClDevice.open(...a...); };
    private static final KernelCompiler JIT = (kernel, args, dialect, features, groupSize) -> {
        throw notWired("the kernel JIT (KernelJit)");
    };
    private static final DeviceOpener CUDA = selection -> {
        throw notWired("the CUDA runtime (CudaDevice)");
    };
    private static final DeviceOpener OPENCL = selection -> {
        throw notWired("the OpenCL runtime (OpenClDevice)");
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

    private static BackendException notWired(String what) {
        return new BackendException(what + " is not wired into ExecutionBackends yet: this build runs kernels on"
                + " the emulator only (use --backend emulator)");
    }
}

package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.CudaException;

import java.util.Set;

/**
 * Turns a failed driver call into a {@link CudaException} that also says what the user can do. Kept free of
 * native calls so that the wording is testable without a GPU.
 */
final class CudaErrors {
    /** Errors after which the context is corrupt: every later call in this process fails too. */
    private static final Set<String> STICKY = Set.of("CUDA_ERROR_ILLEGAL_ADDRESS", "CUDA_ERROR_LAUNCH_FAILED",
            "CUDA_ERROR_MISALIGNED_ADDRESS", "CUDA_ERROR_ILLEGAL_INSTRUCTION", "CUDA_ERROR_HARDWARE_STACK_ERROR",
            "CUDA_ERROR_INVALID_PC", "CUDA_ERROR_ASSERT", "CUDA_ERROR_LAUNCH_TIMEOUT", "CUDA_ERROR_ECC_UNCORRECTABLE",
            "CUDA_ERROR_CONTAINED", "CUDA_ERROR_TENSOR_MEMORY_LEAK");

    private static final String SELFTEST = "run `sparge selftest --backend cuda` to find which kernel faults, and "
            + "compare it with `--backend emulator`";

    private CudaErrors() {
    }

    /**
     * @param call the driver function that failed
     * @param code its {@code CUresult}
     * @param errorName the driver's name for the code, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}
     * @param description the driver's text for it (may be empty)
     * @return the exception to throw
     */
    static CudaException exception(String call, int code, String errorName, String description) {
        return new CudaException(call, code, errorName, description, advice(errorName));
    }

    /**
     * @param errorName a {@code CUresult} name
     * @return whether the context is unusable after it, so the process must restart
     */
    static boolean sticky(String errorName) {
        return STICKY.contains(errorName);
    }

    /**
     * @param errorName a {@code CUresult} name
     * @return what the user can do about it, or the empty string when there is nothing specific to say
     */
    static String advice(String errorName) {
        if (sticky(errorName)) {
            return "A kernel faulted (out-of-bounds access, misalignment or trap), possibly in an earlier launch "
                    + "since launches are asynchronous; the CUDA context is now unusable and the process must "
                    + "restart. " + capitalised(SELFTEST);
        }
        return switch (errorName) {
            case "CUDA_ERROR_OUT_OF_MEMORY" -> "The GPU is out of memory: free buffers you no longer need, close "
                    + "other GPU processes (see nvidia-smi) or use smaller shapes";
            case "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES" -> "The kernel needs more registers or shared memory per "
                    + "work-group than the device has: use a smaller local size";
            case "CUDA_ERROR_INVALID_VALUE" -> "An argument was out of range; this is a bug in Sparge4J's CUDA "
                    + "backend or its caller, please report it with this message";
            case "CUDA_ERROR_NO_DEVICE" -> "The driver sees no CUDA GPU: check nvidia-smi and "
                    + "CUDA_VISIBLE_DEVICES, or use --backend cpu";
            case "CUDA_ERROR_INVALID_DEVICE" -> "No such device: list the devices with `sparge info`";
            case "CUDA_ERROR_INSUFFICIENT_DRIVER", "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
                    "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE" -> "The NVIDIA driver does not match its CUDA "
                    + "library: update the driver or fix LD_LIBRARY_PATH so both come from one installation";
            case "CUDA_ERROR_STUB_LIBRARY" -> "libcuda.so.1 is the toolkit's stub, not the driver: remove "
                    + "cuda/lib64/stubs from LD_LIBRARY_PATH";
            case "CUDA_ERROR_DEVICE_UNAVAILABLE" -> "The GPU is busy in exclusive mode or unavailable: check "
                    + "nvidia-smi for other processes";
            case "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "CUDA_ERROR_INVALID_PTX" -> "NVRTC is newer than the "
                    + "driver: update the NVIDIA driver, or point SPARGE_NVRTC at an NVRTC no newer than the driver";
            case "CUDA_ERROR_NO_BINARY_FOR_GPU", "CUDA_ERROR_INVALID_IMAGE" -> "The compiled kernel does not fit "
                    + "this GPU: clear the kernel cache (SPARGE_CACHE_DIR or ~/.cache/sparge4j/kernels) and retry";
            case "CUDA_ERROR_INVALID_CONTEXT", "CUDA_ERROR_CONTEXT_IS_DESTROYED" -> "The CUDA context is gone: "
                    + "the device was closed or the driver was reset; open the device again";
            case "CUDA_ERROR_NOT_INITIALIZED", "CUDA_ERROR_DEINITIALIZED" -> "The driver is not initialised or is "
                    + "shutting down; open the device again";
            default -> "";
        };
    }

    private static String capitalised(String text) {
        return Character.toUpperCase(text.charAt(0)) + text.substring(1);
    }
}

package io.sparge4j.engine.device;

/** Names of OpenCL error codes ({@code cl_int}), as the OpenCL headers spell them. */
public final class OpenClErrors {
    /** {@code CL_SUCCESS}. */
    public static final int SUCCESS = 0;
    /** {@code CL_DEVICE_NOT_FOUND}: a platform has no device of the type asked for. */
    public static final int DEVICE_NOT_FOUND = -1;
    /** {@code CL_BUILD_PROGRAM_FAILURE}: the device compiler rejected the source; the build log says why. */
    public static final int BUILD_PROGRAM_FAILURE = -11;
    /** {@code CL_INVALID_BINARY}: a program binary the device cannot load. */
    public static final int INVALID_BINARY = -42;
    /** {@code CL_PLATFORM_NOT_FOUND_KHR}: the ICD loader found no vendor driver. */
    public static final int PLATFORM_NOT_FOUND_KHR = -1001;

    private OpenClErrors() {
    }

    /**
     * @param code an OpenCL error code
     * @return what the user can do about it, or {@code ""} when there is nothing specific to say
     */
    public static String advice(int code) {
        return switch (code) {
            case -4 -> "the device could not allocate the buffer: free buffers or use smaller tensors";
            case -5 -> "the device ran out of resources for this command: use a smaller local (work-group) size,"
                    + " fewer or smaller buffers, or less local memory per work-group";
            case -6 -> "the host ran out of memory for the OpenCL driver";
            case -11 -> "the device compiler rejected the kernel source; see the build log";
            case -42 -> "the program binary does not fit this device or driver; delete the kernel cache"
                    + " (SPARGE_CACHE_DIR) to rebuild from source";
            case -46 -> "the program has no kernel of that name; the generated entry name and the source disagree";
            case -51 -> "a kernel argument's size does not match its parameter: pass the parameter's exact type";
            case -52 -> "a kernel argument was not set; pass one argument per kernel parameter";
            case -54 -> "the local (work-group) size is not allowed: each global size must be a multiple of the"
                    + " local size, and the product of the local sizes at most the kernel's work-group limit"
                    + " (CL_KERNEL_WORK_GROUP_SIZE); use a smaller local size";
            case -55 -> "a local size exceeds the device's CL_DEVICE_MAX_WORK_ITEM_SIZES for its dimension";
            case -61 -> "the buffer exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE; allocate less per buffer";
            case -63 -> "a global size is 0 or exceeds what the device can address";
            case -1001 -> "no OpenCL driver is installed: install pocl-opencl-icd or the GPU vendor's OpenCL driver";
            default -> "";
        };
    }

    /**
     * @param code an OpenCL error code
     * @return its name, e.g. {@code CL_INVALID_VALUE}, or {@code CL_ERROR_<code>} for codes the standard does not define
     */
    public static String name(int code) {
        return switch (code) {
            case 0 -> "CL_SUCCESS";
            case -1 -> "CL_DEVICE_NOT_FOUND";
            case -2 -> "CL_DEVICE_NOT_AVAILABLE";
            case -3 -> "CL_COMPILER_NOT_AVAILABLE";
            case -4 -> "CL_MEM_OBJECT_ALLOCATION_FAILURE";
            case -5 -> "CL_OUT_OF_RESOURCES";
            case -6 -> "CL_OUT_OF_HOST_MEMORY";
            case -7 -> "CL_PROFILING_INFO_NOT_AVAILABLE";
            case -8 -> "CL_MEM_COPY_OVERLAP";
            case -9 -> "CL_IMAGE_FORMAT_MISMATCH";
            case -10 -> "CL_IMAGE_FORMAT_NOT_SUPPORTED";
            case -11 -> "CL_BUILD_PROGRAM_FAILURE";
            case -12 -> "CL_MAP_FAILURE";
            case -13 -> "CL_MISALIGNED_SUB_BUFFER_OFFSET";
            case -14 -> "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST";
            case -15 -> "CL_COMPILE_PROGRAM_FAILURE";
            case -16 -> "CL_LINKER_NOT_AVAILABLE";
            case -17 -> "CL_LINK_PROGRAM_FAILURE";
            case -18 -> "CL_DEVICE_PARTITION_FAILED";
            case -19 -> "CL_KERNEL_ARG_INFO_NOT_AVAILABLE";
            case -30 -> "CL_INVALID_VALUE";
            case -31 -> "CL_INVALID_DEVICE_TYPE";
            case -32 -> "CL_INVALID_PLATFORM";
            case -33 -> "CL_INVALID_DEVICE";
            case -34 -> "CL_INVALID_CONTEXT";
            case -35 -> "CL_INVALID_QUEUE_PROPERTIES";
            case -36 -> "CL_INVALID_COMMAND_QUEUE";
            case -37 -> "CL_INVALID_HOST_PTR";
            case -38 -> "CL_INVALID_MEM_OBJECT";
            case -39 -> "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR";
            case -40 -> "CL_INVALID_IMAGE_SIZE";
            case -41 -> "CL_INVALID_SAMPLER";
            case -42 -> "CL_INVALID_BINARY";
            case -43 -> "CL_INVALID_BUILD_OPTIONS";
            case -44 -> "CL_INVALID_PROGRAM";
            case -45 -> "CL_INVALID_PROGRAM_EXECUTABLE";
            case -46 -> "CL_INVALID_KERNEL_NAME";
            case -47 -> "CL_INVALID_KERNEL_DEFINITION";
            case -48 -> "CL_INVALID_KERNEL";
            case -49 -> "CL_INVALID_ARG_INDEX";
            case -50 -> "CL_INVALID_ARG_VALUE";
            case -51 -> "CL_INVALID_ARG_SIZE";
            case -52 -> "CL_INVALID_KERNEL_ARGS";
            case -53 -> "CL_INVALID_WORK_DIMENSION";
            case -54 -> "CL_INVALID_WORK_GROUP_SIZE";
            case -55 -> "CL_INVALID_WORK_ITEM_SIZE";
            case -56 -> "CL_INVALID_GLOBAL_OFFSET";
            case -57 -> "CL_INVALID_EVENT_WAIT_LIST";
            case -58 -> "CL_INVALID_EVENT";
            case -59 -> "CL_INVALID_OPERATION";
            case -60 -> "CL_INVALID_GL_OBJECT";
            case -61 -> "CL_INVALID_BUFFER_SIZE";
            case -62 -> "CL_INVALID_MIP_LEVEL";
            case -63 -> "CL_INVALID_GLOBAL_WORK_SIZE";
            case -64 -> "CL_INVALID_PROPERTY";
            case -65 -> "CL_INVALID_IMAGE_DESCRIPTOR";
            case -66 -> "CL_INVALID_COMPILER_OPTIONS";
            case -67 -> "CL_INVALID_LINKER_OPTIONS";
            case -68 -> "CL_INVALID_DEVICE_PARTITION_COUNT";
            case -69 -> "CL_INVALID_PIPE_SIZE";
            case -70 -> "CL_INVALID_DEVICE_QUEUE";
            case -71 -> "CL_INVALID_SPEC_ID";
            case -72 -> "CL_MAX_SIZE_RESTRICTION_EXCEEDED";
            case -1000 -> "CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR";
            case -1001 -> "CL_PLATFORM_NOT_FOUND_KHR";
            default -> "CL_ERROR_" + code;
        };
    }
}

package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;

/** An NCCL call returned an error ({@code ncclResult_t}); the message names it, NCCL's text and what to do. */
public final class NcclException extends BackendException {
    private static final long serialVersionUID = 1L;

    /** {@code ncclSuccess}. */
    static final int SUCCESS = 0;
    /** {@code ncclInProgress}: a non-blocking communicator's call has not finished. */
    static final int IN_PROGRESS = 7;

    /** {@code ncclResult_t} names by value, from {@code nccl.h}. */
    private static final String[] NAMES = {"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError",
        "ncclInternalError", "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress"};

    private final String function;
    private final int code;

    /**
     * @param function the NCCL function that failed, e.g. {@code ncclCommInitRank}
     * @param code its {@code ncclResult_t}
     * @param errorString {@code ncclGetErrorString(code)} (may be empty)
     * @param lastError {@code ncclGetLastError(comm)}, NCCL's account of the last failure (may be empty)
     */
    public NcclException(String function, int code, String errorString, String lastError) {
        super(message(function, code, errorString, lastError));
        this.function = function;
        this.code = code;
    }

    static String message(String function, int code, String errorString, String lastError) {
        StringBuilder m = new StringBuilder(function).append(" failed: ").append(name(code));
        if (!errorString.isBlank()) {
            m.append(" (").append(errorString.strip()).append(')');
        }
        if (!lastError.isBlank()) {
            m.append("; NCCL says: ").append(lastError.strip().replace('\n', ' '));
        }
        return m.append(". ").append(advice(code)).toString();
    }

    /**
     * @param code an {@code ncclResult_t}
     * @return its name in {@code nccl.h}, e.g. {@code ncclUnhandledCudaError}, or {@code ncclResult_t N}
     */
    public static String name(int code) {
        return code >= 0 && code < NAMES.length ? NAMES[code] : "ncclResult_t " + code;
    }

    /**
     * @param code an {@code ncclResult_t}
     * @return what the user can do about it
     */
    static String advice(int code) {
        String debug = "Run with NCCL_DEBUG=INFO for NCCL's own log";
        return switch (code) {
            case 1 -> "A CUDA call inside NCCL failed: check the GPU with nvidia-smi and that each rank uses its own "
                    + "GPU (LOCAL_RANK, CUDA_VISIBLE_DEVICES). " + debug;
            case 2 -> "A system call failed (sockets, or shared memory: /dev/shm is often too small in containers; "
                    + "NCCL_SHM_DISABLE=1 avoids it). " + debug;
            case 3 -> "NCCL hit an internal error: check that every rank runs the same NCCL version. " + debug;
            case 4 -> "NCCL was given a bad argument (a buffer, count, rank or type); this is a bug in the caller. "
                    + debug;
            case 5 -> "The ranks disagree: they called collectives in different orders or sizes, two ranks share one "
                    + "GPU, or a unique id was used twice. " + debug;
            case 6 -> "Another rank failed or exited: see its output (sparge launch prefixes it with [rank r])";
            case IN_PROGRESS -> "A non-blocking operation is still in progress";
            default -> debug;
        };
    }

    /** @return the NCCL function that failed */
    public String function() {
        return function;
    }

    /** @return the {@code ncclResult_t} */
    public int code() {
        return code;
    }

    /** @return the code's name, e.g. {@code ncclInvalidUsage} */
    public String errorName() {
        return name(code);
    }
}

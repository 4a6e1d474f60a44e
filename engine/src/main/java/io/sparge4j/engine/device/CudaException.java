package io.sparge4j.engine.device;

/** A CUDA driver call returned an error code ({@code CUresult}). */
public final class CudaException extends BackendException {
    private static final long serialVersionUID = 1L;

    private final String function;
    private final int code;
    private final String errorName;

    /**
     * @param function the driver function that failed, e.g. {@code cuInit}
     * @param code the {@code CUresult} it returned
     * @param errorName the code's name, e.g. {@code CUDA_ERROR_NO_DEVICE}
     * @param description the driver's description of the code (may be empty)
     */
    public CudaException(String function, int code, String errorName, String description) {
        this(function, code, errorName, description, "");
    }

    /**
     * @param function the driver function that failed, e.g. {@code cuMemAlloc_v2}
     * @param code the {@code CUresult} it returned
     * @param errorName the code's name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}
     * @param description the driver's description of the code (may be empty)
     * @param advice what the user can do about it (may be empty)
     */
    public CudaException(String function, int code, String errorName, String description, String advice) {
        super(function + " failed: " + errorName + (description.isEmpty() ? "" : " (" + description + ")")
                + (advice.isEmpty() ? "" : ". " + advice));
        this.function = function;
        this.code = code;
        this.errorName = errorName;
    }

    /** @return the driver function that failed */
    public String function() {
        return function;
    }

    /** @return the {@code CUresult} code */
    public int code() {
        return code;
    }

    /** @return the code's name, e.g. {@code CUDA_ERROR_NO_DEVICE} */
    public String errorName() {
        return errorName;
    }
}

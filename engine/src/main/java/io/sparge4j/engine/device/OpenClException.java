package io.sparge4j.engine.device;

/** An OpenCL call returned an error code. */
public final class OpenClException extends BackendException {
    private static final long serialVersionUID = 1L;

    private final String function;
    private final int code;

    /**
     * @param function the OpenCL function that failed, e.g. {@code clGetPlatformIDs}
     * @param code the {@code cl_int} error code it returned
     */
    public OpenClException(String function, int code) {
        super(function + " failed: " + OpenClErrors.name(code) + " (" + code + ")");
        this.function = function;
        this.code = code;
    }

    /** @return the OpenCL function that failed */
    public String function() {
        return function;
    }

    /** @return the error code */
    public int code() {
        return code;
    }
}

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

    /**
     * An error with what the user can do ({@link OpenClErrors#advice}) and what was being done.
     *
     * @param function the OpenCL function that failed, e.g. {@code clBuildProgram}
     * @param code the {@code cl_int} error code it returned
     * @param detail what was being done and with what (e.g. the kernel's name and its build log); may be empty
     */
    public OpenClException(String function, int code, String detail) {
        super(message(function, code, detail));
        this.function = function;
        this.code = code;
    }

    private static String message(String function, int code, String detail) {
        String advice = OpenClErrors.advice(code);
        return function + " failed: " + OpenClErrors.name(code) + " (" + code + ")"
                + (advice.isEmpty() ? "" : "; " + advice)
                + (detail.isEmpty() ? "" : ". " + detail);
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

package io.sparge4j.engine.device;

/** A backend's native library is missing or one of its calls failed; the message says which and why. */
public class BackendException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what failed, in words a user can act on
     */
    public BackendException(String message) {
        super(message);
    }

    /**
     * @param message what failed, in words a user can act on
     * @param cause the underlying failure
     */
    public BackendException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * What a failed FFM downcall ({@code MethodHandle.invokeExact}, which declares Throwable) becomes: runtime
     * exceptions pass through, errors are rethrown, anything else is wrapped naming the call.
     *
     * @param call the native function
     * @param t what the downcall threw
     * @return the exception to throw
     */
    public static RuntimeException fromDowncall(String call, Throwable t) {
        if (t instanceof RuntimeException e) {
            return e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new BackendException(call + ": the downcall failed: " + t, t);
    }
}

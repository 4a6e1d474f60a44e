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
}

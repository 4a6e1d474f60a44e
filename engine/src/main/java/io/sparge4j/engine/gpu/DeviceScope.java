package io.sparge4j.engine.gpu;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Device tensors and op results closed together, newest first: one pass's, one block's or one phase's temporaries,
 * so that they go as soon as it returns. The first failure to close is thrown after every other close was tried.
 */
public final class DeviceScope implements AutoCloseable {
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();

    /** Registers {@code t} (null is ignored) and returns it. */
    public <T extends AutoCloseable> T own(T t) {
        if (t != null) {
            owned.push(t);
        }
        return t;
    }

    @Override
    public void close() {
        RuntimeException first = null;
        while (!owned.isEmpty()) {
            try {
                owned.pop().close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}

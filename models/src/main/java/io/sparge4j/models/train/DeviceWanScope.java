package io.sparge4j.models.train;

import java.util.ArrayDeque;
import java.util.Deque;

/** Device tensors and op results closed together, newest first (one pass's or one phase's temporaries). */
final class DeviceWanScope implements AutoCloseable {
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();

    /** Registers {@code t} (null is ignored) and returns it. */
    <T extends AutoCloseable> T own(T t) {
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

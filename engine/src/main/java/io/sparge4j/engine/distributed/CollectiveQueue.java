package io.sparge4j.engine.distributed;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One rank's collectives on a thread of their own, run one at a time in the order they were submitted, so that
 * communication overlaps the computation on the submitting thread (FSDP issues its all-gathers and reduce-scatters on
 * a CUDA stream of their own for the same reason). Every rank must submit the same collectives in the same order, as
 * for direct calls; while a queue holds work, nothing else may call the communicator ({@link #drain} first).
 */
public final class CollectiveQueue implements AutoCloseable {
    private final ExecutorService thread;
    private final Deque<Future<?>> pending = new ArrayDeque<>();

    /** @param name the thread's name, for thread dumps (e.g. "sparge-collectives-rank-1") */
    public CollectiveQueue(String name) {
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);   // a rank that fails must not be kept alive by its queue
            return t;
        });
    }

    /**
     * @param collective one or more collective calls and the work on their buffers
     * @return its result, once it has run
     */
    public <T> Future<T> submit(Callable<T> collective) {
        Future<T> f = thread.submit(collective);
        pending.addLast(f);
        while (pending.size() > 64 && pending.peekFirst().state() == Future.State.SUCCESS) {
            pending.removeFirst();   // keeps the list short on long runs; failures stay for drain()
        }
        return f;
    }

    /**
     * Waits for every submitted collective.
     *
     * @throws IllegalStateException wrapping the first failure (the queue is then empty)
     */
    public void drain() {
        RuntimeException first = null;
        while (!pending.isEmpty()) {
            Future<?> f = pending.removeFirst();
            try {
                await(f);
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /**
     * @param f a future of this queue
     * @return its value
     * @throws IllegalStateException wrapping its failure, or on interruption
     */
    public static <T> T await(Future<T> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("a queued collective failed: " + cause, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a queued collective", e);
        }
    }

    /** Stops the thread once its queued work is done (without waiting). */
    @Override
    public void close() {
        thread.shutdown();
    }
}

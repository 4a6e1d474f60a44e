package io.sparge4j.engine.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The CPU backend's thread pool and parallel loops.
 *
 * <p>Parallelism comes from {@code --threads} ({@link #setThreads}), else the {@code SPARGE_THREADS}
 * environment variable (or the {@code sparge.threads} system property), else the number of processors.
 * Loops hand out work items dynamically, so rows of uneven cost still balance across threads. A loop
 * started from inside another runs on the calling thread, which keeps nested ops from deadlocking.
 */
public final class CpuRuntime {
    private static volatile ForkJoinPool pool = newPool(defaultThreads());

    private CpuRuntime() {
    }

    /** A loop body over a range of indices {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        /**
         * @param from first index (inclusive)
         * @param to last index (exclusive)
         */
        void run(int from, int to);
    }

    /** @return the number of worker threads */
    public static int threads() {
        return pool.getParallelism();
    }

    /**
     * Replaces the pool with one of {@code n} threads.
     *
     * @param n threads, at least 1
     */
    public static synchronized void setThreads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("threads: got " + n + ", expected at least 1");
        }
        if (n != pool.getParallelism()) {
            ForkJoinPool old = pool;
            pool = newPool(n);
            old.shutdown();
        }
    }

    /**
     * Runs {@code body} for every index in {@code [0, n)}, in parallel.
     *
     * @param n number of work items
     * @param body work for one item
     */
    public static void parallelFor(int n, IntConsumer body) {
        parallelForRange(n, 1, (from, to) -> {
            for (int i = from; i < to; i++) {
                body.accept(i);
            }
        });
    }

    /**
     * Runs {@code body} over {@code [0, n)} split into chunks of {@code grain} items, handed out
     * dynamically to the pool's threads.
     *
     * @param n number of work items
     * @param grain items per chunk, at least 1
     * @param body work for one chunk
     */
    public static void parallelForRange(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int g = Math.max(1, grain);
        int chunks = (n + g - 1) / g;
        ForkJoinPool p = pool;
        int workers = Math.min(p.getParallelism(), chunks);
        if (workers <= 1 || Thread.currentThread() instanceof ForkJoinWorkerThread) {
            body.run(0, n);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                int from = c * g;
                body.run(from, Math.min(n, from + g));
            }
        };
        List<ForkJoinTask<?>> tasks = new ArrayList<>(workers);
        for (int w = 0; w < workers; w++) {
            tasks.add(p.submit(worker));
        }
        RuntimeException failure = null;
        for (ForkJoinTask<?> t : tasks) {
            try {
                t.join();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    static int defaultThreads() {
        String v = System.getProperty("sparge.threads", System.getenv("SPARGE_THREADS"));
        if (v != null && !v.isBlank()) {
            try {
                int n = Integer.parseInt(v.trim());
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // fall through to the error below
            }
            throw new IllegalArgumentException("SPARGE_THREADS: got '" + v + "', expected a positive integer");
        }
        return Runtime.getRuntime().availableProcessors();
    }

    private static ForkJoinPool newPool(int n) {
        ForkJoinPool.ForkJoinWorkerThreadFactory factory = p -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("sparge-cpu-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        };
        return new ForkJoinPool(n, factory, null, false);
    }
}

package io.sparge4j.engine.device;

import java.util.concurrent.Callable;

/**
 * Runs a native compiler call (clBuildProgram, nvrtcCompileProgram) on a platform thread with a large stack. The
 * drivers' compilers recurse deeply on big generated kernels; on a Java thread's default 1 MiB stack that overflows
 * inside native code, where the JVM cannot turn it into a StackOverflowError and the process dies with a bare
 * segmentation fault (seen on the H200 machine with NVIDIA's OpenCL compiler). The stack is only reserved: pages are
 * committed as the compiler touches them.
 */
public final class LargeStack {
    /** Stack reserved for a compiler call. */
    public static final long STACK_BYTES = 1L << 30;

    private LargeStack() {
    }

    /**
     * @param what names the call, for the thread and for errors
     * @param work the call; it must not rely on thread-confined state of the caller (arenas made inside are fine)
     * @param <T> the result type
     * @return what {@code work} returned
     * @throws RuntimeException what {@code work} threw (unchecked ones as they are, checked ones wrapped)
     */
    public static <T> T call(String what, Callable<T> work) {
        Object[] result = new Object[1];
        Throwable[] failure = new Throwable[1];
        Thread t = Thread.ofPlatform().name("sparge-" + what).stackSize(STACK_BYTES).unstarted(() -> {
            try {
                result[0] = work.call();
            } catch (Throwable e) {
                failure[0] = e;
            }
        });
        t.start();
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;   // the native call cannot be abandoned halfway; wait, then restore the flag
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure[0] instanceof RuntimeException re) {
            throw re;
        }
        if (failure[0] instanceof Error err) {
            throw err;
        }
        if (failure[0] != null) {
            throw new IllegalStateException(what + " failed: " + failure[0].getMessage(), failure[0]);
        }
        @SuppressWarnings("unchecked")
        T r = (T) result[0];
        return r;
    }
}

package io.sparge4j.kernels.runtime;

import java.util.ServiceLoader;

/** Finds the {@link TaskExecutorProvider} on the class path. */
public final class TaskExecutors {
    private TaskExecutors() {
    }

    /**
     * Opens an executor through the first provider found.
     *
     * @param backend see {@link TaskExecutorProvider#open}
     * @param device see {@link TaskExecutorProvider#open}
     * @return a new executor
     * @throws IllegalStateException if no provider is on the class path
     */
    public static TaskExecutor open(String backend, String device) {
        for (TaskExecutorProvider provider : ServiceLoader.load(TaskExecutorProvider.class)) {
            return provider.open(backend, device);
        }
        throw new IllegalStateException("No TaskExecutorProvider found: put sparge4j-engine on the class path"
                + " (it provides the emulator, CUDA and OpenCL executors), or pass one with ExecutionPlan.withExecutor");
    }
}

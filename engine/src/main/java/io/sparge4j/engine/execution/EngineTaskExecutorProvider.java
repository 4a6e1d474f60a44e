package io.sparge4j.engine.execution;

import io.sparge4j.kernels.runtime.TaskExecutor;
import io.sparge4j.kernels.runtime.TaskExecutorProvider;

/**
 * The engine's {@link TaskExecutorProvider}, registered for {@link java.util.ServiceLoader}: opens the device
 * that the backend and selector (else {@code SPARGE_BACKEND}/{@code SPARGE_DEVICE}, else the emulator) name.
 */
public final class EngineTaskExecutorProvider implements TaskExecutorProvider {
    /** For the service loader. */
    public EngineTaskExecutorProvider() {
    }

    @Override
    public TaskExecutor open(String backend, String device) {
        return ExecutionBackends.openExecutor(BackendSelection.parse(backend, device, System.getenv()));
    }
}

/**
 * The service interface between the task-graph API and the engine that runs it: an
 * {@link io.sparge4j.kernels.ExecutionPlan} opens a {@link io.sparge4j.kernels.runtime.TaskExecutor} through the
 * {@link io.sparge4j.kernels.runtime.TaskExecutorProvider} found by {@link java.util.ServiceLoader}.
 */
package io.sparge4j.kernels.runtime;

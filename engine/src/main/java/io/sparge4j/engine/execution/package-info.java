/**
 * Runs {@link io.sparge4j.kernels.ExecutionPlan}s: the {@link io.sparge4j.engine.execution.TaskGraphExecutor} moves
 * the plans' arrays to and from a {@link io.sparge4j.engine.compute.ComputeDevice}, compiles each task through a
 * {@link io.sparge4j.engine.execution.KernelCompiler} and launches it. The emulator backend is a host-memory device
 * ({@link io.sparge4j.engine.execution.EmulatorDevice}) whose launches run on the
 * {@link io.sparge4j.engine.kernel.KernelEmulator}; CUDA and OpenCL are the device runtimes with the kernel JIT,
 * wired in {@link io.sparge4j.engine.execution.ExecutionBackends}. A
 * {@link io.sparge4j.engine.execution.BackendSelection} says where to run ({@code --backend}, {@code --device},
 * {@code SPARGE_BACKEND}, {@code SPARGE_DEVICE}); the {@link io.sparge4j.engine.execution.DeviceCatalog} lists the
 * devices a selector chooses from.
 */
package io.sparge4j.engine.execution;

/**
 * The contract between the kernel JIT and the device runtimes: a {@link io.sparge4j.engine.compute.GeneratedKernel}
 * (source in one {@link io.sparge4j.engine.compute.Dialect} plus its parameter list) is loaded by a
 * {@link io.sparge4j.engine.compute.ComputeDevice} (CUDA or OpenCL) into a
 * {@link io.sparge4j.engine.compute.DeviceKernel} and launched over device buffers. Compiled binaries are kept in
 * the {@link io.sparge4j.engine.compute.KernelCache}.
 */
package io.sparge4j.engine.compute;

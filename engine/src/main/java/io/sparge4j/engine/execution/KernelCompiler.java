package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;

import java.lang.reflect.Method;

/**
 * Turns a Java kernel method into a {@link GeneratedKernel} for one device. The kernel JIT implements it
 * ({@code KernelJit.shared()::compile}); {@link EmulatorCompiler} describes the method for the emulator instead.
 */
@FunctionalInterface
public interface KernelCompiler {
    /**
     * @param kernel the static kernel method
     * @param javaArgs the task's arguments, one per parameter of {@code kernel} (for specialisation constants;
     *     a {@code KernelContext} argument is a placeholder)
     * @param dialect the device's source language
     * @param features what the device offers
     * @param workGroupSize work-items per work-group of the launches (the product of the local sizes)
     * @return the generated kernel
     */
    GeneratedKernel compile(Method kernel, Object[] javaArgs, Dialect dialect, DeviceFeatures features,
            int workGroupSize);
}

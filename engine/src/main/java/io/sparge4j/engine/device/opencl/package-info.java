/**
 * The OpenCL compute backend: {@link io.sparge4j.engine.device.opencl.OpenClDevice} implements
 * {@link io.sparge4j.engine.compute.ComputeDevice} over the OpenCL ICD loader ({@code libOpenCL.so.1}) through
 * {@code java.lang.foreign}, running kernels the JIT generates in OpenCL C 1.2.
 */
package io.sparge4j.engine.device.opencl;

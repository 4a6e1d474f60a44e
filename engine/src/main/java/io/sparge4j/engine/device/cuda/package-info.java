/**
 * The CUDA backend of {@link io.sparge4j.engine.compute.ComputeDevice}: the driver API ({@code libcuda.so.1}) and
 * NVRTC through {@code java.lang.foreign}, no JNI. Entry point: {@link io.sparge4j.engine.device.cuda.CudaDevice}.
 * {@code SPARGE_NVRTC=/path/to/libnvrtc.so} points at an NVRTC outside the loader path.
 */
package io.sparge4j.engine.device.cuda;

/**
 * The device op layer: the DiT ops of {@code io.sparge4j.engine.ops} on CUDA, OpenCL or the kernel emulator, with
 * tensors kept on the device between ops.
 *
 * <p>A {@link io.sparge4j.engine.gpu.DeviceSession} opens one device ({@code --backend cuda|opencl}, or the emulator)
 * and owns its memory and compiled kernels. {@link io.sparge4j.engine.gpu.DeviceSession#upload} copies a host
 * {@link io.sparge4j.engine.tensor.Tensor} up; the ops ({@link io.sparge4j.engine.gpu.DeviceLinear},
 * {@link io.sparge4j.engine.gpu.DeviceNorms}, {@link io.sparge4j.engine.gpu.DeviceActivations},
 * {@link io.sparge4j.engine.gpu.DeviceElementwise}, {@link io.sparge4j.engine.gpu.DeviceRope},
 * {@link io.sparge4j.engine.gpu.DeviceShapes}, {@link io.sparge4j.engine.gpu.DeviceAttention},
 * {@link io.sparge4j.engine.gpu.DeviceAdamW}) take and return {@link io.sparge4j.engine.gpu.DeviceTensor}s, each
 * enqueuing its kernels (the kernels-java sources, one per op, shared by every backend) and returning without
 * waiting; {@link io.sparge4j.engine.gpu.DeviceTensor#toHost} is the only read back. The ops have the CPU ops'
 * semantics and argument order, and tests hold them to the CPU ops' answers.
 *
 * <p>Memory: every op returns new tensors owned by the caller; {@code close()} frees them (frees are batched at the
 * next read back or synchronisation, because freeing waits for the queue on CUDA).
 *
 * <p>Training: each op has its backward beside it ({@code linearBackward}, {@code layerNormBackward},
 * {@code DeviceAttention.backward}, ...), with the CPU backward's semantics; a model keeps its forward intermediates
 * (as a tape) and chains them in reverse, and {@link io.sparge4j.engine.gpu.DeviceAdamW} steps the parameters in
 * place. SpargeAttention2's mask is a constant of the backward, as in the paper's training.
 */
package io.sparge4j.engine.gpu;

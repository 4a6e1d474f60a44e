package io.sparge4j.engine.compute;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * One GPU (or OpenCL device) with one in-order stream/queue: every copy and launch is ordered after the ones
 * before it. Launches are asynchronous; {@link #copyToHost} and {@link #synchronize} wait.
 *
 * <p>Errors from the driver are {@link io.sparge4j.engine.device.BackendException}s that name the call, the
 * driver's error name and text, and say what the user can do.
 */
public interface ComputeDevice extends AutoCloseable {
    /** @return {@code "cuda"} or {@code "opencl"} */
    String backendName();

    /** @return the device's name, e.g. {@code "NVIDIA H200"} */
    String deviceName();

    /** @return what the JIT may use */
    DeviceFeatures features();

    /** @return the dialect its kernels are generated in */
    Dialect dialect();

    /**
     * @param bytes size, {@code >= 1}
     * @return uninitialised device memory
     */
    DeviceBuffer allocate(long bytes);

    /**
     * Copies host memory to the device; {@code host} may be reused as soon as this returns.
     *
     * @param host the source, {@code host.byteSize()} bytes
     * @param dst the destination
     * @param dstOffset byte offset in {@code dst}
     */
    void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset);

    /**
     * Copies device memory to the host after all earlier work, and waits for it.
     *
     * @param src the source
     * @param srcOffset byte offset in {@code src}
     * @param host the destination, {@code host.byteSize()} bytes
     */
    void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host);

    /**
     * Compiles (or takes from the {@link KernelCache}) and loads a kernel. Loading the same cache key twice on one
     * device returns the already loaded kernel.
     *
     * @param kernel the generated kernel, in this device's {@link #dialect()}
     * @return the loaded kernel
     * @throws io.sparge4j.engine.device.BackendException with the compiler's log when compilation fails
     */
    DeviceKernel load(GeneratedKernel kernel);

    /**
     * Enqueues a launch.
     *
     * @param kernel a kernel loaded on this device
     * @param globalSize work-items in x, y, z: multiples of {@code localSize}
     * @param localSize work-group size in x, y, z
     * @param arguments one per {@link GeneratedKernel#parameters()}: a {@link DeviceBuffer} for a buffer, an
     *     {@link Integer}, {@link Long}, {@link Float} or {@link Double} for the others
     */
    void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments);

    /** Waits for all enqueued work. */
    void synchronize();

    /**
     * Times work on the device clock (events), excluding host overheads before the first enqueue.
     *
     * @param work enqueues the work to time
     * @return the device time between the start and the end of the work, in nanoseconds
     */
    long timeNanos(Runnable work);

    /** Frees everything this device allocated and releases its context. */
    @Override
    void close();
}

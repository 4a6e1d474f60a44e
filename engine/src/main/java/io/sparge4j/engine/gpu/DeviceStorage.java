package io.sparge4j.engine.gpu;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.ArrayList;
import java.util.List;

/**
 * One device allocation shared by a tensor and its reshaped views: the buffer, the kernel array that stands for it
 * in task arguments (plus any other-typed views of the same bytes, such as the int pairs the bf16 and f16 GEMMs
 * read), and a count of the tensors using it. The last {@link #release} frees the buffer.
 */
final class DeviceStorage {
    final DType dtype;
    final long elements;
    final NativeArray handle;
    final DeviceBuffer buffer;
    final List<NativeArray> views = new ArrayList<>();
    private int users = 1;

    DeviceStorage(DType dtype, long elements, NativeArray handle, DeviceBuffer buffer) {
        this.dtype = dtype;
        this.elements = elements;
        this.handle = handle;
        this.buffer = buffer;
    }

    void retain() {
        users++;
    }

    /** @return whether this was the last user, so the caller frees the buffer */
    boolean release() {
        return --users == 0;
    }

    boolean live() {
        return users > 0;
    }
}

package io.sparge4j.engine.io;

import io.sparge4j.engine.tensor.DType;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header: name, dtype, shape and where its bytes lie.
 *
 * <p>{@link #dataBegin()} and {@link #dataEnd()} are relative to the start of the data buffer, as in the
 * header; {@link #fileOffset()} is the absolute position of the first byte in the file.
 */
public final class TensorInfo {
    private final String name;
    private final DType dtype;
    private final int[] shape;
    private final long numel;
    private final long dataBegin;
    private final long dataEnd;
    private final long fileOffset;

    TensorInfo(String name, DType dtype, int[] shape, long numel, long dataBegin, long dataEnd, long fileOffset) {
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.numel = numel;
        this.dataBegin = dataBegin;
        this.dataEnd = dataEnd;
        this.fileOffset = fileOffset;
    }

    /** @return the tensor's name */
    public String name() {
        return name;
    }

    /** @return the element type */
    public DType dtype() {
        return dtype;
    }

    /** @return a copy of the dimensions */
    public int[] shape() {
        return shape.clone();
    }

    /** @return the number of elements */
    public long numel() {
        return numel;
    }

    /** @return the size of the data in bytes ({@code dataEnd - dataBegin}) */
    public long byteSize() {
        return dataEnd - dataBegin;
    }

    /** @return the first byte, relative to the start of the data buffer */
    public long dataBegin() {
        return dataBegin;
    }

    /** @return one past the last byte, relative to the start of the data buffer */
    public long dataEnd() {
        return dataEnd;
    }

    /** @return the position of the first byte in the file */
    public long fileOffset() {
        return fileOffset;
    }

    /** @return e.g. {@code w: bf16 [4, 8] bytes [0, 64)} */
    @Override
    public String toString() {
        return name + ": " + dtype + " " + Arrays.toString(shape) + " bytes [" + dataBegin + ", " + dataEnd + ")";
    }
}

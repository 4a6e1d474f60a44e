package io.sparge4j.engine.sparse;

/**
 * How a sequence of {@code length} tokens splits into blocks of {@code blockSize}; the last block may be short.
 *
 * @param length tokens in the sequence
 * @param blockSize tokens per block
 */
public record BlockGrid(int length, int blockSize) {
    /** Validates the sizes. */
    public BlockGrid {
        if (length <= 0) {
            throw new IllegalArgumentException("sequence length: got " + length + ", expected a positive integer");
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("block size: got " + blockSize + ", expected a positive integer");
        }
    }

    /** @return the number of blocks, ceil(length / blockSize) */
    public int blocks() {
        return (length + blockSize - 1) / blockSize;
    }

    /** @return the first token of block {@code i} */
    public int start(int i) {
        return i * blockSize;
    }

    /** @return the number of tokens in block {@code i} (the last may be short) */
    public int size(int i) {
        return Math.min(blockSize, length - i * blockSize);
    }
}

package io.sparge4j.engine.tensor;

import java.util.Locale;

/**
 * Element types a {@link Tensor} can hold.
 *
 * <p>Half-precision types ({@link #BF16}, {@link #F16}) are storage types: arithmetic on the CPU
 * converts them to {@code float} on load and rounds back on store.
 */
public enum DType {
    /** IEEE 754 binary32. */
    F32(4, "F32"),
    /** bfloat16: the upper half of a binary32, rounded to nearest even. */
    BF16(2, "BF16"),
    /** IEEE 754 binary16. */
    F16(2, "F16"),
    /** 32-bit signed integer. */
    I32(4, "I32"),
    /** 64-bit signed integer (read from checkpoints; not used by kernels). */
    I64(8, "I64"),
    /** Unsigned byte, e.g. block masks. */
    U8(1, "U8"),
    /** Boolean stored as one byte (0 or 1). */
    BOOL(1, "BOOL");

    private final int byteSize;
    private final String safetensorsName;

    DType(int byteSize, String safetensorsName) {
        this.byteSize = byteSize;
        this.safetensorsName = safetensorsName;
    }

    /** @return bytes per element */
    public int byteSize() {
        return byteSize;
    }

    /** @return the dtype's name in a safetensors header, e.g. {@code "BF16"} */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** @return true for F32, BF16 and F16 */
    public boolean isFloatingPoint() {
        return this == F32 || this == BF16 || this == F16;
    }

    /**
     * Parses a dtype name as written on the command line or in a safetensors header ("f32", "BF16", "bool").
     *
     * @param name the name, case-insensitive
     * @return the dtype
     * @throws IllegalArgumentException naming the accepted values when {@code name} is unknown
     */
    public static DType parse(String name) {
        if (name != null) {
            String upper = name.trim().toUpperCase(Locale.ROOT);
            for (DType t : values()) {
                if (t.safetensorsName.equals(upper)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException("dtype: got '" + name + "', expected one of f32, bf16, f16, i32, i64, u8, bool");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}

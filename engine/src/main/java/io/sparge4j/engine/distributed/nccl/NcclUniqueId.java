package io.sparge4j.engine.distributed.nccl;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * NCCL's {@code ncclUniqueId}: 128 opaque bytes that rank 0 makes ({@link NcclLibrary#uniqueId()}) and every rank
 * passes to {@code ncclCommInitRank}; it names one communicator and must not be used for two.
 */
public final class NcclUniqueId {
    /** {@code NCCL_UNIQUE_ID_BYTES}. */
    public static final int BYTES = 128;

    private final byte[] bytes;

    private NcclUniqueId(byte[] bytes) {
        this.bytes = bytes;
    }

    /**
     * @param bytes exactly {@link #BYTES} bytes, as {@link #bytes()} gave them (copied)
     * @return the id
     */
    public static NcclUniqueId fromBytes(byte[] bytes) {
        if (bytes == null || bytes.length != BYTES) {
            throw new IllegalArgumentException("bytes: got " + (bytes == null ? "null" : bytes.length + " bytes")
                    + ", expected the " + BYTES + " bytes of an ncclUniqueId");
        }
        return new NcclUniqueId(bytes.clone());
    }

    /**
     * @param hex {@link #BYTES} bytes as 256 hex digits, as {@link #hex()} wrote them
     * @return the id
     */
    public static NcclUniqueId fromHex(String hex) {
        if (hex == null || hex.length() != 2 * BYTES) {
            throw new IllegalArgumentException("hex: got " + (hex == null ? "null" : hex.length() + " characters")
                    + ", expected " + 2 * BYTES + " hex digits");
        }
        try {
            return new NcclUniqueId(HexFormat.of().parseHex(hex));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("hex: got a string with a character that is not a hex digit, expected "
                    + 2 * BYTES + " hex digits", e);
        }
    }

    /** @return a copy of the 128 bytes */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** @return the bytes as 256 lower-case hex digits */
    public String hex() {
        return HexFormat.of().formatHex(bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NcclUniqueId other && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    /** @return the first bytes only: the id is an address to connect to, not a secret, but it is long */
    @Override
    public String toString() {
        return "NcclUniqueId[" + hex().substring(0, 16) + "...]";
    }
}

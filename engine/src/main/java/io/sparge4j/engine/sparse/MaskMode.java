package io.sparge4j.engine.sparse;

import java.util.Locale;
import java.util.Optional;

/** How SpargeAttention2 chooses the key blocks each query block attends to. */
public enum MaskMode {
    /** Every block is kept: ordinary attention. */
    DENSE,
    /** The ceil(k * nk) largest pooled scores of each row. */
    TOPK,
    /** The shortest descending prefix of each row whose pooled mass reaches p. */
    TOPP,
    /** The union of {@link #TOPK} and {@link #TOPP}: SpargeAttention2's default. */
    HYBRID,
    /** A block mask given by the caller. */
    MASK;

    /**
     * @param name a mode as written on the command line ("hybrid", "topk", ...), case-insensitive
     * @return the mode
     * @throws IllegalArgumentException naming the accepted values
     */
    public static MaskMode parse(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException("mode: got '" + name
                + "', expected one of dense, topk, topp, hybrid, mask"));
    }

    /**
     * @param name a mode as written on the command line, case-insensitive, surrounding spaces ignored; may be null
     * @return the mode, or empty when the name is none (each command words its own message)
     */
    public static Optional<MaskMode> find(String name) {
        if (name != null) {
            for (MaskMode m : values()) {
                if (m.name().equalsIgnoreCase(name.trim())) {
                    return Optional.of(m);
                }
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}

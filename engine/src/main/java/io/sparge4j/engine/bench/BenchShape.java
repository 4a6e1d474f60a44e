package io.sparge4j.engine.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The attention shape a benchmark runs: batch B, heads H, sequence length N and head dim d, in (B,H,N,d) layout.
 *
 * @param batch B
 * @param heads H
 * @param tokens N
 * @param headDim d
 */
public record BenchShape(int batch, int heads, int tokens, int headDim) {
    /** The project's reference shapes (SPARGEATTENTION2.md, section 6), by name. */
    private static final Map<String, BenchShape> NAMED = new LinkedHashMap<>();

    static {
        NAMED.put("cpu-s", new BenchShape(1, 4, 4096, 64));
        NAMED.put("wan13b-480p", new BenchShape(1, 12, 32760, 128));
        NAMED.put("wan14b-720p", new BenchShape(1, 40, 75600, 128));
    }

    /** Rejects non-positive sizes. */
    public BenchShape {
        if (batch <= 0 || heads <= 0 || tokens <= 0 || headDim <= 0) {
            throw new IllegalArgumentException("shape: got " + batch + "," + heads + "," + tokens + "," + headDim
                    + ", expected four positive whole numbers B,H,N,d");
        }
    }

    /**
     * @param text a reference shape's name ({@code cpu-s}, {@code wan13b-480p}, {@code wan14b-720p}) or
     *             {@code B,H,N,d}, for example {@code 1,4,4096,64}
     * @return the shape
     * @throws IllegalArgumentException naming what is accepted
     */
    public static BenchShape parse(String text) {
        String t = text == null ? "" : text.trim();
        BenchShape named = NAMED.get(t);
        if (named != null) {
            return named;
        }
        String[] parts = t.split(",", -1);
        if (parts.length == 4) {
            try {
                int[] v = new int[4];
                for (int i = 0; i < 4; i++) {
                    v[i] = Integer.parseInt(parts[i].trim());
                }
                if (v[0] > 0 && v[1] > 0 && v[2] > 0 && v[3] > 0) {
                    return new BenchShape(v[0], v[1], v[2], v[3]);
                }
            } catch (NumberFormatException e) {
                // falls through to the message below
            }
        }
        throw new IllegalArgumentException("shape: got '" + text + "', expected " + String.join(", ", NAMED.keySet())
                + " or B,H,N,d (four positive whole numbers, e.g. 1,4,4096,64)");
    }

    /** @return the names {@link #parse} accepts besides B,H,N,d */
    public static java.util.Set<String> names() {
        return java.util.Collections.unmodifiableSet(NAMED.keySet());
    }

    /** @return the shape as the JSON reports it: "B,H,N,d" */
    @Override
    public String toString() {
        return batch + "," + heads + "," + tokens + "," + headDim;
    }
}

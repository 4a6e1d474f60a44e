package io.sparge4j.engine.bench;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** The pair-GEMM kernel families {@link GpuKernelBench} can time once per tiling. */
public enum GemmFamily {
    /** Register prefetch, two local buffers: {@code GemmKernels.mmaGemmBF16PairsTiled}. */
    TILED,
    /** cp.async ring and ldmatrix: {@code GemmKernels.mmaGemmBF16PairsAsync}. */
    ASYNC,
    /** cp.async ring with fragments double-buffered in registers: {@code PipelinedGemmKernels}. */
    PIPELINED;

    /**
     * @param text {@code default} (none), {@code all}, or a comma list of {@code tiled}, {@code async},
     *     {@code pipelined}
     * @return the families
     * @throws IllegalArgumentException naming the word that is none of these
     */
    public static Set<GemmFamily> parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("default")) {
            return EnumSet.noneOf(GemmFamily.class);
        }
        if (t.equals("all")) {
            return EnumSet.allOf(GemmFamily.class);
        }
        Set<GemmFamily> out = EnumSet.noneOf(GemmFamily.class);
        for (String word : t.split(",")) {
            try {
                out.add(valueOf(word.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + word.trim() + "' in '" + text + "': expected default, all,"
                        + " or a comma list of tiled, async, pipelined", e);
            }
        }
        return out;
    }
}

package io.sparge4j.kernels.linalg;

/**
 * What the ring-fed pair GEMMs' tilings ({@link GemmKernels.AsyncPairTiling}, {@link
 * PipelinedGemmKernels.PipelinedTiling}) have in common: {@code warpsM x warpsN} warps of {@code warpMTiles x
 * warpNTiles} 16x8 accumulator fragments over k-tiles of {@code bk} in a ring of {@code stages} local buffers, and the
 * sizes that follow from them. Launch with work-groups of {@link #groupSize()} x 1 over
 * {@code (ceil(n / blockN) * groupSize, ceil(m / blockM))}.
 */
public interface RingTiling {
    /** @return warps along m */
    int warpsM();

    /** @return warps along n */
    int warpsN();

    /** @return 16-row accumulator fragments per warp along m */
    int warpMTiles();

    /** @return 8-column accumulator fragments per warp along n */
    int warpNTiles();

    /** @return k elements per tile */
    int bk();

    /** @return local buffers in the ring */
    int stages();

    /** @return the label's word before the stage count, e.g. {@code async} or {@code pipe} */
    String stagesWord();

    /** @return rows of C per work-group */
    default int blockM() {
        return warpsM() * warpMTiles() * 16;
    }

    /** @return columns of C per work-group */
    default int blockN() {
        return warpsN() * warpNTiles() * 8;
    }

    /** @return work-items per work-group */
    default int groupSize() {
        return 32 * warpsM() * warpsN();
    }

    /** @return bytes of local memory the ring takes: stages x (A and Bt k-tiles, 2 bytes per element) */
    default int localMemoryBytes() {
        return stages() * (blockM() + blockN()) * bk() * 2;
    }

    /** @return e.g. {@code 128x128 w4x2 32x64 bk32 async2}: block, warps, warp tile, k-tile, stages */
    default String label() {
        return blockM() + "x" + blockN() + " w" + warpsM() + "x" + warpsN() + " " + warpMTiles() * 16 + "x"
                + warpNTiles() * 8 + " bk" + bk() + " " + stagesWord() + stages();
    }
}

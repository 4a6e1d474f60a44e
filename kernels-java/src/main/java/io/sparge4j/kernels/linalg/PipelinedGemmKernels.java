package io.sparge4j.kernels.linalg;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.List;

/**
 * Tensor-core pair GEMMs ({@code C = A Bt^T}, operands as int views of bf16 or f16 matrices, even {@code k}, as
 * {@link GemmKernels#mmaGemmBF16Pairs}) built for latency hiding with four warps or more per work-group: a
 * {@code cp.async} ring of k-tiles in local memory (above 48 KiB CUDA gives it dynamic shared memory) and
 * {@code ldmatrix} fragments double-buffered in registers. Step {@code s + 1}'s fragments are loaded before step
 * {@code s}'s MMAs, also across k-tiles: each tile's one barrier sits before its last step's MMAs, so the next tile's
 * first fragments load while those MMAs run and the tensor cores never wait on a local load right after a barrier.
 * Tiles are chunk-major as in {@link GemmKernels.AsyncPairTiling} (conflict-free copies and {@code ldmatrix}).
 * Tiled by {@link PipelinedTiling} ({@link #TILINGS}); the tiling's values are {@code @Constant}s.
 */
public final class PipelinedGemmKernels {
    /** Local memory a work-group may have: the H200's 227 KiB of (dynamic) shared memory per block. */
    public static final int LOCAL_MEMORY_LIMIT = 232448;

    private PipelinedGemmKernels() {
    }

    /**
     * A tile configuration of {@link #mmaGemmBF16Pipelined} and {@link #mmaGemmF16Pipelined}: {@code warpsM x warpsN}
     * warps, each owning {@code warpMTiles x warpNTiles} accumulator fragments of 16x8, over k-tiles of {@code bk}
     * elements (two or four 16-k steps, so that the two register buffers alternate within a tile) in a ring of
     * {@code stages} local buffers. Launch with work-groups of {@link #groupSize()} x 1 over
     * {@code (ceil(n / blockN) * groupSize, ceil(m / blockM))}.
     *
     * @param warpsM warps along m
     * @param warpsN warps along n
     * @param warpMTiles 16-row accumulator fragments per warp along m
     * @param warpNTiles 8-column accumulator fragments per warp along n, even ({@code ldmatrix} loads two at once)
     * @param bk k elements per tile: 32 or 64
     * @param stages local buffers in the ring: 2 to 5 (copies of {@code stages - 1} tiles are in flight)
     */
    public record PipelinedTiling(int warpsM, int warpsN, int warpMTiles, int warpNTiles, int bk, int stages)
            implements RingTiling {
        /**
         * @throws IllegalArgumentException when a count is out of range, the work-group has more than 1024
         *     work-items, or the ring needs more than {@link #LOCAL_MEMORY_LIMIT} bytes
         */
        public PipelinedTiling {
            if (warpsM < 1 || warpsN < 1 || warpMTiles < 1 || warpNTiles < 2 || warpNTiles % 2 != 0
                    || (bk != 32 && bk != 64) || stages < 2 || stages > 5) {
                throw new IllegalArgumentException("PipelinedTiling: warpsM " + warpsM + ", warpsN " + warpsN
                        + ", warpMTiles " + warpMTiles + ", warpNTiles " + warpNTiles + ", bk " + bk + ", stages "
                        + stages + ": expected positive warp counts and warpMTiles, an even warpNTiles, bk 32 or 64"
                        + " and 2 to 5 stages");
            }
            int group = 32 * warpsM * warpsN;
            int chunksPerRow = bk / 8;
            if (group % (8 * chunksPerRow) != 0 || (warpsM * warpMTiles * 16 * chunksPerRow) % group != 0
                    || (warpsN * warpNTiles * 8 * chunksPerRow) % group != 0) {
                throw new IllegalArgumentException("PipelinedTiling " + warpsM + "x" + warpsN + " warps of "
                        + warpMTiles + "x" + warpNTiles + " fragments, bk " + bk + ": " + group + " work-items do not "
                        + "copy both tiles in whole passes of whole 8-row blocks of " + chunksPerRow
                        + " 16-byte chunks per row");
            }
            if (32 * warpsM * warpsN > 1024) {
                throw new IllegalArgumentException("PipelinedTiling " + warpsM + "x" + warpsN + " warps: "
                        + 32 * warpsM * warpsN + " work-items, expected at most 1024");
            }
            long bytes = (long) stages * (warpsM * warpMTiles * 16 + warpsN * warpNTiles * 8) * bk * 2;
            if (bytes > LOCAL_MEMORY_LIMIT) {
                throw new IllegalArgumentException("PipelinedTiling " + warpsM * warpMTiles * 16 + "x"
                        + warpsN * warpNTiles * 8 + ", bk " + bk + ", " + stages + " stages needs " + bytes
                        + " bytes of local memory, expected at most " + LOCAL_MEMORY_LIMIT);
            }
        }

        @Override
        public String stagesWord() {
            return "pipe";
        }
    }

    /**
     * Tilings worth timing (all with 64x64 warp tiles, whose fragments give four MMAs per loaded register); every
     * one passes the emulator tests and compiles for sm_90 without spills. Four-warp groups at 128x128 keep two
     * work-groups per multiprocessor (their barriers interleave); the 8-warp 128x256 and 256x128 groups read a
     * quarter less from L2 per flop.
     */
    public static final List<PipelinedTiling> TILINGS = List.of(
            new PipelinedTiling(2, 2, 4, 8, 32, 3),
            new PipelinedTiling(2, 2, 4, 8, 32, 4),
            new PipelinedTiling(2, 2, 4, 8, 64, 2),
            new PipelinedTiling(2, 2, 4, 8, 64, 3),
            new PipelinedTiling(2, 4, 4, 8, 32, 4),
            new PipelinedTiling(4, 2, 4, 8, 32, 4),
            new PipelinedTiling(2, 4, 4, 8, 64, 3),
            new PipelinedTiling(4, 2, 4, 8, 64, 3));

    /**
     * {@code C (m x n, f32) = A (m x k, bf16) * Bt (n x k, bf16)^T} with the pipeline described on the class.
     * Operands as for {@link GemmKernels#mmaGemmBF16Pairs}; when {@code k} is not a multiple of 8 the rows are not
     * 16-byte aligned and the tiles are loaded with plain loads (same ring, slower). With k a multiple of 8,
     * {@code a} and {@code bt} must start 16-byte aligned, as device buffers do.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in bf16 elements, even
     * @param warpsM {@link PipelinedTiling#warpsM()}
     * @param warpsN {@link PipelinedTiling#warpsN()}
     * @param warpMTiles {@link PipelinedTiling#warpMTiles()}
     * @param warpNTiles {@link PipelinedTiling#warpNTiles()}
     * @param bk {@link PipelinedTiling#bk()}
     * @param stages {@link PipelinedTiling#stages()}
     */
    public static void mmaGemmBF16Pipelined(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, @Constant int warpsM, @Constant int warpsN, @Constant int warpMTiles, @Constant int warpNTiles,
            @Constant int bk, @Constant int stages) {
        allocateAndRun(ctx, a, bt, c, m, n, k, true, warpsM, warpsN, warpMTiles, warpNTiles, bk, stages);
    }

    /**
     * {@link #mmaGemmBF16Pipelined} with f16 operands.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in f16 elements, even
     * @param warpsM {@link PipelinedTiling#warpsM()}
     * @param warpsN {@link PipelinedTiling#warpsN()}
     * @param warpMTiles {@link PipelinedTiling#warpMTiles()}
     * @param warpNTiles {@link PipelinedTiling#warpNTiles()}
     * @param bk {@link PipelinedTiling#bk()}
     * @param stages {@link PipelinedTiling#stages()}
     */
    public static void mmaGemmF16Pipelined(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, @Constant int warpsM, @Constant int warpsN, @Constant int warpMTiles, @Constant int warpNTiles,
            @Constant int bk, @Constant int stages) {
        allocateAndRun(ctx, a, bt, c, m, n, k, false, warpsM, warpsN, warpMTiles, warpNTiles, bk, stages);
    }

    /**
     * Allocates the arrays (sizes as expressions of the constants: the JIT folds constants through expressions and
     * helper arguments, not through local variables) and runs the pipeline. The fragment arrays hold two buffers.
     */
    private static void allocateAndRun(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, boolean bf16, int warpsM, int warpsN, int mTiles, int nTiles, int bk, int stages) {
        int[] as = ctx.allocateIntLocalArray(stages * (warpsM * mTiles * 16) * (bk / 2));
        int[] bs = ctx.allocateIntLocalArray(stages * (warpsN * nTiles * 8) * (bk / 2));
        float[] acc = new float[mTiles * nTiles * KernelContext.MMA_C_FRAGMENT];
        int[] ra = new int[2 * mTiles * 4];
        int[] rb = new int[2 * nTiles * 2];
        short[] af = new short[mTiles * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[nTiles * KernelContext.MMA_B_FRAGMENT];
        pipeline(ctx, as, bs, acc, ra, rb, af, bf, a, bt, c, m, n, k, bf16, warpsN, mTiles, nTiles,
                warpsM * mTiles * 16, warpsN * nTiles * 8, bk / 2, stages, 32 * warpsM * warpsN);
    }

    /**
     * The ring (tiles of {@code kp} ints of k per row, chunk-major: int p of row r at
     * {@code (p >> 2) * (rows * 4) + r * 4 + (p & 3)}). Tiles 0 .. stages - 2 are requested up front, one commit
     * group per tile (empty past the end, so that waiting for all but {@code stages - 2} groups always means "the
     * next tile has landed"). Trip t requests tile {@code t + stages - 1} into the slot tile t - 1 used (every warp
     * read it before trip t - 1's barrier) and commits it at once, then runs tile t's 16-k steps in pairs: buffer 0
     * holds the even steps' fragments, buffer 1 the odd ones', each loaded before the other buffer's MMAs. Before
     * the last step's MMAs: wait for tile t + 1, barrier, and load its first step into buffer 0.
     */
    private static void pipeline(KernelContext ctx, int[] as, int[] bs, float[] acc, int[] ra, int[] rb,
            short[] af, short[] bf, IntArray a, IntArray bt, FloatArray c, int m, int n, int k, boolean bf16,
            int warpsN, int mTiles, int nTiles, int blockM, int blockN, int kp, int stages, int group) {
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int warpRow = warp / warpsN * (mTiles * 16);
        int warpCol = warp % warpsN * (nTiles * 8);
        int rowBase = ctx.groupIdy * blockM;
        int colBase = ctx.groupIdx * blockN;
        int kPairs = k >> 1;
        // 16-byte copies need 16-byte aligned rows: k a multiple of 8
        boolean aligned = (kPairs & 3) == 0;
        int tiles = (kPairs + kp - 1) / kp;
        for (int s = 0; s < stages - 1; s++) {
            if (s < tiles) {
                GemmKernels.loadTileAsync(ctx, as, s * (blockM * kp), a, rowBase, m, kPairs, s * kp, tid, blockM,
                        group, kp / 4, aligned);
                GemmKernels.loadTileAsync(ctx, bs, s * (blockN * kp), bt, colBase, n, kPairs, s * kp, tid, blockN,
                        group, kp / 4, aligned);
            }
            ctx.asyncCommit();
        }
        // whole row blocks with 16-byte aligned rows: every k-tile but a partial last one copies without checks
        boolean aInside = aligned && rowBase + blockM <= m;
        boolean bInside = aligned && colBase + blockN <= n;
        // this work-item's copies of a whole tile: copy e of an operand is row copyRow + e rowsPerPass, chunk
        // copyChunk (the order of GemmKernels.loadTileAsync: eight consecutive copies fill 128 local bytes), so its
        // local and global offsets are a base plus e times a constant, computed once here
        int chunksPerRow = kp / 4;
        int copyRow = tid / (8 * chunksPerRow) * 8 + (tid & 7);
        int copyChunk = (tid >> 3) % chunksPerRow;
        int aLocal = copyChunk * (blockM * 4) + copyRow * 4;
        int bLocal = copyChunk * (blockN * 4) + copyRow * 4;
        int aGlobal = (rowBase + copyRow) * kPairs + copyChunk * 4;
        int bGlobal = (colBase + copyRow) * kPairs + copyChunk * 4;
        int passStride = group / chunksPerRow * kPairs;
        // the warp's rows in every chunk of a slot
        int aWarp = warpRow * 4;
        int bWarp = warpCol * 4;
        ctx.asyncWait(stages - 2);
        ctx.localBarrier();
        // tile 0's first step (with k = 0 there is no tile: these registers are never used)
        fragments(ctx, as, bs, ra, rb, aWarp, bWarp, blockM * 4, blockN * 4, mTiles, nTiles, 0);
        // slot offsets, advanced by adding (no modulo in the loop)
        int readA = 0;
        int readB = 0;
        int writeA = (stages - 1) * (blockM * kp);
        int writeB = (stages - 1) * (blockN * kp);
        for (int tile = 0; tile < tiles; tile++) {
            int next = tile + stages - 1;
            if (next < tiles) {
                boolean wholeK = next * kp + kp <= kPairs;
                if (aInside && wholeK) {
                    copyInside(ctx, as, writeA + aLocal, a, aGlobal + next * kp, passStride,
                            blockM * (kp / 4) / group, group / (kp / 4) * 4);
                } else {
                    GemmKernels.loadTileAsync(ctx, as, writeA, a, rowBase, m, kPairs, next * kp, tid, blockM, group,
                            kp / 4, aligned);
                }
                if (bInside && wholeK) {
                    copyInside(ctx, bs, writeB + bLocal, bt, bGlobal + next * kp, passStride,
                            blockN * (kp / 4) / group, group / (kp / 4) * 4);
                } else {
                    GemmKernels.loadTileAsync(ctx, bs, writeB, bt, colBase, n, kPairs, next * kp, tid, blockN, group,
                            kp / 4, aligned);
                }
            }
            ctx.asyncCommit();
            int nextA = readA + blockM * kp == stages * (blockM * kp) ? 0 : readA + blockM * kp;
            int nextB = readB + blockN * kp == stages * (blockN * kp) ? 0 : readB + blockN * kp;
            // ks ints of k into the tile = chunk ks / 4; a pair of 16-k steps (16 ints) per trip
            for (int ks = 0; ks < kp; ks += 16) {
                fragments(ctx, as, bs, ra, rb, readA + (ks / 4 + 2) * (blockM * 4) + aWarp,
                        readB + (ks / 4 + 2) * (blockN * 4) + bWarp, blockM * 4, blockN * 4, mTiles, nTiles, 1);
                mmas(ctx, ra, rb, af, bf, acc, bf16, mTiles, nTiles, 0);
                if (ks + 16 < kp) {
                    fragments(ctx, as, bs, ra, rb, readA + (ks / 4 + 4) * (blockM * 4) + aWarp,
                            readB + (ks / 4 + 4) * (blockN * 4) + bWarp, blockM * 4, blockN * 4, mTiles, nTiles, 0);
                } else if (tile + 1 < tiles) {
                    // tile t + 1 has landed (this work-item's copies: the wait; everyone's: the barrier), and every
                    // warp has read its last fragments of tile t (loaded above), whose slot trip t + 1 refills
                    ctx.asyncWait(stages - 2);
                    ctx.localBarrier();
                    fragments(ctx, as, bs, ra, rb, nextA + aWarp, nextB + bWarp, blockM * 4, blockN * 4,
                            mTiles, nTiles, 0);
                }
                mmas(ctx, ra, rb, af, bf, acc, bf16, mTiles, nTiles, 1);
            }
            readA = nextA;
            readB = nextB;
            writeA = writeA + blockM * kp == stages * (blockM * kp) ? 0 : writeA + blockM * kp;
            writeB = writeB + blockN * kp == stages * (blockN * kp) ? 0 : writeB + blockN * kp;
        }
        GemmKernels.storeAccumulators(ctx, acc, mTiles, nTiles, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /**
     * An operand's k-tile wholly inside the matrix with 16-byte aligned rows: {@code passes} unchecked 16-byte copies,
     * pass e from {@code src[global + e * globalStride]} to {@code tile[local + e * localStride]}.
     */
    private static void copyInside(KernelContext ctx, int[] tile, int local, IntArray src, int global,
            int globalStride, int passes, int localStride) {
        for (int e = 0; e < passes; e++) {
            ctx.asyncCopy16(tile, local + e * localStride, src, global + e * globalStride,
                    KernelContext.ASYNC_COPY_INTS);
        }
    }

    /**
     * One 16-k step's fragments of the warp's mTiles x nTiles into register buffer {@code buf} (0 or 1, a constant
     * at every call, so that the arrays stay in registers): A's 16x16 tiles from {@code aAt} (the warp's row 0 in the
     * step's first chunk; the next chunk, k + 8, is {@code aChunk} ints on), Bt's pairs of 8-column tiles from
     * {@code bAt}, through {@code ldmatrix} as in {@link GemmKernels#mmaGemmBF16PairsAsync}.
     */
    private static void fragments(KernelContext ctx, int[] as, int[] bs, int[] ra, int[] rb, int aAt, int bAt,
            int aChunk, int bChunk, int mTiles, int nTiles, int buf) {
        for (int i = 0; i < mTiles; i++) {
            // matrices: rows 0-7, rows 8-15 (32 ints on), then both at k + 8 (the next chunk)
            ctx.mmaLoadMatrixX4(as, aAt + i * 64, 4, 32, aChunk, ra, (buf * mTiles + i) * 4);
        }
        for (int j = 0; j < nTiles / 2; j++) {
            // matrices: columns 0-7 at k, at k + 8 (next chunk), then columns 8-15 at k, at k + 8
            ctx.mmaLoadMatrixX4(bs, bAt + j * 64, 4, bChunk, 32, rb, (buf * (nTiles / 2) + j) * 4);
        }
    }

    /**
     * The MMAs of one 16-k step from register buffer {@code buf} (see {@link #fragments}). The loaded ints are split
     * into the MMA's 16-bit elements only here, right before the MMAs pack them again (which the compiler folds away):
     * a buffer that lives across the k loop as 16-bit halves took 64 byte-permutes per tile to re-pack.
     */
    private static void mmas(KernelContext ctx, int[] ra, int[] rb, short[] af, short[] bf, float[] acc,
            boolean bf16, int mTiles, int nTiles, int buf) {
        for (int i = 0; i < mTiles * 4; i++) {
            GemmKernels.splitPair(ra[buf * (mTiles * 4) + i], af, 2 * i);
        }
        for (int j = 0; j < nTiles * 2; j++) {
            GemmKernels.splitPair(rb[buf * (nTiles * 2) + j], bf, 2 * j);
        }
        for (int i = 0; i < mTiles; i++) {
            for (int j = 0; j < nTiles; j++) {
                int fa = i * KernelContext.MMA_A_FRAGMENT;
                int fb = j * KernelContext.MMA_B_FRAGMENT;
                int fc = (i * nTiles + j) * KernelContext.MMA_C_FRAGMENT;
                if (bf16) {
                    ctx.mmaBF16(af, fa, bf, fb, acc, fc);
                } else {
                    ctx.mmaF16(af, fa, bf, fb, acc, fc);
                }
            }
        }
    }
}

package io.sparge4j.engine.jit;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Tiny kernels exercising {@link KernelContext#mmaLoadMatrixX4} and the asynchronous copies, one per intrinsic, and
 * what they must write, computed in Java from PTX's definitions.
 */
public final class SharedMemoryLoadKernels {
    /** Ints of the local tile {@link #loadMatrix} fills from {@code in}. */
    public static final int TILE = 1024;
    /** Ints each warp's matrices are shifted by in {@link #loadMatrix}. */
    public static final int WARP_SHIFT = 64;
    /** Work-items per group of {@link #asyncCopy}. */
    public static final int COPY_GROUP = 64;

    private SharedMemoryLoadKernels() {
    }

    /**
     * Fills a local tile with {@code in[0 .. TILE)}, then every warp loads four matrices from
     * {@code offset + warp * WARP_SHIFT}; work-item {@code i} writes its four ints to {@code out[4 i ..]}.
     */
    public static void loadMatrix(KernelContext ctx, IntArray in, IntArray out, int offset, int ld, int step1,
            int step2) {
        int[] tile = ctx.allocateIntLocalArray(TILE);
        int[] r = new int[4];
        for (int i = ctx.localIdx; i < TILE; i += ctx.localGroupSizeX) {
            tile[i] = in.get(i);
        }
        ctx.localBarrier();
        int warp = ctx.localIdx >> 5;
        ctx.mmaLoadMatrixX4(tile, offset + warp * WARP_SHIFT, ld, step1, step2, r, 0);
        for (int j = 0; j < 4; j++) {
            out.set(ctx.globalIdx * 4 + j, r[j]);
        }
    }

    /**
     * Two commit groups per work-item: first its chunk {@code in[g * 512 + 4 i ..]} with {@code i % 5} valid ints
     * (0 valid: the source index points past {@code n}, which must not be read), then the full chunk 256 ints on.
     * After waiting for the first group and a barrier, work-item {@code i} writes its neighbour's first chunk to
     * {@code out[g * 512 + 4 i ..]}; after waiting for all, the neighbour's second to {@code out[g * 512 + 256 + 4 i ..]}.
     */
    public static void asyncCopy(KernelContext ctx, IntArray in, IntArray out, int n) {
        int[] tile = ctx.allocateIntLocalArray(2 * COPY_GROUP * 4);
        int tid = ctx.localIdx;
        int base = ctx.groupIdx * (2 * COPY_GROUP * 4);
        int valid = tid % 5;
        ctx.asyncCopy16(tile, tid * 4, in, valid == 0 ? n + 4 * tid : base + tid * 4, valid);
        ctx.asyncCommit();
        ctx.asyncCopy16(tile, COPY_GROUP * 4 + tid * 4, in, base + COPY_GROUP * 4 + tid * 4, 4);
        ctx.asyncCommit();
        ctx.asyncWait(1);
        ctx.localBarrier();
        int other = (tid + 1) % COPY_GROUP;
        for (int q = 0; q < 4; q++) {
            out.set(base + tid * 4 + q, tile[other * 4 + q]);
        }
        ctx.asyncWait(0);
        ctx.localBarrier();
        for (int q = 0; q < 4; q++) {
            out.set(base + COPY_GROUP * 4 + tid * 4 + q, tile[COPY_GROUP * 4 + other * 4 + q]);
        }
    }

    /**
     * PTX ldmatrix .x4, non-transposed: thread 8 j + r of a warp supplies the address of row r of matrix j; thread l
     * receives, from each matrix j, the 32 bits at column 2 (l % 4) of row l / 4.
     */
    public static int[] expectedLoadMatrix(int[] in, int warps, int offset, int ld, int step1, int step2) {
        int[] out = new int[warps * 32 * 4];
        for (int w = 0; w < warps; w++) {
            int[] rowAddress = new int[32];
            for (int thread = 0; thread < 32; thread++) {
                int j = thread / 8;
                int r = thread % 8;
                int base = offset + w * WARP_SHIFT + (j % 2) * step1 + (j / 2) * step2;
                rowAddress[thread] = base + r * ld;
            }
            for (int lane = 0; lane < 32; lane++) {
                for (int j = 0; j < 4; j++) {
                    out[(w * 32 + lane) * 4 + j] = in[rowAddress[8 * j + lane / 4] + lane % 4];
                }
            }
        }
        return out;
    }

    /** What {@link SharedMemoryLoadKernels#asyncCopy} must write: neighbours' chunks, zero past the valid ints. */
    public static int[] expectedAsyncCopy(int[] in, int groups) {
        int g = COPY_GROUP;
        int[] out = new int[groups * 2 * g * 4];
        for (int grp = 0; grp < groups; grp++) {
            int base = grp * 2 * g * 4;
            for (int tid = 0; tid < g; tid++) {
                int other = (tid + 1) % g;
                for (int q = 0; q < 4; q++) {
                    out[base + tid * 4 + q] = q < other % 5 ? in[base + other * 4 + q] : 0;
                    out[base + g * 4 + tid * 4 + q] = in[base + g * 4 + other * 4 + q];
                }
            }
        }
        return out;
    }
}

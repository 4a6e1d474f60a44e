package io.sparge4j.engine.jit;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Test kernels for {@link KernelContext#mmaLoadMatrixX4Trans} and for local arrays above CUDA's 48 KiB of static
 * shared memory, with what they must write computed in Java from the definitions.
 */
public final class TransposedMatrixLoadKernels {
    /** Ints of the local tile {@link #loadMatrixTrans} fills from {@code in}. */
    public static final int TILE = 1024;
    /** Ints each warp's matrices are shifted by. */
    public static final int WARP_SHIFT = 64;
    /** Ints of each of {@link #bigLocal}'s two local arrays: 2 x 32 KiB, over the 48 KiB static limit. */
    public static final int BIG = 8192;
    /** Work-items per group of {@link #bigLocal}. */
    public static final int BIG_GROUP = 256;

    private TransposedMatrixLoadKernels() {
    }

    /** As {@link SharedMemoryLoadKernels#loadMatrix} with the transposed load. */
    public static void loadMatrixTrans(KernelContext ctx, IntArray in, IntArray out, int offset, int ld, int step1,
            int step2) {
        int[] tile = ctx.allocateIntLocalArray(TILE);
        int[] r = new int[4];
        for (int i = ctx.localIdx; i < TILE; i += ctx.localGroupSizeX) {
            tile[i] = in.get(i);
        }
        ctx.localBarrier();
        int warp = ctx.localIdx >> 5;
        ctx.mmaLoadMatrixX4Trans(tile, offset + warp * WARP_SHIFT, ld, step1, step2, r, 0);
        for (int j = 0; j < 4; j++) {
            out.set(ctx.globalIdx * 4 + j, r[j]);
        }
    }

    /**
     * Two 32 KiB local arrays: a group copies {@code in[g * BIG ..]} into the first and its bitwise complement into
     * the second, then writes {@code out[g * BIG + i] = first[BIG - 1 - i] ^ second[i]} (so both arrays must be
     * whole and distinct).
     */
    public static void bigLocal(KernelContext ctx, IntArray in, IntArray out) {
        int[] a = ctx.allocateIntLocalArray(BIG);
        int[] b = ctx.allocateIntLocalArray(BIG);
        int base = ctx.groupIdx * BIG;
        for (int i = ctx.localIdx; i < BIG; i += BIG_GROUP) {
            int x = in.get(base + i);
            a[i] = x;
            b[i] = ~x;
        }
        ctx.localBarrier();
        for (int i = ctx.localIdx; i < BIG; i += BIG_GROUP) {
            out.set(base + i, a[BIG - 1 - i] ^ b[i]);
        }
    }

    /** Ints of each of {@link #hugeLocal}'s two local arrays: 2 x 160 KiB, more than any GPU's shared memory. */
    public static final int HUGE = 40960;

    /** As {@link #bigLocal} with 320 KiB of local arrays: a device must refuse it at load. */
    public static void hugeLocal(KernelContext ctx, IntArray in, IntArray out) {
        int[] a = ctx.allocateIntLocalArray(HUGE);
        int[] b = ctx.allocateIntLocalArray(HUGE);
        for (int i = ctx.localIdx; i < HUGE; i += BIG_GROUP) {
            a[i] = in.get(i);
            b[i] = ~a[i];
        }
        ctx.localBarrier();
        for (int i = ctx.localIdx; i < HUGE; i += BIG_GROUP) {
            out.set(i, a[HUGE - 1 - i] ^ b[i]);
        }
    }

    /** What {@link #bigLocal} writes for {@code groups} groups. */
    public static int[] expectedBigLocal(int[] in, int groups) {
        int[] out = new int[groups * BIG];
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < BIG; i++) {
                out[g * BIG + i] = in[g * BIG + BIG - 1 - i] ^ ~in[g * BIG + i];
            }
        }
        return out;
    }

    /**
     * PTX ldmatrix .x4 .trans from its definition on 16-bit elements: thread 8 j + r supplies the address of row r of
     * matrix j (8 elements); thread l receives element (row 2 (l % 4), column l / 4) in the low half and
     * (row 2 (l % 4) + 1, column l / 4) in the high half. Built by transposing each matrix into a scratch tile and
     * reading it with the non-transposed definition.
     */
    public static int[] expectedLoadMatrixTrans(int[] in, int warps, int offset, int ld, int step1, int step2) {
        int[] out = new int[warps * 32 * 4];
        for (int w = 0; w < warps; w++) {
            for (int j = 0; j < 4; j++) {
                int base = offset + w * WARP_SHIFT + (j % 2) * step1 + (j / 2) * step2;
                // element (r, c) of the matrix, and the transposed matrix as 8 rows of 4 ints
                int[] transposed = new int[8 * 4];
                for (int r = 0; r < 8; r++) {
                    for (int c = 0; c < 8; c++) {
                        int e = (in[base + r * ld + c / 2] >>> (16 * (c % 2))) & 0xffff;
                        transposed[c * 4 + r / 2] |= e << (16 * (r % 2));
                    }
                }
                for (int lane = 0; lane < 32; lane++) {
                    out[(w * 32 + lane) * 4 + j] = transposed[(lane / 4) * 4 + lane % 4];
                }
            }
        }
        return out;
    }
}

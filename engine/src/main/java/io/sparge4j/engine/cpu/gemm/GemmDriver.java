package io.sparge4j.engine.cpu.gemm;

import io.sparge4j.engine.cpu.CpuRuntime;

import java.lang.foreign.MemorySegment;

/**
 * The blocked GEMM loop nest (the BLIS/Goto scheme). For each NC-wide column block and KC-deep slice of
 * k, the slice of op(B) is packed once, shared by all threads, and stays in L2/L3; the threads then
 * split the MC-row blocks of op(A) (and, when there are too few, column ranges), each packing its own
 * A block (L2-resident) and sweeping B micro-panels (L1-resident) against A micro-panels.
 */
final class GemmDriver {
    /** Depth of a packed slice: a B micro-panel (KC x NR floats, 32 KiB for NR = 32) stays in the 48 KiB L1. */
    static final int KC = 256;
    /** Rows of a packed A block at most: MC x KC floats (~270 KiB) stays in L2 next to part of the B slice. */
    static final int MC_MAX = 264;
    /** Columns of a packed B slice: KC x NC floats (2 MiB). */
    static final int NC = 2048;
    /** Below this many multiply-adds a single thread is faster than waking the pool. */
    private static final long PARALLEL_MIN_FMAS = 1L << 18;

    /** Never started: only a thread identity for {@link #isShareable}. */
    private static final Thread OTHER_THREAD = Thread.ofPlatform().unstarted(() -> { });
    private static final ThreadLocal<float[]> A_SCRATCH = new ThreadLocal<>();
    private static final ThreadLocal<float[]> B_SCRATCH = new ThreadLocal<>();
    private static final ThreadLocal<float[]> TILE_SCRATCH = new ThreadLocal<>();

    private GemmDriver() {
    }

    /** C = alpha * op(A) * op(B) + beta * C, arguments already validated, m, n, k all positive. */
    static void run(MicroKernel kernel, int m, int n, int k, float alpha, Operand a, Operand b, float beta,
            MemorySegment c, long cOffset, long ldc) {
        int mr = kernel.mr();
        int nr = kernel.nr();
        boolean shareable = isShareable(a.segment()) && isShareable(b.segment()) && isShareable(c);
        int threads = (long) m * n * k < PARALLEL_MIN_FMAS || !shareable ? 1 : CpuRuntime.threads();
        int mcMax = MC_MAX / mr * mr;
        int icBlocks = ceilDiv(m, mcMax);
        if (threads > 1 && icBlocks % threads != 0 && m >= threads * mr * 4) {
            icBlocks = ceilDiv(icBlocks, threads) * threads;
        }
        int mc = ceilDiv(ceilDiv(m, icBlocks), mr) * mr;
        icBlocks = ceilDiv(m, mc);
        float[] bPack = scratch(B_SCRATCH, ceilDiv(Math.min(n, NC), nr) * nr * Math.min(k, KC));

        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int panels = ceilDiv(nc, nr);
            int jSplit = 1;
            if (threads > 1 && icBlocks % threads != 0) {
                // too few row blocks to share evenly: also split the columns
                jSplit = Math.min(panels, ceilDiv(2 * threads, icBlocks));
            }
            int items = icBlocks * jSplit;
            int jcFinal = jc;
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                int pcFinal = pc;
                float cScale = pc == 0 ? beta : 1f;
                if (threads > 1) {
                    CpuRuntime.parallelForRange(panels, Math.max(1, panels / (4 * threads)),
                            (q0, q1) -> Packing.packB(b, pcFinal, kc, jcFinal, nc, nr, q0, q1, bPack));
                } else {
                    Packing.packB(b, pc, kc, jc, nc, nr, 0, panels, bPack);
                }
                int jSplitFinal = jSplit;
                CpuRuntime.RangeBody body = (from, to) -> {
                    float[] aPack = scratch(A_SCRATCH, mcMax * KC);
                    float[] tile = scratch(TILE_SCRATCH, mr * nr);
                    for (int item = from; item < to; item++) {
                        int ic = (item / jSplitFinal) * mc;
                        int js = item % jSplitFinal;
                        int mcBlock = Math.min(mc, m - ic);
                        Packing.packA(a, ic, mcBlock, pcFinal, kc, alpha, mr, aPack);
                        macroKernel(kernel, kc, mcBlock, nc, aPack, bPack, js * panels / jSplitFinal,
                                (js + 1) * panels / jSplitFinal, c, cOffset + (long) ic * ldc + jcFinal, ldc, cScale, tile);
                    }
                };
                if (threads > 1) {
                    CpuRuntime.parallelForRange(items, 1, body);
                } else {
                    body.run(0, items);
                }
            }
        }
    }

    /** Sweeps B micro-panels [q0, q1) (outer, L1-resident) against all A micro-panels of the block (inner). */
    private static void macroKernel(MicroKernel kernel, int kc, int mc, int nc, float[] aPack, float[] bPack, int q0,
            int q1, MemorySegment c, long cBlock, long ldc, float cScale, float[] tile) {
        int mr = kernel.mr();
        int nr = kernel.nr();
        for (int q = q0; q < q1; q++) {
            int jr = q * nr;
            int cols = Math.min(nr, nc - jr);
            int bOff = q * nr * kc;
            for (int ir = 0; ir < mc; ir += mr) {
                int rows = Math.min(mr, mc - ir);
                int aOff = ir * kc;
                long cIndex = cBlock + ir * ldc + jr;
                kernel.tile(kc, aPack, aOff, bPack, bOff, tile);
                kernel.store(tile, rows, cols, c, cIndex, ldc, cScale);
            }
        }
    }

    /** Whether threads other than the caller may access the segment (false for a confined arena's). */
    private static boolean isShareable(MemorySegment segment) {
        return segment.isAccessibleBy(OTHER_THREAD);
    }

    private static float[] scratch(ThreadLocal<float[]> cache, int size) {
        float[] buf = cache.get();
        if (buf == null || buf.length < size) {
            buf = new float[size];
            cache.set(buf);
        }
        return buf;
    }

    static int ceilDiv(int x, int y) {
        return (x + y - 1) / y;
    }
}

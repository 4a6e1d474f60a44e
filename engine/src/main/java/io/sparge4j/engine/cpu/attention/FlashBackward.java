package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Fused attention backward (FlashAttention-2): scores are recomputed tile by tile from the saved
 * logsumexp, never stored whole. Two passes, each deterministic and free of atomics:
 * <ul>
 *   <li>dQ: one task per (head, query block) walks the block's key blocks;</li>
 *   <li>dK and dV: one task per (head, key block) walks the query blocks that attend to it.</li>
 * </ul>
 * With {@code D = rowsum(dO * O)}, {@code P = exp(S - L)}, {@code dS = P * (dO V^T - D)}:
 * {@code dV = P^T dO}, {@code dQ = scale dS K}, {@code dK = scale dS^T Q}.
 */
public final class FlashBackward {
    private static final float LN2 = (float) Math.log(2);
    private static final float LOG2E = (float) (1 / Math.log(2));

    private FlashBackward() {
    }

    /** One head's packed operands (zero-padded tiles; see {@link TilePacker}). */
    private static final class Head {
        final float[] qScaled; // rows, times scale * log2 e
        final float[] qScaledT; // transposed per query block
        final float[] dOut;
        final float[] dOutT;
        final float[] key;
        final float[] keyT;
        final float[] value;
        final float[] valueT;
        final float[] lse2; // base-2 logsumexp per query; +inf on padding rows so that P = 0 there
        final float[] delta; // rowsum(dO * O)

        Head(int qSize, int kSize, int qRows) {
            qScaled = new float[qSize];
            qScaledT = new float[qSize];
            dOut = new float[qSize];
            dOutT = new float[qSize];
            key = new float[kSize];
            keyT = new float[kSize];
            value = new float[kSize];
            valueT = new float[kSize];
            lse2 = new float[qRows];
            delta = new float[qRows];
            Arrays.fill(lse2, Float.POSITIVE_INFINITY);
        }
    }

    /**
     * Runs the backward pass. Arguments are assumed validated; q, k, v, out and lse are those of the forward.
     *
     * @param dOut gradient of the loss with respect to out
     * @param dq f32, shape of q; every element is written
     * @param dk f32, shape of k; every element is written
     * @param dv f32, shape of v; every element is written
     * @param schedule the forward's schedule
     * @param math the tile arithmetic (scalar or SIMD)
     */
    public static void run(AttentionShape sh, Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
                           float scale, Tensor dq, Tensor dk, Tensor dv, BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        int nqb = sh.queryBlocks();
        int nkb = sh.keyBlocks();
        int qSize = Math.toIntExact((long) nqb * qt * dp);
        int kSize = Math.toIntExact((long) nkb * kt * dp);
        int chunk = TilePacker.headsPerChunk(sh, 4L * qSize + 4L * kSize);
        Head[] packed = new Head[chunk];
        float qMul = scale * LOG2E;
        for (int first = 0; first < sh.batchHeads(); first += chunk) {
            int heads = Math.min(chunk, sh.batchHeads() - first);
            int start = first;
            for (int c = 0; c < heads; c++) {
                if (packed[c] == null) {
                    packed[c] = new Head(qSize, kSize, nqb * qt);
                }
            }
            int blocks = Math.max(nqb, nkb);
            CpuRuntime.parallelFor(heads * blocks, item -> {
                int c = item / blocks;
                int blk = item % blocks;
                int bh = start + c;
                int b = bh / sh.heads();
                int h = bh % sh.heads();
                Head hd = packed[c];
                float[] row = TileScratch.forShape(sh).row;
                if (blk < nqb) {
                    int nq = sh.queryLen();
                    int bq = sh.queryBlock();
                    TilePacker.rows(q, sh, nq, b, h, bq, qt, blk, qMul, hd.qScaled);
                    TilePacker.transposed(q, sh, nq, b, h, bq, qt, blk, qMul, hd.qScaledT, row);
                    TilePacker.rows(dOut, sh, nq, b, h, bq, qt, blk, 1f, hd.dOut);
                    TilePacker.transposed(dOut, sh, nq, b, h, bq, qt, blk, 1f, hd.dOutT, row);
                    rowStats(sh, b, h, blk, out, lse, hd, row);
                }
                if (blk < nkb) {
                    int nk = sh.keyLen();
                    int bk = sh.keyBlock();
                    TilePacker.rows(k, sh, nk, b, h, bk, kt, blk, 1f, hd.key);
                    TilePacker.transposed(k, sh, nk, b, h, bk, kt, blk, 1f, hd.keyT, row);
                    TilePacker.rows(v, sh, nk, b, h, bk, kt, blk, 1f, hd.value);
                    TilePacker.transposed(v, sh, nk, b, h, bk, kt, blk, 1f, hd.valueT, row);
                }
            });
            CpuRuntime.parallelFor(heads * nqb, item ->
                    queryGradients(sh, start + item / nqb, item % nqb, packed[item / nqb], scale, dq, schedule, math));
            CpuRuntime.parallelFor(heads * nkb, item ->
                    keyGradients(sh, start + item / nkb, item % nkb, packed[item / nkb], scale, dk, dv, schedule, math));
        }
    }

    /** Fills the base-2 logsumexp and D = rowsum(dO * O) of one query block; dO must already be packed. */
    private static void rowStats(AttentionShape sh, int b, int h, int qb, Tensor out, Tensor lse, Head hd, float[] row) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int first = qb * sh.queryBlock();
        int count = Math.min(sh.queryBlock(), sh.queryLen() - first);
        long lseBase = ((long) b * sh.heads() + h) * sh.queryLen();
        for (int r = 0; r < count; r++) {
            int n = first + r;
            int idx = qb * qt + r;
            hd.lse2[idx] = lse.getFloat(lseBase + n) * LOG2E;
            RowIo.read(out, sh.rowIndex(sh.queryLen(), b, h, n), row, 0, sh.headDim(), 1f);
            float dot = 0;
            int at = idx * dp;
            for (int c = 0; c < sh.headDim(); c++) {
                dot = Math.fma(hd.dOut[at + c], row[c], dot);
            }
            hd.delta[idx] = dot;
        }
    }

    private static void queryGradients(AttentionShape sh, int bh, int qb, Head hd, float scale, Tensor dq,
                                       BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        TileScratch s = TileScratch.forShape(sh);
        float[] acc = s.acc;
        Arrays.fill(acc, 0, qt * dp, 0f);
        int qOff = qb * qt * dp;
        for (int kb : schedule.keyBlocks(bh, qb)) {
            int kOff = kb * kt * dp;
            math.gemm(hd.qScaled, qOff, dp, hd.keyT, kOff, kt, s.scores, 0, kt, qt, kt, dp, null, false);
            math.gemm(hd.dOut, qOff, dp, hd.valueT, kOff, kt, s.scoreGrads, 0, kt, qt, kt, dp, null, false);
            int valid = Math.min(sh.keyBlock(), sh.keyLen() - kb * sh.keyBlock());
            math.softmaxGrad(s.scores, s.scoreGrads, qt, kt, valid, hd.lse2, hd.delta, qb * qt, false);
            math.gemm(s.scoreGrads, 0, kt, hd.key, kOff, dp, acc, 0, dp, qt, dp, kt, null, true);
        }
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        int first = qb * sh.queryBlock();
        int rows = Math.min(sh.queryBlock(), sh.queryLen() - first);
        for (int r = 0; r < rows; r++) {
            RowIo.writeF32(dq, sh.rowIndex(sh.queryLen(), b, h, first + r), acc, r * dp, sh.headDim(), scale);
        }
    }

    private static void keyGradients(AttentionShape sh, int bh, int kb, Head hd, float scale, Tensor dk, Tensor dv,
                                     BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        TileScratch s = TileScratch.forShape(sh);
        float[] accK = s.acc;
        float[] accV = s.acc2;
        Arrays.fill(accK, 0, kt * dp, 0f);
        Arrays.fill(accV, 0, kt * dp, 0f);
        int kOff = kb * kt * dp;
        for (int qb : schedule.queryBlocks(bh, kb)) {
            int qOff = qb * qt * dp;
            // Transposed tiles: rows are keys, columns are queries.
            math.gemm(hd.key, kOff, dp, hd.qScaledT, qOff, qt, s.scores, 0, qt, kt, qt, dp, null, false);
            math.gemm(hd.value, kOff, dp, hd.dOutT, qOff, qt, s.scoreGrads, 0, qt, kt, qt, dp, null, false);
            // Padding query columns have lse2 = +inf, so P = 0 there without a mask.
            math.softmaxGrad(s.scores, s.scoreGrads, kt, qt, qt, hd.lse2, hd.delta, qb * qt, true);
            math.gemm(s.scores, 0, qt, hd.dOut, qOff, dp, accV, 0, dp, kt, dp, qt, null, true);
            math.gemm(s.scoreGrads, 0, qt, hd.qScaled, qOff, dp, accK, 0, dp, kt, dp, qt, null, true);
        }
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        int first = kb * sh.keyBlock();
        int rows = Math.min(sh.keyBlock(), sh.keyLen() - first);
        // accK holds dS^T (Q * scale * log2 e); dK = scale dS^T Q = accK * ln 2.
        for (int r = 0; r < rows; r++) {
            long at = sh.rowIndex(sh.keyLen(), b, h, first + r);
            RowIo.writeF32(dk, at, accK, r * dp, sh.headDim(), LN2);
            RowIo.writeF32(dv, at, accV, r * dp, sh.headDim(), 1f);
        }
    }
}

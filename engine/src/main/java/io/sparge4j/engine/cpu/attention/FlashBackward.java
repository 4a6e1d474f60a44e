package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Fused attention backward (FlashAttention-2): scores are recomputed tile by tile from the saved
 * logsumexp, never stored whole. Two kinds of task, each deterministic and free of atomics:
 * <ul>
 *   <li>dQ: one task per (head, query block) walks the block's key blocks;</li>
 *   <li>dK and dV: one task per (head, key block) walks the query blocks that attend to it.</li>
 * </ul>
 * With {@code D = rowsum(dO * O)}, {@code P = exp(S - L)}, {@code dS = P * (dO V^T - D)}:
 * {@code dV = P^T dO}, {@code dQ = scale dS K}, {@code dK = scale dS^T Q}.
 *
 * <p>For a chunk of heads, only the query and key blocks that the schedule visits are packed; then both
 * kinds of task share one parallel loop, longest first, each writing its own gradient rows.
 */
public final class FlashBackward {
    private static final float LN2 = (float) Math.log(2);
    private static final float LOG2E = (float) (1 / Math.log(2));
    /** Packed operands, reused across calls (package-private so that tests can poison it). */
    static final PackedBuffer PACKED = new PackedBuffer();

    private FlashBackward() {
    }

    /**
     * Where one head's packed operands live in the shared buffer (zero-padded tiles; see {@link TilePacker}).
     * Query-side arrays hold {@code queryBlocks * queryTile * paddedDim} floats, key-side ones
     * {@code keyBlocks * keyTile * paddedDim}, and the per-query vectors {@code queryBlocks * queryTile}.
     */
    private record Layout(int qSize, int kSize, int qRows) {
        int qScaled() { // rows, times scale * log2 e
            return 0;
        }

        int qScaledT() { // transposed per query block
            return qSize;
        }

        int dOut() {
            return 2 * qSize;
        }

        int dOutT() {
            return 3 * qSize;
        }

        int key() {
            return 4 * qSize;
        }

        int keyT() {
            return 4 * qSize + kSize;
        }

        int valueT() {
            return 4 * qSize + 2 * kSize;
        }

        int lse2() { // base-2 logsumexp per query; +inf on padding rows so that P = 0 there
            return 4 * qSize + 3 * kSize;
        }

        int delta() { // rowsum(dO * O)
            return 4 * qSize + 3 * kSize + qRows;
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
        Layout lay = new Layout(Math.toIntExact((long) nqb * qt * dp), Math.toIntExact((long) nkb * kt * dp),
                nqb * qt);
        // Layout offsets are ints: one head's packed operands must fit in one array.
        long perHead = Math.toIntExact(4L * lay.qSize() + 3L * lay.kSize() + 2L * lay.qRows());
        int chunk = TilePacker.headsPerChunk(sh, perHead);
        float[] packed = PACKED.acquire(chunk * perHead);
        try {
            float qMul = scale * LOG2E;
            for (int first = 0; first < sh.batchHeads(); first += chunk) {
                int heads = Math.min(chunk, sh.batchHeads() - first);
                int start = first;
                int[] queryItems = WorkOrder.usedQueryBlocks(schedule, start, heads, nqb, nkb);
                int[] keyItems = WorkOrder.usedKeyBlocks(schedule, start, heads, nqb, nkb);
                CpuRuntime.parallelFor(queryItems.length + keyItems.length, i -> {
                    if (i < queryItems.length) {
                        int c = queryItems[i] / nqb;
                        packQueryBlock(sh, start + c, queryItems[i] % nqb, q, dOut, out, lse, qMul, packed,
                                Math.toIntExact(c * perHead), lay, math);
                    } else {
                        int item = keyItems[i - queryItems.length];
                        int c = item / nkb;
                        packKeyBlock(sh, start + c, item % nkb, k, v, packed, Math.toIntExact(c * perHead), lay,
                                math);
                    }
                });
                // Both kinds of task in one loop, longest first; a dK/dV tile costs about 4/3 of a dQ tile.
                int dqTasks = heads * nqb;
                int[] order = WorkOrder.byCostDescending(dqTasks + heads * nkb, item -> item < dqTasks
                        ? 3 * schedule.keyBlocks(start + item / nqb, item % nqb).length
                        : 4 * schedule.queryBlocks(start + (item - dqTasks) / nkb, (item - dqTasks) % nkb).length);
                CpuRuntime.parallelFor(order.length, i -> {
                    int item = order[i];
                    if (item < dqTasks) {
                        int c = item / nqb;
                        queryGradients(sh, start + c, item % nqb, packed, Math.toIntExact(c * perHead), lay, scale,
                                dq, schedule, math);
                    } else {
                        int c = (item - dqTasks) / nkb;
                        keyGradients(sh, start + c, (item - dqTasks) % nkb, v, packed, Math.toIntExact(c * perHead),
                                lay, dk, dv, schedule, math);
                    }
                });
            }
        } finally {
            PACKED.release(packed);
        }
    }

    /** Packs Q (scaled) and dO as rows and transposed, and fills the block's base-2 logsumexp and D. */
    private static void packQueryBlock(AttentionShape sh, int bh, int qb, Tensor q, Tensor dOut, Tensor out,
                                       Tensor lse, float qMul, float[] packed, int base, Layout lay, TileMath math) {
        int d = sh.headDim();
        int qt = sh.queryTile();
        int nq = sh.queryLen();
        int bq = sh.queryBlock();
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        int dp = sh.paddedDim();
        int tileOff = qb * qt * dp;
        int qRows = base + lay.qScaled() + tileOff;
        int dORows = base + lay.dOut() + tileOff;
        TileScratch s = TileScratch.forShape(sh);
        int count = TilePacker.rows(q, sh, nq, b, h, bq, qb, qMul, qt, packed, qRows);
        TilePacker.transposed(math, packed, qRows, dp, count, sh, qt, packed, base + lay.qScaledT() + tileOff);
        TilePacker.rows(dOut, sh, nq, b, h, bq, qb, 1f, qt, packed, dORows);
        TilePacker.transposed(math, packed, dORows, dp, count, sh, qt, packed, base + lay.dOutT() + tileOff);
        TilePacker.stage(out, sh, nq, b, h, bq, qb, 1f, s.stage);
        int lse2 = base + lay.lse2() + qb * qt;
        int delta = base + lay.delta() + qb * qt;
        long lseBase = (long) bh * nq + (long) qb * bq;
        for (int r = 0; r < count; r++) {
            packed[lse2 + r] = lse.getFloat(lseBase + r) * LOG2E;
            float dot = 0;
            for (int c = 0, at = dORows + r * dp, o = r * d; c < d; c++) {
                dot = Math.fma(packed[at + c], s.stage[o + c], dot);
            }
            packed[delta + r] = dot;
        }
        Arrays.fill(packed, lse2 + count, lse2 + qt, Float.POSITIVE_INFINITY);
        Arrays.fill(packed, delta + count, delta + qt, 0f);
    }

    /** Packs K as rows and transposed, and V transposed. */
    private static void packKeyBlock(AttentionShape sh, int bh, int kb, Tensor k, Tensor v, float[] packed, int base,
                                     Layout lay, TileMath math) {
        int kt = sh.keyTile();
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        int tileOff = kb * kt * sh.paddedDim();
        int dp = sh.paddedDim();
        int kRows = base + lay.key() + tileOff;
        int count = TilePacker.rows(k, sh, sh.keyLen(), b, h, sh.keyBlock(), kb, 1f, kt, packed, kRows);
        TilePacker.transposed(math, packed, kRows, dp, count, sh, kt, packed, base + lay.keyT() + tileOff);
        float[] stage = TileScratch.forShape(sh).stage;
        TilePacker.stage(v, sh, sh.keyLen(), b, h, sh.keyBlock(), kb, 1f, stage);
        TilePacker.transposed(math, stage, 0, sh.headDim(), count, sh, kt, packed, base + lay.valueT() + tileOff);
    }

    private static void queryGradients(AttentionShape sh, int bh, int qb, float[] packed, int base, Layout lay,
                                       float scale, Tensor dq, BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        TileScratch s = TileScratch.forShape(sh);
        float[] acc = s.acc;
        int qOff = qb * qt * dp;
        int[] keyBlocks = schedule.keyBlocks(bh, qb);
        if (keyBlocks.length == 0) {
            Arrays.fill(acc, 0, qt * dp, 0f);
        }
        for (int at = 0; at < keyBlocks.length; at++) {
            int kb = keyBlocks[at];
            int kOff = kb * kt * dp;
            math.gemm(packed, base + lay.qScaled() + qOff, dp, packed, base + lay.keyT() + kOff, kt, s.scores, 0, kt,
                    qt, kt, dp, null, false);
            math.gemm(packed, base + lay.dOut() + qOff, dp, packed, base + lay.valueT() + kOff, kt, s.scoreGrads, 0,
                    kt, qt, kt, dp, null, false);
            int valid = TilePacker.count(sh.keyLen(), sh.keyBlock(), kb);
            math.softmaxGrad(s.scores, s.scoreGrads, qt, kt, valid, packed, base + lay.lse2() + qb * qt, packed,
                    base + lay.delta() + qb * qt, false);
            // The first block's product overwrites the accumulator, so it is never cleared.
            math.gemm(s.scoreGrads, 0, kt, packed, base + lay.key() + kOff, dp, acc, 0, dp, qt, dp, kt, null, at > 0);
        }
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        int first = qb * sh.queryBlock();
        int rows = TilePacker.count(sh.queryLen(), sh.queryBlock(), qb);
        for (int r = 0; r < rows; r++) {
            RowIo.writeF32(dq, sh.rowIndex(sh.queryLen(), b, h, first + r), acc, r * dp, sh.headDim(), scale);
        }
    }

    private static void keyGradients(AttentionShape sh, int bh, int kb, Tensor v, float[] packed, int base,
                                     Layout lay, Tensor dk, Tensor dv, BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        TileScratch s = TileScratch.forShape(sh);
        float[] accK = s.acc;
        float[] accV = s.acc2;
        int kOff = kb * kt * dp;
        int[] queryBlocks = schedule.queryBlocks(bh, kb);
        if (queryBlocks.length > 0) {
            // V rows are only ever the left operand of this task: pack them into scratch, not the shared buffer.
            TilePacker.rows(v, sh, sh.keyLen(), b, h, sh.keyBlock(), kb, 1f, kt, s.tile, 0);
        }
        if (queryBlocks.length == 0) {
            Arrays.fill(accK, 0, kt * dp, 0f);
            Arrays.fill(accV, 0, kt * dp, 0f);
        }
        for (int at = 0; at < queryBlocks.length; at++) {
            int qb = queryBlocks[at];
            boolean accumulate = at > 0; // the first products overwrite the accumulators
            int qOff = qb * qt * dp;
            // Transposed tiles: rows are keys, columns are queries.
            math.gemm(packed, base + lay.key() + kOff, dp, packed, base + lay.qScaledT() + qOff, qt, s.scores, 0, qt,
                    kt, qt, dp, null, false);
            math.gemm(s.tile, 0, dp, packed, base + lay.dOutT() + qOff, qt, s.scoreGrads, 0, qt, kt, qt, dp, null,
                    false);
            // Padding query columns have lse2 = +inf, so P = 0 there without a mask.
            math.softmaxGrad(s.scores, s.scoreGrads, kt, qt, qt, packed, base + lay.lse2() + qb * qt, packed,
                    base + lay.delta() + qb * qt, true);
            math.gemm(s.scores, 0, qt, packed, base + lay.dOut() + qOff, dp, accV, 0, dp, kt, dp, qt, null,
                    accumulate);
            math.gemm(s.scoreGrads, 0, qt, packed, base + lay.qScaled() + qOff, dp, accK, 0, dp, kt, dp, qt, null,
                    accumulate);
        }
        int first = kb * sh.keyBlock();
        int rows = TilePacker.count(sh.keyLen(), sh.keyBlock(), kb);
        // accK holds dS^T (Q * scale * log2 e); dK = scale dS^T Q = accK * ln 2.
        for (int r = 0; r < rows; r++) {
            long at = sh.rowIndex(sh.keyLen(), b, h, first + r);
            RowIo.writeF32(dk, at, accK, r * dp, sh.headDim(), LN2);
            RowIo.writeF32(dv, at, accV, r * dp, sh.headDim(), 1f);
        }
    }
}

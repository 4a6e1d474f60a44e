package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Fused attention forward with FlashAttention's online softmax: for each (batch, head, query block) the
 * scores of one key block at a time are formed, folded into a running max and sum, and multiplied into
 * the output accumulator. Memory per task is one query tile, one score tile and the accumulator.
 *
 * <p>Heads are packed a chunk at a time (Q pre-scaled by {@code scale * log2 e}, K transposed per key
 * block, V as rows), then (head, query block) tasks run in parallel, each writing its own output rows.
 */
public final class FlashForward {
    private static final double LN2 = Math.log(2);
    private static final float LOG2E = (float) (1 / Math.log(2));

    private FlashForward() {
    }

    /**
     * Runs the forward pass. Arguments are assumed validated.
     *
     * @param sh sizes and tiling
     * @param q queries (f32, bf16 or f16) in {@code sh.layout()}
     * @param k keys
     * @param v values
     * @param scale the softmax scale applied to q k^T
     * @param out f32 output, same shape and layout as q; every element is written
     * @param lse f32 (B, H, Nq): natural-log logsumexp of each query's scaled scores; every element is written
     * @param schedule which key blocks each query block visits
     * @param math the tile arithmetic (scalar or SIMD)
     */
    public static void run(AttentionShape sh, Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse,
                           BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        int nqb = sh.queryBlocks();
        int nkb = sh.keyBlocks();
        long qSize = (long) nqb * qt * dp;
        long kSize = (long) nkb * kt * dp;
        int chunk = TilePacker.headsPerChunk(sh, qSize + 2 * kSize);
        float[][] qs = new float[chunk][];
        float[][] kts = new float[chunk][];
        float[][] vs = new float[chunk][];
        float qMul = scale * LOG2E;
        for (int first = 0; first < sh.batchHeads(); first += chunk) {
            int heads = Math.min(chunk, sh.batchHeads() - first);
            int start = first;
            for (int c = 0; c < heads; c++) {
                if (qs[c] == null) {
                    qs[c] = new float[Math.toIntExact(qSize)];
                    kts[c] = new float[Math.toIntExact(kSize)];
                    vs[c] = new float[Math.toIntExact(kSize)];
                }
            }
            int blocks = Math.max(nqb, nkb);
            CpuRuntime.parallelFor(heads * blocks, item -> {
                int c = item / blocks;
                int blk = item % blocks;
                int bh = start + c;
                int b = bh / sh.heads();
                int h = bh % sh.heads();
                if (blk < nqb) {
                    TilePacker.rows(q, sh, sh.queryLen(), b, h, sh.queryBlock(), qt, blk, qMul, qs[c]);
                }
                if (blk < nkb) {
                    float[] row = TileScratch.forShape(sh).row;
                    TilePacker.transposed(k, sh, sh.keyLen(), b, h, sh.keyBlock(), kt, blk, 1f, kts[c], row);
                    TilePacker.rows(v, sh, sh.keyLen(), b, h, sh.keyBlock(), kt, blk, 1f, vs[c]);
                }
            });
            CpuRuntime.parallelFor(heads * nqb, item -> {
                int c = item / nqb;
                queryBlock(sh, start + c, item % nqb, qs[c], kts[c], vs[c], out, lse, schedule, math);
            });
        }
    }

    private static void queryBlock(AttentionShape sh, int bh, int qb, float[] qPacked, float[] kT, float[] vPacked,
                                   Tensor out, Tensor lse, BlockSchedule schedule, TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        TileScratch s = TileScratch.forShape(sh);
        float[] o = s.acc;
        float[] m = s.rowMax;
        float[] l = s.rowSum;
        Arrays.fill(o, 0, qt * dp, 0f);
        Arrays.fill(m, 0, qt, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, qt * TileMath.SUM_STRIDE, 0f);
        int qOff = qb * qt * dp;
        for (int kb : schedule.keyBlocks(bh, qb)) {
            math.gemm(qPacked, qOff, dp, kT, kb * kt * dp, kt, s.scores, 0, kt, qt, kt, dp, null, false);
            int valid = Math.min(sh.keyBlock(), sh.keyLen() - kb * sh.keyBlock());
            boolean rescale = math.onlineSoftmax(s.scores, qt, kt, valid, m, l, s.alpha);
            math.gemm(s.scores, 0, kt, vPacked, kb * kt * dp, dp, o, 0, dp, qt, dp, kt, rescale ? s.alpha : null,
                    true);
        }
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        int first = qb * sh.queryBlock();
        int rows = Math.min(sh.queryBlock(), sh.queryLen() - first);
        for (int r = 0; r < rows; r++) {
            int n = first + r;
            float sum = 0;
            for (int lane = 0; lane < TileMath.SUM_STRIDE; lane++) {
                sum += l[r * TileMath.SUM_STRIDE + lane];
            }
            // A query that sees no key (an empty block list) gets a zero output and logsumexp -inf.
            float inv = sum > 0 ? 1f / sum : 0f;
            RowIo.writeF32(out, sh.rowIndex(sh.queryLen(), b, h, n), o, r * dp, sh.headDim(), inv);
            float logsumexp = sum > 0 ? (float) (m[r] * LN2 + Math.log(sum)) : Float.NEGATIVE_INFINITY;
            lse.setFloat((long) bh * sh.queryLen() + n, logsumexp);
        }
    }
}

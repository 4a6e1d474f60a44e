package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Fused attention forward with FlashAttention's online softmax: for each (batch, head, query block) the
 * scores of one key block at a time are formed, folded into a running max and sum, and multiplied into
 * the output accumulator. Memory per task is one query tile, one score tile and the accumulator.
 *
 * <p>For a chunk of heads, the key blocks that some query block keeps are packed first (K transposed per
 * block, V as rows; blocks nobody keeps are skipped, so packing shrinks with sparsity). Then (head, query
 * block) tasks run in parallel, longest first; each packs its own query tile (pre-scaled by
 * {@code scale * log2 e}) into per-thread scratch and writes its own output rows, so results do not depend
 * on which thread ran what.
 */
public final class FlashForward {
    private static final double LN2 = Math.log(2);
    private static final float LOG2E = (float) (1 / Math.log(2));
    /** Packed operands, reused across calls (package-private so that tests can poison it). */
    static final PackedBuffer PACKED = new PackedBuffer();
    /** Query rows per strip: a multiple of 6 and of 4 (the GEMM's row blocks); tiles are multiples of 16 rows. */
    private static final int STRIP = 24;

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
        int kt = sh.keyTile();
        int nqb = sh.queryBlocks();
        int nkb = sh.keyBlocks();
        int kSize = Math.toIntExact((long) nkb * kt * dp);
        long perHead = 2L * kSize; // K^T, then V
        int chunk = TilePacker.headsPerChunk(sh, perHead);
        float[] packed = PACKED.acquire(chunk * perHead);
        try {
            float qMul = scale * LOG2E;
            for (int first = 0; first < sh.batchHeads(); first += chunk) {
                int heads = Math.min(chunk, sh.batchHeads() - first);
                int start = first;
                int[] keyItems = WorkOrder.usedKeyBlocks(schedule, start, heads, nqb, nkb);
                CpuRuntime.parallelFor(keyItems.length, i -> {
                    int c = keyItems[i] / nkb;
                    int kb = keyItems[i] % nkb;
                    int bh = start + c;
                    int b = bh / sh.heads();
                    int h = bh % sh.heads();
                    float[] stage = TileScratch.forShape(sh).stage;
                    int at = Math.toIntExact(c * perHead + (long) kb * kt * dp);
                    int count = TilePacker.stage(k, sh, sh.keyLen(), b, h, sh.keyBlock(), kb, 1f, stage);
                    TilePacker.transposed(math, stage, 0, sh.headDim(), count, sh, kt, packed, at);
                    TilePacker.rows(v, sh, sh.keyLen(), b, h, sh.keyBlock(), kb, 1f, kt, packed, at + kSize);
                });
                int[] order = WorkOrder.byCostDescending(heads * nqb,
                        item -> schedule.keyBlocks(start + item / nqb, item % nqb).length);
                CpuRuntime.parallelFor(order.length, i -> {
                    int c = order[i] / nqb;
                    int base = Math.toIntExact(c * perHead);
                    queryBlock(sh, start + c, order[i] % nqb, q, qMul, packed, base, base + kSize, out, lse,
                            schedule, math);
                });
            }
        } finally {
            PACKED.release(packed);
        }
    }

    private static void queryBlock(AttentionShape sh, int bh, int qb, Tensor q, float qMul, float[] packed,
                                   int kTBase, int vBase, Tensor out, Tensor lse, BlockSchedule schedule,
                                   TileMath math) {
        int dp = sh.paddedDim();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        int b = bh / sh.heads();
        int h = bh % sh.heads();
        TileScratch s = TileScratch.forShape(sh);
        float[] o = s.acc;
        float[] m = s.rowMax;
        float[] l = s.rowSum;
        Arrays.fill(m, 0, qt, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, qt * TileMath.SUM_STRIDE, 0f);
        int[] keyBlocks = schedule.keyBlocks(bh, qb);
        if (keyBlocks.length > 0) {
            TilePacker.rows(q, sh, sh.queryLen(), b, h, sh.queryBlock(), qb, qMul, qt, s.tile, 0);
        }
        if (keyBlocks.length == 0) {
            Arrays.fill(o, 0, qt * dp, 0f);
        }
        for (int at = 0; at < keyBlocks.length; at++) {
            int kb = keyBlocks[at];
            // The first block's product overwrites the accumulator, so it is never cleared.
            boolean accumulate = at > 0;
            int kOff = kb * kt * dp;
            int valid = TilePacker.count(sh.keyLen(), sh.keyBlock(), kb);
            // A strip of query rows at a time: its scores stay in L1 between the two products, and the key
            // and value tiles stay hot across strips.
            for (int r0 = 0; r0 < qt; r0 += STRIP) {
                int rows = Math.min(STRIP, qt - r0);
                math.gemm(s.tile, r0 * dp, dp, packed, kTBase + kOff, kt, s.scores, 0, kt, rows, kt, dp, null, false);
                boolean rescale = math.onlineSoftmax(s.scores, rows, kt, valid, m, l, r0, s.alpha);
                math.gemm(s.scores, 0, kt, packed, vBase + kOff, dp, o, r0 * dp, dp, rows, dp, kt,
                        rescale ? s.alpha : null, accumulate);
            }
        }
        int first = qb * sh.queryBlock();
        int rows = TilePacker.count(sh.queryLen(), sh.queryBlock(), qb);
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

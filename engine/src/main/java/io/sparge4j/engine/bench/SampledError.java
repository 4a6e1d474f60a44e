package io.sparge4j.engine.bench;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.ReferenceAttention;
import io.sparge4j.engine.tensor.Tensor;

/**
 * max |o - ref| / max |ref| over a sample of query rows, where ref is float64 attention with the same block mask
 * ({@link ReferenceAttention#row}). Rows are spread evenly over the sequence, first and last included, in every
 * (batch, head).
 */
final class SampledError {
    private SampledError() {
    }

    /** @return the sampled rows: {@code count} (at most n) indices spread evenly over [0, n) */
    static int[] rows(int n, int count) {
        int m = Math.min(n, count);
        int[] rows = new int[m];
        for (int i = 0; i < m; i++) {
            rows[i] = m == 1 ? 0 : (int) Math.round((double) i * (n - 1) / (m - 1));
        }
        return rows;
    }

    /**
     * @param q queries (B,H,N,d)
     * @param k keys
     * @param v values
     * @param mask the mask the output was computed with
     * @param scale softmax scale
     * @param out the output to check, f32 (B,H,N,d)
     * @param rowsPerHead rows sampled in each (batch, head)
     * @return the relative error
     */
    static double maxRelativeError(Tensor q, Tensor k, Tensor v, BlockMask mask, float scale, Tensor out,
            int rowsPerHead) {
        int heads = q.dim(1);
        int n = q.dim(2);
        int d = q.dim(3);
        int[] rows = rows(n, rowsPerHead);
        int tasks = q.dim(0) * heads * rows.length;
        double[] maxDiff = new double[tasks];
        double[] maxRef = new double[tasks];
        CpuRuntime.parallelFor(tasks, task -> {
            int bh = task / rows.length;
            int row = rows[task % rows.length];
            double[] ref = ReferenceAttention.row(q, k, v, mask, scale, bh / heads, bh % heads, row);
            long base = ((long) bh * n + row) * d;
            for (int c = 0; c < d; c++) {
                maxDiff[task] = Math.max(maxDiff[task], Math.abs(out.getFloat(base + c) - ref[c]));
                maxRef[task] = Math.max(maxRef[task], Math.abs(ref[c]));
            }
        });
        double diff = 0;
        double ref = 0;
        for (int t = 0; t < tasks; t++) {
            diff = Math.max(diff, maxDiff[t]);
            ref = Math.max(ref, maxRef[t]);
        }
        return ref > 0 ? diff / ref : diff;
    }
}

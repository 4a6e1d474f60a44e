package io.sparge4j.engine.sparse;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.ops.Check;
import io.sparge4j.engine.tensor.Tensor;

/**
 * Plain float64 attention with an optional block mask, one query row at a time. Slow and exact: it is the yardstick
 * for benchmarks ({@code max_rel_err}) and analysis, never the fast path.
 */
public final class ReferenceAttention {
    private static final String OP = "ReferenceAttention";

    private ReferenceAttention() {
    }

    /**
     * Computes output rows of softmax(q k^T * scale) v over the keys whose block the mask keeps.
     *
     * @param q (B,H,Nq,d)
     * @param k (B,H,Nk,d)
     * @param v (B,H,Nk,d)
     * @param mask block mask, or null for dense attention
     * @param scale softmax scale
     * @param b batch index
     * @param h head index
     * @param row query index
     * @return the output row (length d)
     */
    public static double[] row(Tensor q, Tensor k, Tensor v, BlockMask mask, float scale, int b, int h, int row) {
        check(q, k, v, mask);
        Check.that(b >= 0 && b < q.dim(0) && h >= 0 && h < q.dim(1) && row >= 0 && row < q.dim(2), OP, "(b, h, row)",
                "(" + b + ", " + h + ", " + row + ")", "an index into q of shape " + java.util.Arrays.toString(q.shape()));
        return rowUnchecked(q, k, v, mask, scale, b, h, row);
    }

    private static double[] rowUnchecked(Tensor q, Tensor k, Tensor v, BlockMask mask, float scale, int b, int h,
            int row) {
        int heads = q.dim(1);
        int nq = q.dim(2);
        int nk = k.dim(2);
        int d = q.dim(3);
        long qBase = (((long) b * heads + h) * nq + row) * d;
        long kBase = ((long) b * heads + h) * nk * d;
        double[] qr = new double[d];
        for (int c = 0; c < d; c++) {
            qr[c] = q.getFloat(qBase + c);
        }
        double[] s = new double[nk];
        double max = Double.NEGATIVE_INFINITY;
        int qBlock = mask == null ? 0 : row / mask.queryGrid().blockSize();
        for (int j = 0; j < nk; j++) {
            if (mask != null && !mask.kept(b, h, qBlock, j / mask.keyGrid().blockSize())) {
                s[j] = Double.NEGATIVE_INFINITY;
                continue;
            }
            double dot = 0;
            for (int c = 0; c < d; c++) {
                dot += qr[c] * k.getFloat(kBase + (long) j * d + c);
            }
            s[j] = dot * scale;
            max = Math.max(max, s[j]);
        }
        double sum = 0;
        double[] out = new double[d];
        for (int j = 0; j < nk; j++) {
            if (s[j] == Double.NEGATIVE_INFINITY) {
                continue;
            }
            double p = Math.exp(s[j] - max);
            sum += p;
            for (int c = 0; c < d; c++) {
                out[c] += p * v.getFloat(kBase + (long) j * d + c);
            }
        }
        for (int c = 0; c < d; c++) {
            out[c] /= sum;
        }
        return out;
    }

    /**
     * The whole output, in float64, parallel over (batch, head, row).
     *
     * @param q (B,H,Nq,d)
     * @param k (B,H,Nk,d)
     * @param v (B,H,Nk,d)
     * @param mask block mask, or null for dense
     * @param scale softmax scale
     * @return row-major (B,H,Nq,d) values
     */
    public static double[] forward(Tensor q, Tensor k, Tensor v, BlockMask mask, float scale) {
        check(q, k, v, mask);
        int b = q.dim(0);
        int h = q.dim(1);
        int nq = q.dim(2);
        int d = q.dim(3);
        double[] out = new double[b * h * nq * d];
        CpuRuntime.parallelFor(b * h * nq, r -> {
            double[] o = rowUnchecked(q, k, v, mask, scale, r / nq / h, r / nq % h, r % nq);
            System.arraycopy(o, 0, out, r * d, d);
        });
        return out;
    }

    /** The (B,H,N,d) layout only: k and v must match q, and the mask must cover them. */
    private static void check(Tensor q, Tensor k, Tensor v, BlockMask mask) {
        Check.floating(OP, "q", q);
        Check.rank(OP, "q", q, 4);
        Check.floating(OP, "k", k);
        Check.shape(OP, "k", k, q.dim(0), q.dim(1), -1, q.dim(3));
        Check.floating(OP, "v", v);
        Check.sameShape(OP, "k", k, "v", v);
        if (mask != null) {
            boolean ok = mask.batch() == q.dim(0) && mask.heads() == q.dim(1)
                    && mask.queryGrid().length() == q.dim(2) && mask.keyGrid().length() == k.dim(2);
            Check.that(ok, OP, "mask", "B=" + mask.batch() + " H=" + mask.heads() + " Nq=" + mask.queryGrid().length()
                    + " Nk=" + mask.keyGrid().length(), "B=" + q.dim(0) + " H=" + q.dim(1) + " Nq=" + q.dim(2) + " Nk="
                    + k.dim(2) + " (from q and k in (B,H,N,d))");
        }
    }
}

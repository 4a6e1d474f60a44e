package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.gemm.Gemm;
import io.sparge4j.engine.cpu.gemm.Operand;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Matrix products and fully connected layers, with their backward passes, in PyTorch's conventions.
 *
 * <p>Every product runs on {@link Gemm}; transposes are expressed as GEMM operand flags, never copied.
 * Results are new f32 tensors owned by the caller.
 */
public final class Linear {
    private Linear() {
    }

    /**
     * Gradients of {@link #matmul}.
     *
     * @param dA gradient of the loss with respect to {@code a} (shape of {@code a})
     * @param dB gradient with respect to {@code b} (shape of {@code b}; summed over the batch when
     *        {@code b} was shared)
     */
    public record MatmulGrads(Tensor dA, Tensor dB) {
    }

    /**
     * Gradients of {@link #linear}.
     *
     * @param dx gradient with respect to the input (shape of {@code x})
     * @param dWeight gradient with respect to the weight, f32, shape (out, in)
     * @param dBias gradient with respect to the bias, shape (out), or null when not asked for
     */
    public record LinearGrads(Tensor dx, Tensor dWeight, Tensor dBias) {
    }

    /**
     * Batched matrix product: (..., M, K) x (..., K, N) -> (..., M, N). The batch dimensions of both must
     * be equal, or {@code b} may have rank 2 and is then shared by every batch entry.
     *
     * @param a f32, rank at least 2
     * @param b f32, bf16 or f16, rank 2 or the rank of {@code a}
     * @return the product, f32
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        Shapes s = Shapes.of("matmul", a, b);
        Tensor c = Tensor.allocate(DType.F32, s.outShape(a));
        if (s.shared) {
            // a's batch rows stack into one (batch * M) x K matrix
            gemm(s.batch * s.m, s.n, s.k, 1f, f32(a, 0, s.k, false), operand(b, 0, s.n, false), 0f, c, 0, s.n);
        } else {
            for (int i = 0; i < s.batch; i++) {
                gemm(s.m, s.n, s.k, 1f, f32(a, (long) i * s.m * s.k, s.k, false),
                        operand(b, (long) i * s.k * s.n, s.n, false), 0f, c, (long) i * s.m * s.n, s.n);
            }
        }
        return c;
    }

    /**
     * Backward of {@link #matmul}: dA = dC B^T, dB = A^T dC (summed over the batch if {@code b} is shared).
     *
     * @param dC gradient of the loss with respect to the product, f32, shape (..., M, N)
     * @param a the forward pass's {@code a}
     * @param b the forward pass's {@code b}
     * @return dA and dB, f32
     */
    public static MatmulGrads matmulBackward(Tensor dC, Tensor a, Tensor b) {
        Shapes s = Shapes.of("matmulBackward", a, b);
        Check.f32("matmulBackward", "dC", dC);
        Check.shape("matmulBackward", "dC", dC, s.outShape(a));
        Tensor dA = Tensor.allocate(DType.F32, a.shape());
        Tensor dB = Tensor.allocate(DType.F32, b.shape());
        if (s.shared) {
            int rows = s.batch * s.m;
            gemm(rows, s.k, s.n, 1f, f32(dC, 0, s.n, false), operand(b, 0, s.n, true), 0f, dA, 0, s.k);
            gemm(s.k, s.n, rows, 1f, f32(a, 0, s.k, true), f32(dC, 0, s.n, false), 0f, dB, 0, s.n);
        } else {
            for (int i = 0; i < s.batch; i++) {
                long aAt = (long) i * s.m * s.k;
                long bAt = (long) i * s.k * s.n;
                long cAt = (long) i * s.m * s.n;
                gemm(s.m, s.k, s.n, 1f, f32(dC, cAt, s.n, false), operand(b, bAt, s.n, true), 0f, dA, aAt, s.k);
                gemm(s.k, s.n, s.m, 1f, f32(a, aAt, s.k, true), f32(dC, cAt, s.n, false), 0f, dB, bAt, s.n);
            }
        }
        return new MatmulGrads(dA, dB);
    }

    /**
     * Fully connected layer: y = x W^T + bias.
     *
     * @param x input, f32, shape (..., in)
     * @param weight f32, bf16 or f16, shape (out, in)
     * @param bias f32, shape (out), or null for none
     * @return y, f32, shape (..., out)
     */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        String op = "linear";
        LinearShapes s = LinearShapes.of(op, x, weight);
        if (bias != null) {
            Check.f32(op, "bias", bias);
            Check.shape(op, "bias", bias, s.out);
        }
        int[] yShape = x.shape();
        yShape[yShape.length - 1] = s.out;
        Tensor y = Tensor.allocate(DType.F32, yShape);
        float beta = 0f;
        if (bias != null && s.rows > 0) {
            MemorySegment ys = y.segment();
            long rowBytes = (long) s.out * Float.BYTES;
            for (int r = 0; r < s.rows; r++) {
                MemorySegment.copy(bias.segment(), 0, ys, r * rowBytes, rowBytes);
            }
            beta = 1f;
        }
        gemm(s.rows, s.out, s.in, 1f, f32(x, 0, s.in, false), operand(weight, 0, s.in, true), beta, y, 0, s.out);
        return y;
    }

    /**
     * Backward of {@link #linear}: dx = dy W, dW = dy^T x, dBias = the sum of dy over all rows.
     *
     * @param dy gradient of the loss with respect to y, f32, shape (..., out)
     * @param x the forward pass's input
     * @param weight the forward pass's weight
     * @param withBias whether to compute dBias
     * @return dx, dWeight (f32) and dBias (or null)
     */
    public static LinearGrads linearBackward(Tensor dy, Tensor x, Tensor weight, boolean withBias) {
        String op = "linearBackward";
        LinearShapes s = LinearShapes.of(op, x, weight);
        Check.f32(op, "dy", dy);
        int[] yShape = x.shape();
        yShape[yShape.length - 1] = s.out;
        Check.shape(op, "dy", dy, yShape);
        Tensor dx = Tensor.allocate(DType.F32, x.shape());
        Tensor dW = Tensor.allocate(DType.F32, s.out, s.in);
        gemm(s.rows, s.in, s.out, 1f, f32(dy, 0, s.out, false), operand(weight, 0, s.in, false), 0f, dx, 0, s.in);
        gemm(s.out, s.in, s.rows, 1f, f32(dy, 0, s.out, true), f32(x, 0, s.in, false), 0f, dW, 0, s.in);
        Tensor dBias = withBias ? columnSums(dy, s.rows, s.out) : null;
        return new LinearGrads(dx, dW, dBias);
    }

    /** Sums a rows x cols f32 matrix over its rows, accumulating in double. */
    private static Tensor columnSums(Tensor m, int rows, int cols) {
        double[] sums = new double[cols];
        MemorySegment seg = m.segment();
        for (int r = 0; r < rows; r++) {
            long base = (long) r * cols;
            for (int j = 0; j < cols; j++) {
                sums[j] += seg.getAtIndex(ValueLayout.JAVA_FLOAT, base + j);
            }
        }
        Tensor out = Tensor.allocate(DType.F32, cols);
        for (int j = 0; j < cols; j++) {
            out.setFloat(j, (float) sums[j]);
        }
        return out;
    }

    private static void gemm(int m, int n, int k, float alpha, Operand a, Operand b, float beta, Tensor c, long cAt,
            long ldc) {
        Gemm.gemm(m, n, k, alpha, a, b, beta, c.segment(), cAt, ldc);
    }

    private static Operand f32(Tensor t, long offset, long ld, boolean transposed) {
        return new Operand(t.segment(), DType.F32, offset, ld, transposed);
    }

    private static Operand operand(Tensor t, long offset, long ld, boolean transposed) {
        return new Operand(t.segment(), t.dtype(), offset, ld, transposed);
    }

    /** Validated sizes of a matmul: batch entries of M x K times K x N. */
    private record Shapes(int batch, int m, int k, int n, boolean shared) {
        static Shapes of(String op, Tensor a, Tensor b) {
            Check.f32(op, "a", a);
            Check.floating(op, "b", b);
            Check.minRank(op, "a", a, 2);
            Check.minRank(op, "b", b, 2);
            int r = a.rank();
            int m = a.dim(r - 2);
            int k = a.dim(r - 1);
            int n = b.dim(b.rank() - 1);
            boolean shared = b.rank() == 2;
            if (!shared && b.rank() != r) {
                throw new IllegalArgumentException(op + ": b has shape " + Arrays.toString(b.shape()) + " (rank "
                        + b.rank() + "), expected rank 2 or " + r + " (the rank of a)");
            }
            int[] expected = new int[b.rank()];
            Arrays.fill(expected, -1);
            if (!shared) {
                System.arraycopy(a.shape(), 0, expected, 0, r - 2);
            }
            expected[b.rank() - 2] = k;
            Check.shape(op, "b", b, expected);
            int batch = 1;
            for (int d = 0; d < r - 2; d++) {
                batch *= a.dim(d);
            }
            return new Shapes(batch, m, k, n, shared);
        }

        int[] outShape(Tensor a) {
            int[] s = a.shape();
            s[s.length - 1] = n;
            return s;
        }
    }

    /** Validated sizes of a linear layer: rows x in inputs, an out x in weight. */
    private record LinearShapes(int rows, int in, int out) {
        static LinearShapes of(String op, Tensor x, Tensor weight) {
            Check.f32(op, "x", x);
            Check.floating(op, "weight", weight);
            Check.minRank(op, "x", x, 1);
            Check.rank(op, "weight", weight, 2);
            int in = x.dim(x.rank() - 1);
            Check.shape(op, "weight", weight, -1, in);
            int rows = 1;
            for (int d = 0; d < x.rank() - 1; d++) {
                rows *= x.dim(d);
            }
            return new LinearShapes(rows, in, weight.dim(0));
        }
    }
}

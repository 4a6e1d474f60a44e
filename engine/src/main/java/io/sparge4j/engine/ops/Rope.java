package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Wan2.1's 3D rotary position embedding, applied to queries or keys, and its backward.
 *
 * <p>Tokens are a (frames, rows, columns) grid in raster order: token {@code l} sits at frame
 * {@code l / (rows*cols)}, row {@code (l / cols) % rows} and column {@code l % cols}. For head dim
 * {@code d} the {@code d/2} consecutive (even, odd) element pairs of each head are split into three
 * groups of {@link #axisPairs} = [d_f/2, d_h/2, d_w/2] pairs, with {@code d_h = d_w = 2*(d/6)} and
 * {@code d_f = d - 4*(d/6)}, which follow the frame, the row and the column position. Pair {@code i} of
 * an axis with {@code d_a} rotary dimensions, at position {@code pos}, is multiplied as the complex number
 * {@code x[2i] + j*x[2i+1]} by {@code exp(j * pos / 10000^(2i/d_a))}. As in the reference, angles and
 * products are computed in float64 and rounded once to the tensor's dtype. Tokens past the grid
 * ({@code L > frames*rows*cols}, padding) pass through unchanged. Unlike the reference, whose angle
 * table stops at position 1023, any grid size works.
 *
 * <p>The rotation is orthogonal, so {@link #backward} rotates the gradient by the negative angles.
 */
public final class Rope {
    /** Angle base of the rotary frequencies, as in Wan2.1. */
    public static final double THETA = 10000.0;

    /** Where the token and head axes are. */
    public enum Layout {
        /** (B, L, H, d): tokens before heads, as Wan2.1 and diffusers hold q and k. */
        BLHD,
        /** (B, H, L, d): heads before tokens, as the attention kernels take q and k. */
        BHLD
    }

    /**
     * The latent token grid after patchify.
     *
     * @param frames tokens along time
     * @param rows tokens along height
     * @param cols tokens along width
     */
    public record Grid(int frames, int rows, int cols) {
        /** Validates that every size is positive. */
        public Grid {
            Check.positive("Rope.Grid", "frames", frames);
            Check.positive("Rope.Grid", "rows", rows);
            Check.positive("Rope.Grid", "cols", cols);
        }

        /**
         * The number of tokens the grid positions.
         *
         * @return frames * rows * cols
         */
        public long tokens() {
            return (long) frames * rows * cols;
        }
    }

    private static volatile Tables cached;

    private Rope() {
    }

    /**
     * How many of a head's pairs each axis rotates.
     *
     * @param headDim the head dimension d, even
     * @return the number of rotated pairs that follow the frame, row and column positions
     */
    public static int[] axisPairs(int headDim) {
        int hw = 2 * (headDim / 6);
        return new int[]{(headDim - 2 * hw) / 2, hw / 2, hw / 2};
    }

    /**
     * Applies the 3D rotary embedding to {@code x} of shape (B, L, H, d); see {@link #apply(Tensor, Grid, Layout)}.
     *
     * @param x queries or keys (B, L, H, d)
     * @param grid the token grid
     * @return a new tensor of {@code x}'s shape and dtype
     */
    public static Tensor apply(Tensor x, Grid grid) {
        return apply(x, grid, Layout.BLHD);
    }

    /**
     * Applies the 3D rotary embedding.
     *
     * @param x queries or keys, f32, bf16 or f16, of shape (B, L, H, d) or (B, H, L, d) per {@code layout},
     *          with d even and L at least the grid's token count
     * @param grid the token grid
     * @param layout where the token and head axes are
     * @return a new tensor of {@code x}'s shape and dtype
     */
    public static Tensor apply(Tensor x, Grid grid, Layout layout) {
        return rotate("Rope.apply", "x", x, grid, layout, false);
    }

    /**
     * Backward of {@link #apply(Tensor, Grid)} for (B, L, H, d).
     *
     * @param dy gradient with respect to the output (B, L, H, d)
     * @param grid the token grid given to the forward pass
     * @return the gradient with respect to the input
     */
    public static Tensor backward(Tensor dy, Grid grid) {
        return backward(dy, grid, Layout.BLHD);
    }

    /**
     * Backward of {@link #apply(Tensor, Grid, Layout)}: rotates the gradient by the negative angles.
     *
     * @param dy gradient with respect to the output, shaped as the forward input
     * @param grid the token grid given to the forward pass
     * @param layout the layout given to the forward pass
     * @return the gradient with respect to the input, of {@code dy}'s shape and dtype
     */
    public static Tensor backward(Tensor dy, Grid grid, Layout layout) {
        return rotate("Rope.backward", "dy", dy, grid, layout, true);
    }

    private static Tensor rotate(String op, String arg, Tensor x, Grid grid, Layout layout, boolean inverse) {
        Check.floating(op, arg, x);
        Check.rank(op, arg, x, 4);
        Check.that(grid != null, op, "grid", "null", "a grid");
        Check.that(layout != null, op, "layout", "null", "BLHD or BHLD");
        int d = x.dim(3);
        Check.that(d >= 2 && d % 2 == 0, op, arg + " head dim (axis 3)", d, "an even number >= 2");
        int tokenAxis = layout == Layout.BLHD ? 1 : 2;
        int len = x.dim(tokenAxis);
        Check.that(len >= grid.tokens(), op, arg + " tokens (axis " + tokenAxis + ")", len,
                "at least frames*rows*cols = " + grid.tokens() + " for grid " + grid);

        Tables tables = tablesFor(grid, d);
        int heads = layout == Layout.BLHD ? x.dim(2) : 1;
        int rowLen = heads * d;
        int rows = Math.toIntExact(x.numel() / Math.max(1, rowLen));
        Tensor out = Tensor.allocate(x.dtype(), x.shape());
        if (out.numel() == 0) {
            return out;
        }
        int gridTokens = (int) grid.tokens();
        double sign = inverse ? -1.0 : 1.0;
        CpuRuntime.parallelForRange(rows, Shapes.grainFor(rowLen), (from, to) -> {
            float[] buf = new float[rowLen];
            double[] cos = new double[d / 2];
            double[] sin = new double[d / 2];
            int lastToken = -1;
            for (int row = from; row < to; row++) {
                int token = row % len;
                long offset = (long) row * rowLen;
                if (token >= gridTokens) {
                    MemorySegment.copy(x.segment(), offset * x.dtype().byteSize(), out.segment(),
                            offset * x.dtype().byteSize(), (long) rowLen * x.dtype().byteSize());
                    continue;
                }
                if (token != lastToken) {
                    tables.angles(grid, token, sign, cos, sin);
                    lastToken = token;
                }
                load(x, offset, buf);
                for (int base = 0; base < rowLen; base += d) {
                    rotatePairs(buf, base, cos, sin);
                }
                store(out, offset, buf);
            }
        });
        return out;
    }

    /** Multiplies the pairs of one head, starting at {@code buf[base]}, by {@code cos + j*sin}. */
    private static void rotatePairs(float[] buf, int base, double[] cos, double[] sin) {
        for (int i = 0; i < cos.length; i++) {
            double re = buf[base + 2 * i];
            double im = buf[base + 2 * i + 1];
            buf[base + 2 * i] = (float) (re * cos[i] - im * sin[i]);
            buf[base + 2 * i + 1] = (float) (re * sin[i] + im * cos[i]);
        }
    }

    private static void load(Tensor t, long offset, float[] buf) {
        if (t.dtype() == DType.F32) {
            MemorySegment.copy(t.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, offset * 4, buf, 0, buf.length);
        } else {
            for (int i = 0; i < buf.length; i++) {
                buf[i] = t.getFloat(offset + i);
            }
        }
    }

    private static void store(Tensor t, long offset, float[] buf) {
        if (t.dtype() == DType.F32) {
            MemorySegment.copy(buf, 0, t.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, offset * 4, buf.length);
        } else {
            for (int i = 0; i < buf.length; i++) {
                t.setFloat(offset + i, buf[i]);
            }
        }
    }

    private static Tables tablesFor(Grid grid, int d) {
        Tables t = cached;
        if (t == null || !t.grid.equals(grid) || t.d != d) {
            t = new Tables(grid, d);
            cached = t;
        }
        return t;
    }

    /** cos and sin of every (position, pair) angle of each axis, row-major by position, in float64. */
    private static final class Tables {
        final Grid grid;
        final int d;
        final int pf;
        final int ph;
        final int pw;
        final double[] cosF;
        final double[] sinF;
        final double[] cosH;
        final double[] sinH;
        final double[] cosW;
        final double[] sinW;

        Tables(Grid grid, int d) {
            this.grid = grid;
            this.d = d;
            int[] pairs = axisPairs(d);
            pf = pairs[0];
            ph = pairs[1];
            pw = pairs[2];
            cosF = new double[grid.frames() * pf];
            sinF = new double[cosF.length];
            fill(cosF, sinF, grid.frames(), pf);
            cosH = new double[grid.rows() * ph];
            sinH = new double[cosH.length];
            fill(cosH, sinH, grid.rows(), ph);
            cosW = new double[grid.cols() * pw];
            sinW = new double[cosW.length];
            fill(cosW, sinW, grid.cols(), pw);
        }

        /**
         * Gathers the cos and sin of every pair of one token into {@code cos} and {@code sin} (length d/2);
         * {@code sign} -1 gives the inverse rotation.
         */
        void angles(Grid g, int token, double sign, double[] cos, double[] sin) {
            int f = token / (g.rows() * g.cols());
            int r = token / g.cols() % g.rows();
            int c = token % g.cols();
            gather(cosF, sinF, f * pf, pf, 0, sign, cos, sin);
            gather(cosH, sinH, r * ph, ph, pf, sign, cos, sin);
            gather(cosW, sinW, c * pw, pw, pf + ph, sign, cos, sin);
        }

        private static void gather(double[] cosA, double[] sinA, int from, int n, int to, double sign, double[] cos,
                                   double[] sin) {
            System.arraycopy(cosA, from, cos, to, n);
            for (int i = 0; i < n; i++) {
                sin[to + i] = sign * sinA[from + i];
            }
        }

        /** Axis with {@code pairs} pairs, i.e. 2*pairs rotary dims: angle(pos, i) = pos / THETA^(2i / (2*pairs)). */
        private static void fill(double[] cos, double[] sin, int positions, int pairs) {
            double dims = 2.0 * pairs;
            double[] freq = new double[pairs];
            for (int i = 0; i < pairs; i++) {
                freq[i] = 1.0 / Math.pow(THETA, (2 * i) / dims);
            }
            for (int pos = 0; pos < positions; pos++) {
                for (int i = 0; i < pairs; i++) {
                    double angle = pos * freq[i];
                    cos[pos * pairs + i] = Math.cos(angle);
                    sin[pos * pairs + i] = Math.sin(angle);
                }
            }
        }
    }
}

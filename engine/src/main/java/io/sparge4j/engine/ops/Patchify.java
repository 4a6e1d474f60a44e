package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Cutting a video into patch tokens and putting it back: the data movement of Wan2.1's patch
 * embedding (a Conv3d whose kernel equals its stride) and of its output head, so that a Linear does the
 * arithmetic. All four ops copy elements bit for bit and accept any dtype.
 *
 * <p>A video (B, C, F, H, W) with patch (pt, ph, pw) has a grid of (F/pt, H/ph, W/pw) patches, taken as
 * tokens in raster order (frame, row, column): token {@code l = (fo*(H/ph) + ho)*(W/pw) + wo}. Within a
 * patch, element (c, kt, kh, kw) is video element {@code (c, fo*pt+kt, ho*ph+kh, wo*pw+kw)}. The two
 * directions order a token's features differently, as Wan2.1 does:
 * <ul>
 *   <li>{@link #patchify}: channel slowest, {@code (c, kt, kh, kw)}, i.e. feature
 *       {@code ((c*pt + kt)*ph + kh)*pw + kw}. This matches a Conv3d weight (dim, C, pt, ph, pw) flattened to
 *       (dim, C*pt*ph*pw), so {@code linear(patchify(x), w.reshape(dim, -1), bias)} is the convolution.</li>
 *   <li>{@link #unpatchify}: channel fastest, {@code (kt, kh, kw, c)}, i.e. feature
 *       {@code ((kt*ph + kh)*pw + kw)*C + c}, the order of Wan2.1's head output.</li>
 * </ul>
 */
public final class Patchify {
    private Patchify() {
    }

    /**
     * The token grid of a video shape.
     *
     * @param videoShape (B, C, F, H, W) with F, H, W divisible by the patch
     * @param pt patch size along frames
     * @param ph patch size along height
     * @param pw patch size along width
     * @return the token grid (F/pt, H/ph, W/pw)
     */
    public static Rope.Grid grid(int[] videoShape, int pt, int ph, int pw) {
        String op = "Patchify.grid";
        Check.that(videoShape != null && videoShape.length == 5, op, "videoShape",
                videoShape == null ? "null" : java.util.Arrays.toString(videoShape), "(B, C, F, H, W)");
        checkPatch(op, pt, ph, pw);
        checkDivisible(op, "videoShape", videoShape, pt, ph, pw);
        return new Rope.Grid(videoShape[2] / pt, videoShape[3] / ph, videoShape[4] / pw);
    }

    /**
     * Cuts a video into patch tokens, features in (c, kt, kh, kw) order.
     *
     * @param x video (B, C, F, H, W), any dtype, with F, H, W divisible by pt, ph, pw
     * @param pt patch size along frames
     * @param ph patch size along height
     * @param pw patch size along width
     * @return tokens (B, (F/pt)*(H/ph)*(W/pw), C*pt*ph*pw)
     */
    public static Tensor patchify(Tensor x, int pt, int ph, int pw) {
        String op = "patchify";
        Check.rank(op, "x", x, 5);
        checkPatch(op, pt, ph, pw);
        int[] s = x.shape();
        checkDivisible(op, "x", s, pt, ph, pw);
        Layout lay = new Layout(s[0], s[1], s[2] / pt, s[3] / ph, s[4] / pw, pt, ph, pw, false);
        Tensor out = Tensor.allocate(x.dtype(), lay.batch, Math.toIntExact(lay.tokens()), lay.features());
        move(x.segment(), out.segment(), lay, lay.tokens(), true, x.dtype().byteSize());
        return out;
    }

    /**
     * Backward of {@link #patchify}: puts gradient tokens back into video layout.
     *
     * @param dy gradient (B, gridF*gridH*gridW, channels*pt*ph*pw), features in (c, kt, kh, kw) order
     * @param channels C of the video
     * @param gridF frames of the token grid (F/pt)
     * @param gridH rows of the token grid (H/ph)
     * @param gridW columns of the token grid (W/pw)
     * @param pt patch size along frames
     * @param ph patch size along height
     * @param pw patch size along width
     * @return the gradient with respect to the video, (B, C, gridF*pt, gridH*ph, gridW*pw)
     */
    public static Tensor patchifyBackward(Tensor dy, int channels, int gridF, int gridH, int gridW, int pt, int ph,
                                          int pw) {
        String op = "patchifyBackward";
        Layout lay = checkTokens(op, "dy", dy, channels, gridF, gridH, gridW, pt, ph, pw, false);
        Check.shape(op, "dy", dy, lay.batch, Math.toIntExact(lay.tokens()), lay.features());
        Tensor out = Tensor.allocate(dy.dtype(), lay.videoShape());
        move(out.segment(), dy.segment(), lay, lay.tokens(), false, dy.dtype().byteSize());
        return out;
    }

    /**
     * Puts tokens back into a video, features in (kt, kh, kw, c) order (channel fastest), as Wan2.1's
     * {@code unpatchify}. Tokens past the grid (padding, when L is larger) are ignored, as there.
     *
     * @param y tokens (B, L, pt*ph*pw*channels), any dtype, with L at least gridF*gridH*gridW
     * @param channels C of the video
     * @param gridF frames of the token grid
     * @param gridH rows of the token grid
     * @param gridW columns of the token grid
     * @param pt patch size along frames
     * @param ph patch size along height
     * @param pw patch size along width
     * @return video (B, C, gridF*pt, gridH*ph, gridW*pw)
     */
    public static Tensor unpatchify(Tensor y, int channels, int gridF, int gridH, int gridW, int pt, int ph, int pw) {
        String op = "unpatchify";
        Layout lay = checkTokens(op, "y", y, channels, gridF, gridH, gridW, pt, ph, pw, true);
        Check.that(y.dim(1) >= lay.tokens(), op, "y tokens (axis 1)", y.dim(1),
                "at least gridF*gridH*gridW = " + lay.tokens());
        Tensor out = Tensor.allocate(y.dtype(), lay.videoShape());
        move(out.segment(), y.segment(), lay, y.dim(1), false, y.dtype().byteSize());
        return out;
    }

    /**
     * Backward of {@link #unpatchify} when y had exactly gridF*gridH*gridW tokens.
     *
     * @param dx gradient with respect to the video (B, C, F, H, W), F, H, W divisible by the patch
     * @param pt patch size along frames
     * @param ph patch size along height
     * @param pw patch size along width
     * @return the gradient with respect to y, (B, (F/pt)*(H/ph)*(W/pw), pt*ph*pw*C)
     */
    public static Tensor unpatchifyBackward(Tensor dx, int pt, int ph, int pw) {
        Check.rank("unpatchifyBackward", "dx", dx, 5);
        checkPatch("unpatchifyBackward", pt, ph, pw);
        checkDivisible("unpatchifyBackward", "dx", dx.shape(), pt, ph, pw);
        return unpatchifyBackward(dx, Math.toIntExact(tokensOf(dx.shape(), pt, ph, pw)), pt, ph, pw);
    }

    /**
     * Backward of {@link #unpatchify} when y had {@code tokens} rows; rows past the grid get zero gradient.
     *
     * @param dx gradient with respect to the video (B, C, F, H, W), F, H, W divisible by the patch
     * @param tokens L of the forward input, at least (F/pt)*(H/ph)*(W/pw)
     * @param pt patch size along frames
     * @param ph patch size along height
     * @param pw patch size along width
     * @return the gradient with respect to y, (B, tokens, pt*ph*pw*C)
     */
    public static Tensor unpatchifyBackward(Tensor dx, int tokens, int pt, int ph, int pw) {
        String op = "unpatchifyBackward";
        Check.rank(op, "dx", dx, 5);
        checkPatch(op, pt, ph, pw);
        int[] s = dx.shape();
        checkDivisible(op, "dx", s, pt, ph, pw);
        Layout lay = new Layout(s[0], s[1], s[2] / pt, s[3] / ph, s[4] / pw, pt, ph, pw, true);
        Check.that(tokens >= lay.tokens(), op, "tokens", tokens, "at least the grid's " + lay.tokens() + " tokens");
        Tensor out = Tensor.allocate(dx.dtype(), lay.batch, tokens, lay.features());
        move(dx.segment(), out.segment(), lay, tokens, true, dx.dtype().byteSize());
        return out;
    }

    /** Sizes of one video/token pair; {@code channelLast} picks the feature order. */
    private record Layout(int batch, int channels, int gf, int gh, int gw, int pt, int ph, int pw,
                          boolean channelLast) {
        long tokens() {
            return (long) gf * gh * gw;
        }

        int features() {
            return Math.toIntExact((long) channels * pt * ph * pw);
        }

        int[] videoShape() {
            return new int[]{batch, channels, Math.multiplyExact(gf, pt), Math.multiplyExact(gh, ph),
                    Math.multiplyExact(gw, pw)};
        }

        /** @return the feature index of (c, kt, kh, kw = 0) */
        long feature(int c, int kt, int kh) {
            return channelLast ? (long) ((kt * ph + kh) * pw) * channels + c : ((long) (c * pt + kt) * ph + kh) * pw;
        }

        /** @return the feature step from kw to kw + 1 */
        long kwStep() {
            return channelLast ? channels : 1;
        }
    }

    /**
     * Copies between a video and its tokens, in the direction {@code toTokens}. Work items are token rows
     * (b, fo, ho); each moves, for every (c, kt, kh, kw), the gridW elements of one video row.
     */
    private static void move(MemorySegment video, MemorySegment tokens, Layout lay, long tokensPerSample,
                             boolean toTokens, int esize) {
        int F = lay.gf * lay.pt;
        int H = lay.gh * lay.ph;
        int W = lay.gw * lay.pw;
        int K = lay.features();
        int items = Math.toIntExact((long) lay.batch * lay.gf * lay.gh);
        long kwStep = lay.kwStep();
        CpuRuntime.parallelForRange(items, Shapes.grainFor((long) W * lay.channels * lay.ph * lay.pt), (from, to) -> {
            for (int item = from; item < to; item++) {
                int ho = item % lay.gh;
                int fo = item / lay.gh % lay.gf;
                int b = item / (lay.gh * lay.gf);
                long tokenRow = ((long) b * tokensPerSample + (long) (fo * lay.gh + ho) * lay.gw) * K;
                for (int c = 0; c < lay.channels; c++) {
                    for (int kt = 0; kt < lay.pt; kt++) {
                        for (int kh = 0; kh < lay.ph; kh++) {
                            long v = ((((long) b * lay.channels + c) * F + (long) fo * lay.pt + kt) * H
                                    + (long) ho * lay.ph + kh) * W;
                            long t = tokenRow + lay.feature(c, kt, kh);
                            // runs over kw, elements over wo: long inner loops even for pw = 2
                            if (toTokens) {
                                Shapes.copyRuns(video, v, 1, lay.pw, tokens, t, kwStep, K, lay.pw, lay.gw, esize);
                            } else {
                                Shapes.copyRuns(tokens, t, kwStep, K, video, v, 1, lay.pw, lay.pw, lay.gw, esize);
                            }
                        }
                    }
                }
            }
        });
    }

    private static Layout checkTokens(String op, String arg, Tensor y, int channels, int gridF, int gridH, int gridW,
                                      int pt, int ph, int pw, boolean channelLast) {
        Check.rank(op, arg, y, 3);
        Check.positive(op, "channels", channels);
        Check.positive(op, "gridF", gridF);
        Check.positive(op, "gridH", gridH);
        Check.positive(op, "gridW", gridW);
        checkPatch(op, pt, ph, pw);
        Layout lay = new Layout(y.dim(0), channels, gridF, gridH, gridW, pt, ph, pw, channelLast);
        Check.that(y.dim(2) == lay.features(), op, arg + " features (axis 2)", y.dim(2),
                (channelLast ? "pt*ph*pw*channels = " : "channels*pt*ph*pw = ") + lay.features());
        return lay;
    }

    private static void checkPatch(String op, int pt, int ph, int pw) {
        Check.positive(op, "pt", pt);
        Check.positive(op, "ph", ph);
        Check.positive(op, "pw", pw);
    }

    private static void checkDivisible(String op, String arg, int[] s, int pt, int ph, int pw) {
        Check.that(s[2] % pt == 0, op, arg + " frames (axis 2)", s[2], "a multiple of pt = " + pt);
        Check.that(s[3] % ph == 0, op, arg + " height (axis 3)", s[3], "a multiple of ph = " + ph);
        Check.that(s[4] % pw == 0, op, arg + " width (axis 4)", s[4], "a multiple of pw = " + pw);
    }

    private static long tokensOf(int[] s, int pt, int ph, int pw) {
        return (long) (s[2] / pt) * (s[3] / ph) * (s[4] / pw);
    }
}

package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/** GELU (tanh form) and SiLU on f32 tensors of any shape, with their backward passes. */
public final class Activations {
    private Activations() {
    }

    /** Which activation a shared loop runs. */
    enum Kind {
        GELU, SILU
    }

    /**
     * GELU in its tanh form, {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}, as PyTorch's
     * {@code gelu(x, approximate='tanh')} (Wan's text MLP and FFN use it).
     *
     * @param x f32 tensor
     * @return a new tensor shaped like x
     */
    public static Tensor gelu(Tensor x) {
        return forward("gelu", Kind.GELU, x, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #gelu}.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @return {@code dy * gelu'(x)}
     */
    public static Tensor geluBackward(Tensor dy, Tensor x) {
        return backward("geluBackward", Kind.GELU, dy, x, FloatKernels.preferred());
    }

    /**
     * SiLU (swish), {@code x * sigmoid(x)}.
     *
     * @param x f32 tensor
     * @return a new tensor shaped like x
     */
    public static Tensor silu(Tensor x) {
        return forward("silu", Kind.SILU, x, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #silu}.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @return {@code dy * silu'(x)}, where {@code silu'(x) = s (1 + x (1 - s))} and {@code s = sigmoid(x)}
     */
    public static Tensor siluBackward(Tensor dy, Tensor x) {
        return backward("siluBackward", Kind.SILU, dy, x, FloatKernels.preferred());
    }

    static Tensor forward(String op, Kind kind, Tensor x, FloatKernels k) {
        Check.f32(op, "x", x);
        Tensor out = Tensor.allocate(DType.F32, x.shape());
        MemorySegment xs = x.segment();
        MemorySegment os = out.segment();
        Elementwise.flatChunks(x.numel(), (from, len) -> {
            if (kind == Kind.GELU) {
                k.gelu(xs, from, os, from, len);
            } else {
                k.silu(xs, from, os, from, len);
            }
        });
        return out;
    }

    static Tensor backward(String op, Kind kind, Tensor dy, Tensor x, FloatKernels k) {
        Check.f32(op, "dy", dy);
        Check.f32(op, "x", x);
        Check.sameShape(op, "x", x, "dy", dy);
        Tensor dx = Tensor.allocate(DType.F32, x.shape());
        MemorySegment dys = dy.segment();
        MemorySegment xs = x.segment();
        MemorySegment dxs = dx.segment();
        Elementwise.flatChunks(x.numel(), (from, len) -> {
            if (kind == Kind.GELU) {
                k.geluBackward(dys, from, xs, from, dxs, from, len);
            } else {
                k.siluBackward(dys, from, xs, from, dxs, from, len);
            }
        });
        return dx;
    }
}

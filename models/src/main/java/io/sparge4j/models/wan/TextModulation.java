package io.sparge4j.models.wan;

import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Whether the caption also reaches the time embedding: an experiment of this project, not part of Wan2.1, whose
 * only text path is cross-attention. {@link #NONE} is Wan's own architecture and the default; a {@code config.json}
 * without {@code text_modulation} reads as it.
 *
 * <p>{@link #POOLED} adds the mean of the embedded text rows (the {@code text_embedding} output the cross-attention
 * reads, all text_len rows, the padding ones included) to the time embedding e, as Stable Diffusion 3 and Flux add a
 * pooled text vector to the timestep embedding. e feeds every block's six modulation vectors and the head's, so the
 * caption shifts and scales every token's channels, as a class label does in DiT's adaLN. It has no parameters:
 * checkpoints keep their tensors, and the gradient of e reaches each text row divided by text_len.
 */
public enum TextModulation {
    /** Wan2.1's architecture: the caption reaches the DiT through cross-attention only. */
    NONE("none"),
    /** The mean of the embedded text rows added to the time embedding. */
    POOLED("pooled");

    private final String word;

    TextModulation(String word) {
        this.word = word;
    }

    /** @return the {@code config.json} and command-line spelling */
    public String word() {
        return word;
    }

    /**
     * @param word a spelling of {@link #word()}
     * @return the modulation
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static TextModulation parse(String word) {
        return find(word).orElseThrow(() -> new IllegalArgumentException("text_modulation is '" + word
                + "', expected one of " + words()));
    }

    /**
     * @param word a spelling, possibly null
     * @return the modulation it names, or empty
     */
    public static Optional<TextModulation> find(String word) {
        return Arrays.stream(values()).filter(m -> m.word.equals(word)).findFirst();
    }

    /** @return every spelling, in declaration order */
    public static List<String> words() {
        return Arrays.stream(values()).map(TextModulation::word).toList();
    }

    /**
     * {@code e += mean of ctx's rows}, in place (nothing for {@link #NONE}): the rows summed in order, then scaled
     * by 1 / rows.
     *
     * @param e f32 (1, dim) or (dim), the time embedding
     * @param context f32 (text_len, dim), the embedded text
     */
    public void addTo(Tensor e, Tensor context) {
        if (this == NONE) {
            return;
        }
        int rows = context.dim(0);
        try (Tensor sum = Elementwise.sumTo(context, 1, context.dim(1))) {
            Elementwise.axpy(1f / rows, sum.reshape(e.shape()), e);
        }
    }

    /**
     * The backward of {@link #addTo}: {@code dContext[r] += de / rows} for every row, in place (nothing for
     * {@link #NONE}).
     *
     * @param de f32 (1, dim) or (dim), the gradient of e (after everything that reads e)
     * @param dContext f32 (text_len, dim), the embedded text's gradient, updated
     */
    public void addGradient(Tensor de, Tensor dContext) {
        if (this == NONE) {
            return;
        }
        try (Tensor share = Elementwise.scale(de.reshape(1, dContext.dim(1)), 1f / dContext.dim(0))) {
            Elementwise.addInPlace(dContext, share);
        }
    }

    /**
     * {@link #addTo} on a device for a batch: {@code e[b] += mean of context's rows b * rows .. (b + 1) * rows - 1}.
     *
     * @param e f32 (B, dim), updated
     * @param context f32 (B * text_len, dim)
     */
    public void addTo(DeviceTensor e, DeviceTensor context) {
        if (this == NONE) {
            return;
        }
        int batch = e.dim(0);
        try (DeviceTensor sums = DeviceGradients.sumRowGroups(context, batch)) {
            DeviceGradients.accumulate(1f / (context.dim(0) / batch), sums, e);
        }
    }

    /**
     * The backward of {@link #addTo(DeviceTensor, DeviceTensor)}: clip b's text rows each gain {@code de[b] / rows}.
     *
     * @param de f32 (B, dim), the gradient of e
     * @param dContext f32 (B * text_len, dim), the embedded text's gradient
     * @return a new tensor the caller closes: dContext plus the shares (for {@link #NONE}, a view of dContext)
     */
    public DeviceTensor addGradient(DeviceTensor de, DeviceTensor dContext) {
        if (this == NONE) {
            return dContext.reshape(dContext.shape());
        }
        int batch = de.dim(0);
        int dim = de.dim(1);
        int rows = dContext.dim(0) / batch;
        // x * (1 + 0) + shift is exactly x + shift: the modulation kernel broadcasts a (B, 1, dim) shift over each
        // clip's rows, which is this op
        try (DeviceTensor share = de.session().zeros(batch, 1, dim);
             DeviceTensor noScale = de.session().zeros(dim);
             DeviceTensor grouped = dContext.reshape(batch, rows, dim)) {
            DeviceGradients.accumulate(1f / rows, de, share);
            try (DeviceTensor sum = DeviceElementwise.modulate(grouped, share, noScale)) {
                return sum.reshape(dContext.shape());
            }
        }
    }
}

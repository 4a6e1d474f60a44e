package io.sparge4j.models.wan;

import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * The checks every {@link WanTransformer#forward} (and the training graph's forward) makes on its inputs, so that all
 * backends reject the same way.
 */
public final class WanInputs {
    private WanInputs() {
    }

    /**
     * @param op the method checking, for the messages
     * @param config the model's config
     * @param x the input video (in_dim, F, H, W)
     * @param timestep on Wan's 0..1000 scale
     * @param context text features (L, text_dim)
     * @param step the denoising step index
     * @throws IllegalArgumentException naming the argument, its value and what is expected
     */
    public static void check(String op, WanConfig config, Tensor x, double timestep, Tensor context, int step) {
        if (x == null || x.rank() != 4) {
            throw new IllegalArgumentException(op + ": x is " + describe(x) + ", expected (in_dim = " + config.inDim()
                    + ", F, H, W)");
        }
        floating(op, "x", x);
        if (x.dim(0) != config.inDim()) {
            throw new IllegalArgumentException(op + ": x channels (axis 0) is " + x.dim(0) + ", expected in_dim = "
                    + config.inDim() + " (x " + describe(x) + ")");
        }
        String[] axes = {"frames", "height", "width"};
        for (int a = 0; a < 3; a++) {
            int size = x.dim(a + 1);
            int patch = config.patchSize().get(a);
            if (size <= 0 || size % patch != 0) {
                throw new IllegalArgumentException(op + ": x " + axes[a] + " (axis " + (a + 1) + ") is " + size
                        + ", expected a positive multiple of the patch size " + patch + " (patch_size "
                        + config.patchSize() + ")");
            }
        }
        if (!(timestep >= 0 && timestep <= WanModel.MAX_TIMESTEP)) {
            throw new IllegalArgumentException(op + ": timestep is " + timestep
                    + ", expected a number in [0, 1000] (Wan's timestep scale, 1000 s for noise level s)");
        }
        if (context == null || context.rank() != 2) {
            throw new IllegalArgumentException(op + ": context is " + describe(context) + ", expected (L, text_dim = "
                    + config.textDim() + ") with L at most text_len = " + config.textLen());
        }
        floating(op, "context", context);
        if (context.dim(1) != config.textDim()) {
            throw new IllegalArgumentException(op + ": context width (axis 1) is " + context.dim(1)
                    + ", expected text_dim = " + config.textDim());
        }
        if (context.dim(0) > config.textLen()) {
            throw new IllegalArgumentException(op + ": context rows (axis 0) is " + context.dim(0)
                    + ", expected at most text_len = " + config.textLen());
        }
        if (step < 0) {
            throw new IllegalArgumentException(op + ": step is " + step + ", expected a step index >= 0");
        }
    }

    private static void floating(String op, String arg, Tensor t) {
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(op + ": " + arg + " dtype is " + t.dtype() + ", expected f32, bf16 or f16");
        }
    }

    private static String describe(Tensor t) {
        return t == null ? "null" : t.dtype() + " " + Arrays.toString(t.shape());
    }
}

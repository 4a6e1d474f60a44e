package io.sparge4j.models.train;

import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.Map;
import java.util.function.Function;

/**
 * Adds gradients into a caller's map keyed by parameter name (gradient accumulation): a missing entry is created as
 * zeros shaped like its parameter, an existing one must be f32 and shaped like its parameter.
 */
final class ParameterGrads {
    private final Map<String, Tensor> grads;
    private final Function<String, Tensor> params;

    /**
     * @param grads the caller's gradients, added to (and extended with new zero tensors where entries are missing)
     * @param params a parameter by name, for the shapes
     */
    ParameterGrads(Map<String, Tensor> grads, Function<String, Tensor> params) {
        this.grads = grads;
        this.params = params;
    }

    /** Adds a Linear's weight and bias gradients under {@code module.weight} and {@code module.bias}. */
    void add(String module, Linear.LinearGrads g) {
        add(module + ".weight", g.dWeight());
        add(module + ".bias", g.dBias());
    }

    /**
     * @param name the parameter's name
     * @param g its gradient, with the parameter's number of elements (reshaped to the parameter's shape)
     */
    void add(String name, Tensor g) {
        Tensor target = grads.get(name);
        int[] shape = params.apply(name).shape();
        if (target == null) {
            target = Tensor.zeros(shape);
            grads.put(name, target);
        } else if (target.dtype() != DType.F32 || !Arrays.equals(target.shape(), shape)) {
            throw new IllegalArgumentException("WanGraph.backward: grads[" + name + "] is " + target.dtype() + " "
                    + Arrays.toString(target.shape()) + ", expected f32 " + Arrays.toString(shape)
                    + " (the parameter's shape)");
        }
        Elementwise.axpy(1f, g.reshape(shape), target);
    }

    /**
     * Adds every gradient of a map the caller owns, then closes them all (also when an add fails).
     *
     * @param owned gradients by parameter name, closed here
     */
    void addAndClose(Map<String, Tensor> owned) {
        try {
            owned.forEach(this::add);
        } finally {
            owned.values().forEach(Tensor::close);
        }
    }
}

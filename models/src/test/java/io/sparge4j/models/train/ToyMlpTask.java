package io.sparge4j.models.train;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.Noise;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A two-layer MLP (Linear - SiLU - Linear, through the engine's ops and their backward passes) regressing a fixed
 * smooth function of its input, y* = tanh(x A), with x drawn from the micro-batch's seed: a small task whose loss
 * must fall and whose every number depends only on (parameters, seed).
 */
class ToyMlpTask implements TrainingTask {
    static final int IN = 8;
    static final int HIDDEN = 32;
    static final int OUT = 4;
    static final int BATCH = 16;

    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Tensor teacher = Noise.gaussian(999, IN, OUT);
    /** Throws on this step (counted from 0) and micro-batch, to simulate a kill; -1 for never. */
    long failAtStep = -1;
    int failAtMicro;
    /** Whether {@link #describe} returns something JSON cannot hold, to make a checkpoint write fail. */
    boolean unwritableDescription;

    ToyMlpTask(long initSeed) {
        params.put("fc1.weight", scaled(Noise.gaussian(initSeed, HIDDEN, IN), 1 / Math.sqrt(IN)));
        params.put("fc1.bias", scaled(Noise.gaussian(initSeed + 1, HIDDEN), 0.1));
        params.put("fc2.weight", scaled(Noise.gaussian(initSeed + 2, OUT, HIDDEN), 1 / Math.sqrt(HIDDEN)));
        params.put("fc2.bias", scaled(Noise.gaussian(initSeed + 3, OUT), 0.1));
    }

    private static Tensor scaled(Tensor t, double s) {
        Elementwise.scaleInPlace(t, (float) s);
        return t;
    }

    @Override
    public Map<String, Tensor> parameters() {
        return params;
    }

    @Override
    public StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients) {
        if (batch.step() == failAtStep && batch.micro() == failAtMicro) {
            throw new IllegalStateException("simulated kill at step " + batch.step());
        }
        Tensor x = Noise.gaussian(batch.seed(), BATCH, IN);
        Tensor target = Linear.matmul(x, teacher);
        for (long i = 0; i < target.numel(); i++) {
            target.setFloat(i, (float) Math.tanh(target.getFloat(i)));
        }
        Tensor h = Linear.linear(x, params.get("fc1.weight"), params.get("fc1.bias"));
        Tensor a = Activations.silu(h);
        Tensor y = Linear.linear(a, params.get("fc2.weight"), params.get("fc2.bias"));
        LossResult loss = Losses.meanSquaredError(y, target);
        Linear.LinearGrads g2 = Linear.linearBackward(loss.gradient(), a, params.get("fc2.weight"), true);
        Tensor dh = Activations.siluBackward(g2.dx(), h);
        Linear.LinearGrads g1 = Linear.linearBackward(dh, x, params.get("fc1.weight"), true);
        Elementwise.addInPlace(gradients.get("fc1.weight"), g1.dWeight());
        Elementwise.addInPlace(gradients.get("fc1.bias"), g1.dBias());
        Elementwise.addInPlace(gradients.get("fc2.weight"), g2.dWeight());
        Elementwise.addInPlace(gradients.get("fc2.bias"), g2.dBias());
        double mean = 0;
        for (float v : a.toFloatArray()) {
            mean += v;
        }
        return new StepResult(loss.loss(), BATCH, Map.of("mean_activation", mean / a.numel()));
    }

    @Override
    public Map<String, Object> describe() {
        if (unwritableDescription) {
            return Map.of("model", new Object());   // Jackson has no serializer for a bare Object
        }
        return Map.of("model", "toy-mlp", "hidden", HIDDEN);
    }
}

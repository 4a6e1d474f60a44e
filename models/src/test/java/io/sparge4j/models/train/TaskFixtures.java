package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanConfig;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Parameters for the training-task tests, shared by the CPU and device task tests. */
final class TaskFixtures {
    private TaskFixtures() {
    }

    /**
     * Pretraining's initialisation with Wan's zero-initialised head made random (N(0, 0.05^2)), so that every
     * parameter has a nonzero gradient.
     */
    static Map<String, Tensor> parameters(WanConfig config, long seed) {
        Map<String, Tensor> p = WanInit.pretraining(config, seed);
        SplittableRandom r = new SplittableRandom(seed + 1);
        for (String name : List.of("head.head.weight", "head.head.bias")) {
            Tensor t = p.get(name);
            for (long i = 0; i < t.numel(); i++) {
                t.setFloat(i, (float) (0.05 * r.nextGaussian()));
            }
        }
        return p;
    }

    /** @return new tensors with the same values, in the same order */
    static Map<String, Tensor> copy(Map<String, Tensor> p) {
        Map<String, Tensor> c = new LinkedHashMap<>();
        p.forEach((k, v) -> c.put(k, v.copy()));
        return c;
    }
}

package io.sparge4j.cli;

import io.sparge4j.engine.sparse.Calibration;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.train.Losses;
import io.sparge4j.models.train.MicroBatch;
import io.sparge4j.models.train.NoisySample;
import io.sparge4j.models.train.TrainingSample;
import io.sparge4j.models.train.WanGraph;
import io.sparge4j.models.wan.WanAttention;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code finetune --target-sparsity}: the Top-k fraction (mode topk) or the Top-p threshold (modes topp and hybrid,
 * k kept) that gives a target mean sparsity, found once before training by {@link Calibration} (the bisection
 * {@code attention-bench --target-sparsity} uses) over the pooled attention maps of every block of the student's
 * CPU forward on the run's first training samples (the clips, noise levels and captions of its first micro-batches).
 */
final class MaskCalibration {
    /** Training samples calibrated on. */
    static final int SAMPLES = 2;

    private MaskCalibration() {
    }

    /**
     * The outcome.
     *
     * @param attention the student's attention with the calibrated k or p
     * @param sparsity the mean sparsity it gives on the samples
     */
    record Result(WanAttention attention, double sparsity) {
    }

    /**
     * @param student the student on the CPU, with its attention mode (not dense) and the starting k and p
     * @param text the (frozen) text encoder
     * @param data the run's clips
     * @param s the run's settings (seed, caption dropout, timestep shift)
     * @param target the sparsity wanted, in (0, 1)
     * @return the calibrated attention
     */
    static Result calibrate(WanGraph student, TextEncoder text, ClipGenerator data, RunSettings s, double target) {
        WanAttention a = student.attention();
        List<PooledAttentionMap> maps = new ArrayList<>();
        for (int i = 0; i < SAMPLES; i++) {
            long seed = MicroBatch.derive(s.seed(), i, 0);
            try (TrainingSample sample = TrainingSample.draw(data, seed, s.captionDropout(), s.noiseLevels());
                 Tensor features = text.encode(List.of(sample.prompt()))) {
                NoisySample noisy = Losses.noisy(sample.clip().video(), sample.noise(), sample.level());
                try (Tensor xt = noisy.xt();
                     WanGraph.Tape tape = student.forward(xt, noisy.timestep(),
                             features.reshape(student.config().textLen(), student.config().textDim()), 0)) {
                    for (SparseAttention.Selection sel : tape.selections()) {
                        if (sel.pooledMap() != null) {
                            maps.add(sel.pooledMap());
                        }
                    }
                }
            }
        }
        if (maps.isEmpty()) {
            throw new IllegalArgumentException("--target-sparsity: no block of the student runs sparse attention"
                    + " (mode " + a.mode() + "), expected topk, topp or hybrid");
        }
        PooledAttentionMap all = stack(maps);
        Calibration.Result c = a.mode() == MaskMode.TOPK
                ? Calibration.calibrateK(all, MaskMode.TOPK, a.topp(), target)
                : Calibration.calibrateP(all, a.mode(), a.topk(), target);
        WanAttention tuned = a.mode() == MaskMode.TOPK ? a.withTopk(c.k()) : a.withTopp(c.p());
        return new Result(tuned, c.sparsity());
    }

    /** The maps of every block and sample as one batch, so that the bisection sees their mean sparsity. */
    private static PooledAttentionMap stack(List<PooledAttentionMap> maps) {
        PooledAttentionMap first = maps.get(0);
        int per = first.batch() * first.heads() * first.queryGrid().blocks() * first.keyGrid().blocks();
        float[] probs = new float[per * maps.size()];
        for (int i = 0; i < maps.size(); i++) {
            try (Tensor t = maps.get(i).toTensor()) {
                System.arraycopy(t.toFloatArray(), 0, probs, i * per, per);
            }
        }
        return PooledAttentionMap.ofProbabilities(first.batch() * maps.size(), first.heads(), first.queryGrid(),
                first.keyGrid(), probs);
    }
}

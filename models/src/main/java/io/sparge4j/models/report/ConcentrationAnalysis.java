package io.sparge4j.models.report;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.train.WanGraph;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Case 2 of the paper on a pixel-space model: runs the model on procedural clips noised to a few levels, with their
 * captions through the text encoder, and for every layer and head measures {@link Concentration} on the pooled
 * block attention map that SpargeAttention2's mask builder computes from that layer's q and k
 * ({@link SparseAttention#selectBlocks}, through the training graph's forward, which keeps each layer's selection).
 *
 * <p>By default the forward runs full attention (Top-p with p = 1 keeps every block, so the pooled maps are built
 * but nothing is dropped), so that a model before and after sparse fine-tuning is measured on the same footing;
 * {@link Settings#forward} can instead run the sparse attention the model was tuned for.
 */
public final class ConcentrationAnalysis {
    /** Full attention that still builds the pooled map: Top-p with p = 1 keeps every key block. */
    public static WanAttention fullForward(int queryBlock, int keyBlock) {
        return new WanAttention(MaskMode.TOPP, 0.03, 1.0, queryBlock, keyBlock, 0, 0);
    }

    /**
     * What to measure.
     *
     * @param samples clips, at least 1 (each is measured at every noise level)
     * @param seed seeds the clips and the noise
     * @param mass the fraction of pooled mass to hold, in (0, 1] (the paper: 0.6)
     * @param noiseLevels flow-matching times t in (0, 1): x_t = (1 - t) x0 + t noise, timestep 1000 t
     * @param clips the procedural clips measured: their size, and their motion (the model's own training clips
     *              keep the measurement in distribution)
     * @param forward the attention the forward runs (its mode must build a pooled map: topk, topp or hybrid); its
     *                block sizes are those of the measured maps
     * @param mapLayer the layer whose pooled map is kept for a picture
     * @param mapHead the head whose pooled map is kept
     */
    public record Settings(int samples, long seed, double mass, List<Double> noiseLevels, ClipSpec clips,
            WanAttention forward, int mapLayer, int mapHead) {
        /** @throws IllegalArgumentException naming the field, its value and what is expected */
        public Settings {
            if (samples < 1) {
                throw new IllegalArgumentException("samples is " + samples + ", expected at least 1");
            }
            Concentration.checkMass(mass);
            if (noiseLevels == null || noiseLevels.isEmpty()) {
                throw new IllegalArgumentException("noise levels are " + noiseLevels + ", expected at least one");
            }
            for (Double t : noiseLevels) {
                if (t == null || !(t > 0 && t < 1)) {
                    throw new IllegalArgumentException("noise level is " + t + ", expected a time in (0, 1)");
                }
            }
            noiseLevels = List.copyOf(noiseLevels);
            if (clips == null) {
                throw new IllegalArgumentException("clips are null, expected a ClipSpec (size and motion)");
            }
            if (forward == null || forward.mode() == MaskMode.DENSE) {
                throw new IllegalArgumentException("forward attention is " + forward + ", expected a mode that builds"
                        + " the pooled map (topk, topp or hybrid; ConcentrationAnalysis.fullForward for full)");
            }
            if (mapLayer < 0 || mapHead < 0) {
                throw new IllegalArgumentException("map layer and head are " + mapLayer + ", " + mapHead
                        + ", expected indices >= 0");
            }
        }
    }

    /**
     * One measured input.
     *
     * @param clip the clip index
     * @param caption its caption
     * @param noise its noise level t
     * @param layerHead sparsity needed to hold the mass, [layer][head], averaged over query blocks
     */
    public record Sample(long clip, String caption, double noise, double[][] layerHead) {
        /** @return the mean over layers and heads */
        public double mean() {
            return ConcentrationAnalysis.mean(layerHead);
        }
    }

    /**
     * What was measured.
     *
     * @param settings the settings
     * @param tokens tokens per clip
     * @param queryBlocks query blocks per map row count
     * @param keyBlocks key blocks per row
     * @param layerHead sparsity needed to hold the mass, [layer][head], averaged over query blocks and samples
     * @param samples every measured input
     * @param map the pooled map of {@code settings.mapLayer / mapHead} on the first sample, [query][key] block
     */
    public record Result(Settings settings, int tokens, int queryBlocks, int keyBlocks, double[][] layerHead,
            List<Sample> samples, double[][] map) {
        /** @return the sparsity needed to hold the mass, averaged over layers, heads, query blocks and samples */
        public double meanSparsity() {
            return mean(layerHead);
        }

        /** @return per layer, the mean over heads */
        public double[] layerMeans() {
            double[] out = new double[layerHead.length];
            for (int l = 0; l < out.length; l++) {
                out[l] = java.util.Arrays.stream(layerHead[l]).average().orElse(Double.NaN);
            }
            return out;
        }
    }

    private ConcentrationAnalysis() {
    }

    /**
     * @param config a pixel-space model's config
     * @param params its parameters in f32 under the Wan2.1 names
     * @param encoder its text encoder, or null to feed zero text features
     * @param settings what to measure
     * @return the measurements
     * @throws IllegalArgumentException on a latent model, a text encoder that does not fit the model, or a map
     *                                  layer or head out of range
     */
    public static Result run(WanConfig config, Map<String, Tensor> params, TextEncoder encoder, Settings settings) {
        return run(config, params, encoder, settings, sample -> { });
    }

    /**
     * {@link #run(WanConfig, Map, TextEncoder, Settings)}, telling {@code progress} about each input as it is done.
     *
     * @param config a pixel-space model's config
     * @param params its parameters in f32 under the Wan2.1 names
     * @param encoder its text encoder, or null to feed zero text features
     * @param settings what to measure
     * @param progress called after each input (clip and noise level), in order
     * @return the measurements
     */
    public static Result run(WanConfig config, Map<String, Tensor> params, TextEncoder encoder, Settings settings,
            java.util.function.Consumer<Sample> progress) {
        if (!config.pixelSpace() || config.inDim() != 3) {
            throw new IllegalArgumentException("model: pixel_space is " + config.pixelSpace() + " with in_dim "
                    + config.inDim() + ", expected a pixel-space model with 3 channels (the procedural clips are RGB)");
        }
        if (settings.mapLayer() >= config.numLayers() || settings.mapHead() >= config.numHeads()) {
            throw new IllegalArgumentException("map layer/head is " + settings.mapLayer() + "/" + settings.mapHead()
                    + ", expected below " + config.numLayers() + "/" + config.numHeads());
        }
        if (encoder != null && (encoder.config().textDim() != config.textDim()
                || encoder.config().maxLength() > config.textLen())) {
            throw new IllegalArgumentException("text encoder gives " + encoder.config().maxLength() + " x "
                    + encoder.config().textDim() + " features, expected text_dim " + config.textDim()
                    + " and at most text_len " + config.textLen() + " rows");
        }
        WanGraph graph = new WanGraph(config, params, settings.forward(), true);
        ClipGenerator clips = new ClipGenerator(settings.seed(), settings.clips());
        int layers = config.numLayers();
        int heads = config.numHeads();
        double[][] total = new double[layers][heads];
        List<Sample> samples = new ArrayList<>();
        double[][] map = null;
        int tokens = 0;
        int nq = 0;
        int nk = 0;
        for (int i = 0; i < settings.samples(); i++) {
            Clip clip = clips.clip(i);
            try (Tensor x0 = clip.video(); Tensor context = context(encoder, config, clip.caption())) {
                for (int n = 0; n < settings.noiseLevels().size(); n++) {
                    double t = settings.noiseLevels().get(n);
                    long noiseSeed = settings.seed() * 1_000_003L + (long) i * 101 + n;
                    double[][] layerHead = new double[layers][];
                    try (Tensor xt = noised(x0, t, noiseSeed);
                         WanGraph.Tape tape = graph.forward(xt, 1000 * t, context, 0)) {
                        List<SparseAttention.Selection> selections = tape.selections();
                        for (int l = 0; l < layers; l++) {
                            PooledAttentionMap pooled = selections.get(l).pooledMap();
                            layerHead[l] = Concentration.headSparsities(pooled, settings.mass());
                            for (int h = 0; h < heads; h++) {
                                total[l][h] += layerHead[l][h];
                            }
                            if (map == null && l == settings.mapLayer()) {
                                map = headMap(pooled, settings.mapHead());
                                nq = pooled.queryGrid().blocks();
                                nk = pooled.keyGrid().blocks();
                                tokens = pooled.queryGrid().length();
                            }
                        }
                    }
                    Sample sample = new Sample(i, clip.caption(), t, layerHead);
                    samples.add(sample);
                    progress.accept(sample);
                }
            }
        }
        for (double[] row : total) {
            for (int h = 0; h < heads; h++) {
                row[h] /= samples.size();
            }
        }
        return new Result(settings, tokens, nq, nk, total, List.copyOf(samples), map);
    }

    /** The caption's features (L, text_dim), or text_len zero rows when there is no encoder. */
    private static Tensor context(TextEncoder encoder, WanConfig config, String caption) {
        if (encoder == null) {
            return Tensor.zeros(config.textLen(), config.textDim());
        }
        try (Tensor batch = encoder.encode(List.of(caption))) {
            return batch.reshape(batch.dim(1), batch.dim(2)).copy();
        }
    }

    /** x_t = (1 - t) x0 + t e with seeded standard normal e (rectified flow, as in training). */
    static Tensor noised(Tensor x0, double t, long seed) {
        float[] x = x0.toFloatArray();
        try (Tensor e = Noise.gaussian(seed, x0.shape())) {
            float[] noise = e.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) ((1 - t) * x[i] + t * noise[i]);
            }
        }
        return Tensor.of(x, x0.shape());
    }

    private static double[][] headMap(PooledAttentionMap pooled, int head) {
        int nq = pooled.queryGrid().blocks();
        int nk = pooled.keyGrid().blocks();
        double[][] out = new double[nq][nk];
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                out[i][j] = pooled.prob(0, head, i, j);
            }
        }
        return out;
    }

    static double mean(double[][] m) {
        double sum = 0;
        int n = 0;
        for (double[] row : m) {
            for (double v : row) {
                sum += v;
                n++;
            }
        }
        return sum / n;
    }
}

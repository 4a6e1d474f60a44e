package io.sparge4j.models.train;

import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanModelReference;
import io.sparge4j.models.wan.WanWeights;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One test problem for the training graph: a config, random weights, an input video, a timestep, text features
 * shorter than text_len (so the padding shows) and a random projection {@code r} of the output, the loss being
 * {@code sum(r * velocity)} so that its velocity gradient is {@code r}.
 */
record GraphCase(WanConfig config, Map<String, Tensor> weights, Tensor x, double t, Tensor context, Tensor r)
        implements AutoCloseable {

    static GraphCase of(WanConfig config, int frames, int height, int width, int contextRows, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> weights = new LinkedHashMap<>(WanWeights.randomInit(config, rng.nextLong()));
        Tensor x = Tensor.randn(rng.nextLong(), config.inDim(), frames, height, width);
        Tensor context = Tensor.randn(rng.nextLong(), contextRows, config.textDim());
        Tensor r = Tensor.randn(rng.nextLong(), config.outDim(), frames, height, width);
        return new GraphCase(config, weights, x, 100 + 800 * rng.nextDouble(), context, r);
    }

    /** The float64 reference forward at these inputs, with the given tensors replaced (by name) and masks. */
    double[] reference(Map<String, double[]> weights64, double[] x64, double[] ctx64, boolean[][][][] masks, int bq,
                       int bk) {
        int[] s = x.shape();
        return new WanModelReference(config, weights64).withSelfMasks(masks, bq, bk)
                .forward(x64, s[1], s[2], s[3], t, ctx64, context.dim(0));
    }

    Map<String, double[]> weights64() {
        Map<String, double[]> w = new LinkedHashMap<>();
        weights.forEach((k, v) -> w.put(k, v.toDoubleArray()));
        return w;
    }

    /** The forward's masks as [layer][head][query block][key block] (batch 1). */
    static boolean[][][][] masks(List<SparseAttention.Selection> selections) {
        boolean[][][][] out = new boolean[selections.size()][][][];
        for (int l = 0; l < out.length; l++) {
            BlockMask m = selections.get(l).mask();
            int nq = m.queryGrid().blocks();
            int nk = m.keyGrid().blocks();
            out[l] = new boolean[m.heads()][nq][nk];
            for (int h = 0; h < m.heads(); h++) {
                for (int i = 0; i < nq; i++) {
                    for (int j = 0; j < nk; j++) {
                        out[l][h][i][j] = m.kept(0, h, i, j);
                    }
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        weights.values().forEach(Tensor::close);
        x.close();
        context.close();
        r.close();
    }
}

package io.sparge4j.models.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.models.video.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON form of a {@link ConcentrationAnalysis.Result} ({@code "kind": "sparge-concentration"}), and a reader of
 * the part the report needs ({@link Summary}).
 */
public final class ConcentrationJson {
    /** The value of the file's {@code kind} key. */
    public static final String KIND = "sparge-concentration";
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * What the report reads back.
     *
     * @param file the JSON file
     * @param model the model it measured
     * @param mass the mass fraction held
     * @param meanSparsity the sparsity needed, averaged
     * @param layerHead [layer][head]
     * @param layersPng the layer x head heatmap, or null
     * @param mapPng the pooled-map heatmap, or null
     */
    public record Summary(Path file, String model, double mass, double meanSparsity, double[][] layerHead,
            String layersPng, String mapPng) {
    }

    private ConcentrationJson() {
    }

    /**
     * @param result the measurements
     * @param model the model's name or directory, as given
     * @param pngs picture files by role ("layers", "map")
     * @return an insertion-ordered JSON tree
     */
    public static Map<String, Object> toJson(ConcentrationAnalysis.Result result, String model, Map<String, String> pngs) {
        ConcentrationAnalysis.Settings s = result.settings();
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("kind", KIND);
        root.put("model", model);
        root.put("mass", s.mass());
        root.put("mean_sparsity", result.meanSparsity());
        root.put("definition", "per query-block row of the pooled block attention map (the mask builder's"
                + " softmax of mean-pooled q and k), the fewest key blocks holding >= mass of the row, as sparsity"
                + " 1 - kept / key_blocks; averaged over rows, samples and noise levels");
        root.put("forward_attention", s.forward().mode().toString().toLowerCase(java.util.Locale.ROOT)
                + (s.forward().mode() == io.sparge4j.engine.sparse.MaskMode.TOPP && s.forward().topp() >= 1
                ? " p=1 (full attention)" : " k=" + s.forward().topk() + " p=" + s.forward().topp()));
        root.put("samples", s.samples());
        root.put("seed", s.seed());
        root.put("noise_levels", s.noiseLevels());
        root.put("frames", s.clips().frames());
        root.put("height", s.clips().height());
        root.put("width", s.clips().width());
        root.putAll(s.clips().motion().settings());
        root.put("tokens", result.tokens());
        root.put("query_block", s.forward().queryBlock());
        root.put("key_block", s.forward().keyBlock());
        root.put("query_blocks", result.queryBlocks());
        root.put("key_blocks", result.keyBlocks());
        root.put("layer_sparsity", result.layerMeans());
        root.put("layer_head_sparsity", result.layerHead());
        List<Object> samples = new ArrayList<>();
        for (ConcentrationAnalysis.Sample sample : result.samples()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("clip", sample.clip());
            m.put("caption", sample.caption());
            m.put("noise", sample.noise());
            m.put("mean_sparsity", sample.mean());
            samples.add(m);
        }
        root.put("per_sample", samples);
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("layer", s.mapLayer());
        map.put("head", s.mapHead());
        map.put("sample", 0);
        map.put("probs", result.map());
        root.put("example_map", map);
        root.put("png", pngs);
        return root;
    }

    /**
     * @param file where to write, atomically
     * @param json the tree from {@link #toJson}
     * @throws IOException if the file cannot be written
     */
    public static void write(Path file, Map<String, Object> json) throws IOException {
        AtomicFiles.write(file, tmp -> MAPPER.writeValue(tmp.toFile(), json));
    }

    /**
     * @param file a concentration JSON file
     * @return its summary
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException naming the file and the key that is missing or malformed
     */
    public static Summary read(Path file) throws IOException {
        JsonNode root = MAPPER.readTree(Files.readAllBytes(file));
        if (root == null || !KIND.equals(root.path("kind").asText())) {
            throw new IllegalArgumentException(file + ": kind is " + root.path("kind") + ", expected \"" + KIND + "\"");
        }
        JsonNode lh = root.get("layer_head_sparsity");
        if (lh == null || !lh.isArray() || lh.isEmpty()) {
            throw new IllegalArgumentException(file + ": layer_head_sparsity is " + lh + ", expected [layer][head]");
        }
        double[][] layerHead = new double[lh.size()][];
        for (int l = 0; l < lh.size(); l++) {
            JsonNode row = lh.get(l);
            layerHead[l] = new double[row.size()];
            for (int h = 0; h < row.size(); h++) {
                if (!row.get(h).isNumber()) {
                    throw new IllegalArgumentException(file + ": layer_head_sparsity[" + l + "][" + h + "] is "
                            + row.get(h) + ", expected a number");
                }
                layerHead[l][h] = row.get(h).asDouble();
            }
        }
        JsonNode mean = root.get("mean_sparsity");
        if (mean == null || !mean.isNumber()) {
            throw new IllegalArgumentException(file + ": mean_sparsity is " + mean + ", expected a number");
        }
        JsonNode png = root.path("png");
        return new Summary(file, root.path("model").asText(""), root.path("mass").asDouble(Double.NaN),
                mean.asDouble(), layerHead, png.hasNonNull("layers") ? png.get("layers").asText() : null,
                png.hasNonNull("map") ? png.get("map").asText() : null);
    }
}

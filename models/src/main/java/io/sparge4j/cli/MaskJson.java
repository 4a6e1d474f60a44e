package io.sparge4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.MaskStatistics;
import io.sparge4j.engine.sparse.SparseAttention;

import java.util.LinkedHashMap;
import java.util.Map;

/** The statistics JSON that {@code sparge mask} and {@code sparge attention} print. */
final class MaskJson {
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private MaskJson() {
    }

    /**
     * @param config the config used (its mode, fractions and block sizes)
     * @param mask the mask
     * @param stats its statistics
     * @return ordered fields: mode, k, p (null when the mode does not use them), blocks, sparsity,
     *         sparsity_per_head, kept_per_row, retained_mass (null without a pooled map)
     */
    static Map<String, Object> statistics(SparseAttention.Config config, BlockMask mask, MaskStatistics stats) {
        MaskMode mode = config.mode();
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("mode", mode.toString());
        json.put("k", mode == MaskMode.TOPK || mode == MaskMode.HYBRID ? config.topk() : null);
        json.put("p", mode == MaskMode.TOPP || mode == MaskMode.HYBRID ? config.topp() : null);
        Map<String, Object> blocks = new LinkedHashMap<>();
        blocks.put("bq", config.queryBlock());
        blocks.put("bkv", config.keyBlock());
        blocks.put("nq", mask.queryGrid().blocks());
        blocks.put("nk", mask.keyGrid().blocks());
        blocks.put("kept", mask.keptBlocks());
        blocks.put("total", (long) mask.batch() * mask.heads() * mask.queryGrid().blocks() * mask.keyGrid().blocks());
        json.put("blocks", blocks);
        json.put("sparsity", stats.sparsity());
        json.put("sparsity_per_head", stats.sparsityPerHead());
        Map<String, Object> kept = new LinkedHashMap<>();
        kept.put("min", stats.keptPerRowMin());
        kept.put("mean", stats.keptPerRowMean());
        kept.put("max", stats.keptPerRowMax());
        json.put("kept_per_row", kept);
        if (Double.isNaN(stats.retainedMassMean())) {
            json.put("retained_mass", null);
        } else {
            Map<String, Object> mass = new LinkedHashMap<>();
            mass.put("min", stats.retainedMassMin());
            mass.put("mean", stats.retainedMassMean());
            mass.put("max", stats.retainedMassMax());
            json.put("retained_mass", mass);
        }
        return json;
    }

    static String write(Object value) throws JsonProcessingException {
        return MAPPER.writeValueAsString(value);
    }
}

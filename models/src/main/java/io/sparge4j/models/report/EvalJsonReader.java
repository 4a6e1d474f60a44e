package io.sparge4j.models.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads an evaluation JSON ({@code sparge eval --out FILE.json}) into an {@link ExperimentRow}, tolerantly: the
 * numbers come from its {@code summary} object when it has one (else from the top level), flattened; top-level
 * numbers the summary lacks are added too; per-prompt arrays are ignored. The sparsity is the first of
 * {@link #SPARSITY_KEYS} found (at any depth, the summary first), else the one the file name ends with
 * ({@code sweep-hybrid-distill-0.90.json}).
 */
public final class EvalJsonReader {
    /** Keys tried for the measured sparsity, in order. */
    public static final List<String> SPARSITY_KEYS = List.of("sparsity_mean", "sparsity", "mean_sparsity",
            "attention_sparsity", "measured_sparsity");
    private static final Pattern NOMINAL = Pattern.compile("-(0?\\.\\d+|1(?:\\.0+)?)$");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private EvalJsonReader() {
    }

    /**
     * @param file an evaluation JSON
     * @return its row, named after the file (without {@code .json})
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException naming the file when it is not a JSON object
     */
    public static ExperimentRow read(Path file) throws IOException {
        JsonNode root;
        try {
            root = MAPPER.readTree(Files.readAllBytes(file));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not valid JSON (" + e.getOriginalMessage()
                    + "), expected an evaluation written by sparge eval --out", e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + ": the top level is " + (root == null ? "empty" : root.getNodeType())
                    + ", expected a JSON object");
        }
        String name = file.getFileName().toString().replaceFirst("\\.json$", "");
        JsonNode summary = root.path("summary").isObject() ? root.get("summary") : root;
        Map<String, Double> metrics = new LinkedHashMap<>();
        // sparge eval's summary holds the evaluated model's rates under "sparse" and its dense teacher's under
        // "dense": the model's come first, unprefixed, so that a column reads the model and never the teacher.
        if (summary.path("sparse").isObject()) {
            flatten("", summary.get("sparse"), metrics);
        }
        flatten("", summary, metrics);
        if (summary != root) {
            Map<String, Double> top = new LinkedHashMap<>();
            flatten("", root, top);
            top.forEach((k, v) -> {
                if (!k.startsWith("summary.")) {
                    metrics.putIfAbsent(k, v);
                }
            });
        }
        double nominal = Double.NaN;
        Matcher m = NOMINAL.matcher(name);
        if (m.find()) {
            nominal = Double.parseDouble(m.group(1));
        }
        double sparsity = Double.NaN;
        for (JsonNode where : summary == root ? List.of(root) : List.of(summary, root)) {
            for (String key : SPARSITY_KEYS) {
                JsonNode v = where.findValue(key);
                if (v != null && v.isNumber() && Double.isNaN(sparsity)) {
                    sparsity = v.asDouble();
                }
            }
        }
        return new ExperimentRow(name, Double.isNaN(sparsity) ? nominal : sparsity, nominal, metrics, file);
    }

    /** Numbers (and nulls, as NaN) under their dotted paths; arrays are per-prompt rows and are skipped. */
    private static void flatten(String prefix, JsonNode node, Map<String, Double> out) {
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            JsonNode v = e.getValue();
            if (v.isNumber()) {
                out.put(key, v.asDouble());
            } else if (v.isNull()) {
                out.put(key, Double.NaN);
            } else if (v.isObject()) {
                flatten(key, v, out);
            }
        }
    }
}

package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.train.TrainingObjective;
import io.sparge4j.models.video.AtomicFiles;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanConfigReader;
import io.sparge4j.models.wan.WanParameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The model directory a training run writes (and {@code sparge finetune --init} reads): {@value #CONFIG} (the
 * WanConfig as {@link WanConfigReader#toJson} writes it), {@value #WEIGHTS} (the DiT's f32 weights under their
 * original Wan2.1 names), the text encoder's three files ({@link TextEncoder#save}) and {@value #GENERATION}
 * (clip size, attention, objective, steps trained). Every file is written atomically (a reader sees the old or the
 * new file, never half of one); a reader during a rewrite may see files of two consecutive checkpoints.
 */
final class TrainedModelDirectory {
    static final String CONFIG = "config.json";
    static final String WEIGHTS = "diffusion_pytorch_model.safetensors";
    static final String GENERATION = "generation.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private TrainedModelDirectory() {
    }

    /**
     * What {@value #GENERATION} records.
     *
     * @param frames clip frames trained on
     * @param height clip height
     * @param width clip width
     * @param attention the self-attention the DiT was trained with (mode, k, p, blocks)
     * @param objective pretrain, distill or flow
     * @param stepsTrained optimizer steps of this run
     */
    record Generation(int frames, int height, int width, WanAttention attention, TrainingObjective objective,
                      long stepsTrained) {
        ObjectNode toJson() {
            ObjectNode o = JSON.createObjectNode();
            o.put("frames", frames);
            o.put("height", height);
            o.put("width", width);
            ObjectNode a = o.putObject("attention");
            a.put("mode", attention.mode().toString().toLowerCase(Locale.ROOT));
            a.put("topk", attention.topk());
            a.put("topp", attention.topp());
            a.put("query_block", attention.queryBlock());
            a.put("key_block", attention.keyBlock());
            o.put("objective", objective.word());
            o.put("steps_trained", stepsTrained);
            return o;
        }
    }

    /**
     * Writes (or rewrites) the directory.
     *
     * @param dir the directory, created if missing
     * @param config the DiT's configuration
     * @param dit the DiT's parameters, f32, Wan2.1 names
     * @param text the text encoder
     * @param generation what {@value #GENERATION} records
     */
    static void write(Path dir, WanConfig config, Map<String, Tensor> dit, TextEncoder text, Generation generation)
            throws IOException {
        Files.createDirectories(dir);
        Map<String, Tensor> ordered = new LinkedHashMap<>();
        for (String name : WanParameters.expected(config).keySet()) {
            ordered.put(name, dit.get(name));
        }
        Safetensors.write(dir.resolve(WEIGHTS), ordered, Map.of("format", "pt"));
        text.save(dir);
        String configJson = WanConfigReader.toJson(config);
        AtomicFiles.write(dir.resolve(CONFIG), f -> Files.writeString(f, configJson));
        String gen = JSON.writeValueAsString(generation.toJson());
        AtomicFiles.write(dir.resolve(GENERATION), f -> Files.writeString(f, gen));
    }

    /**
     * @param dir a model directory
     * @return its configuration
     */
    static WanConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--init: " + dir + " has no " + CONFIG + ", expected a model directory"
                    + " written by sparge pretrain (config.json, " + WEIGHTS + ", text_encoder.*, " + GENERATION + ")");
        }
        return WanConfigReader.read(file).config();
    }

    /**
     * @param dir a model directory
     * @param config its configuration
     * @return the DiT's parameters as new f32 tensors, in {@link WanParameters#expected} order
     */
    static Map<String, Tensor> readWeights(Path dir, WanConfig config) throws IOException {
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--init: " + dir + " has no " + WEIGHTS
                    + ", expected the DiT's weights");
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : WanParameters.expected(config).keySet()) {
                if (!f.contains(name)) {
                    throw new IllegalArgumentException(file + ": tensor " + name + " is missing, expected every"
                            + " parameter of the config.json's model");
                }
                out.put(name, f.load(name, DType.F32));
            }
        }
        return out;
    }

    /**
     * @param dir a model directory
     * @return its {@value #GENERATION}, or null when absent
     */
    static JsonNode readGeneration(Path dir) throws IOException {
        Path file = dir.resolve(GENERATION);
        return Files.isRegularFile(file) ? JSON.readTree(file.toFile()) : null;
    }
}

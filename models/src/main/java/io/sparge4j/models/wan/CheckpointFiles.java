package io.sparge4j.models.wan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Finds the safetensors files of a model directory: one {@code *.safetensors} file, or the shards an
 * {@code *.index.json} lists in its {@code weight_map} (as written by Hugging Face tools, e.g.
 * {@code diffusion_pytorch_model.safetensors.index.json}).
 *
 * @param dir the model directory
 * @param index the index file, or null for a single file
 * @param shardOf each stored tensor name and the file it lies in, in index (or file) order; for a single file
 *     this is filled in later from the file's header, so it is empty here
 * @param files the files to open, in first-use order
 */
record CheckpointFiles(Path dir, Path index, Map<String, Path> shardOf, List<Path> files) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param dir a model directory
     * @return its weight files
     * @throws IllegalArgumentException when the directory holds no weights, several candidates without an index,
     *     several indexes, or an index that is malformed or names a missing shard
     * @throws IOException if the directory cannot be listed or the index read
     */
    static CheckpointFiles locate(Path dir) throws IOException {
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("model directory is " + dir + ", expected an existing directory"
                    + " holding config.json and *.safetensors weights");
        }
        List<Path> indexes = list(dir, ".index.json");
        if (indexes.size() > 1) {
            throw new IllegalArgumentException(dir + ": found " + indexes.size() + " index files " + names(indexes)
                    + ", expected at most one *.index.json");
        }
        if (indexes.size() == 1) {
            return fromIndex(dir, indexes.get(0));
        }
        List<Path> files = list(dir, ".safetensors");
        if (files.isEmpty()) {
            throw new IllegalArgumentException(dir + ": no *.safetensors file, expected the model's weights as one"
                    + " *.safetensors file or shards listed by an *.index.json");
        }
        if (files.size() > 1) {
            throw new IllegalArgumentException(dir + ": found " + files.size() + " safetensors files " + names(files)
                    + " and no *.index.json, expected one file or an index listing the shards");
        }
        return new CheckpointFiles(dir, null, Map.of(), List.of(files.get(0)));
    }

    private static CheckpointFiles fromIndex(Path dir, Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(index + ": not valid JSON (" + e.getOriginalMessage()
                    + "), expected an object with a \"weight_map\" of tensor names to shard files", e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new IllegalArgumentException(index + ": key 'weight_map' is " + (map == null ? "missing" : map)
                    + ", expected an object of tensor names to shard files");
        }
        Path base = dir.toAbsolutePath().normalize();
        Map<String, Path> shardOf = new LinkedHashMap<>();
        List<Path> files = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            JsonNode v = e.getValue();
            if (!v.isTextual() || v.textValue().isEmpty()) {
                throw new IllegalArgumentException(index + ": weight_map entry '" + e.getKey() + "' is " + v
                        + ", expected a shard file name");
            }
            Path shard = base.resolve(v.textValue()).normalize();
            if (!shard.startsWith(base)) {
                throw new IllegalArgumentException(index + ": weight_map entry '" + e.getKey() + "' is '"
                        + v.textValue() + "', expected a file inside " + base);
            }
            if (!files.contains(shard)) {
                if (!Files.isRegularFile(shard)) {
                    throw new IllegalArgumentException(index + ": shard '" + v.textValue() + "' (for '" + e.getKey()
                            + "') does not exist, expected every listed shard in " + base);
                }
                files.add(shard);
            }
            shardOf.put(e.getKey(), shard);
        }
        if (shardOf.isEmpty()) {
            throw new IllegalArgumentException(index + ": weight_map is empty, expected the model's tensor names");
        }
        return new CheckpointFiles(dir, index, shardOf, List.copyOf(files));
    }

    private static List<Path> list(Path dir, String suffix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix) && Files.isRegularFile(p))
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted()
                    .toList();
        }
    }

    private static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }
}

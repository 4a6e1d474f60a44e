package io.sparge4j.models.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.models.video.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads and atomically writes ({@link AtomicFiles}) the small JSON files of a text encoder (its config and
 * vocabulary), so a reader never sees half a file.
 */
final class JsonFiles {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonFiles() {
    }

    static void write(Path target, JsonNode node) throws IOException {
        AtomicFiles.write(target, tmp -> JSON.writeValue(tmp.toFile(), node));
    }

    static JsonNode read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": no such file");
        }
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** @return the non-negative integer at {@code key}, or an error naming file, key and value */
    static int positiveInt(Path file, JsonNode root, String key) {
        JsonNode v = root.get(key);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() <= 0) {
            throw new IllegalArgumentException(file + ": \"" + key + "\" is " + v + ", expected a positive integer");
        }
        return v.intValue();
    }

    /** Checks the file's {@code "format"} marker. */
    static void checkFormat(Path file, JsonNode root, String format) {
        JsonNode f = root == null ? null : root.get("format");
        if (f == null || !format.equals(f.asText())) {
            throw new IllegalArgumentException(file + ": \"format\" is " + f + ", expected \"" + format + "\"");
        }
    }
}

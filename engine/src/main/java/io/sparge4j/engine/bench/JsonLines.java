package io.sparge4j.engine.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.PrintWriter;
import java.util.Map;

/** The GPU harnesses' output: one JSON object per line, flushed at once, with figures rounded for reading. */
final class JsonLines {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonLines() {
    }

    /** Prints {@code line} as one JSON line and flushes; {@code harness} names the tool in the error. */
    static void emit(PrintWriter out, String harness, Map<String, Object> line) {
        try {
            out.println(JSON.writeValueAsString(line));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(harness + ": cannot write JSON", e);
        }
        out.flush();
    }

    /** @return {@code value} rounded to {@code digits} decimals */
    static double round(double value, int digits) {
        double scale = Math.pow(10, digits);
        return Math.round(value * scale) / scale;
    }
}

package io.sparge4j.models.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.models.video.JsonLinesLog;

import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The JSON-lines log of a run: one {@link TrainerStepLog} object per line, flushed after each step.
 *
 * <p>Opening it keeps only the lines of steps up to the step the run starts from: a fresh run starts an empty
 * log, and a resumed run drops the lines a killed run wrote after its last checkpoint (those steps are run
 * again), so the log reads as one uninterrupted run. That rewrite is atomic.
 */
final class TrainerLog implements Closeable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final JsonLinesLog out;

    private TrainerLog(JsonLinesLog out) {
        this.out = out;
    }

    /**
     * @param file the log file (its parent directory is created if missing)
     * @param keepThroughStep lines with a larger step are dropped (0 drops all)
     * @return the open log
     * @throws IOException if the file cannot be read or written
     */
    static TrainerLog open(Path file, long keepThroughStep) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        List<String> kept = new ArrayList<>();
        if (keepThroughStep > 0 && Files.isRegularFile(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode step;
                try {
                    step = JSON.readTree(line).get("step");
                } catch (IOException e) {
                    continue;   // a line cut short by a kill
                }
                if (step != null && step.asLong() <= keepThroughStep) {
                    kept.add(line);
                }
            }
        }
        return new TrainerLog(JsonLinesLog.open(file, kept));
    }

    /** Appends one step and flushes it. */
    void write(TrainerStepLog log) throws IOException {
        out.write(log);
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}

package io.sparge4j.models.video;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * A JSON-lines log written as work proceeds: one object per line, flushed after each, so a long run can be followed
 * ({@code tail -f}) and a stopped one still shows what it did. Opening rewrites the file atomically to the lines to
 * keep (none for a fresh log; a resumed training run keeps those up to its checkpoint), then appends.
 */
public final class JsonLinesLog implements Closeable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final BufferedWriter out;

    private JsonLinesLog(BufferedWriter out) {
        this.out = out;
    }

    /**
     * @param file the log; its parent directory must exist
     * @param keep the lines it starts with (replacing any earlier content)
     * @return the open log
     * @throws IOException if it cannot be written
     */
    public static JsonLinesLog open(Path file, List<String> keep) throws IOException {
        Path absolute = file.toAbsolutePath();
        AtomicFiles.write(absolute, tmp -> Files.write(tmp, keep, StandardCharsets.UTF_8));
        return new JsonLinesLog(Files.newBufferedWriter(absolute, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
    }

    /** Appends one object (a record or a map, as Jackson writes it) as a line and flushes it. */
    public void write(Object line) throws IOException {
        out.write(JSON.writeValueAsString(line));
        out.newLine();
        out.flush();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}

package io.sparge4j.models.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.models.video.AtomicFiles;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * The JSON-lines log of an evaluation: one object per evaluated prompt (and per velocity sample), flushed as each is
 * done, so a long run can be followed (`tail -f`) and a stopped one still shows what it measured. The file is created
 * empty atomically and then appended to; an evaluation does not resume, so an earlier log of the same name is
 * replaced.
 */
public final class EvalLog implements Closeable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final BufferedWriter out;

    private EvalLog(BufferedWriter out) {
        this.out = out;
    }

    /**
     * @param file the log; its parent directory must exist
     * @return the open, empty log
     * @throws IOException if it cannot be written
     */
    public static EvalLog open(Path file) throws IOException {
        Path absolute = file.toAbsolutePath();
        AtomicFiles.write(absolute, tmp -> Files.write(tmp, List.<String>of(), StandardCharsets.UTF_8));
        return new EvalLog(Files.newBufferedWriter(absolute, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
    }

    /** Appends one object as a line and flushes it. */
    public void write(Map<String, Object> line) throws IOException {
        out.write(JSON.writeValueAsString(line));
        out.newLine();
        out.flush();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}

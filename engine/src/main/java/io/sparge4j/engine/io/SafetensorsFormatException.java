package io.sparge4j.engine.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file that breaks the format: bad header length, header that is not the expected
 * JSON, unknown dtype, offsets out of range, overlapping or leaving gaps, truncated data.
 *
 * <p>The message names the file, the tensor when one is at fault, and the problem.
 */
public final class SafetensorsFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The file at fault (kept as text: {@link Path} is not serializable). */
    private final String file;
    /** The tensor at fault, or null. */
    private final String tensor;
    /** The problem alone. */
    private final String problem;

    /**
     * @param file the file being read
     * @param tensor the tensor at fault, or null when the problem is not about one tensor
     * @param problem what is wrong, e.g. "offsets [0, 12] overlap tensor 'b'"
     */
    public SafetensorsFormatException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    /**
     * @param file the file being read
     * @param tensor the tensor at fault, or null
     * @param problem what is wrong
     * @param cause the underlying error (for example Jackson's parse error), or null
     */
    public SafetensorsFormatException(Path file, String tensor, String problem, Throwable cause) {
        super(message(file, tensor, problem), cause);
        this.file = String.valueOf(file);
        this.tensor = tensor;
        this.problem = problem;
    }

    private static String message(Path file, String tensor, String problem) {
        String where = "safetensors file " + file;
        return tensor == null ? where + ": " + problem : where + ": tensor '" + tensor + "': " + problem;
    }

    /** @return the file being read, as given to the reader */
    public String file() {
        return file;
    }

    /** @return the tensor at fault, or null when the problem is with the file as a whole */
    public String tensor() {
        return tensor;
    }

    /** @return the problem alone, without file and tensor */
    public String problem() {
        return problem;
    }
}

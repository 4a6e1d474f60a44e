package io.sparge4j.models.video;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes files through a temporary sibling that is renamed over the target, so that a reader never sees a
 * half-written file and a failed write leaves no file behind (and any previous target untouched).
 */
public final class AtomicFiles {
    /** Writes the content of one file to the path it is given. */
    @FunctionalInterface
    public interface Body {
        void writeTo(Path file) throws IOException;
    }

    private AtomicFiles() {
    }

    /**
     * @param target the file to create or replace
     * @param body writes the content to a temporary file in the target's directory
     * @throws IOException if writing or renaming fails; the temporary file is then deleted
     */
    public static void write(Path target, Body body) throws IOException {
        Path tmp = writeTemporary(target, body);
        try {
            moveIntoPlace(tmp, target);
        } catch (IOException | RuntimeException | Error e) {
            deleteQuietly(tmp, e);
            throw e;
        }
    }

    /**
     * Writes the content to a new temporary sibling of the target and forces it to disk; the caller renames it
     * with {@link #moveIntoPlace} or deletes it.
     *
     * @return the temporary file
     * @throws IOException if writing fails; the temporary file is then deleted
     */
    static Path writeTemporary(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "."
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp");
        Files.createFile(tmp); // before the try: if creation fails there is nothing of ours to delete
        try {
            body.writeTo(tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
        } catch (IOException | RuntimeException | Error e) {
            deleteQuietly(tmp, e);
            throw e;
        }
        return tmp;
    }

    /** Renames atomically where the file system can, else replaces the target in one move. */
    static void moveIntoPlace(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes a file we made, recording a failure to do so on the exception already being thrown. */
    static void deleteQuietly(Path file, Throwable pending) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException | RuntimeException suppressed) {
            pending.addSuppressed(suppressed);
        }
    }

    /**
     * @param target the output path
     * @throws IllegalArgumentException naming the parent directory when it does not exist
     */
    static void requireParentDirectory(Path target) {
        Path parent = target.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("output " + target + ": its parent directory " + parent
                    + (Files.exists(parent) ? " is not a directory" : " does not exist")
                    + "; expected an existing directory (create it first)");
        }
    }
}

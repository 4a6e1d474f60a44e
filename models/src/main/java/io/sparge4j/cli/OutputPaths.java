package io.sparge4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** Checks on the commands' output paths, made before the work so that a typo does not cost a whole run. */
final class OutputPaths {
    private OutputPaths() {
    }

    /**
     * @param option the flag that gave the path, for the message
     * @param out the output file (or prefix)
     * @return its parent directory, absolute
     * @throws IllegalArgumentException naming the flag, the path and its parent when the parent is not a directory
     */
    static Path existingParent(String option, Path out) {
        Path parent = out.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException(option + ": " + out + ": its parent directory " + parent
                    + " does not exist; expected an existing directory");
        }
        return parent;
    }
}

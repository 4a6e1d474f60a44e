package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.GeneratedKernel;

import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Words the message for a kernel that NVRTC refused: the log, the Java kernel, and the source lines it names. */
final class CompileFailure {
    /** NVRTC's log names lines as {@code program.cu(12): error: ...}. */
    private static final Pattern LINE_REFERENCE = Pattern.compile("\\((\\d+)\\): ");
    private static final int CONTEXT_LINES = 2;
    private static final int WHOLE_SOURCE_LIMIT = 80;

    private CompileFailure() {
    }

    /**
     * @param kernel the kernel that failed
     * @param target what NVRTC was asked for
     * @param nvrtcError NVRTC's name for the result
     * @param log the program log
     * @return the message: log, Java name, and the numbered source lines the log refers to (or the start of the
     *     source when it refers to none)
     */
    static String message(GeneratedKernel kernel, CompileTarget target, String nvrtcError, String log) {
        StringBuilder text = new StringBuilder("NVRTC could not compile the CUDA kernel generated from ")
                .append(kernel.javaName()).append(" (entry ").append(kernel.entryName()).append(", ")
                .append(target.architectureName()).append("): ").append(nvrtcError).append('\n')
                .append(log.isBlank() ? "(empty log)" : log.strip()).append('\n');
        String[] lines = kernel.source().split("\n", -1);
        Set<Integer> shown = new TreeSet<>();
        Matcher m = LINE_REFERENCE.matcher(log);
        while (m.find()) {
            int line = Integer.parseInt(m.group(1));
            for (int i = Math.max(1, line - CONTEXT_LINES); i <= Math.min(lines.length, line + CONTEXT_LINES); i++) {
                shown.add(i);
            }
        }
        if (shown.isEmpty()) {
            for (int i = 1; i <= Math.min(lines.length, WHOLE_SOURCE_LIMIT); i++) {
                shown.add(i);
            }
        }
        text.append("generated source (").append(lines.length).append(" lines; SPARGE_PRINT_KERNELS=1 prints all):");
        int previous = 0;
        for (int line : shown) {
            if (previous != 0 && line != previous + 1) {
                text.append("\n    ...");
            }
            text.append(String.format("%n%5d| %s", line, lines[line - 1]));
            previous = line;
        }
        return text.toString();
    }
}

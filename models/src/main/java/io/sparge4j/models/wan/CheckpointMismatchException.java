package io.sparge4j.models.wan;

import java.util.List;

/**
 * A checkpoint whose tensors do not match the parameters its configuration calls for. One exception lists every
 * offending name, so a user sees the whole difference at once rather than one name per attempt.
 */
public final class CheckpointMismatchException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final List<String> missing;
    private final List<String> unexpected;
    private final List<String> misshaped;
    private final List<String> other;

    /**
     * @param context what was checked, e.g. the directory and config
     * @param missing expected original names not found
     * @param unexpected stored names that are not parameters of the config, with shapes
     * @param misshaped names with expected and stored shapes
     * @param other further problems: unsupported dtypes, duplicates after renaming, index entries absent from
     *     their shard
     */
    public CheckpointMismatchException(String context, List<String> missing, List<String> unexpected,
            List<String> misshaped, List<String> other) {
        super(message(context, missing, unexpected, misshaped, other));
        this.missing = List.copyOf(missing);
        this.unexpected = List.copyOf(unexpected);
        this.misshaped = List.copyOf(misshaped);
        this.other = List.copyOf(other);
    }

    /** @return one line per missing tensor: its original name and expected shape */
    public List<String> missing() {
        return missing;
    }

    /** @return one line per unexpected tensor: its stored name, what it maps to, and its shape */
    public List<String> unexpected() {
        return unexpected;
    }

    /** @return one line per mis-shaped tensor: its name, the expected and the stored shape */
    public List<String> misshaped() {
        return misshaped;
    }

    /** @return any other problem, one per line */
    public List<String> other() {
        return other;
    }

    private static String message(String context, List<String> missing, List<String> unexpected,
            List<String> misshaped, List<String> other) {
        StringBuilder sb = new StringBuilder(context).append(": ")
                .append(missing.size()).append(" missing, ")
                .append(unexpected.size()).append(" unexpected, ")
                .append(misshaped.size()).append(" mis-shaped tensor(s)");
        if (!other.isEmpty()) {
            sb.append(", ").append(other.size()).append(" other problem(s)");
        }
        sb.append("; expected exactly the parameters of the configuration (original Wan2.1 or diffusers names)");
        section(sb, "missing", missing);
        section(sb, "unexpected", unexpected);
        section(sb, "mis-shaped", misshaped);
        section(sb, "other", other);
        return sb.toString();
    }

    private static void section(StringBuilder sb, String label, List<String> lines) {
        for (String line : lines) {
            sb.append("\n  ").append(label).append(": ").append(line);
        }
    }
}

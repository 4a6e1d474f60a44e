package io.sparge4j.models.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.video.AtomicFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Training checkpoints on disk: one directory per saved step under a root, and a {@code latest} pointer.
 * <pre>
 *   root/step-000100/parameters.safetensors   the parameters (f32, by name)
 *   root/step-000100/optimizer.safetensors    &lt;name&gt;.exp_avg, &lt;name&gt;.exp_avg_sq (f32); metadata "step"
 *   root/step-000100/state.json               {@link TrainingCheckpointState}: step, config, seeds, cursor, logs
 *   root/latest                               the name of the newest complete directory ("step-000100")
 * </pre>
 * Saving is atomic: the files are written and forced to disk in a hidden temporary directory, which is then renamed
 * to {@code step-NNNNNN}, and only then is {@code latest} replaced (itself through a temporary file and a rename).
 * A failure at any point deletes the temporary directory and leaves the previous checkpoint and pointer as they
 * were; a crash leaves at worst a hidden temporary directory, removed by the next save. Older directories beyond
 * the last K are deleted after the pointer is written.
 */
public final class TrainingCheckpoint {
    /** Parameter file name. */
    public static final String PARAMETERS = "parameters.safetensors";
    /** Optimizer state file name. */
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** JSON state file name. */
    public static final String STATE = "state.json";
    /** The pointer to the newest checkpoint directory. */
    public static final String LATEST = "latest";

    private static final String STEP_KEY = "step";
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{6,})");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Path directory;
    private final TrainingCheckpointState state;

    private TrainingCheckpoint(Path directory, TrainingCheckpointState state) {
        this.directory = directory;
        this.state = state;
    }

    /**
     * @param step steps completed
     * @return the directory name of that step's checkpoint, {@code step-NNNNNN} (at least six digits)
     */
    public static String directoryName(long step) {
        return String.format(Locale.ROOT, "step-%06d", step);
    }

    /**
     * Saves a checkpoint and points {@code latest} at it, then keeps only the newest {@code keepLast} directories.
     *
     * @param root the checkpoint root (created if missing)
     * @param parameters f32 parameters by name
     * @param optimizer the optimizer whose moments and step count are saved
     * @param state the JSON state; its step names the directory
     * @param keepLast directories to keep, at least 1
     * @return the new checkpoint directory
     * @throws IOException if writing fails; the previous checkpoint and pointer are then unchanged
     */
    public static Path save(Path root, Map<String, Tensor> parameters, AdamW optimizer, TrainingCheckpointState state,
            int keepLast) throws IOException {
        if (root == null || parameters == null || optimizer == null || state == null) {
            throw new IllegalArgumentException("TrainingCheckpoint.save: root, parameters, optimizer and state must "
                    + "not be null, got root=" + root + ", state=" + state);
        }
        if (keepLast < 1) {
            throw new IllegalArgumentException("TrainingCheckpoint.save: keepLast is " + keepLast
                    + ", expected at least 1");
        }
        optimizer.requireMatching("TrainingCheckpoint.save", "parameters", parameters);
        if (optimizer.steps() != state.step()) {
            throw new IllegalArgumentException("TrainingCheckpoint.save: optimizer has taken " + optimizer.steps()
                    + " steps but the state says step " + state.step() + ", expected the same count");
        }
        Files.createDirectories(root);
        String name = directoryName(state.step());
        Path target = root.resolve(name);
        Path tmp = root.resolve("." + name + "." + hex() + ".tmp");
        Files.createDirectory(tmp);
        Path displaced = null;
        try {
            Map<String, String> meta = Map.of(STEP_KEY, Long.toString(state.step()));
            Safetensors.write(tmp.resolve(PARAMETERS), parameters, meta);
            Safetensors.write(tmp.resolve(OPTIMIZER), optimizer.state(), meta);
            byte[] json = JSON.writeValueAsBytes(state);
            AtomicFiles.write(tmp.resolve(STATE), file -> Files.write(file, json));
            syncDirectory(tmp);
            if (Files.exists(target)) {
                // a checkpoint of the same step from an abandoned run: set aside until the new one is in place
                displaced = root.resolve("." + name + "." + hex() + ".old");
                Files.move(target, displaced, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            syncDirectory(root);
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(tmp, e);
            if (displaced != null && !Files.exists(target)) {
                try {
                    Files.move(displaced, target, StandardCopyOption.ATOMIC_MOVE);
                    displaced = null;
                } catch (IOException | RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        AtomicFiles.write(root.resolve(LATEST), file -> Files.writeString(file, name + "\n"));
        syncDirectory(root);
        if (displaced != null) {
            deleteTree(displaced, null);
        }
        prune(root, keepLast, name);
        return target;
    }

    /**
     * Opens a checkpoint: the one {@code latest} names when {@code path} is a root, or {@code path} itself when it
     * is a step directory.
     *
     * @param path a checkpoint root or step directory
     * @return the checkpoint, its JSON state read
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the path holds no checkpoint, or its JSON is not a valid state
     */
    public static TrainingCheckpoint open(Path path) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException("TrainingCheckpoint.open: path is null, expected a checkpoint root or "
                    + "step directory");
        }
        Path dir = path;
        Path pointer = path.resolve(LATEST);
        if (Files.isRegularFile(pointer)) {
            String name = Files.readString(pointer, StandardCharsets.UTF_8).strip();
            if (!STEP_DIR.matcher(name).matches()) {
                throw new IllegalArgumentException("TrainingCheckpoint.open: " + pointer + " holds '" + name
                        + "', expected a directory name like " + directoryName(100));
            }
            dir = path.resolve(name);
            if (!Files.isDirectory(dir)) {
                throw new IllegalArgumentException("TrainingCheckpoint.open: " + pointer + " names " + name
                        + ", which does not exist (a crash while replacing it?); expected one of the step directories "
                        + stepDirectories(path) + ": pass one of them instead of the root");
            }
        }
        for (String file : List.of(STATE, PARAMETERS, OPTIMIZER)) {
            if (!Files.isRegularFile(dir.resolve(file))) {
                throw new IllegalArgumentException("TrainingCheckpoint.open: " + dir + " has no " + file
                        + ", expected a checkpoint root (with '" + LATEST + "') or a step directory holding "
                        + STATE + ", " + PARAMETERS + " and " + OPTIMIZER);
            }
        }
        TrainingCheckpointState state;
        try {
            state = JSON.readValue(dir.resolve(STATE).toFile(), TrainingCheckpointState.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("TrainingCheckpoint.open: " + dir.resolve(STATE)
                    + " is not a valid training state: " + e.getOriginalMessage(), e);
        }
        return new TrainingCheckpoint(dir, state);
    }

    /**
     * @param root a checkpoint root
     * @return the directory {@code latest} names, if there is a pointer
     * @throws IOException if the pointer cannot be read
     */
    public static Optional<Path> latest(Path root) throws IOException {
        Path pointer = root.resolve(LATEST);
        if (!Files.isRegularFile(pointer)) {
            return Optional.empty();
        }
        return Optional.of(root.resolve(Files.readString(pointer, StandardCharsets.UTF_8).strip()));
    }

    /** @return the step directory */
    public Path directory() {
        return directory;
    }

    /** @return the JSON state */
    public TrainingCheckpointState state() {
        return state;
    }

    /**
     * Copies the saved parameters and optimizer state into live ones, after checking that every name, shape and
     * dtype matches; on a mismatch nothing is changed.
     *
     * @param parameters the task's parameters, overwritten
     * @param optimizer an optimizer over those parameters; its moments and step count are overwritten
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException naming the file and the first missing, unexpected or mis-shaped tensor
     */
    public void restore(Map<String, Tensor> parameters, AdamW optimizer) throws IOException {
        Path paramFile = directory.resolve(PARAMETERS);
        Path optFile = directory.resolve(OPTIMIZER);
        try (SafetensorsFile params = SafetensorsFile.open(paramFile);
                SafetensorsFile opt = SafetensorsFile.open(optFile)) {
            checkStep(params, paramFile);
            checkStep(opt, optFile);
            Map<String, Tensor> saved = new LinkedHashMap<>();
            for (String name : params.names()) {
                saved.put(name, params.tensor(name));
            }
            checkSame(paramFile, saved, parameters);
            Map<String, Tensor> moments = new LinkedHashMap<>();
            for (String name : opt.names()) {
                moments.put(name, opt.tensor(name));
            }
            optimizer.requireMatching("TrainingCheckpoint.restore", "parameters", parameters);
            try {
                optimizer.loadState(moments, state.step());   // checks everything before copying anything
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("TrainingCheckpoint.restore: " + optFile + ": " + e.getMessage(), e);
            }
            for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
                e.getValue().copyFrom(saved.get(e.getKey()));
            }
        }
    }

    private void checkStep(SafetensorsFile file, Path path) {
        String step = file.metadata().get(STEP_KEY);
        if (!Long.toString(state.step()).equals(step)) {
            throw new IllegalArgumentException("TrainingCheckpoint.restore: " + path + " is from step " + step
                    + ", expected step " + state.step() + " as " + directory.resolve(STATE) + " says");
        }
    }

    /** Checks that the saved tensors are exactly the live ones by name, shape and dtype. */
    private static void checkSame(Path file, Map<String, Tensor> saved, Map<String, Tensor> live) {
        List<String> missing = new ArrayList<>();
        for (String name : live.keySet()) {
            if (!saved.containsKey(name)) {
                missing.add(name);
            }
        }
        List<String> extra = new ArrayList<>();
        for (String name : saved.keySet()) {
            if (!live.containsKey(name)) {
                extra.add(name);
            }
        }
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new IllegalArgumentException("TrainingCheckpoint.restore: " + file + " does not hold the task's "
                    + "parameters: missing " + AdamW.firstFew(missing) + ", unexpected " + AdamW.firstFew(extra)
                    + "; expected the same " + live.size() + " names (is this checkpoint from another model?)");
        }
        for (Map.Entry<String, Tensor> e : live.entrySet()) {
            Tensor s = saved.get(e.getKey());
            if (s.dtype() != DType.F32 || !Arrays.equals(s.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException("TrainingCheckpoint.restore: " + file + ": '" + e.getKey()
                        + "' is " + s.dtype() + " " + Arrays.toString(s.shape()) + ", expected " + DType.F32 + " "
                        + Arrays.toString(e.getValue().shape()));
            }
        }
    }

    /** Deletes step directories older than the newest {@code keep}, and stale temporaries; never {@code current}. */
    private static void prune(Path root, int keep, String current) throws IOException {
        List<Path> steps = new ArrayList<>();
        List<Path> stale = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path p : (Iterable<Path>) entries::iterator) {
                String n = p.getFileName().toString();
                Matcher m = STEP_DIR.matcher(n);
                if (m.matches() && Files.isDirectory(p)) {
                    steps.add(p);
                } else if (n.startsWith(".step-") && (n.endsWith(".tmp") || n.endsWith(".old"))) {
                    stale.add(p);
                }
            }
        }
        steps.sort(Comparator.comparingLong(TrainingCheckpoint::stepOf));
        for (int i = 0; i < steps.size() - keep; i++) {
            if (!steps.get(i).getFileName().toString().equals(current)) {
                deleteTree(steps.get(i), null);
            }
        }
        for (Path p : stale) {
            deleteTree(p, null);
        }
    }

    /** @return the names of the step directories under a root, oldest first */
    private static List<String> stepDirectories(Path root) throws IOException {
        try (Stream<Path> entries = Files.list(root)) {
            return entries.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p))
                    .sorted(Comparator.comparingLong(TrainingCheckpoint::stepOf))
                    .map(p -> p.getFileName().toString()).toList();
        }
    }

    private static long stepOf(Path dir) {
        Matcher m = STEP_DIR.matcher(dir.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** Deletes a directory tree; failures are added to {@code pending} if given, else thrown. */
    private static void deleteTree(Path dir, Throwable pending) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            List<Path> all = walk.sorted(Comparator.reverseOrder()).toList();
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        } catch (NoSuchFileException gone) {
            // already deleted
        } catch (IOException | UncheckedIOException e) {
            if (pending == null) {
                throw e instanceof UncheckedIOException u ? u.getCause() : (IOException) e;
            }
            pending.addSuppressed(e);
        }
    }

    /** Makes renames in a directory durable where the platform allows syncing one; elsewhere a no-op. */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | RuntimeException ignored) {
            // not supported everywhere (e.g. Windows); the files themselves are already forced
        }
    }

    private static String hex() {
        return HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
    }
}

package io.sparge4j.models.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.HostValues;
import io.sparge4j.engine.distributed.ShardedParameters;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.video.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Checkpoints of a {@link ShardedTrainer}: every rank writes its own shard of the parameters and of AdamW's moments,
 * so no rank ever holds the whole optimizer state.
 * <pre>
 *   root/step-000100/rank-00000-of-00004.safetensors   "shard", "exp_avg", "exp_avg_sq" (f32, the shard's size);
 *                                                        metadata: step, rank, world size, layout hash
 *   root/step-000100/state.json                         {@link TrainingCheckpointState} (written by rank 0)
 *   root/latest                                         the name of the newest complete directory
 * </pre>
 * The ranks write into a hidden directory {@code .step-NNNNNN.sharded.tmp}, each its file atomically; once every
 * rank reports success, rank 0 writes the state, renames the directory into place and only then replaces
 * {@code latest}, as {@link TrainingCheckpoint} does. A failure on any rank makes every rank throw and leaves the
 * previous checkpoint and pointer as they were. All ranks must see the same file system (one host, or a shared one).
 * A checkpoint resumes only on the world size that wrote it.
 */
public final class ShardedCheckpoint {
    private static final String OP = "ShardedCheckpoint";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{6,})");
    private static final Pattern SHARD_FILE = Pattern.compile("rank-(\\d{5})-of-(\\d{5})\\.safetensors");
    private static final String SHARD = "shard";
    private static final String EXP_AVG = "exp_avg";
    private static final String EXP_AVG_SQ = "exp_avg_sq";

    private ShardedCheckpoint() {
    }

    /**
     * @param rank a rank
     * @param worldSize the world size
     * @return the name of that rank's file, {@code rank-RRRRR-of-WWWWW.safetensors}
     */
    public static String shardFileName(int rank, int worldSize) {
        return String.format(Locale.ROOT, "rank-%05d-of-%05d.safetensors", rank, worldSize);
    }

    /**
     * Saves this rank's shard; every rank calls it together.
     *
     * @param root the checkpoint root (created if missing)
     * @param comm the ranks
     * @param sharded this rank's parameter shard and the layout
     * @param optimizer this rank's optimizer; its step count must equal the state's step
     * @param state the JSON state (rank 0's is written); its step names the directory
     * @param keepLast step directories to keep, at least 1
     * @return the new step directory
     * @throws IOException on every rank if writing failed on any
     */
    static Path save(Path root, Communicator comm, ShardedParameters sharded, ShardedAdamW optimizer,
            TrainingCheckpointState state, int keepLast) throws IOException {
        String name = TrainingCheckpoint.directoryName(state.step());
        Path target = root.resolve(name);
        Path tmp = root.resolve("." + name + ".sharded.tmp");
        boolean lead = comm.rank() == 0;
        Exception failure = null;
        if (lead) {
            try {
                Files.createDirectories(root);
                deleteTree(tmp);   // left by a crashed save of the same step
                Files.createDirectory(tmp);
            } catch (IOException | RuntimeException e) {
                failure = e;
            }
        }
        agree(comm, failure, "prepare " + tmp);
        try {
            Map<String, String> meta = Map.of("step", Long.toString(state.step()), "rank",
                    Integer.toString(comm.rank()), "world_size", Integer.toString(comm.worldSize()), "layout",
                    Long.toHexString(layoutHash(sharded)));
            Safetensors.write(tmp.resolve(shardFileName(comm.rank(), comm.worldSize())), Map.of(SHARD,
                    sharded.shard(), EXP_AVG, optimizer.expAvg(), EXP_AVG_SQ, optimizer.expAvgSq()), meta);
        } catch (IOException | RuntimeException e) {
            failure = e;
        }
        agree(comm, failure, "write its shard into " + tmp);
        if (lead) {
            try {
                byte[] json = JSON.writeValueAsBytes(state);
                AtomicFiles.write(tmp.resolve(TrainingCheckpoint.STATE), file -> Files.write(file, json));
                Path displaced = root.resolve("." + name + ".sharded.old");
                deleteTree(displaced);
                if (Files.exists(target)) {   // a checkpoint of the same step from an abandoned run: set aside
                    Files.move(target, displaced, StandardCopyOption.ATOMIC_MOVE);
                }
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                AtomicFiles.write(root.resolve(TrainingCheckpoint.LATEST), file -> Files.writeString(file, name + "\n"));
                deleteTree(displaced);
                prune(root, keepLast, name);
            } catch (IOException | RuntimeException e) {
                failure = e;
            }
        }
        agree(comm, failure, "publish " + target);
        return target;
    }

    /**
     * Reads the state of a checkpoint: the one {@code latest} names when {@code path} is a root, else {@code path}
     * itself.
     *
     * @param path a checkpoint root or step directory
     * @return the step directory and its state
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the path holds no sharded checkpoint
     */
    static Opened open(Path path) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException(OP + ".open: path is null, expected a checkpoint root or step directory");
        }
        Path dir = path;
        Path pointer = path.resolve(TrainingCheckpoint.LATEST);
        if (Files.isRegularFile(pointer)) {
            String name = Files.readString(pointer, StandardCharsets.UTF_8).strip();
            if (!STEP_DIR.matcher(name).matches()) {
                throw new IllegalArgumentException(OP + ".open: " + pointer + " holds '" + name
                        + "', expected a directory name like " + TrainingCheckpoint.directoryName(100));
            }
            dir = path.resolve(name);
        }
        Path stateFile = dir.resolve(TrainingCheckpoint.STATE);
        if (!Files.isRegularFile(stateFile)) {
            throw new IllegalArgumentException(OP + ".open: " + dir + " has no " + TrainingCheckpoint.STATE
                    + ", expected a sharded checkpoint root (with '" + TrainingCheckpoint.LATEST + "') or step directory");
        }
        try {
            return new Opened(dir, JSON.readValue(stateFile.toFile(), TrainingCheckpointState.class));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(OP + ".open: " + stateFile + " is not a valid training state: "
                    + e.getOriginalMessage(), e);
        }
    }

    /**
     * A checkpoint's directory and state.
     *
     * @param directory the step directory
     * @param state its JSON state
     */
    record Opened(Path directory, TrainingCheckpointState state) {

        /**
         * Checks, before any collective, that this checkpoint was written by {@code worldSize} ranks (every rank
         * reads the same directory, so all of them fail alike).
         *
         * @throws IllegalArgumentException naming the saved world size
         */
        void requireWorldSize(int worldSize) throws IOException {
            List<String> shards;
            try (Stream<Path> files = Files.list(directory)) {
                shards = files.map(p -> p.getFileName().toString()).filter(n -> SHARD_FILE.matcher(n).matches())
                        .sorted().toList();
            }
            List<Integer> worlds = shards.stream().map(n -> {
                Matcher m = SHARD_FILE.matcher(n);
                return m.matches() ? Integer.parseInt(m.group(2)) : -1;
            }).distinct().toList();
            if (!worlds.equals(List.of(worldSize)) || shards.size() != worldSize) {
                throw new IllegalArgumentException(OP + ".restore: " + directory + " holds " + shards + " (written by "
                        + (worlds.size() == 1 ? worlds.getFirst() + " ranks" : "an unknown world size") + "), and this"
                        + " job has world size " + worldSize + "; expected a checkpoint written by the same world size"
                        + " (resharding to another is not supported)");
            }
        }

        /**
         * Copies this rank's saved shard and moments into the live ones; every rank calls it together.
         *
         * @throws IOException on every rank if reading failed on any
         * @throws IllegalArgumentException on every rank if a file does not match (world size, step, layout, size)
         */
        void restore(Communicator comm, ShardedParameters sharded, ShardedAdamW optimizer) throws IOException {
            Exception failure = null;
            Path file = directory.resolve(shardFileName(comm.rank(), comm.worldSize()));
            try {
                if (!Files.isRegularFile(file)) {
                    try (Stream<Path> files = Files.list(directory)) {
                        throw new IllegalArgumentException(OP + ".restore: " + directory + " has no " + file.getFileName()
                                + " for rank " + comm.rank() + " of " + comm.worldSize() + ", it has " + files
                                .map(p -> p.getFileName().toString()).filter(n -> n.startsWith("rank-")).sorted()
                                .toList() + "; expected a checkpoint written by the same world size (resharding to "
                                + "another is not supported)");
                    }
                }
                try (SafetensorsFile f = SafetensorsFile.open(file)) {
                    Map<String, String> meta = f.metadata();
                    check(file, "step", Long.toString(state.step()), meta.get("step"));
                    check(file, "layout", Long.toHexString(layoutHash(sharded)), meta.get("layout"));
                    for (String n : List.of(SHARD, EXP_AVG, EXP_AVG_SQ)) {
                        if (!f.contains(n) || f.info(n).dtype() != DType.F32
                                || Tensor.numelOf(f.info(n).shape()) != sharded.shardSize()) {
                            throw new IllegalArgumentException(OP + ".restore: " + file + ": tensor '" + n + "' is "
                                    + (f.contains(n) ? f.info(n).dtype() + " " + java.util.Arrays.toString(
                                    f.info(n).shape()) : "missing") + ", expected f32 [" + sharded.shardSize() + "]");
                        }
                    }
                    sharded.shard().copyFrom(f.tensor(SHARD));
                    optimizer.restore(f.tensor(EXP_AVG), f.tensor(EXP_AVG_SQ), state.step());
                }
            } catch (IOException | RuntimeException e) {
                failure = e;
            }
            agree(comm, failure, "restore from " + file);
        }

        private static void check(Path file, String key, String want, String got) {
            if (!want.equals(got)) {
                throw new IllegalArgumentException(OP + ".restore: " + file + " has " + key + " " + got + ", expected "
                        + want + (key.equals("layout") ? " (the parameters' names and shapes differ from the saved"
                        + " run's)" : ""));
            }
        }
    }

    /**
     * Gathers every rank's status; if any failed, throws on every rank (the failed rank its own exception).
     */
    private static void agree(Communicator comm, Exception failure, String what) throws IOException {
        long[] status = HostValues.allGather(comm, new long[] {failure == null ? 0 : 1});
        for (int r = 0; r < status.length; r++) {
            if (status[r] != 0) {
                if (failure instanceof IOException io) {
                    throw io;
                }
                if (failure instanceof RuntimeException re) {
                    throw re;
                }
                throw new IOException(OP + ": rank " + r + " failed to " + what + " (see that rank's error)");
            }
        }
    }

    /** A hash of the parameters' names, shapes and places in the flat buffer, and the world size. */
    private static long layoutHash(ShardedParameters sharded) {
        StringBuilder s = new StringBuilder();
        sharded.layout().forEach(e -> s.append(e).append('\n'));
        s.append(sharded.shardSize());
        if (sharded.units().size() > 1) {   // one unit hashes as before units existed: its checkpoints still resume
            s.append('\n').append(sharded.units());
        }
        return ShardedTrainer.hash(s.toString());
    }

    /** Deletes step directories older than the newest {@code keep} (never {@code current}). */
    private static void prune(Path root, int keep, String current) throws IOException {
        List<Path> steps;
        try (Stream<Path> entries = Files.list(root)) {
            steps = entries.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p))
                    .sorted(Comparator.comparingLong(ShardedCheckpoint::stepOf)).toList();
        }
        for (int i = 0; i < steps.size() - keep; i++) {
            if (!steps.get(i).getFileName().toString().equals(current)) {
                deleteTree(steps.get(i));
            }
        }
    }

    private static long stepOf(Path dir) {
        Matcher m = STEP_DIR.matcher(dir.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}

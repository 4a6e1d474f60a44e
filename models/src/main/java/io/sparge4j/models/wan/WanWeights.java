package io.sparge4j.models.wan;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.io.TensorInfo;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Loads, checks, makes and saves the weights of a Wan2.1 transformer, keyed by the original Wan names of
 * {@link WanParameters}.
 *
 * <p>Loading reads a model directory laid out as Wan and diffusers publish it: {@code config.json} plus one
 * {@code *.safetensors} file or shards listed by an {@code *.index.json}, under original or diffusers names
 * ({@link WanNames}). Every stored name and shape is checked against the config from the headers alone, before
 * any data is read, and all problems are reported together in one {@link CheckpointMismatchException}. Data is
 * then copied tensor by tensor out of the memory-mapped files, so a shard is never read whole onto the heap.
 */
public final class WanWeights {
    /** The checkpoint file {@link #save} writes. */
    public static final String WEIGHTS_FILE = "model.safetensors";
    /** The config file of a model directory. */
    public static final String CONFIG_FILE = "config.json";

    /** The element type loaded tensors get. */
    public enum Precision {
        /** Every tensor becomes f32 (bf16 and f16 are widened exactly). */
        F32,
        /** Every tensor keeps its stored floating-point type, so a bf16 checkpoint stays bf16. */
        AS_STORED,
        /**
         * As {@link #F32}, but tensors stored in f32 are not copied: they lie in a copy-on-write mapping of the file
         * ({@link SafetensorsFile#shared}), whose pages every process that loads the same file shares until it
         * writes them (the ranks of a training job then hold one copy of the checkpoint between them, not one
         * each). The file must not be truncated while they are open.
         */
        F32_SHARED;

        /**
         * @param file a safetensors file
         * @return it open, mapped as this precision needs
         * @throws IOException if it cannot be read or breaks the format
         */
        public SafetensorsFile open(Path file) throws IOException {
            return this == F32_SHARED ? SafetensorsFile.openCopyOnWrite(file) : SafetensorsFile.open(file);
        }

        /**
         * @param file a file from {@link #open}
         * @param name a stored tensor's name
         * @return the tensor in this precision, the caller's to close
         */
        public Tensor load(SafetensorsFile file, String name) {
            DType stored = file.info(name).dtype();
            return switch (this) {
                case F32 -> file.load(name, DType.F32);
                case AS_STORED -> file.load(name, stored);
                case F32_SHARED -> stored == DType.F32 ? file.shared(name) : file.load(name, DType.F32);
            };
        }
    }

    private WanWeights() {
    }

    // ---------------------------------------------------------------- loading

    /**
     * Reads {@code dir/config.json} and the weights it calls for.
     *
     * @param dir a model directory
     * @param precision the dtype of the loaded tensors
     * @return the config, the config keys that took defaults, and the weights
     * @throws IllegalArgumentException on a bad config or missing files
     * @throws CheckpointMismatchException listing every missing, unexpected or mis-shaped tensor
     * @throws IOException if a file cannot be read
     */
    public static WanCheckpoint load(Path dir, Precision precision) throws IOException {
        if (dir == null) {
            throw new IllegalArgumentException("WanWeights.load: dir is null, expected a model directory");
        }
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new IllegalArgumentException("model directory " + dir + " has no " + CONFIG_FILE
                    + ", expected config.json next to the *.safetensors weights");
        }
        WanConfigReader.Result config = WanConfigReader.read(configFile);
        return new WanCheckpoint(config.config(), config.defaulted(), loadWeights(dir, config.config(), precision));
    }

    /**
     * Loads the weights of a model directory for a given config (its config.json is not read).
     *
     * @param dir a model directory with one *.safetensors file or an *.index.json and its shards
     * @param config the configuration the weights must match
     * @param precision the dtype of the loaded tensors
     * @return the tensors by original name, in {@link WanParameters#expected} order; owned by the caller (close
     *     them to free memory at once)
     * @throws IllegalArgumentException on missing or ambiguous files
     * @throws CheckpointMismatchException listing every missing, unexpected or mis-shaped tensor
     * @throws IOException if a file cannot be read
     */
    public static Map<String, Tensor> loadWeights(Path dir, WanConfig config, Precision precision)
            throws IOException {
        if (config == null || precision == null) {
            throw new IllegalArgumentException("WanWeights.loadWeights: config is " + config + " and precision is "
                    + precision + ", expected both non-null");
        }
        CheckpointFiles files = CheckpointFiles.locate(dir);
        List<SafetensorsFile> open = new ArrayList<>();
        try {
            Map<Path, SafetensorsFile> byPath = new LinkedHashMap<>();
            for (Path p : files.files()) {
                SafetensorsFile f = precision.open(p);
                open.add(f);
                byPath.put(p, f);
            }
            Map<String, Stored> stored = plan(files, byPath, config);
            Map<String, Tensor> out = new LinkedHashMap<>();
            try {
                for (Map.Entry<String, Stored> e : stored.entrySet()) {
                    Stored s = e.getValue();
                    out.put(e.getKey(), precision.load(s.file(), s.info().name()));
                }
            } catch (RuntimeException | Error e) {
                out.values().forEach(Tensor::close);
                throw e;
            }
            return Collections.unmodifiableMap(out);
        } finally {
            open.forEach(SafetensorsFile::close);
        }
    }

    /** A stored tensor: the file it is in and its header entry. */
    private record Stored(SafetensorsFile file, TensorInfo info) {
    }

    /**
     * Maps every expected original name to its stored tensor, checking names, shapes and dtypes from the headers.
     */
    private static Map<String, Stored> plan(CheckpointFiles files, Map<Path, SafetensorsFile> byPath,
            WanConfig config) {
        List<String> other = new ArrayList<>();
        Map<String, Stored> found = new LinkedHashMap<>();
        Map<String, String> storedNameOf = new LinkedHashMap<>();
        if (files.index() == null) {
            SafetensorsFile f = byPath.get(files.files().get(0));
            for (String name : f.names()) {
                put(found, storedNameOf, other, name, new Stored(f, f.info(name)));
            }
        } else {
            for (Map.Entry<String, Path> e : files.shardOf().entrySet()) {
                SafetensorsFile f = byPath.get(e.getValue());
                if (!f.contains(e.getKey())) {
                    other.add("'" + e.getKey() + "' is listed in " + files.index().getFileName() + " under "
                            + e.getValue().getFileName() + ", but that file has no such tensor");
                    continue;
                }
                put(found, storedNameOf, other, e.getKey(), new Stored(f, f.info(e.getKey())));
            }
        }
        Map<String, int[]> expected = WanParameters.expected(config);
        List<String> missing = new ArrayList<>();
        List<String> misshaped = new ArrayList<>();
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            Stored s = found.get(e.getKey());
            if (s == null) {
                missing.add(e.getKey() + " " + Arrays.toString(e.getValue()));
            } else if (!Arrays.equals(s.info().shape(), e.getValue())) {
                misshaped.add(e.getKey() + storedAs(e.getKey(), storedNameOf) + " expected "
                        + Arrays.toString(e.getValue()) + ", got " + Arrays.toString(s.info().shape()));
            } else if (!s.info().dtype().isFloatingPoint()) {
                other.add(e.getKey() + storedAs(e.getKey(), storedNameOf) + " has dtype " + s.info().dtype()
                        + ", expected f32, bf16 or f16");
            }
        }
        if (found.containsKey("norm_out.linear.bias") && !found.containsKey("head.modulation")) {
            // Recent diffusers turns scale_shift_table into norm_out.linear when it loads a model, so a checkpoint
            // it re-saved holds the head's modulation in another form.
            other.add("norm_out.linear.* is diffusers' in-memory form of the head modulation; expected the"
                    + " published layout, which stores it as scale_shift_table (1, 2, dim)");
        }
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, Stored> e : found.entrySet()) {
            if (!expected.containsKey(e.getKey())) {
                unexpected.add(e.getKey() + storedAs(e.getKey(), storedNameOf) + " "
                        + Arrays.toString(e.getValue().info().shape()));
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misshaped.isEmpty() || !other.isEmpty()) {
            throw new CheckpointMismatchException("checkpoint " + (files.index() != null ? files.index()
                    : files.files().get(0)) + " does not match " + describe(config), missing, unexpected, misshaped,
                    other);
        }
        Map<String, Stored> ordered = new LinkedHashMap<>();
        for (String name : expected.keySet()) {
            ordered.put(name, found.get(name));
        }
        return ordered;
    }

    private static void put(Map<String, Stored> found, Map<String, String> storedNameOf, List<String> other,
            String storedName, Stored s) {
        String original = WanNames.toOriginal(storedName);
        String previous = storedNameOf.putIfAbsent(original, storedName);
        if (previous != null) {
            other.add("'" + storedName + "' and '" + previous + "' both name " + original
                    + ", expected each parameter once");
            return;
        }
        found.put(original, s);
    }

    private static String storedAs(String original, Map<String, String> storedNameOf) {
        String stored = storedNameOf.get(original);
        return stored == null || stored.equals(original) ? "" : " (stored as '" + stored + "')";
    }

    /** @return e.g. {@code config dim=64 heads=4 layers=2 in=4 out=4 ffn=128 text_dim=32 ...} */
    private static String describe(WanConfig c) {
        return "config dim=" + c.dim() + " ffn_dim=" + c.ffnDim() + " num_heads=" + c.numHeads() + " num_layers="
                + c.numLayers() + " in_dim=" + c.inDim() + " out_dim=" + c.outDim() + " text_dim=" + c.textDim()
                + " freq_dim=" + c.freqDim() + " patch_size=" + WanConfigReader.tuple(c.patchSize()) + " qk_norm="
                + c.qkNorm() + " cross_attn_norm=" + c.crossAttnNorm();
    }

    /**
     * Checks in-memory weights against a config: exactly the expected names, each with its expected shape and a
     * floating-point dtype.
     *
     * @param config the configuration
     * @param weights tensors by original name
     * @throws CheckpointMismatchException listing every offending name
     */
    public static void check(WanConfig config, Map<String, Tensor> weights) {
        Map<String, int[]> expected = WanParameters.expected(config);
        List<String> missing = new ArrayList<>();
        List<String> misshaped = new ArrayList<>();
        List<String> other = new ArrayList<>();
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            Tensor t = weights.get(e.getKey());
            if (t == null) {
                missing.add(e.getKey() + " " + Arrays.toString(e.getValue()));
            } else if (!Arrays.equals(t.shape(), e.getValue())) {
                misshaped.add(e.getKey() + " expected " + Arrays.toString(e.getValue()) + ", got "
                        + Arrays.toString(t.shape()));
            } else if (!t.dtype().isFloatingPoint()) {
                other.add(e.getKey() + " has dtype " + t.dtype() + ", expected f32, bf16 or f16");
            }
        }
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : weights.entrySet()) {
            if (!expected.containsKey(e.getKey())) {
                unexpected.add(e.getKey() + (e.getValue() == null ? " null" : " " + Arrays.toString(e.getValue().shape())));
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misshaped.isEmpty() || !other.isEmpty()) {
            throw new CheckpointMismatchException("weights do not match " + describe(config), missing, unexpected,
                    misshaped, other);
        }
    }

    // ---------------------------------------------------------------- random weights

    /**
     * Random f32 weights for tests, tools and benchmarks, at scales that keep a forward pass finite and non-trivial:
     * linear and patch-embedding weights uniform in +-1/sqrt(fan_in), biases uniform in +-0.05, norm weights
     * uniform in 1 +- 0.1 and norm biases in +-0.05, modulations normal / sqrt(dim) as the reference initialises
     * them. (The reference zero-initialises {@code head.head.weight}; here it is random so that outputs depend on
     * every block.) Each tensor draws from its own generator split in order from one seeded with {@code seed}, so
     * the result depends only on the seed and the config, and tensors are filled in parallel.
     *
     * @param config the configuration
     * @param seed the seed
     * @return tensors by original name, in {@link WanParameters#expected} order, unmodifiable
     */
    public static Map<String, Tensor> randomInit(WanConfig config, long seed) {
        return randomInit(config, seed, DType.F32);
    }

    /**
     * {@link #randomInit(WanConfig, long)}'s values stored as {@code dtype}: f32, or bf16/f16 rounded from them (as
     * Wan's released checkpoints are stored in bf16: half the memory, so a 14B model's 57 GB of f32 becomes 28 GB).
     * Only one tensor's f32 values are alive at a time per thread.
     *
     * @param config the configuration
     * @param seed the seed
     * @param dtype f32, bf16 or f16
     * @return tensors by original name, in {@link WanParameters#expected} order, unmodifiable
     * @throws IllegalArgumentException if dtype is not a floating-point type
     */
    public static Map<String, Tensor> randomInit(WanConfig config, long seed, DType dtype) {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("WanWeights.randomInit: dtype is " + dtype
                    + ", expected f32, bf16 or f16");
        }
        Map<String, int[]> expected = WanParameters.expected(config);
        List<String> names = new ArrayList<>(expected.keySet());
        SplittableRandom master = new SplittableRandom(seed);
        List<SplittableRandom> rngs = new ArrayList<>(names.size());
        for (int i = 0; i < names.size(); i++) {
            rngs.add(master.split());
        }
        Tensor[] filled = new Tensor[names.size()];
        try {
            IntStream.range(0, names.size()).parallel().forEach(i -> {
                String name = names.get(i);
                Tensor f32 = Tensor.allocate(DType.F32, expected.get(name));
                fill(f32, name, expected.get(name), config.dim(), rngs.get(i));
                if (dtype == DType.F32) {
                    filled[i] = f32;
                } else {
                    try (f32) {
                        filled[i] = f32.to(dtype);
                    }
                }
            });
        } catch (RuntimeException | Error e) {
            for (Tensor t : filled) {
                if (t != null) {
                    t.close();
                }
            }
            throw e;
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            out.put(names.get(i), filled[i]);
        }
        return Collections.unmodifiableMap(out);
    }

    private static void fill(Tensor t, String name, int[] shape, int dim, SplittableRandom rng) {
        MemorySegment seg = t.segment();
        long n = t.numel();
        if (name.endsWith("modulation")) {
            double s = 1 / Math.sqrt(dim);
            for (long i = 0; i < n; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rng.nextGaussian() * s));
            }
            return;
        }
        boolean norm = name.contains("norm");
        double lo;
        double hi;
        if (norm && name.endsWith(".weight")) {
            lo = 0.9;
            hi = 1.1;
        } else if (name.endsWith(".bias")) {
            lo = -0.05;
            hi = 0.05;
        } else {
            long fanIn = 1;
            for (int d = 1; d < shape.length; d++) {
                fanIn *= shape[d];
            }
            hi = 1 / Math.sqrt(fanIn);
            lo = -hi;
        }
        for (long i = 0; i < n; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextDouble(lo, hi));
        }
    }

    // ---------------------------------------------------------------- saving

    /**
     * Writes a model directory that {@link #load} reads back bit for bit: {@code model.safetensors} (tensors in
     * their own dtypes, original names) and then {@code config.json}, each atomically (a temporary file renamed
     * into place), so a reader never sees a half-written file. The weights are checked first; nothing is written
     * if they do not match the config.
     *
     * @param dir the model directory (created if absent)
     * @param config the configuration
     * @param weights tensors by original name
     * @throws CheckpointMismatchException if the weights do not match the config
     * @throws IllegalArgumentException if {@code dir} already holds other weight files, which would make the
     *     directory ambiguous to load
     * @throws IOException if a file cannot be written
     */
    public static void save(Path dir, WanConfig config, Map<String, Tensor> weights) throws IOException {
        if (dir == null || config == null || weights == null) {
            throw new IllegalArgumentException("WanWeights.save: dir, config and weights are " + dir + ", " + config
                    + ", " + (weights == null ? null : weights.size() + " tensors") + "; expected all non-null");
        }
        check(config, weights);
        Files.createDirectories(dir);
        try (Stream<Path> s = Files.list(dir)) {
            List<String> others = s.map(p -> p.getFileName().toString())
                    .filter(f -> !f.startsWith(".") && (f.endsWith(".safetensors") || f.endsWith(".index.json")))
                    .filter(f -> !f.equals(WEIGHTS_FILE))
                    .sorted()
                    .toList();
            if (!others.isEmpty()) {
                throw new IllegalArgumentException("WanWeights.save: " + dir + " already holds " + others
                        + ", expected a directory with no weight files other than " + WEIGHTS_FILE);
            }
        }
        Safetensors.write(dir.resolve(WEIGHTS_FILE), weights, Map.of("format", "pt"));
        writeAtomically(dir.resolve(CONFIG_FILE), WanConfigReader.toJson(config));
    }

    private static void writeAtomically(Path target, String text) throws IOException {
        Path abs = target.toAbsolutePath();
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "."
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }
}

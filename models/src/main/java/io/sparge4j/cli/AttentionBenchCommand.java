package io.sparge4j.cli;

import io.sparge4j.engine.bench.AttentionBench;
import io.sparge4j.engine.bench.BenchShape;
import io.sparge4j.engine.bench.GpuAttentionBench;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code sparge attention-bench}: dense against block-sparse attention, forward and backward (engine's AttentionBench). */
@Command(name = "attention-bench",
        description = {"Times dense and block-sparse attention, forward and backward (medians after a warm-up), the"
                + " mask builder, and checks the sparse output against float64 masked attention on sampled rows."
                + " Inputs are seeded random q and k sharing a smooth low-rank component, so the pooled map has"
                + " structure. --target-sparsity S keeps --topk and calibrates p on these inputs."})
public final class AttentionBenchCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--backend", paramLabel = "cpu|cuda|opencl",
            description = "Where to run (default cpu; SPARGE_BACKEND is not read, so a CPU run never moves to a GPU"
                    + " unasked). cuda and opencl run the device kernels through the TaskGraph API (f32, bf16 or f16)"
                    + " with 128 x 64 blocks and d 64 or 128; their times are device times (the sum of each graph's"
                    + " kernel times).")
    private String backend;

    @Option(names = "--device", paramLabel = "SEL", description = "CUDA ordinal, or OpenCL P:D, index or name part"
            + " (or SPARGE_DEVICE).")
    private String device;

    @Option(names = "--shape", paramLabel = "SHAPE", defaultValue = "cpu-s",
            description = "cpu-s (1,4,4096,64), wan13b-480p, wan14b-720p, or B,H,N,d (default ${DEFAULT-VALUE}).")
    private String shape;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "hybrid",
            description = "dense, topk, topp or hybrid (default ${DEFAULT-VALUE}).")
    private String mode;

    @Option(names = "--topk", paramLabel = "K", defaultValue = "0.03",
            description = "Top-k fraction in (0, 1] (default ${DEFAULT-VALUE}).")
    private double topk;

    @Option(names = "--topp", paramLabel = "P", defaultValue = "0.2",
            description = "Top-p threshold in (0, 1] (default ${DEFAULT-VALUE}; unused with --target-sparsity).")
    private double topp;

    @Option(names = "--target-sparsity", paramLabel = "S",
            description = "Keep --topk and calibrate p on the benchmark's inputs to this sparsity, in [0, 1).")
    private Double targetSparsity;

    @Option(names = "--bq", paramLabel = "N", defaultValue = "128", description = "Query block size (default ${DEFAULT-VALUE}).")
    private int queryBlock;

    @Option(names = "--bkv", paramLabel = "N", defaultValue = "64", description = "Key block size (default ${DEFAULT-VALUE}).")
    private int keyBlock;

    @Option(names = "--dtype", paramLabel = "f32|bf16|f16", defaultValue = "f32",
            description = "Input dtype (default ${DEFAULT-VALUE}). On cuda and opencl, bf16 and f16 run the tensor-core"
                    + " forward and backward (f32 outputs and gradients; the mask pools the 16-bit q and k"
                    + " directly).")
    private String dtype;

    @Option(names = "--warmup", paramLabel = "N", description = "Untimed rounds first (default 20; --quick: 0).")
    private Integer warmup;

    @Option(names = "--reps", paramLabel = "N", description = "Timed rounds; times are medians (default 7; --quick: 1).")
    private Integer reps;

    @Option(names = "--rows", paramLabel = "N", description = "Rows per head checked against float64 for max_rel_err"
            + " (default 64; --quick: 16).")
    private Integer rows;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Input seed (default ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--quick", description = "A quick run for tests: shape 1,2,512,64 unless --shape is given, no"
            + " warm-up, one round.")
    private boolean quick;

    @Option(names = "--json", description = "Print one JSON line.")
    private boolean json;

    @Option(names = "--write-mask", paramLabel = "FILE",
            description = "Also write the block mask the sparse runs used, as 'sparge mask' does: tensor 'mask' (u8,"
                    + " shape (B,H,nq,nk), 1 = kept) with its settings as metadata (replaced atomically), so that"
                    + " another tool can run the very same mask.")
    private Path writeMask;

    private final Map<String, String> env;

    /** @param env the environment (SPARGE_DEVICE; SPARGE_BACKEND is deliberately not read) */
    public AttentionBenchCommand(Map<String, String> env) {
        this.env = env;
    }

    /** Picocli creates it; reads the process environment. */
    public AttentionBenchCommand() {
        this(System.getenv());
    }

    @Override
    public Integer call() throws IOException {
        BackendSelection selection = selection();
        AttentionBench.Settings settings = settings(selection == null ? "cpu" : selection.backend());
        checkMaskTarget();
        BlockMask[] used = new BlockMask[1];
        AttentionBench.Result result;
        if (selection == null) {
            result = AttentionBench.run(settings, mask -> used[0] = mask);
        } else {
            try {
                result = GpuAttentionBench.run(settings, selection, mask -> used[0] = mask);
            } catch (IllegalArgumentException e) {
                throw usage(e.getMessage());
            } catch (BackendException e) {
                // No driver, no device, or a selector matching none: the user's choice of --backend/--device.
                throw new ParameterException(spec.commandLine(), "Invalid value for option '--backend': "
                        + selection.backend() + (selection.device() == null ? "" : " --device " + selection.device())
                        + " cannot be opened: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        if (writeMask != null) {
            writeMask(used[0], settings, result);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (result.calibrationNote() != null) {
            PrintWriter err = spec.commandLine().getErr();
            err.println("sparge: " + result.calibrationNote());
            err.flush();
        }
        out.print(json ? result.toJson() + System.lineSeparator() : result.toTable());
        out.flush();
        return 0;
    }

    /**
     * Fails before the benchmark (which may take minutes) when --write-mask's directory does not exist. An I/O error,
     * exit 1, as with the other commands' output files.
     */
    private void checkMaskTarget() throws IOException {
        if (writeMask == null) {
            return;
        }
        Path dir = writeMask.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IOException("--write-mask: cannot write " + writeMask + ": directory " + dir
                    + " does not exist; expected a file in an existing directory");
        }
    }

    /** Writes the mask in the format of {@code sparge mask --out}; p is the one the run used (calibrated or given). */
    private void writeMask(BlockMask mask, AttentionBench.Settings settings, AttentionBench.Result result)
            throws IOException {
        if (mask == null) {
            throw new IllegalStateException("--write-mask: the benchmark reported no mask; nothing written");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "sparge4j block mask (B,H,nq,nk), 1 = kept");
        metadata.put("mode", settings.mode().toString());
        metadata.put("topk", Double.toString(settings.topk()));
        metadata.put("topp", Double.toString(result.p() != null ? result.p() : settings.topp()));
        metadata.put("bq", Integer.toString(settings.queryBlock()));
        metadata.put("bkv", Integer.toString(settings.keyBlock()));
        try (Tensor t = mask.toTensor()) {
            Safetensors.write(writeMask, Map.of("mask", t), metadata);
        } catch (IOException e) {
            throw new IOException("--write-mask: cannot write " + writeMask + ": " + e, e);
        }
    }

    /**
     * @return the device to open for cuda or opencl (--device, else SPARGE_DEVICE); null for the CPU, which
     *     {@link BackendSelection} would call the emulator
     */
    private BackendSelection selection() {
        try {
            String name = backend == null ? "cpu" : backend;
            AttentionBench.checkBackend(name);
            return name.equals("cpu") ? null : BackendSelection.parse(name, device, env);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    private AttentionBench.Settings settings(String backend) {
        try {
            AttentionBench.Settings base = quick ? AttentionBench.Settings.quick() : AttentionBench.Settings.cpuS();
            boolean shapeGiven = spec.commandLine().getParseResult().hasMatchedOption("--shape");
            BenchShape benchShape = quick && !shapeGiven ? base.shape() : BenchShape.parse(shape);
            MaskMode m = SparseFlags.parseMode(spec, mode,
                    EnumSet.of(MaskMode.DENSE, MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID));
            return new AttentionBench.Settings(backend, benchShape, m, topk, topp,
                    targetSparsity == null ? Double.NaN : targetSparsity, queryBlock, keyBlock, DType.parse(dtype),
                    warmup == null ? base.warmup() : warmup, reps == null ? base.reps() : reps, seed,
                    rows == null ? base.sampledRows() : rows);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    /** Turns "field: got x, expected y" from the engine into the CLI's "Invalid value for option '--field': ...". */
    private ParameterException usage(String message) {
        int colon = message.indexOf(": ");
        if (colon > 0) {
            String field = message.substring(0, colon);
            String option = switch (field) {
                case "backend", "shape", "mode", "topk", "topp", "target-sparsity", "bq", "bkv", "dtype", "warmup",
                     "reps", "rows" -> "--" + field;
                case "sampled rows" -> "--rows";
                default -> null;
            };
            if (option != null) {
                return new ParameterException(spec.commandLine(), "Invalid value for option '" + option + "': "
                        + message.substring(colon + 2));
            }
        }
        return new ParameterException(spec.commandLine(), message);
    }
}

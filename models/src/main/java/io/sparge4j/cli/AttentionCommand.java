package io.sparge4j.cli;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code sparge attention}: block-sparse (or dense) attention on q, k, v files, for checks against other tools. */
@Command(name = "attention",
        description = {"Runs SpargeAttention2 on tensors q, k, v (B,H,N,d; f32, f16 or bf16): builds the block mask"
                + " (or reads one with --mode mask --mask FILE) and computes attention over the kept blocks only."
                + " Writes tensors 'o' (f32, q's shape) and 'lse' (f32, (B,H,N), natural-log logsumexp over the kept"
                + " keys) and prints the mask statistics as JSON."})
public final class AttentionCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--q", paramLabel = "FILE", required = true, description = "Safetensors file with tensor 'q'.")
    private Path qFile;

    @Option(names = "--k", paramLabel = "FILE", required = true, description = "Safetensors file with tensor 'k'.")
    private Path kFile;

    @Option(names = "--v", paramLabel = "FILE", required = true, description = "Safetensors file with tensor 'v'.")
    private Path vFile;

    @Option(names = "--mask", paramLabel = "FILE",
            description = "With --mode mask: a safetensors file with tensor 'mask' (u8 or bool, (B,H,nq,nk)).")
    private Path maskFile;

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = "Where to write tensors 'o' and 'lse' (replaced atomically).")
    private Path out;

    @Mixin
    private SparseFlags flags;

    /** Picocli creates it. */
    public AttentionCommand() {
    }

    @Override
    public Integer call() throws Exception {
        SparseAttention.Config config = flags.config(spec, EnumSet.allOf(MaskMode.class));
        boolean maskMode = "mask".equalsIgnoreCase(flags.mode.trim());
        if (maskMode && maskFile == null) {
            throw new ParameterException(spec.commandLine(), "Missing option '--mask': --mode mask needs a block mask"
                    + " file (tensor 'mask', u8 or bool, shape (B,H,nq,nk))");
        }
        if (!maskMode && maskFile != null) {
            throw new ParameterException(spec.commandLine(), "Option '--mask' is only used with --mode mask, got --mode "
                    + flags.mode);
        }
        String layout = QkvShapes.layoutName(config.layout());
        try (Tensor q = TensorFiles.loadFloat4("--q", qFile, "q", layout);
             Tensor k = TensorFiles.loadFloat4("--k", kFile, "k", layout);
             Tensor v = TensorFiles.loadFloat4("--v", vFile, "v", layout)) {
            QkvShapes shapes = QkvShapes.of(q, k, v, config.layout());
            Tensor mask = null;
            try {
                if (maskMode) {
                    int[] expected = shapes.maskShape(config.queryBlock(), config.keyBlock());
                    mask = TensorFiles.loadMask("--mask", maskFile, expected, "for B=" + shapes.batch() + " H="
                            + shapes.heads() + " Nq=" + shapes.queries() + " Nk=" + shapes.keys() + " with --bq "
                            + config.queryBlock() + " --bkv " + config.keyBlock());
                    config = config.withMask(mask);
                }
                long start = System.nanoTime();
                try (SparseAttention.Result r = SparseAttention.forward(q, k, v, config)) {
                    double ms = (System.nanoTime() - start) / 1e6;
                    Map<String, Tensor> tensors = new LinkedHashMap<>();
                    tensors.put("o", r.out());
                    tensors.put("lse", r.logsumexp());
                    Safetensors.write(out, tensors, Map.of("format", "sparge4j attention output",
                            "mode", config.mode().toString()));
                    Map<String, Object> json = new LinkedHashMap<>();
                    json.put("shape", Arrays.toString(q.shape()));
                    json.put("layout", config.layout().toString().toLowerCase(java.util.Locale.ROOT));
                    json.putAll(MaskJson.statistics(config, r.selection().mask(), r.statistics()));
                    json.put("time_ms", ms);
                    json.put("out", out.toString());
                    PrintWriter w = spec.commandLine().getOut();
                    w.println(MaskJson.write(json));
                    w.flush();
                }
            } finally {
                if (mask != null) {
                    mask.close();
                }
            }
        }
        return 0;
    }
}

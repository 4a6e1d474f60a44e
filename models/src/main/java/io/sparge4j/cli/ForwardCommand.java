package io.sparge4j.cli;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanCheckpoint;
import io.sparge4j.models.wan.WanTransformer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code sparge forward}: one forward pass of a Wan DiT, for checks against the reference implementation. */
@Command(name = "forward",
        description = {"Runs one Wan2.1 DiT forward pass: latents x (C,F,H,W), timestep T on the 0-1000 scale, text"
                + " features context (L,text_dim), all unbatched; writes the predicted velocity as tensor 'v'"
                + " (C,F,H,W)."})
public final class ForwardCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--model", paramLabel = "DIR|tiny-random|random:PRESET", required = true,
            description = "A model directory (config.json and safetensors), tiny-random, or random:wan-1.3b|"
                    + "random:wan-14b|random:tiny-4096 (that model's shapes with seeded random weights).")
    private String model;

    @Option(names = "--latents", paramLabel = "FILE", required = true,
            description = "Safetensors file with tensor 'x' (C,F,H,W).")
    private Path latents;

    @Option(names = "--timestep", paramLabel = "T", required = true, description = "Timestep on the 0-1000 scale.")
    private double timestep;

    @Option(names = "--text-embeddings", paramLabel = "FILE", required = true,
            description = "Safetensors file with tensor 'context' (L,text_dim).")
    private Path text;

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = "Where to write tensor 'v' (replaced atomically).")
    private Path out;

    @Mixin
    private WanAttentionFlags attention;

    @Mixin
    private ModelBackendFlags backend;

    /** Picocli creates it. */
    public ForwardCommand() {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        try (WanCheckpoint checkpoint = ModelSource.load("--model", model, w, backend.loadPrecision());
             Tensor x = TensorFiles.loadFloat("--latents", latents, "x", 4, "(C,F,H,W)");
             Tensor context = TensorFiles.loadFloat("--text-embeddings", text, "context", 2, "(L,text_dim)")) {
            try (WanTransformer wan = backend.open(checkpoint.config(), checkpoint.weights(), attention.settings())) {
                long start = System.nanoTime();
                try (Tensor v = wan.forward(x, timestep, context)) {
                    double seconds = (System.nanoTime() - start) / 1e9;
                    Safetensors.write(out, Map.of("v", v));
                    w.printf(Locale.ROOT, "wrote %s: v %s in %.2f s, self-attention sparsity %.3f%n", out,
                            java.util.Arrays.toString(v.shape()), seconds, wan.stats().meanSparsity());
                }
            }
        }
        w.flush();
        return 0;
    }
}

package io.sparge4j.cli;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code sparge mask}: builds SpargeAttention2's block mask from q and k files, for checks against other tools. */
@Command(name = "mask",
        description = {"Builds the block mask from tensors q and k (B,H,N,d; f32, f16 or bf16): mean-pools query and key"
                + " blocks, takes the pooled softmax and keeps Top-k, Top-p or both (hybrid). Writes tensor 'mask'"
                + " (u8, shape (B,H,nq,nk), 1 = kept) and prints the mask statistics as JSON."})
public final class MaskCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--q", paramLabel = "FILE", required = true, description = "Safetensors file with tensor 'q'.")
    private Path qFile;

    @Option(names = "--k", paramLabel = "FILE", required = true, description = "Safetensors file with tensor 'k'.")
    private Path kFile;

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = "Where to write tensor 'mask' (replaced atomically).")
    private Path out;

    @Mixin
    private SparseFlags flags;

    /** Picocli creates it. */
    public MaskCommand() {
    }

    @Override
    public Integer call() throws Exception {
        SparseAttention.Config config = flags.config(spec,
                EnumSet.of(MaskMode.DENSE, MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID));
        String layout = QkvShapes.layoutName(config.layout());
        try (Tensor q = TensorFiles.loadFloat4("--q", qFile, "q", layout);
             Tensor k = TensorFiles.loadFloat4("--k", kFile, "k", layout)) {
            QkvShapes.of(q, k, null, config.layout());
            SparseAttention.Selection selection = SparseAttention.selectBlocks(q, k, config);
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put("format", "sparge4j block mask (B,H,nq,nk), 1 = kept");
            metadata.put("mode", config.mode().toString());
            metadata.put("topk", Double.toString(config.topk()));
            metadata.put("topp", Double.toString(config.topp()));
            metadata.put("bq", Integer.toString(config.queryBlock()));
            metadata.put("bkv", Integer.toString(config.keyBlock()));
            try (Tensor mask = selection.mask().toTensor()) {
                Safetensors.write(out, Map.of("mask", mask), metadata);
            }
            Map<String, Object> json = MaskJson.statistics(config, selection.mask(), selection.statistics());
            json.put("out", out.toString());
            PrintWriter w = spec.commandLine().getOut();
            w.println(MaskJson.write(json));
            w.flush();
        }
        return 0;
    }
}

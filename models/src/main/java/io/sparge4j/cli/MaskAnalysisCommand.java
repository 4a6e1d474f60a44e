package io.sparge4j.cli;

import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.sparse.analysis.Heatmaps;
import io.sparge4j.engine.sparse.analysis.MaskStudy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge mask-analysis}: the paper's Case 1 study (Table 1). On a flat attention map and on a sink-dominated
 * one, Top-k, Top-p and hybrid masks at equal sparsity, compared by the relative L1 error of the attention output.
 */
@Command(name = "mask-analysis",
        description = {"Rebuilds the paper's Case 1 study: a flat attention map and a sink-dominated one; Top-k, Top-p"
                + " and hybrid masks at equal sparsity; the relative L1 error of each against dense attention, next to"
                + " the paper's Table 1. The finding to check: hybrid stays close to the better single rule on both"
                + " maps. --png DIR draws each map's pooled attention and the three masks side by side."})
public final class MaskAnalysisCommand implements Callable<Integer> {
    /** The paper's Table 1: relative L1 error of top-k, top-p and hybrid, per case. */
    static final Map<MaskStudy.Case, double[]> PAPER = Map.of(
            MaskStudy.Case.FLAT, new double[] {0.4150, 0.3726, 0.3707},
            MaskStudy.Case.SINK, new double[] {0.1664, 0.2160, 0.1671});

    /** MaskStudy picks 8 distinct key blocks besides block 0 per row, so it needs at least 9. */
    static final int MIN_KEY_BLOCKS = 9;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--json", description = "Print the same as JSON.")
    private boolean json;

    @Option(names = "--png", paramLabel = "DIR",
            description = "Write <case>-pooled.png and <case>-masks.png (top-k, top-p, hybrid) per case into DIR.")
    private Path pngDir;

    @Option(names = "--tokens", paramLabel = "N", defaultValue = "2048",
            description = "Sequence length, a multiple of --bq and --bkv (default ${DEFAULT-VALUE}).")
    private int tokens;

    @Option(names = "--target-sparsity", paramLabel = "S", defaultValue = "0.875",
            description = "The common sparsity of the three rules, in (0, 1) (default ${DEFAULT-VALUE}).")
    private double targetSparsity;

    @Option(names = "--bq", paramLabel = "N", defaultValue = "128", description = "Query block size (default ${DEFAULT-VALUE}).")
    private int queryBlock;

    @Option(names = "--bkv", paramLabel = "N", defaultValue = "64", description = "Key block size (default ${DEFAULT-VALUE}).")
    private int keyBlock;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Input generator seed (default ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--tolerance", paramLabel = "X", defaultValue = "0.1",
            description = "Hybrid counts as close when its error is at most (1 + X) times the better single rule's"
                    + " (default ${DEFAULT-VALUE}).")
    private double tolerance;

    /** Picocli creates it. */
    public MaskAnalysisCommand() {
    }

    /** One case's outcome, with the verdict on hybrid. */
    private record CaseResult(MaskStudy.Case c, List<MaskStudy.Row> rows, MaskMode better, double gap, boolean close) {
    }

    @Override
    public Integer call() throws Exception {
        validate();
        int headDim = Math.max(64, tokens / keyBlock);
        MaskStudy study = new MaskStudy(tokens, headDim, queryBlock, keyBlock, targetSparsity, seed);
        List<CaseResult> results = new ArrayList<>();
        for (MaskStudy.Case c : MaskStudy.Case.values()) {
            results.add(judge(c, study.run(c)));
        }
        List<String> pngs = pngDir == null ? List.of() : writePngs(study);
        int nk = tokens / keyBlock;
        int kept = Math.max(1, (int) Math.round((1 - targetSparsity) * nk));
        String equal = String.format(Locale.ROOT, "equal sparsity: every rule keeps %d of %d key blocks per row on"
                + " average (round((1 - %s) * nk)); top-k takes k = %d/%d, top-p's p is calibrated by bisection to that"
                + " sparsity, hybrid gives 60%% of the budget to k and calibrates p for the rest", kept, nk,
                fmt(targetSparsity), kept, nk);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(MaskJson.write(toJson(headDim, equal, results, pngs)));
        } else {
            printTable(out, headDim, equal, results, pngs);
        }
        out.flush();
        return 0;
    }

    private void validate() {
        SparseFlags.checkBlock(spec, "--bq", queryBlock);
        SparseFlags.checkBlock(spec, "--bkv", keyBlock);
        if (tokens <= 0 || tokens % queryBlock != 0 || tokens % keyBlock != 0) {
            throw SparseFlags.invalid(spec, "--tokens", String.valueOf(tokens), "a positive multiple of --bq "
                    + queryBlock + " and --bkv " + keyBlock);
        }
        if (tokens / keyBlock < MIN_KEY_BLOCKS) {
            // The study's flat rows spread their mass over 8 blocks besides the sink block 0.
            throw SparseFlags.invalid(spec, "--tokens", String.valueOf(tokens), "at least " + MIN_KEY_BLOCKS
                    + " key blocks, i.e. --tokens >= " + MIN_KEY_BLOCKS * keyBlock + " with --bkv " + keyBlock);
        }
        if (!(targetSparsity > 0 && targetSparsity < 1)) {
            throw SparseFlags.invalid(spec, "--target-sparsity", String.valueOf(targetSparsity), "a fraction in (0, 1)");
        }
        if (!(tolerance >= 0 && Double.isFinite(tolerance))) {
            throw SparseFlags.invalid(spec, "--tolerance", String.valueOf(tolerance), "a finite number >= 0");
        }
    }

    private CaseResult judge(MaskStudy.Case c, List<MaskStudy.Row> rows) {
        MaskStudy.Row topk = find(rows, MaskMode.TOPK);
        MaskStudy.Row topp = find(rows, MaskMode.TOPP);
        MaskStudy.Row hybrid = find(rows, MaskMode.HYBRID);
        MaskStudy.Row better = topk.relativeL1() <= topp.relativeL1() ? topk : topp;
        double gap = (hybrid.relativeL1() - better.relativeL1()) / better.relativeL1();
        return new CaseResult(c, rows, better.mode(), gap, gap <= tolerance);
    }

    private static MaskStudy.Row find(List<MaskStudy.Row> rows, MaskMode mode) {
        return rows.stream().filter(r -> r.mode() == mode).findFirst()
                .orElseThrow(() -> new IllegalStateException("mask study returned no " + mode + " row"));
    }

    private List<String> writePngs(MaskStudy study) throws IOException {
        List<String> files = new ArrayList<>();
        int cell = Math.max(2, Math.min(16, 512 / (tokens / keyBlock)));
        for (MaskStudy.Case c : MaskStudy.Case.values()) {
            MaskStudy.Inputs in = study.inputs(c);
            try {
                PooledAttentionMap map = study.pooledMap(in);
                List<BlockMask> masks = study.equalSparsityMasks(map).stream().map(MaskStudy.Selection::mask).toList();
                String name = c.name().toLowerCase(Locale.ROOT);
                Path pooled = pngDir.resolve(name + "-pooled.png");
                Path maskPng = pngDir.resolve(name + "-masks.png");
                Heatmaps.writePooledMap(map, 0, 0, cell, pooled);
                Heatmaps.writeMasks(masks, 0, 0, cell, maskPng);
                files.add(pooled.toString());
                files.add(maskPng.toString());
            } finally {
                in.q().close();
                in.k().close();
                in.v().close();
            }
        }
        return files;
    }

    private Map<String, Object> toJson(int headDim, String equal, List<CaseResult> results, List<String> pngs) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("tokens", tokens);
        root.put("head_dim", headDim);
        root.put("bq", queryBlock);
        root.put("bkv", keyBlock);
        root.put("target_sparsity", targetSparsity);
        root.put("seed", seed);
        root.put("equal_sparsity", equal);
        root.put("tolerance", tolerance);
        List<Object> cases = new ArrayList<>();
        for (CaseResult r : results) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("case", r.c().name().toLowerCase(Locale.ROOT));
            List<Object> rows = new ArrayList<>();
            for (MaskStudy.Row row : r.rows()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("rule", row.mode().toString());
                m.put("k", Double.isNaN(row.k()) ? null : row.k());
                m.put("p", Double.isNaN(row.p()) ? null : row.p());
                m.put("sparsity", row.sparsity());
                m.put("relative_l1", row.relativeL1());
                m.put("paper_relative_l1", paper(r.c(), row.mode()));
                rows.add(m);
            }
            c.put("rows", rows);
            c.put("better_single_rule", r.better().toString());
            c.put("hybrid_gap", r.gap());
            c.put("hybrid_close", r.close());
            cases.add(c);
        }
        root.put("cases", cases);
        root.put("png", pngs);
        return root;
    }

    private void printTable(PrintWriter out, int headDim, String equal, List<CaseResult> results, List<String> pngs) {
        out.printf(Locale.ROOT, "Case 1 study (paper Table 1): N=%d, d=%d, blocks %dx%d, target sparsity %s, seed %d%n",
                tokens, headDim, queryBlock, keyBlock, fmt(targetSparsity), seed);
        out.println(equal);
        out.println();
        out.printf(Locale.ROOT, "%-5s %-7s %8s %8s %9s %9s %9s%n", "case", "rule", "k", "p", "sparsity", "rel. L1",
                "paper");
        for (CaseResult r : results) {
            for (MaskStudy.Row row : r.rows()) {
                out.printf(Locale.ROOT, "%-5s %-7s %8s %8s %9.4f %9.4f %9.4f%n", r.c().name().toLowerCase(Locale.ROOT),
                        row.mode(), Double.isNaN(row.k()) ? "-" : String.format(Locale.ROOT, "%.4f", row.k()),
                        Double.isNaN(row.p()) ? "-" : String.format(Locale.ROOT, "%.4f", row.p()), row.sparsity(),
                        row.relativeL1(), paper(r.c(), row.mode()));
            }
        }
        out.println();
        for (CaseResult r : results) {
            out.printf(Locale.ROOT, "%s: hybrid is %s%.1f%% from the better single rule (%s): %s (within %s%%)%n",
                    r.c().name().toLowerCase(Locale.ROOT), r.gap() >= 0 ? "+" : "", 100 * r.gap(), r.better(),
                    r.close() ? "close" : "NOT close", fmt(100 * tolerance));
        }
        for (String f : pngs) {
            out.println("wrote " + f);
        }
    }

    private static double paper(MaskStudy.Case c, MaskMode mode) {
        double[] p = PAPER.get(c);
        return switch (mode) {
            case TOPK -> p[0];
            case TOPP -> p[1];
            default -> p[2];
        };
    }

    private static String fmt(double x) {
        return java.math.BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }
}

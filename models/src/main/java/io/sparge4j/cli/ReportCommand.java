package io.sparge4j.cli;

import io.sparge4j.models.report.PlotFonts;
import io.sparge4j.models.report.ResultsReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code sparge report}: RESULTS.md for issue 7's experiment from a directory of eval and concentration JSONs. */
@Command(name = "report",
        description = {"Writes RESULTS.md from a directory of runs: eval JSONs named by variant (full,"
                + " training-free-hybrid, topk-distill, topp-distill, hybrid-distill, hybrid-flow,"
                + " hybrid-guided-distill), sweeps"
                + " (sweep-METHOD-SPARSITY.json, plotted against sparsity) and concentration JSONs (sparge"
                + " concentration). Leaves a marked Reading section for people to fill."})
public final class ReportCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--runs", paramLabel = "DIR", required = true, description = "The directory of JSON files.")
    private Path runs;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "The markdown file (e.g. RESULTS.md).")
    private Path out;

    @Option(names = "--plots", paramLabel = "DIR",
            description = "Where the PNG plots go (default: results-plots next to --out).")
    private Path plots;

    /** Picocli creates it. */
    public ReportCommand() {
    }

    @Override
    public Integer call() throws Exception {
        System.setProperty("java.awt.headless", "true");
        PlotFonts.require("sparge report");
        Path parent = OutputPaths.existingParent("--out", out);
        Path dir = plots != null ? plots : parent.resolve("results-plots");
        ResultsReport.Written w = ResultsReport.write(runs, out, dir);
        PrintWriter o = spec.commandLine().getOut();
        o.println("variants: " + (w.variantsFound().isEmpty() ? "none" : String.join(", ", w.variantsFound()))
                + " of " + ResultsReport.VARIANTS.size() + "; sweep points: " + w.sweepPoints()
                + "; concentration files: " + w.concentrations());
        w.pictures().forEach(p -> o.println("wrote " + p));
        o.println("wrote " + w.markdown());
        o.flush();
        return 0;
    }
}

package io.sparge4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportCommandTest {
    @TempDir
    Path dir;

    @Test
    void writesResultsMarkdownAndPlots() throws IOException {
        Path runs = Files.createDirectories(dir.resolve("runs"));
        Files.writeString(runs.resolve("hybrid-distill.json"), "{\"summary\": {\"colour_rate\": 0.75, \"sparsity\": 0.95}}");
        Files.writeString(runs.resolve("sweep-hybrid-distill-0.90.json"), "{\"summary\": {\"colour_rate\": 0.8}}");
        Files.writeString(runs.resolve("sweep-hybrid-distill-0.95.json"), "{\"summary\": {\"colour_rate\": 0.7}}");
        CliRun run = CliRun.of("report", "--runs", runs.toString(), "--out", dir.resolve("RESULTS.md").toString());
        assertEquals(0, run.exit(), run.toString());
        assertTrue(run.out().contains("variants: hybrid-distill of 7; sweep points: 2"), run.toString());
        String md = Files.readString(dir.resolve("RESULTS.md"));
        assertTrue(md.contains("| 5 | hybrid, distilled (SpargeAttention2) | 0.950 | 0.750 |"), md);
        assertTrue(md.contains("| 1 | full attention | not run |"), md);
        assertTrue(Files.isRegularFile(dir.resolve("results-plots/quality-colour.png")));
        assertTrue(md.contains("](results-plots/quality-colour.png)"), md);
    }

    @Test
    void aMissingRunsDirectoryIsNamed() {
        CliRun run = CliRun.of("report", "--runs", dir.resolve("none").toString(), "--out",
                dir.resolve("R.md").toString());
        assertEquals(1, run.exit(), run.toString());
        assertTrue(run.err().contains("--runs: got"), run.toString());
    }
}

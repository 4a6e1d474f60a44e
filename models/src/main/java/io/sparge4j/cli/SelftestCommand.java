package io.sparge4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.selftest.SelfTest;
import io.sparge4j.engine.selftest.SelfTestReport;
import io.sparge4j.engine.selftest.SelfTestResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge selftest}: runs the portability and GEMM kernels on one backend against float64 references.
 * Exit codes: 0 all passed, 1 a kernel failed, 2 bad usage or a backend that cannot be opened.
 */
@Command(name = "selftest",
        description = {"Runs the portability kernels (saxpy, reductions, tiled GEMM, softmax, atomics, MMA tiles, ...)"
                + " and the GEMM kernels on one backend through the task-graph API, and checks each against a"
                + " float64 reference. Prints one line per kernel, then the counts."})
public final class SelftestCommand implements Callable<Integer> {
    /** What {@code --json} prints. */
    record Json(String backend, String device, long passed, long failed, List<JsonResult> results) {
    }

    /** One kernel in {@code --json}; errors are null when the kernel did not run to the end. */
    record JsonResult(String kernel, boolean passed, String path, Double maxAbsError, Double maxRelError, Double rtol,
            Double atol, double kernelMillis, double compileMillis, String detail) {
        static JsonResult of(SelfTestResult r) {
            return new JsonResult(r.kernel(), r.passed(), r.path(), finite(r.maxAbsError()), finite(r.maxRelError()),
                    finite(r.rtol()), finite(r.atol()), r.kernelMillis(), r.compileMillis(), r.detail());
        }

        private static Double finite(double v) {
            return Double.isFinite(v) ? v : null;
        }
    }

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--backend", paramLabel = "emulator|cpu|cuda|opencl",
            description = "Where to run (default: SPARGE_BACKEND, else the emulator; cpu means the emulator).")
    private String backend;

    @Option(names = "--device", paramLabel = "N",
            description = "CUDA ordinal; OpenCL P:D (platform:device), a flat index, or part of the device name"
                    + " (default: SPARGE_DEVICE, else the first device). 'sparge info' lists them.")
    private String device;

    @Option(names = "--json", description = "Print one JSON object instead of lines.")
    private boolean json;

    /** Picocli creates it. */
    public SelftestCommand() {
    }

    @Override
    public Integer call() throws JsonProcessingException {
        BackendSelection selection;
        try {
            selection = BackendSelection.parse(backend, device, env());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ComputeDevice opened;
        try {
            opened = ExecutionBackends.openDevice(selection);
        } catch (RuntimeException e) {
            err.println("sparge selftest: cannot open " + selection + ": " + e.getMessage());
            err.flush();
            return 2;
        }
        SelfTestReport report;
        try (ComputeDevice d = opened) {
            report = new SelfTest(d, ExecutionBackends.compiler(selection)).runAll();
        }
        if (json) {
            Json j = new Json(report.backend(), report.device(), report.passed(), report.failed(),
                    report.results().stream().map(JsonResult::of).toList());
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(j));
        } else {
            out.println("selftest on " + report.backend() + ": " + report.device());
            for (SelfTestResult r : report.results()) {
                out.println(r.line());
            }
            out.println(report.passed() + " passed, " + report.failed() + " failed");
        }
        out.flush();
        return report.allPassed() ? 0 : 1;
    }

    private Map<String, String> env() {
        return SpargeCli.environment(spec);
    }
}

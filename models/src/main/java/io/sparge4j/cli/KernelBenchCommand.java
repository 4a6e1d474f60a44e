package io.sparge4j.cli;

import io.sparge4j.engine.bench.GemmFamily;
import io.sparge4j.engine.bench.GpuKernelBench;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code sparge kernel-bench}: the JIT's kernels on a GPU, one JSON line per case (engine's GpuKernelBench). */
@Command(name = "kernel-bench",
        description = {"Times the JIT's kernels on a device: saxpy bandwidth, the f32 register-blocked GEMM and the"
                + " bf16/f16 tensor-core GEMMs, and the device compiler's cold and cached compile times. Prints one"
                + " JSON line per case; each case also checks sampled results against float64. For a cold compile,"
                + " point SPARGE_CACHE_DIR at an empty folder."})
public final class KernelBenchCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--backend", paramLabel = "cuda|opencl", description = "Device backend (or SPARGE_BACKEND).")
    private String backend;

    @Option(names = "--device", paramLabel = "SEL", description = "CUDA ordinal, or OpenCL P:D, index or name part"
            + " (or SPARGE_DEVICE).")
    private String device;

    @Option(names = "--elements", paramLabel = "N", defaultValue = "67108864",
            description = "saxpy length (default ${DEFAULT-VALUE}).")
    private int elements;

    @Option(names = "--gemm", paramLabel = "N", defaultValue = "4096", description = "GEMM edge m = n = k (default"
            + " ${DEFAULT-VALUE}).")
    private int gemm;

    @Option(names = "--gemm-variants", paramLabel = "default|all|tiled,async,pipelined", defaultValue = "default",
            description = "Also time the bf16 pair GEMM once per tiling of these families (one JSON line each, the"
            + " tiling in the case name; needs an even --gemm): tiled (register prefetch: block, warps, warp tile,"
            + " k-tile), async (cp.async ring of 2 to 4 stages, 'asyncN'), pipelined (the ring with fragments"
            + " double-buffered in registers, 'pipeN'); all = the three; default: only the default kernels (default"
            + " ${DEFAULT-VALUE}).")
    private String gemmVariants;

    @Option(names = "--reps", paramLabel = "N", defaultValue = "20", description = "Timed launches per case; times"
            + " are medians (default ${DEFAULT-VALUE}).")
    private int reps;

    private final Map<String, String> env;

    /** @param env the environment (SPARGE_BACKEND, SPARGE_DEVICE) */
    public KernelBenchCommand(Map<String, String> env) {
        this.env = env;
    }

    /** Reads the process environment. */
    public KernelBenchCommand() {
        this(System.getenv());
    }

    @Override
    public Integer call() {
        BackendSelection selection = BackendSelection.parse(backend, device, env);
        if (selection.isEmulator() || selection.backend().equals("cpu")) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--backend': '"
                    + selection.backend() + "': kernel-bench times a device, expected cuda or opencl");
        }
        if (elements < 1 || gemm < 16 || reps < 1) {
            throw new ParameterException(spec.commandLine(), "--elements " + elements + ", --gemm " + gemm + ", --reps "
                    + reps + ": expected >= 1, >= 16, >= 1");
        }
        Set<GemmFamily> families;
        try {
            families = GemmFamily.parse(gemmVariants);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--gemm-variants': "
                    + e.getMessage());
        }
        if (!families.isEmpty() && gemm % 2 != 0) {
            throw new ParameterException(spec.commandLine(), "--gemm " + gemm + " with --gemm-variants "
                    + gemmVariants + ": the pair-GEMM tilings read k as int pairs, expected an even --gemm");
        }
        new GpuKernelBench(() -> ExecutionBackends.openDevice(selection), spec.commandLine().getOut(), reps)
                .runAll(elements, gemm, families);
        return 0;
    }
}

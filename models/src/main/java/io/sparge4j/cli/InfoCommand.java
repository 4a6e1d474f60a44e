package io.sparge4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.device.BackendInfo;
import io.sparge4j.engine.device.Backends;
import io.sparge4j.engine.device.DeviceInfo;
import io.sparge4j.engine.execution.DeviceCatalog;
import io.sparge4j.engine.execution.OpenClAddress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code sparge info}: the backends found on this machine and their devices. */
@Command(name = "info",
        description = {"Lists the backends found on this machine (CPU always; CUDA and OpenCL when their drivers"
                + " load), with device names, memory, compute units and the CPU's vector width, and how --device"
                + " selects each device (CUDA ordinal; OpenCL platform:device)."})
public final class InfoCommand implements Callable<Integer> {
    /**
     * What {@code --json} prints: the versions, every backend probed, and the OpenCL devices by
     * {@code platform:device} (empty unless OpenCL was probed and found devices).
     */
    record Report(String version, String java, boolean vectorApi, int floatLanes, List<BackendInfo> backends,
            List<OpenClAddress> openClDevices) {
    }

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--json", description = "Print the same as JSON.")
    private boolean json;

    @Option(names = "--backend", paramLabel = "cpu|cuda|opencl",
            description = "Probe only this backend (${COMPLETION-CANDIDATES}).")
    private BackendName backend;

    /** Picocli creates it. */
    public InfoCommand() {
    }

    /** The backends {@code --backend} accepts; the names are as the command line spells them. */
    enum BackendName { cpu, cuda, opencl }

    @Override
    public Integer call() throws JsonProcessingException {
        List<BackendInfo> backends = backend == null ? Backends.discover() : List.of(Backends.probe(backend.name()));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            boolean openCl = backends.stream().anyMatch(b -> b.name().equals("opencl") && b.available());
            Report report = new Report(SpargeVersion.version(), SpargeVersion.runtime(), SimdSupport.available(),
                    SimdSupport.floatLanes(), backends, openCl ? DeviceCatalog.openClDevices() : List.of());
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
        } else {
            out.println("sparge " + SpargeVersion.version() + ", " + SpargeVersion.runtime());
            for (BackendInfo b : backends) {
                out.println();
                print(out, b);
            }
        }
        out.flush();
        return 0;
    }

    private static void print(PrintWriter out, BackendInfo backend) {
        if (!backend.available()) {
            out.println(backend.name() + ": not available: " + backend.reason());
        } else {
            out.println(backend.name() + ": " + backend.devices().size()
                    + (backend.devices().size() == 1 ? " device" : " devices"));
        }
        for (String detail : backend.details()) {
            out.println("  " + detail);
        }
        for (DeviceInfo d : backend.devices()) {
            out.println("  [" + d.index() + "] " + d.name());
            out.println("      " + d.type() + ", " + computeUnits(backend.name(), d.computeUnits()) + ", "
                    + ByteSizes.format(d.memoryBytes()) + " memory, " + d.capability());
            if (!d.notes().isEmpty()) {
                out.println("      " + String.join("; ", d.notes()));
            }
        }
        printSelectors(out, backend);
    }

    /** How {@code --device} names this backend's devices, so that a user can pick one. */
    private static void printSelectors(PrintWriter out, BackendInfo backend) {
        if (!backend.available()) {
            return;
        }
        switch (backend.name()) {
            case "cuda" -> out.println("  select: --backend cuda --device N (the ordinal in brackets) or part of the"
                    + " device name");
            case "opencl" -> {
                out.println("  select: --backend opencl --device P:D (platform:device), a flat index N (in brackets"
                        + " above) or part of the device or platform name:");
                for (OpenClAddress a : DeviceCatalog.openClDevices()) {
                    out.println("    " + a.selector() + "  [" + a.flatIndex() + "] " + a.deviceName() + " (platform "
                            + a.platformIndex() + ": " + a.platformName() + ")");
                }
            }
            default -> out.println("  kernels run on the CPU emulator: --backend cpu (or emulator)");
        }
    }

    private static String computeUnits(String backend, int n) {
        return n + switch (backend) {
            case "cpu" -> n == 1 ? " logical core" : " logical cores";
            case "cuda" -> n == 1 ? " SM" : " SMs";
            default -> n == 1 ? " compute unit" : " compute units";
        };
    }
}

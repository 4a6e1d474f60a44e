package io.sparge4j.engine.device;

import java.util.List;

/** Finds the backends this machine offers: the CPU always, CUDA and OpenCL when their drivers load. */
public final class Backends {
    /** The backends' names, as {@code --backend} spells them. */
    public static final List<String> NAMES = List.of("cpu", "cuda", "opencl");

    private Backends() {
    }

    /**
     * Probes every backend. Missing drivers are reported as unavailable backends, never thrown.
     *
     * @return cpu, cuda and opencl, in that order
     */
    public static List<BackendInfo> discover() {
        return List.of(CpuProbe.probe(), CudaDriverProbe.probe(), OpenClProbe.probe());
    }

    /**
     * Probes one backend.
     *
     * @param name {@code cpu}, {@code cuda} or {@code opencl}
     * @return the backend, available or not
     * @throws IllegalArgumentException for any other name
     */
    public static BackendInfo probe(String name) {
        return switch (name) {
            case "cpu" -> CpuProbe.probe();
            case "cuda" -> CudaDriverProbe.probe();
            case "opencl" -> OpenClProbe.probe();
            case null, default -> throw new IllegalArgumentException(
                    "backend: got '" + name + "', expected one of " + String.join(", ", NAMES));
        };
    }
}

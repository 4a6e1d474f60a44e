package io.sparge4j.engine.device.cuda;

import java.util.Arrays;
import java.util.List;

/**
 * What NVRTC is asked to produce for one device: a cubin for the device's own architecture when NVRTC knows it,
 * else PTX for the newest virtual architecture NVRTC knows that the device can run, which the driver then
 * compiles when loading it.
 *
 * @param cubin whether the output is a cubin (else PTX)
 * @param architecture the {@code XY} of {@code sm_XY} or {@code compute_XY}
 */
record CompileTarget(boolean cubin, int architecture) {
    /**
     * @param deviceArchitecture the device's compute capability as {@code 10 * major + minor}, e.g. 90
     * @param supported what NVRTC reports through {@code nvrtcGetSupportedArchs}; empty when it cannot say
     * @param emitsCubin whether this NVRTC has {@code nvrtcGetCUBIN}
     * @return the target
     * @throws io.sparge4j.engine.device.BackendException when NVRTC supports nothing this device can run
     */
    static CompileTarget choose(int deviceArchitecture, int[] supported, boolean emitsCubin) {
        if (supported.length == 0) {
            return new CompileTarget(emitsCubin, deviceArchitecture);
        }
        if (emitsCubin && Arrays.stream(supported).anyMatch(a -> a == deviceArchitecture)) {
            return new CompileTarget(true, deviceArchitecture);
        }
        int newestRunnable = Arrays.stream(supported).filter(a -> a <= deviceArchitecture).max().orElse(-1);
        if (newestRunnable < 0) {
            throw new io.sparge4j.engine.device.BackendException("NVRTC supports architectures "
                    + Arrays.toString(supported) + " but the device is sm_" + deviceArchitecture
                    + ", older than all of them: use an older NVRTC (set " + Nvrtc.PATH_VARIABLE + ")");
        }
        return new CompileTarget(false, newestRunnable);
    }

    /** @return the kernel cache's kind for the binary: {@code "cubin"} or {@code "ptx"} */
    String cacheKind() {
        return cubin ? "cubin" : "ptx";
    }

    /** @return the architecture's name, e.g. {@code sm_90} or {@code compute_90} */
    String architectureName() {
        return (cubin ? "sm_" : "compute_") + architecture;
    }

    /** @return what {@link io.sparge4j.engine.compute.DeviceKernel#binaryKind()} reports, e.g. {@code cubin sm_90} */
    String binaryKind() {
        return cacheKind() + " " + architectureName();
    }

    /**
     * No {@code --use_fast_math}: kernels are compared with float64 references, and fast math changes exp/div.
     *
     * @return NVRTC's options
     */
    List<String> options() {
        return List.of("--gpu-architecture=" + architectureName(), "--std=c++17");
    }
}

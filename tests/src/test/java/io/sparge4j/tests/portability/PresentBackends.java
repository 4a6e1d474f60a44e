package io.sparge4j.tests.portability;

import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.device.opencl.OpenClDeviceRef;
import io.sparge4j.engine.execution.BackendSelection;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The backends a portability test runs on: the emulator, every OpenCL device and every CUDA device found. A backend
 * kind with no device is one visible skip (a JUnit assumption with the reason), never a silently empty suite.
 */
final class PresentBackends {
    /** A device to run on and the name its results are reported under. */
    record Backend(String name, BackendSelection selection) {
    }

    private PresentBackends() {
    }

    /** @return the kernel emulator (always present) */
    static Backend emulator() {
        return new Backend("emulator", BackendSelection.emulator());
    }

    /** @return every OpenCL device (PoCL in CI; NVIDIA and PoCL on the GPU machine); skips when there is none */
    static List<Backend> openCl() {
        List<OpenClDeviceRef> devices = OpenClDevice.list();
        assumeTrue(!devices.isEmpty(), "no OpenCL platform found (install pocl-opencl-icd and ocl-icd-libopencl1)");
        List<Backend> out = new ArrayList<>();
        for (OpenClDeviceRef ref : devices) {
            out.add(new Backend("opencl " + ref.platformName() + " / " + ref.deviceName(),
                    new BackendSelection("opencl", ref.platformIndex() + ":" + ref.deviceIndex())));
        }
        return out;
    }

    /** @return every CUDA device; skips when there is none */
    static List<Backend> cuda() {
        int count = CudaDevice.deviceCount();
        assumeTrue(count > 0, "no CUDA device found (libcuda.so.1 missing or no GPU)");
        List<Backend> out = new ArrayList<>();
        for (int ordinal = 0; ordinal < count; ordinal++) {
            out.add(new Backend("cuda " + ordinal, new BackendSelection("cuda", Integer.toString(ordinal))));
        }
        return out;
    }
}

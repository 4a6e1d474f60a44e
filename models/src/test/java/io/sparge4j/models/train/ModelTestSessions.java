package io.sparge4j.models.train;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.gpu.DeviceSession;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Sessions for the whole-model device tests. A backend that is absent skips with the reason. The emulator runs a
 * whole model only where no OpenCL device is found: its kernels are PoCL's (each is tested on the emulator on its own
 * in engine), and a model-sized case takes it one to two minutes against PoCL's one to two seconds.
 */
final class ModelTestSessions {
    private ModelTestSessions() {
    }

    static DeviceSession open(String backend) {
        boolean openCl = !OpenClDevice.list().isEmpty();
        if (backend.equals("emulator")) {
            assumeTrue(!openCl, "emulator case skipped: an OpenCL device runs the same kernels here, ~50x faster;"
                    + " it runs where no OpenCL device is found");
        }
        if (backend.equals("opencl")) {
            assumeTrue(openCl, "OpenCL test skipped: no OpenCL device found; install PoCL with apt-get install"
                    + " pocl-opencl-icd ocl-icd-libopencl1");
        }
        try {
            return DeviceSession.open(backend);
        } catch (BackendException e) {
            assumeTrue(false, backend + " test skipped: " + e.getMessage());
            throw e;
        }
    }
}

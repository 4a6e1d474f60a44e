package io.sparge4j.tests.wan;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.gpu.DeviceSession;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Opens the Wan tests' device sessions: a backend that is absent skips the test with the reason, visibly. */
final class DeviceTestSessions {
    private DeviceTestSessions() {
    }

    static DeviceSession open(String backend) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "OpenCL test skipped: no OpenCL device found; install PoCL"
                    + " with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
        }
        try {
            return DeviceSession.open(backend);
        } catch (BackendException e) {
            assumeTrue(false, backend + " test skipped: " + e.getMessage());
            throw e;
        }
    }
}

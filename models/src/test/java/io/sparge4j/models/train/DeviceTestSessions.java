package io.sparge4j.models.train;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.gpu.DeviceSession;

import java.util.function.Function;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Opens sessions for the device tests: a GPU backend that is absent skips the test with the reason, visibly. */
public final class DeviceTestSessions {
    private DeviceTestSessions() {
    }

    /**
     * @param backend emulator, opencl or cuda
     * @return an open session, owned by the caller
     */
    public static DeviceSession open(String backend) {
        return open(backend, DeviceSession::open);
    }

    /**
     * {@link #open(String)} for the whole-model tests, whose emulator case runs only where no OpenCL device is found:
     * its kernels are PoCL's (each has its own emulator test in engine), and a model-sized case takes the emulator one
     * to two minutes against PoCL's one to two seconds.
     *
     * @param backend emulator, opencl or cuda
     * @return an open session, owned by the caller
     */
    public static DeviceSession openWholeModel(String backend) {
        if (backend.equals("emulator")) {
            assumeTrue(OpenClDevice.list().isEmpty(), "emulator case skipped: an OpenCL device runs the same kernels"
                    + " here, ~50x faster; it runs where no OpenCL device is found");
        }
        return open(backend);
    }

    /**
     * Opens through {@code opener} (a counting session, say), skipping the test when the backend is absent.
     *
     * @param backend emulator, opencl or cuda
     * @param opener opens the backend's session
     * @return what it opened
     */
    public static <T> T open(String backend, Function<String, T> opener) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "OpenCL test skipped: no OpenCL device found; install PoCL"
                    + " with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
        }
        try {
            return opener.apply(backend);
        } catch (BackendException e) {
            assumeTrue(false, backend + " test skipped: " + e.getMessage());
            throw e;
        }
    }
}

package io.sparge4j.engine.gpu;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.params.provider.Arguments;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Opens test sessions: a GPU backend that is absent skips the test with the reason, visibly. */
final class DeviceSessions {
    /** Every backend the op tests run on; cuda is skipped where no CUDA device is found. */
    static final String[] BACKENDS = {"emulator", "opencl", "cuda"};

    private DeviceSessions() {
    }

    /** @return (backend, value) for every backend and each value: a test over bf16 and f16 on every backend */
    static List<Arguments> onEachBackend(Object... values) {
        List<Arguments> out = new ArrayList<>();
        for (String backend : BACKENDS) {
            for (Object v : values) {
                out.add(Arguments.of(backend, v));
            }
        }
        return out;
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

    /** @return a device tensor's values, read back as f32 */
    static float[] host(DeviceTensor t) {
        try (Tensor h = t.toHost()) {
            return h.toFloatArray();
        }
    }
}

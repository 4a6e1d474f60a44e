package io.sparge4j.tests.portability;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.device.opencl.OpenClDeviceRef;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.selftest.SelfTest;
import io.sparge4j.engine.selftest.SelfTestResult;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The portability suite: the same kernels (saxpy, a local-memory tree reduction, a tiled GEMM, a softmax with
 * sub-group shuffles, atomics, MMA tiles, helper calls, constant-bound loops, a {@code @Parallel} loop kernel and the
 * register-blocked and tensor-core GEMMs) on every backend present, each against a float64 reference with the
 * tolerances {@link SelfTest} states. The emulator always runs; every OpenCL device found (PoCL in CI, NVIDIA and
 * PoCL on the GPU machine) and every CUDA device run too. A backend with no device is one visible skip, never a
 * silently empty suite.
 */
class PortabilitySuiteTest {
    @TestFactory
    Stream<DynamicNode> emulator() {
        return Stream.of(suite("emulator", BackendSelection.emulator()));
    }

    @TestFactory
    Stream<DynamicNode> openCl() {
        List<OpenClDeviceRef> devices = OpenClDevice.list();
        assumeTrue(!devices.isEmpty(), "no OpenCL platform found (install pocl-opencl-icd and ocl-icd-libopencl1)");
        List<DynamicNode> nodes = new ArrayList<>();
        for (OpenClDeviceRef ref : devices) {
            BackendSelection selection = new BackendSelection("opencl", ref.platformIndex() + ":" + ref.deviceIndex());
            nodes.add(suite("opencl " + ref.platformName() + " / " + ref.deviceName(), selection));
        }
        return nodes.stream();
    }

    @TestFactory
    Stream<DynamicNode> cuda() {
        int count = CudaDevice.deviceCount();
        assumeTrue(count > 0, "no CUDA device found (libcuda.so.1 missing or no GPU)");
        List<DynamicNode> nodes = new ArrayList<>();
        for (int ordinal = 0; ordinal < count; ordinal++) {
            nodes.add(suite("cuda " + ordinal, new BackendSelection("cuda", Integer.toString(ordinal))));
        }
        return nodes.stream();
    }

    /** One container per device; the device is opened once for its kernels and closed after the last. */
    private static DynamicContainer suite(String name, BackendSelection selection) {
        ComputeDevice[] device = new ComputeDevice[1];
        List<DynamicTest> tests = new ArrayList<>();
        List<String> kernels = SelfTest.KERNELS;
        for (int i = 0; i < kernels.size(); i++) {
            String kernel = kernels.get(i);
            boolean last = i == kernels.size() - 1;
            tests.add(DynamicTest.dynamicTest(kernel, () -> {
                if (device[0] == null) {
                    device[0] = ExecutionBackends.openDevice(selection);
                }
                try {
                    SelfTestResult result = new SelfTest(device[0], ExecutionBackends.compiler(selection)).run(kernel);
                    System.out.println(name + ": " + result.line());
                    assertTrue(result.passed(), name + ": " + result.line());
                } finally {
                    if (last && device[0] != null) {
                        device[0].close();
                        device[0] = null;
                    }
                }
            }));
        }
        return DynamicContainer.dynamicContainer(name, tests);
    }
}

package io.sparge4j.tests.portability;

import io.sparge4j.engine.compute.ComputeDevice;
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
        return Stream.of(suite(PresentBackends.emulator()));
    }

    @TestFactory
    Stream<DynamicNode> openCl() {
        return PresentBackends.openCl().stream().<DynamicNode>map(PortabilitySuiteTest::suite);
    }

    @TestFactory
    Stream<DynamicNode> cuda() {
        return PresentBackends.cuda().stream().<DynamicNode>map(PortabilitySuiteTest::suite);
    }

    /** One container per device; the device is opened once for its kernels and closed after the last. */
    private static DynamicContainer suite(PresentBackends.Backend backend) {
        String name = backend.name();
        BackendSelection selection = backend.selection();
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

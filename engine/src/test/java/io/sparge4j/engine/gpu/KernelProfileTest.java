package io.sparge4j.engine.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.engine.execution.EmulatorCompiler;
import io.sparge4j.engine.execution.EmulatorDevice;
import io.sparge4j.engine.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** SPARGE_PROFILE's table: every launch counted under its kernel, device times summed, the largest first. */
class KernelProfileTest {
    @Test
    void everyLaunchIsCountedUnderItsKernel() {
        KernelProfile profile = new KernelProfile();
        try (DeviceSession s = DeviceSession.profiled(new EmulatorDevice(), new EmulatorCompiler(), profile);
                Tensor x = Tensor.randn(3, 64, 32);
                Tensor w = Tensor.randn(4, 32, 32);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w)) {
            for (int i = 0; i < 3; i++) {
                try (DeviceTensor g = DeviceActivations.gelu(dx); DeviceTensor h = DeviceActivations.gelu(g)) {
                    DeviceLinear.linear(h, dw, null).close();
                }
            }
            List<KernelProfile.Entry> entries = profile.entries();
            Map<String, Long> launches = entries.stream()
                    .collect(Collectors.toMap(KernelProfile.Entry::kernel, KernelProfile.Entry::launches));
            String gelu = launches.keySet().stream().filter(k -> k.toLowerCase().contains("gelu")).findFirst()
                    .orElseThrow(() -> new AssertionError("no gelu kernel in " + launches));
            assertEquals(6, launches.get(gelu), "two gelu launches in each of three rounds: " + launches);
            assertTrue(launches.size() >= 2, "the linear's kernel is listed too: " + launches);
            long total = launches.values().stream().mapToLong(Long::longValue).sum();
            assertTrue(total >= 9, "at least 3 launches a round: " + launches);
            for (int i = 1; i < entries.size(); i++) {
                assertTrue(entries.get(i - 1).nanos() >= entries.get(i).nanos(), "largest first: " + entries);
            }
            assertTrue(entries.stream().allMatch(e -> e.nanos() > 0), "every launch took time: " + entries);
            String report = profile.report("emulator");
            assertTrue(report.contains("in " + total + " launches") && report.contains(gelu), report);
        }
    }
}

package io.sparge4j.engine.selftest;

import java.util.List;

/**
 * The self-test of one backend and device.
 *
 * @param backend {@code "emulator"}, {@code "cuda"} or {@code "opencl"}
 * @param device the device's name
 * @param results one per kernel, in {@link SelfTest#KERNELS} order
 */
public record SelfTestReport(String backend, String device, List<SelfTestResult> results) {
    /** Freezes the list. */
    public SelfTestReport {
        results = List.copyOf(results);
    }

    /** @return how many kernels passed */
    public long passed() {
        return results.stream().filter(SelfTestResult::passed).count();
    }

    /** @return how many kernels failed */
    public long failed() {
        return results.size() - passed();
    }

    /** @return whether every kernel passed */
    public boolean allPassed() {
        return failed() == 0;
    }
}

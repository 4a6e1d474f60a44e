package io.sparge4j.engine.selftest;

import java.util.Objects;

/**
 * One kernel's self-test outcome.
 *
 * @param kernel the kernel's name, e.g. {@code "saxpy"}
 * @param passed whether every element was within the tolerance (and the run did not fail)
 * @param path which path the kernel took: {@code "emulator"}, {@code "native"} or the JIT's fallbacks joined by
 *     {@code "; "}; {@code "-"} when the run failed before a launch
 * @param maxAbsError the largest {@code |actual - expected|}; NaN when the run failed
 * @param maxRelError the largest {@code |actual - expected| / max(|expected|, 1e-6)}; NaN when the run failed
 * @param rtol the relative tolerance the kernel was held to
 * @param atol the absolute tolerance: an element passes when {@code |actual - expected| <= atol + rtol * |expected|}
 * @param kernelMillis the launch's device time in milliseconds (wall time on the emulator)
 * @param compileMillis the time to generate and compile the kernel, in milliseconds
 * @param detail why it failed (the first element out of tolerance, or the exception); empty when it passed
 */
public record SelfTestResult(String kernel, boolean passed, String path, double maxAbsError, double maxRelError,
        double rtol, double atol, double kernelMillis, double compileMillis, String detail) {
    /** Validates. */
    public SelfTestResult {
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(detail, "detail");
    }

    /** @return e.g. {@code "PASS saxpy  path=native  max_err=1.2e-07  time=0.8 ms"} */
    public String line() {
        String s = String.format(java.util.Locale.ROOT, "%s %-12s path=%s  max_err=%.1e  max_rel=%.1e  time=%.3f ms"
                        + "  compile=%.1f ms", passed ? "PASS" : "FAIL", kernel, path, maxAbsError, maxRelError,
                kernelMillis, compileMillis);
        return detail.isEmpty() ? s : s + "  (" + detail + ")";
    }
}

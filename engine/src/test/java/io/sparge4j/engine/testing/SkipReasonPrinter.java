package io.sparge4j.engine.testing;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Prints every skipped test with its reason on the console, so that "GPU tests skipped: no CUDA driver" is seen in
 * a CI log and not only counted. Surefire otherwise reports skips as a bare number.
 */
public final class SkipReasonPrinter implements TestExecutionListener {
    @Override
    public void executionFinished(TestIdentifier test, TestExecutionResult result) {
        if (result.getStatus() == TestExecutionResult.Status.ABORTED) {
            String reason = result.getThrowable().map(Throwable::getMessage).orElse("no reason given");
            System.out.println("[SKIPPED] " + test.getDisplayName() + " (" + test.getUniqueId().replaceAll(".*class:([^\\]]+)\\].*", "$1")
                    + "): " + reason);
        }
    }

    @Override
    public void executionSkipped(TestIdentifier test, String reason) {
        System.out.println("[SKIPPED] " + test.getDisplayName() + ": " + reason);
    }
}

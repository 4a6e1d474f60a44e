package io.sparge4j.engine.gpu;

/** Running an op whose result was allocated first: on failure the result is freed before the exception leaves. */
final class Ops {
    private Ops() {
    }

    static DeviceTensor runOrFree(Op op, DeviceTensor result, DeviceTensor... temporaries) {
        try {
            op.run();
            return result;
        } catch (RuntimeException e) {
            result.close();
            throw e;
        } finally {
            for (DeviceTensor t : temporaries) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }
}

package io.sparge4j.cli;

import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.train.DeviceWanTrainingTask;
import io.sparge4j.models.train.TrainingObjective;
import io.sparge4j.models.train.TrainingTask;
import io.sparge4j.models.train.WanGraph;
import io.sparge4j.models.train.WanTrainingTask;

/** The training task on the chosen backend: the CPU's {@link WanTrainingTask} or the device's twin. */
final class TrainingTasks {
    private TrainingTasks() {
    }

    /**
     * A task and what it holds on a device.
     *
     * @param task the task
     * @param device the device task to close, or null on the CPU
     */
    record Opened(TrainingTask task, DeviceWanTrainingTask device) implements AutoCloseable {
        @Override
        public void close() {
            if (device != null) {
                device.close();
            }
        }
    }

    /**
     * @param backend a device backend, or null for the CPU
     * @return a session on the backend's device, or null for the CPU
     */
    static DeviceSession session(BackendSelection backend) {
        return backend == null ? null : DeviceSession.open(backend);
    }

    /**
     * @param session null for the CPU
     * @return the task (the DiT's forward and backward on the session's device when given)
     */
    static Opened open(TrainingObjective objective, WanGraph student, WanGraph teacher, TextEncoder text,
            ClipGenerator data, RunSettings s, DeviceSession session) {
        if (session == null) {
            return new Opened(new WanTrainingTask(objective, student, teacher, text, data, s.captionDropout(),
                    s.noiseLevels(), s.batchSize(), s.distillGuidance()), null);
        }
        DeviceWanTrainingTask device = new DeviceWanTrainingTask(objective, student, teacher, text, data,
                s.captionDropout(), s.noiseLevels(), s.batchSize(), session, s.checkpointBlocks(),
                ModelBackendFlags.precisionNamed(s.precision()).orElseThrow(), s.distillGuidance());
        return new Opened(device, device);
    }
}

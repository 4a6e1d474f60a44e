package io.sparge4j.cli;

import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.Rendezvous;
import io.sparge4j.engine.distributed.nccl.NcclCommunicator;
import io.sparge4j.engine.execution.BackendSelection;

import java.time.Duration;
import java.util.Map;

/**
 * Who runs a command: this process alone, or one rank of a job started by {@code sparge launch --gpus N} (or
 * {@code torchrun}), which sets {@code WORLD_SIZE}, {@code RANK}, {@code LOCAL_RANK}, {@code MASTER_ADDR} and
 * {@code MASTER_PORT}. A rank joins the others through NCCL and runs on GPU {@code LOCAL_RANK} with the CUDA backend:
 * training shards parameters, gradients and AdamW's moments over the ranks ({@code ShardedTrainer}), generation
 * splits the sequence ({@code DeviceWanModel.withSequenceParallel}); rank 0 alone writes the shared files and the
 * messages.
 */
final class JobRanks implements AutoCloseable {
    /**
     * A communicator for the current thread instead of the environment's: tests run the ranks of a job as threads
     * of one process, each with its in-process communicator. Never set outside tests.
     */
    static final ThreadLocal<Communicator> IN_PROCESS = new ThreadLocal<>();

    private static final Duration RENDEZVOUS_TIMEOUT = Duration.ofMinutes(5);

    private final Communicator comm;
    private final boolean owned;
    private final BackendSelection backend;

    private JobRanks(Communicator comm, boolean owned, BackendSelection backend) {
        this.comm = comm;
        this.owned = owned;
        this.backend = backend;
    }

    /**
     * @param env the process environment
     * @param backend the {@code --backend} (null: the CPU)
     * @param deviceFlag the {@code --device} as given, or null
     * @return the ranks; with {@code WORLD_SIZE} above 1, joined to the others (this waits for them)
     * @throws IllegalArgumentException naming the flag or variable when a rank is not on CUDA, names its own device,
     *     or the variables are inconsistent
     */
    static JobRanks open(Map<String, String> env, BackendSelection backend, String deviceFlag) {
        Communicator injected = IN_PROCESS.get();
        if (injected != null) {
            return new JobRanks(injected.worldSize() > 1 ? injected : null, false, backend);
        }
        String world = env.get("WORLD_SIZE");
        if (world == null || world.strip().equals("1")) {
            return new JobRanks(null, false, backend);
        }
        Rendezvous.Settings s = Rendezvous.Settings.fromEnvironment(env);
        if (backend == null || !backend.backend().equals("cuda")) {
            throw new IllegalArgumentException("--backend: got '" + (backend == null ? "cpu" : backend.backend())
                    + "' in a job of WORLD_SIZE " + s.worldSize() + ", expected cuda (each rank drives GPU "
                    + "LOCAL_RANK and the ranks exchange data through NCCL)");
        }
        if (deviceFlag != null) {
            throw new IllegalArgumentException("--device: got '" + deviceFlag + "' in a job of WORLD_SIZE "
                    + s.worldSize() + ", expected none (rank " + s.rank() + " uses GPU LOCAL_RANK = " + s.localRank()
                    + ")");
        }
        NcclCommunicator nccl = NcclCommunicator.fromEnvironment(env, RENDEZVOUS_TIMEOUT);
        return new JobRanks(nccl, true, new BackendSelection("cuda", Integer.toString(s.localRank())));
    }

    /** @return the ranks' communicator, or null when this process trains alone */
    Communicator comm() {
        return comm;
    }

    /** @return whether this process writes the run's shared files and messages (rank 0, or alone) */
    boolean leader() {
        return comm == null || comm.rank() == 0;
    }

    /** @return where this rank computes: the command's backend, or for a launched rank its own GPU */
    BackendSelection backend() {
        return backend;
    }

    /** Leaves the job (frees the NCCL communicator this opened). */
    @Override
    public void close() {
        if (owned) {
            comm.close();
        }
    }
}

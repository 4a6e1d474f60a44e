package io.sparge4j.cli;

import io.sparge4j.engine.bench.CollectiveBench;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.nccl.NcclCommunicator;
import io.sparge4j.engine.distributed.nccl.NcclLibrary;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.gpu.DeviceSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code sparge collective-bench}: NCCL's collectives on device tensors, one JSON line per case (nccl-tests' units). */
@Command(name = "collective-bench",
        description = {"Times all-reduce, all-gather, reduce-scatter and all-to-all on f32 GPU tensors through NCCL, as"
                + " nccl-tests reports them: median time, algorithm and bus bandwidth (GB/s) per message size. Run it"
                + " under 'sparge launch --gpus N --' for N GPUs; alone it measures a world of one GPU. Each case"
                + " checks its result first. Rank 0 prints one JSON line per case."})
public final class CollectiveBenchCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--backend", paramLabel = "cuda", defaultValue = "cuda",
            description = "The device backend (default ${DEFAULT-VALUE}; NCCL needs CUDA).")
    private String backend;

    @Option(names = "--sizes", paramLabel = "N[,N...]", defaultValue = "1M,16M,64M",
            description = "Message sizes in f32 elements per rank, with K/M/G suffixes (powers of 1024) (default"
                    + " ${DEFAULT-VALUE}).")
    private String sizes;

    @Option(names = "--ops", paramLabel = "OP[,OP...]", defaultValue = "all_reduce,all_gather,reduce_scatter,all_to_all",
            description = "Which collectives (default ${DEFAULT-VALUE}).")
    private String ops;

    @Option(names = "--reps", paramLabel = "N", defaultValue = "20",
            description = "Timed calls per case after one warm-up; times are medians (default ${DEFAULT-VALUE}).")
    private int reps;

    @Override
    public Integer call() {
        List<CollectiveBench.Operation> operations = new ArrayList<>();
        for (String word : ops.split(",")) {
            operations.add(CollectiveBench.Operation.parse(word));
        }
        List<Long> elements = new ArrayList<>();
        for (String word : sizes.split(",")) {
            elements.add(parseSize(word));
        }
        if (reps < 1) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--reps': " + reps
                    + ", expected at least 1");
        }
        BackendSelection selection = new BackendSelection(backend, null);
        try (JobRanks ranks = JobRanks.open(SpargeCli.environment(spec), selection, null)) {
            Communicator comm = ranks.comm();
            BackendSelection where = ranks.backend();
            NcclCommunicator alone = null;
            if (comm == null) {
                if (!where.backend().equals("cuda")) {
                    throw new IllegalArgumentException("--backend: got '" + backend + "', expected cuda (the"
                            + " collectives are NCCL's, on NVIDIA GPUs)");
                }
                NcclLibrary nccl = NcclLibrary.load();
                alone = NcclCommunicator.create(nccl.uniqueId(), 0, 1, 0);
                comm = alone;
            }
            try (DeviceSession session = DeviceSession.open(where)) {
                new CollectiveBench(comm, session, spec.commandLine().getOut()).run(operations, elements, reps);
            } finally {
                if (alone != null) {
                    alone.close();
                }
            }
        }
        return 0;
    }

    private long parseSize(String word) {
        String w = word.strip().toUpperCase(Locale.ROOT);
        long scale = 1;
        if (w.endsWith("K") || w.endsWith("M") || w.endsWith("G")) {
            scale = w.endsWith("K") ? 1L << 10 : w.endsWith("M") ? 1L << 20 : 1L << 30;
            w = w.substring(0, w.length() - 1);
        }
        try {
            long n = Long.parseLong(w) * scale;
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--sizes': '" + word
                    + "', expected a positive whole number of elements, optionally with K, M or G");
        }
    }
}

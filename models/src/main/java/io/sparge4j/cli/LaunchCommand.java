package io.sparge4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * {@code sparge launch --gpus N -- <command>}: runs a sparge command as N processes on this host, one per GPU, as
 * {@code torchrun} does for PyTorch. Each is a JVM like this one (same java, JVM flags and class path) with
 * {@code RANK} and {@code LOCAL_RANK} = r, {@code WORLD_SIZE} = {@code LOCAL_WORLD_SIZE} = N, {@code MASTER_ADDR} =
 * 127.0.0.1 and {@code MASTER_PORT}, where rank 0 hands out NCCL's id. Their output lines are prefixed with
 * {@code [rank r]}. When a rank fails the others are stopped and the launcher exits with the failed rank's code.
 */
@Command(name = "launch",
        description = {"Runs a sparge command as N processes on this host, one per GPU (rank r drives GPU r), and "
                + "prefixes their output with [rank r]. If one fails, the others are stopped and its exit code is "
                + "returned.",
            "Example: sparge launch --gpus 2 -- generate --backend cuda ..."})
public final class LaunchCommand implements Callable<Integer> {
    /** The most ranks one host runs; a bound against typos (NCCL allows far more, across hosts). */
    static final int MAX_GPUS = 1024;
    /** How long stopped ranks get to exit after SIGTERM before they are killed. */
    private static final long STOP_GRACE_MILLIS = 5_000;
    /** The JVM's start-up note about the Vector API; the {@code sparge} script drops it, so the launcher does too. */
    private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--gpus", required = true, paramLabel = "N",
            description = "How many processes (ranks) to start, one per GPU.")
    private int gpus;

    @Option(names = "--master-port", paramLabel = "P",
            description = "The TCP port on which rank 0 hands out NCCL's id (default: a free port).")
    private Integer masterPort;

    @Parameters(arity = "1..*", paramLabel = "COMMAND",
            description = "The sparge command and its arguments, after --, e.g. -- generate --backend cuda.")
    private List<String> command;

    /** Picocli creates it. */
    public LaunchCommand() {
    }

    @Override
    public Integer call() throws IOException {
        if (gpus < 1 || gpus > MAX_GPUS) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--gpus': got " + gpus
                    + ", expected 1 to " + MAX_GPUS);
        }
        if (masterPort != null && (masterPort < 1 || masterPort > 65535)) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--master-port': got "
                    + masterPort + ", expected 1 to 65535");
        }
        if (command.getFirst().equals("launch")) {
            throw new ParameterException(spec.commandLine(), "Invalid COMMAND: got 'launch', expected a command "
                    + "for each rank to run (launch does not nest)");
        }
        int port = masterPort != null ? masterPort : freePort();
        return launch(gpus, port, command, spec.commandLine().getOut(), spec.commandLine().getErr());
    }

    /**
     * Runs a sparge command as {@code gpus} ranks of a job on this host (what {@code sparge launch} does, and
     * {@code sparge generate --gpus N}).
     *
     * @param gpus the ranks, one per GPU
     * @param port {@code MASTER_PORT}, or 0 for a free one
     * @param command the command and its arguments
     * @param out where the ranks' standard output goes
     * @param err where their standard error goes
     * @return 0 when every rank succeeded, else the first failed rank's exit code
     */
    static int launch(int gpus, int port, List<String> command, PrintWriter out, PrintWriter err)
            throws IOException {
        boolean debug = "1".equals(System.getenv().get("SPARGE_DEBUG"));
        return new Ranks(childJvm(SpargeCli.class.getName()), gpus, port != 0 ? port : freePort(), out, err, !debug)
                .run(command);
    }

    /**
     * The command that starts a JVM like this one: the same java, JVM flags (less a debugger agent, whose port
     * would clash) and class path.
     *
     * @param mainClass the class to run
     * @return java, its flags, {@code -cp}, the class path and the main class
     */
    static List<String> childJvm(String mainClass) {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> jvm = new ArrayList<>();
        jvm.add(java);
        for (String flag : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!flag.startsWith("-agentlib:jdwp") && !flag.startsWith("-Xrunjdwp")) {
                jvm.add(flag);
            }
        }
        jvm.add("-cp");
        jvm.add(System.getProperty("java.class.path"));
        jvm.add(mainClass);
        return jvm;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** N child processes of one job: started together, their output relayed, stopped together when one fails. */
    static final class Ranks {
        private final List<String> jvm;
        private final int worldSize;
        private final int port;
        private final PrintWriter out;
        private final PrintWriter err;
        private final boolean dropIncubatorWarning;
        private final Object printLock = new Object();

        /**
         * @param jvm the command starting a child, up to and including its main class
         * @param worldSize how many ranks
         * @param port {@code MASTER_PORT}
         * @param out where the children's standard output goes, line by line with the rank's prefix
         * @param err where their standard error and the launcher's messages go
         * @param dropIncubatorWarning drop the JVM's Vector API start-up line from the children's stderr
         */
        Ranks(List<String> jvm, int worldSize, int port, PrintWriter out, PrintWriter err,
                boolean dropIncubatorWarning) {
            this.jvm = List.copyOf(jvm);
            this.worldSize = worldSize;
            this.port = port;
            this.out = out;
            this.err = err;
            this.dropIncubatorWarning = dropIncubatorWarning;
        }

        /**
         * Starts every rank and waits for all, or for the first to fail.
         *
         * @param arguments the arguments every rank's main gets
         * @return 0 when every rank succeeded, else the exit code of the first that failed
         */
        int run(List<String> arguments) throws IOException {
            // Read by the shutdown hook's thread too.
            List<Process> processes = new CopyOnWriteArrayList<>();
            List<Thread> relays = new ArrayList<>();
            // Ctrl-C or a kill of the launcher must not leave ranks behind, holding GPUs.
            Thread reaper = new Thread(() -> processes.forEach(Process::destroyForcibly), "sparge-launch-reaper");
            Runtime.getRuntime().addShutdownHook(reaper);
            BlockingQueue<Integer> exited = new LinkedBlockingQueue<>();
            try {
                for (int rank = 0; rank < worldSize; rank++) {
                    Process process = start(rank, arguments, processes);
                    int r = rank;
                    relays.add(relay(process.getInputStream(), out, r, false));
                    relays.add(relay(process.getErrorStream(), err, r, dropIncubatorWarning));
                    process.onExit().thenRun(() -> exited.add(r));
                }
                int failedRank = -1;
                int failedCode = 0;
                for (int done = 0; done < worldSize; done++) {
                    int rank = exited.take();
                    int code = processes.get(rank).exitValue();
                    if (code != 0 && failedRank < 0) {
                        failedRank = rank;
                        failedCode = code;
                        stopAll(processes);
                    }
                }
                for (Thread relay : relays) {
                    relay.join(); // all output is out before the verdict
                }
                if (failedRank >= 0) {
                    List<Integer> stopped = new ArrayList<>();
                    for (int r = 0; r < worldSize; r++) {
                        if (r != failedRank) {
                            stopped.add(r);
                        }
                    }
                    message("sparge launch: rank " + failedRank + " failed with exit code " + failedCode
                            + (stopped.isEmpty() ? "" : "; stopped the other ranks " + stopped));
                    return failedCode;
                }
                return 0;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stopAll(processes);
                message("sparge launch: interrupted; stopped every rank");
                return 1;
            } finally {
                processes.forEach(Process::destroyForcibly); // none is left when all went well
                try {
                    Runtime.getRuntime().removeShutdownHook(reaper);
                } catch (IllegalStateException shuttingDown) {
                    // The hook is running already.
                }
            }
        }

        private Process start(int rank, List<String> arguments, List<Process> processes) throws IOException {
            List<String> commandLine = new ArrayList<>(jvm);
            commandLine.addAll(arguments);
            ProcessBuilder builder = new ProcessBuilder(commandLine);
            builder.environment().putAll(environment(rank, builder.environment()));
            try {
                Process process = builder.start();
                processes.add(process);
                return process;
            } catch (IOException e) {
                stopAll(processes);
                throw new IOException("could not start rank " + rank + " (" + commandLine.getFirst()
                        + "): " + e.getMessage(), e);
            }
        }

        /** PyTorch's variables, and a CPU thread count that shares the cores among the ranks. */
        Map<String, String> environment(int rank, Map<String, String> inherited) {
            Map<String, String> env = new HashMap<>();
            env.put("RANK", Integer.toString(rank));
            env.put("LOCAL_RANK", Integer.toString(rank));
            env.put("WORLD_SIZE", Integer.toString(worldSize));
            env.put("LOCAL_WORLD_SIZE", Integer.toString(worldSize));
            env.put("MASTER_ADDR", "127.0.0.1");
            env.put("MASTER_PORT", Integer.toString(port));
            if (!inherited.containsKey("SPARGE_THREADS")) {
                int cores = Runtime.getRuntime().availableProcessors();
                env.put("SPARGE_THREADS", Integer.toString(Math.max(1, cores / worldSize)));
            }
            return env;
        }

        private Thread relay(InputStream stream, PrintWriter target, int rank, boolean dropWarning) {
            String prefix = "[rank " + rank + "] ";
            return Thread.ofPlatform().daemon().name("sparge-launch-rank-" + rank).start(() -> {
                try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream,
                        StandardCharsets.UTF_8))) {
                    for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                        if (dropWarning && line.equals(INCUBATOR_WARNING)) {
                            continue;
                        }
                        synchronized (printLock) {
                            target.println(prefix + line);
                            target.flush();
                        }
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException("relaying rank " + rank + "'s output", e);
                }
            });
        }

        private void message(String line) {
            synchronized (printLock) {
                err.println(line);
                err.flush();
            }
        }

        /** SIGTERM to every rank still running, then SIGKILL to those that have not exited after a grace period. */
        private static void stopAll(List<Process> processes) {
            processes.stream().filter(Process::isAlive).forEach(Process::destroy);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STOP_GRACE_MILLIS);
            for (Process process : processes) {
                try {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || !process.waitFor(left, TimeUnit.NANOSECONDS)) {
                        process.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    process.destroyForcibly();
                }
            }
        }
    }
}

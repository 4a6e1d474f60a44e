package io.sparge4j.cli;

import io.sparge4j.engine.cpu.CpuRuntime;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;

/**
 * The {@code sparge} command-line tool.
 *
 * <p>Exit codes: 0 success, 2 bad usage (unknown option, bad value), 1 a failure while running, reported
 * in one line; {@code --verbose} or {@code SPARGE_DEBUG=1} adds the stack trace.
 */
@Command(name = "sparge", mixinStandardHelpOptions = true, versionProvider = SpargeVersion.class,
        description = "Sparge4J: SpargeAttention2 block-sparse attention and video diffusion transformers in pure Java.",
        subcommands = {InfoCommand.class, MaskCommand.class, AttentionCommand.class, MaskAnalysisCommand.class,
                AttentionBenchCommand.class, SelftestCommand.class, KernelBenchCommand.class, GenerateCommand.class,
                ForwardCommand.class, ModelBenchCommand.class, PretrainCommand.class, FinetuneCommand.class,
                ExportCommand.class, EvalCommand.class, CaptionSensitivityCommand.class, ConcentrationCommand.class,
                ReportCommand.class, LaunchCommand.class, CollectiveBenchCommand.class,
                CommandLine.HelpCommand.class})
public final class SpargeCli implements Runnable {
    /** ForkJoinPool's largest parallelism. */
    static final int MAX_THREADS = 0x7fff;

    private final Map<String, String> env;
    private boolean verbose;

    @Spec
    private CommandSpec spec;

    /**
     * @param env the environment to read {@code SPARGE_DEBUG} from
     */
    public SpargeCli(Map<String, String> env) {
        this.env = env;
    }

    /** @return the environment the tool was started with ({@code SPARGE_BACKEND}, {@code SPARGE_DEVICE}, ...) */
    Map<String, String> env() {
        return env;
    }

    /**
     * @param spec a subcommand's spec
     * @return the environment its tool was started with (the process's when run outside {@link SpargeCli})
     */
    static Map<String, String> environment(CommandSpec spec) {
        return spec.root().userObject() instanceof SpargeCli root ? root.env() : System.getenv();
    }

    /**
     * Sets the CPU backend's thread count, before any command runs.
     *
     * @param n threads, from 1 to 32767
     */
    @Option(names = "--threads", paramLabel = "N", scope = ScopeType.INHERIT,
            description = "CPU threads (default: SPARGE_THREADS, else all processors).")
    void setThreads(int n) {
        if (n < 1 || n > MAX_THREADS) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--threads': got " + n
                    + ", expected a whole number from 1 to " + MAX_THREADS);
        }
        // Set first, so that a bad SPARGE_THREADS cannot fail CpuRuntime's start-up when --threads overrides it.
        System.setProperty("sparge.threads", Integer.toString(n));
        CpuRuntime.setThreads(n);
    }

    /**
     * @param verbose print stack traces of failures
     */
    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Print the stack trace of a failure (also SPARGE_DEBUG=1).")
    void setVerbose(boolean verbose) {
        this.verbose = verbose;
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "Missing command: try 'sparge info'");
    }

    /**
     * Runs the tool and exits with its exit code.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        System.exit(execute(out, err, System.getenv(), args));
    }

    /**
     * Runs the tool without exiting.
     *
     * @param out where results go
     * @param err where errors go
     * @param env the environment ({@code SPARGE_DEBUG})
     * @param args the command line
     * @return the exit code
     */
    public static int execute(PrintWriter out, PrintWriter err, Map<String, String> env, String... args) {
        return commandLine(out, err, env).execute(args);
    }

    /**
     * The configured command line, with the error handling that gives the exit codes above.
     *
     * @param out where results go
     * @param err where errors go
     * @param env the environment ({@code SPARGE_DEBUG})
     * @return the command line, ready to {@link CommandLine#execute execute}
     */
    public static CommandLine commandLine(PrintWriter out, PrintWriter err, Map<String, String> env) {
        SpargeCli root = new SpargeCli(env);
        CommandLine cl = new CommandLine(root);
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler(SpargeCli::badUsage);
        cl.setExecutionExceptionHandler((e, command, parseResult) -> root.failed(e, cl.getErr()));
        // Picocli lets Errors through; a class whose start-up failed (CpuRuntime on a bad SPARGE_THREADS) is
        // a user's mistake, so it is reported like any other failure.
        cl.setExecutionStrategy(parseResult -> {
            try {
                return new CommandLine.RunLast().execute(parseResult);
            } catch (ExceptionInInitializerError e) {
                throw new CommandLine.ExecutionException(cl, String.valueOf(e.getMessage()), e);
            }
        });
        return cl;
    }

    private static int badUsage(ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        PrintWriter err = command.getErr();
        err.println("sparge: " + e.getMessage());
        CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
        err.println("Run '" + command.getCommandSpec().qualifiedName() + " --help' for usage.");
        err.flush();
        return command.getCommandSpec().exitCodeOnInvalidInput();
    }

    private int failed(Exception e, PrintWriter err) {
        Throwable cause = e;
        // Wrappers (a class that failed to start, picocli's wrapper for Errors) hide the real message.
        while ((cause instanceof ExceptionInInitializerError || cause instanceof CommandLine.ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        String message = cause.getMessage() != null && !cause.getMessage().isBlank()
                ? cause.getMessage() : cause.getClass().getName();
        err.println("sparge: " + message.lines().findFirst().orElse(message));
        if (verbose || "1".equals(env.get("SPARGE_DEBUG"))) {
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            err.print(trace);
        }
        err.flush();
        return 1;
    }
}

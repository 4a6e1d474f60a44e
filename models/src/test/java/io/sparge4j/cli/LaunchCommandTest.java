package io.sparge4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sparge launch} on the CPU: real child JVMs running {@code sparge info}, bad arguments, and a tiny rank
 * program ({@link FakeRank}) for the environment each rank gets and for stopping the others when one fails.
 */
class LaunchCommandTest {
    @Test
    void everyRankRunsTheCommandWithItsOutputPrefixed() {
        CliRun run = CliRun.of("launch", "--gpus", "2", "--", "info", "--backend", "cpu");
        assertEquals(0, run.exit(), run::toString);
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(run.out().contains("[rank " + rank + "] sparge "), run::toString);
            assertTrue(run.out().contains("[rank " + rank + "] cpu: "), run::toString);
        }
        for (String line : run.out().split("\n")) {
            assertTrue(line.matches("\\[rank [01]\\] .*"), () -> "unprefixed line '" + line + "' in\n" + run);
        }
        assertFalse(run.err().contains("incubator"), "the JVM's Vector API note is dropped:\n" + run);
    }

    @Test
    void aRanksBadArgumentsFailTheLaunchWithItsExitCode() {
        CliRun run = CliRun.of("launch", "--gpus", "2", "--", "info", "--no-such-option");
        assertEquals(2, run.exit(), run::toString);
        assertTrue(run.err().contains("] sparge: Unknown option: '--no-such-option'"), run::toString);
        assertTrue(Pattern.compile("sparge launch: rank [01] failed with exit code 2").matcher(run.err()).find(),
                run::toString);
    }

    @Test
    void badLauncherArgumentsAreUsageErrors() {
        CliRun zero = CliRun.of("launch", "--gpus", "0", "--", "info");
        assertEquals(2, zero.exit(), zero::toString);
        assertTrue(zero.err().contains("'--gpus': got 0, expected 1 to 1024"), zero::toString);
        CliRun port = CliRun.of("launch", "--gpus", "1", "--master-port", "70000", "--", "info");
        assertEquals(2, port.exit(), port::toString);
        assertTrue(port.err().contains("'--master-port': got 70000, expected 1 to 65535"), port::toString);
        CliRun none = CliRun.of("launch", "--gpus", "2");
        assertEquals(2, none.exit(), none::toString);
        assertTrue(none.err().contains("COMMAND"), none::toString);
        CliRun nested = CliRun.of("launch", "--gpus", "2", "--", "launch", "--gpus", "2", "--", "info");
        assertEquals(2, nested.exit(), nested::toString);
        assertTrue(nested.err().contains("launch does not nest"), nested::toString);
    }

    @TempDir
    Path tmp;

    @Test
    void whenOneRankFailsTheOthersAreStopped() throws Exception {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        LaunchCommand.Ranks ranks = new LaunchCommand.Ranks(LaunchCommand.childJvm(FakeRank.class.getName()), 3,
                29517, new PrintWriter(out), new PrintWriter(err), true);
        long start = System.nanoTime();
        int exit = ranks.run(List.of("fail-on-rank", "1", tmp.toString()));
        double seconds = (System.nanoTime() - start) / 1e9;
        String all = "out:\n" + out + "err:\n" + err;
        assertEquals(3, exit, all);
        assertTrue(seconds < 40, "took " + seconds + " s; the healthy ranks sleep 120 s unless stopped");
        assertTrue(err.toString().contains("sparge launch: rank 1 failed with exit code 3; stopped the other ranks "
                + "[0, 2]"), all);
        assertTrue(err.toString().contains("[rank 1] rank 1 fails on purpose"), all);
        // Every rank got PyTorch's variables, and the healthy ones are dead now.
        List<Long> pids = new ArrayList<>();
        Matcher m = Pattern.compile("\\[rank (\\d)\\] RANK=(\\d) LOCAL_RANK=(\\d) WORLD_SIZE=3 LOCAL_WORLD_SIZE=3 "
                + "MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 pid=(\\d+)").matcher(out.toString());
        int seen = 0;
        while (m.find()) {
            assertEquals(m.group(1), m.group(2), all);
            assertEquals(m.group(1), m.group(3), all);
            pids.add(Long.parseLong(m.group(4)));
            seen++;
        }
        assertEquals(3, seen, all);
        for (long pid : pids) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " lives");
        }
    }

    @Test
    void theRanksShareTheCoresUnlessSpargeThreadsIsSet() {
        LaunchCommand.Ranks ranks = new LaunchCommand.Ranks(List.of("java"), 4, 1234, new PrintWriter(
                new StringWriter()), new PrintWriter(new StringWriter()), true);
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(Integer.toString(Math.max(1, cores / 4)), ranks.environment(2, Map.of()).get("SPARGE_THREADS"));
        assertFalse(ranks.environment(2, Map.of("SPARGE_THREADS", "3")).containsKey("SPARGE_THREADS"));
        assertEquals("2", ranks.environment(2, Map.of()).get("RANK"));
        assertEquals("1234", ranks.environment(2, Map.of()).get("MASTER_PORT"));
    }

    /**
     * A rank program: prints its environment and leaves a file saying so; the rank named waits for every rank's
     * file and fails, the others sleep until stopped.
     */
    public static final class FakeRank {
        private FakeRank() {
        }

        /** @param args {@code fail-on-rank R FOLDER} */
        public static void main(String[] args) throws InterruptedException, IOException {
            Map<String, String> env = System.getenv();
            String rank = env.get("RANK");
            System.out.println("RANK=" + rank + " LOCAL_RANK=" + env.get("LOCAL_RANK") + " WORLD_SIZE="
                    + env.get("WORLD_SIZE") + " LOCAL_WORLD_SIZE=" + env.get("LOCAL_WORLD_SIZE") + " MASTER_ADDR="
                    + env.get("MASTER_ADDR") + " MASTER_PORT=" + env.get("MASTER_PORT") + " pid="
                    + ProcessHandle.current().pid());
            System.out.flush();
            Path folder = Path.of(args[2]);
            Files.writeString(folder.resolve("rank-" + rank), "started");
            if (rank.equals(args[1])) {
                int worldSize = Integer.parseInt(env.get("WORLD_SIZE"));
                long deadline = System.nanoTime() + 30_000_000_000L;
                for (int r = 0; r < worldSize && System.nanoTime() < deadline; ) {
                    if (Files.exists(folder.resolve("rank-" + r))) {
                        r++;
                    } else {
                        Thread.sleep(20);
                    }
                }
                System.err.println("rank " + rank + " fails on purpose");
                System.exit(3);
            }
            Thread.sleep(120_000);
        }
    }
}

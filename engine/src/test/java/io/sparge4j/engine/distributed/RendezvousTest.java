package io.sparge4j.engine.distributed;

import io.sparge4j.engine.distributed.Rendezvous.RendezvousException;
import io.sparge4j.engine.distributed.Rendezvous.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The rank bootstrap on loopback, ranks as threads: every rank gets rank 0's payload; bad settings are named. */
class RendezvousTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void everyRankReceivesRankZerosPayload(int worldSize) throws Exception {
        byte[] payload = new byte[128];
        new Random(1000L + worldSize).nextBytes(payload);
        int port = freePort();
        AtomicInteger supplierCalls = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(worldSize);
        try {
            List<Future<byte[]>> results = new ArrayList<>();
            // The others start first, so they exercise the retries while rank 0 is not yet listening.
            for (int rank = worldSize - 1; rank >= 0; rank--) {
                Settings settings = new Settings(rank, worldSize, rank, "127.0.0.1", worldSize == 1 ? 0 : port);
                results.add(pool.submit(() -> new Rendezvous(settings, TIMEOUT).share(() -> {
                    supplierCalls.incrementAndGet();
                    if (settings.rank() != 0) {
                        throw new AssertionError("rank " + settings.rank() + " was asked for the payload");
                    }
                    return payload.clone();
                })));
                if (rank == worldSize - 1) {
                    Thread.sleep(100);
                }
            }
            for (Future<byte[]> result : results) {
                assertArrayEquals(payload, result.get(30, TimeUnit.SECONDS));
            }
            assertEquals(1, supplierCalls.get(), "only rank 0 makes the payload");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void settingsComeFromPyTorchsVariables() {
        Settings s = Settings.fromEnvironment(Map.of("RANK", "2", "WORLD_SIZE", "4", "LOCAL_RANK", "1",
                "MASTER_ADDR", "10.0.0.5", "MASTER_PORT", "29500"));
        assertEquals(new Settings(2, 4, 1, "10.0.0.5", 29500), s);
        Settings defaults = Settings.fromEnvironment(Map.of("RANK", "3", "WORLD_SIZE", "4", "MASTER_PORT", "29501"));
        assertEquals(3, defaults.localRank(), "LOCAL_RANK defaults to RANK");
        assertEquals("127.0.0.1", defaults.masterAddress());
        Settings single = Settings.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "1"));
        assertEquals(0, single.masterPort(), "a world of one needs no port");
    }

    @Test
    void badEnvironmentNamesTheVariableItsValueAndWhatWasExpected() {
        assertMessage(env("WORLD_SIZE", "2", "MASTER_PORT", "29500"), "RANK is not set", "sparge launch");
        assertMessage(env("RANK", "0", "MASTER_PORT", "29500"), "WORLD_SIZE is not set");
        assertMessage(env("RANK", "x1", "WORLD_SIZE", "2", "MASTER_PORT", "29500"), "RANK: got 'x1'", "whole number");
        assertMessage(env("RANK", "4", "WORLD_SIZE", "4", "MASTER_PORT", "29500"), "RANK: got 4", "expected 0 to 3");
        assertMessage(env("RANK", "0", "WORLD_SIZE", "0"), "WORLD_SIZE: got 0", "at least 1");
        assertMessage(env("RANK", "1", "WORLD_SIZE", "2"), "MASTER_PORT is not set");
        assertMessage(env("RANK", "1", "WORLD_SIZE", "2", "MASTER_PORT", "70000"), "MASTER_PORT: got 70000",
                "1 to 65535");
        assertMessage(env("RANK", "1", "WORLD_SIZE", "2", "MASTER_PORT", "29500", "LOCAL_RANK", "-1"),
                "LOCAL_RANK: got -1");
        assertMessage(env("RANK", "1", "WORLD_SIZE", "2", "MASTER_PORT", "29500", "MASTER_ADDR", " "),
                "MASTER_ADDR: got");
    }

    @Test
    void aRankWithoutRankZeroTimesOutNamingTheAddress() throws IOException {
        int port = freePort(); // nobody listens there
        Rendezvous alone = new Rendezvous(new Settings(1, 2, 1, "127.0.0.1", port), Duration.ofMillis(600));
        long start = System.nanoTime();
        RendezvousException e = assertThrows(RendezvousException.class, () -> alone.share(() -> new byte[1]));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(e.getMessage().contains("rank 1 could not reach rank 0 at 127.0.0.1:" + port), e.getMessage());
        assertTrue(e.getMessage().contains("600 ms"), e.getMessage());
        assertTrue(millis >= 500 && millis < 10_000, "gave up after " + millis + " ms, expected about 600");
    }

    @Test
    void rankZeroTimesOutNamingTheMissingRanks() throws Exception {
        int port = freePort();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<byte[]> two = pool.submit(() -> new Rendezvous(new Settings(2, 4, 2, "127.0.0.1", port),
                    Duration.ofSeconds(1)).share(() -> null));
            Rendezvous zero = new Rendezvous(new Settings(0, 4, 0, "127.0.0.1", port), Duration.ofMillis(800));
            RendezvousException e = assertThrows(RendezvousException.class, () -> zero.share(() -> new byte[8]));
            assertTrue(e.getMessage().contains("heard from ranks [2] but not [1, 3] of WORLD_SIZE 4"), e.getMessage());
            ExecutionException waiting = assertThrows(ExecutionException.class, () -> two.get(30, TimeUnit.SECONDS));
            assertInstanceOf(RendezvousException.class, waiting.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRankWithAnotherWorldSizeIsRefusedOnBothSides() throws Exception {
        int port = freePort();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<byte[]> one = pool.submit(() -> new Rendezvous(new Settings(1, 3, 1, "127.0.0.1", port),
                    TIMEOUT).share(() -> null));
            Rendezvous zero = new Rendezvous(new Settings(0, 2, 0, "127.0.0.1", port), TIMEOUT);
            RendezvousException e = assertThrows(RendezvousException.class, () -> zero.share(() -> new byte[8]));
            assertTrue(e.getMessage().contains("rank 1 has WORLD_SIZE 3 but rank 0 has 2"), e.getMessage());
            ExecutionException refused = assertThrows(ExecutionException.class, () -> one.get(30, TimeUnit.SECONDS));
            assertTrue(refused.getCause().getMessage().contains("refused rank 1"), refused.getCause().getMessage());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aBusyPortIsReportedWithWhatToDo() throws IOException {
        try (ServerSocket busy = new ServerSocket(0)) {
            Rendezvous zero = new Rendezvous(new Settings(0, 2, 0, "127.0.0.1", busy.getLocalPort()), TIMEOUT);
            RendezvousException e = assertThrows(RendezvousException.class, () -> zero.share(() -> new byte[8]));
            assertTrue(e.getMessage().contains("cannot listen on 127.0.0.1:" + busy.getLocalPort()), e.getMessage());
            assertTrue(e.getMessage().contains("MASTER_PORT"), e.getMessage());
        }
    }

    @Test
    void rejectsANonPositiveTimeout() {
        Settings s = new Settings(0, 1, 0, "127.0.0.1", 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Rendezvous(s, Duration.ZERO));
        assertTrue(e.getMessage().contains("timeout: got PT0S"), e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }

    private static void assertMessage(Map<String, String> env, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Settings.fromEnvironment(env));
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), () -> "expected '" + part + "' in: " + e.getMessage());
        }
    }

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}

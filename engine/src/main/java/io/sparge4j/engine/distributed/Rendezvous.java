package io.sparge4j.engine.distributed;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The start-up handshake of a multi-process job: rank 0 makes a payload (NCCL's unique id) and hands it to every
 * other rank over TCP. Rank 0 listens at {@code MASTER_ADDR:MASTER_PORT}; the others connect, retrying until the
 * timeout, say who they are, and receive the payload once every rank has joined. The settings come from PyTorch's
 * environment variables, which {@code sparge launch} and {@code torchrun} set.
 */
public final class Rendezvous {
    /** {@code MASTER_ADDR}'s default: this host, for ranks all on one machine. */
    public static final String DEFAULT_MASTER_ADDR = "127.0.0.1";

    /** "SPRG": the first word each side sends, so a stray connection to the port is told apart and ignored. */
    private static final int MAGIC = 0x53505247;
    private static final int STATUS_OK = 0;
    private static final int STATUS_REFUSED = 1;
    private static final int MAX_PAYLOAD = 1 << 20;

    /**
     * Where this process stands in the job.
     *
     * @param rank this process, in [0, worldSize)
     * @param worldSize the number of processes, at least 1
     * @param localRank this process's index on its host: the GPU it drives
     * @param masterAddress the host of rank 0
     * @param masterPort rank 0's port, 1 to 65535 (0 only in a world of one, which needs none)
     */
    public record Settings(int rank, int worldSize, int localRank, String masterAddress, int masterPort) {
        /** Checks the fields, naming the environment variable each comes from. */
        public Settings {
            if (worldSize < 1) {
                throw new IllegalArgumentException("WORLD_SIZE: got " + worldSize + ", expected at least 1");
            }
            if (rank < 0 || rank >= worldSize) {
                throw new IllegalArgumentException("RANK: got " + rank + ", expected 0 to " + (worldSize - 1)
                        + " for WORLD_SIZE " + worldSize);
            }
            if (localRank < 0) {
                throw new IllegalArgumentException("LOCAL_RANK: got " + localRank + ", expected at least 0");
            }
            if (masterAddress == null || masterAddress.isBlank()) {
                throw new IllegalArgumentException("MASTER_ADDR: got '" + masterAddress + "', expected a host name "
                        + "or address such as " + DEFAULT_MASTER_ADDR);
            }
            if (masterPort < (worldSize == 1 ? 0 : 1) || masterPort > 65535) {
                throw new IllegalArgumentException("MASTER_PORT: got " + masterPort + ", expected 1 to 65535");
            }
        }

        /**
         * Reads {@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK} (default: {@code RANK}), {@code MASTER_ADDR}
         * (default {@value #DEFAULT_MASTER_ADDR}) and {@code MASTER_PORT} (needed when {@code WORLD_SIZE > 1}).
         *
         * @param env the environment
         * @return the settings
         * @throws IllegalArgumentException naming the variable, its value and what was expected
         */
        public static Settings fromEnvironment(Map<String, String> env) {
            int worldSize = required(env, "WORLD_SIZE", "the number of ranks, a whole number >= 1");
            if (worldSize < 1) {
                throw new IllegalArgumentException("WORLD_SIZE: got " + worldSize + ", expected at least 1");
            }
            int rank = required(env, "RANK", "this process's rank, a whole number from 0 to WORLD_SIZE - 1");
            int localRank = env.get("LOCAL_RANK") == null ? rank
                    : parse(env, "LOCAL_RANK", "this process's index on its host (its GPU), a whole number >= 0");
            String address = env.getOrDefault("MASTER_ADDR", DEFAULT_MASTER_ADDR);
            int port = worldSize == 1 && env.get("MASTER_PORT") == null ? 0
                    : required(env, "MASTER_PORT", "rank 0's TCP port, 1 to 65535, the same on every rank");
            return new Settings(rank, worldSize, localRank, address.strip(), port);
        }

        private static int required(Map<String, String> env, String name, String expected) {
            if (env.get(name) == null || env.get(name).isBlank()) {
                throw new IllegalArgumentException(name + " is not set, expected " + expected + ". `sparge launch "
                        + "--gpus N -- ...` sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT");
            }
            return parse(env, name, expected);
        }

        private static int parse(Map<String, String> env, String name, String expected) {
            String value = env.get(name);
            try {
                return Integer.parseInt(value.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + ": got '" + value + "', expected " + expected, e);
            }
        }

        /** @return e.g. {@code 127.0.0.1:29500} */
        public String masterEndpoint() {
            return masterAddress + ":" + masterPort;
        }
    }

    private final Settings settings;
    private final Duration timeout;

    /**
     * @param settings this rank's place in the job
     * @param timeout how long rank 0 waits for the others, and the others for rank 0
     */
    public Rendezvous(Settings settings, Duration timeout) {
        if (settings == null) {
            throw new IllegalArgumentException("settings: got null, expected Rendezvous.Settings");
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: got " + timeout + ", expected a positive duration");
        }
        this.settings = settings;
        this.timeout = timeout;
    }

    /**
     * Hands rank 0's payload to every rank; blocks until all have joined.
     *
     * @param onRankZero makes the payload; called on rank 0 only (at most 1 MiB)
     * @return rank 0's payload, on every rank
     * @throws RendezvousException when the ranks do not meet within the timeout, or disagree on the world size
     */
    public byte[] share(Supplier<byte[]> onRankZero) {
        if (settings.rank() != 0) {
            return receive();
        }
        byte[] payload = onRankZero.get();
        if (payload == null || payload.length > MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload: got " + (payload == null ? "null" : payload.length
                    + " bytes") + ", expected at most " + MAX_PAYLOAD + " bytes");
        }
        if (settings.worldSize() > 1) {
            serve(payload);
        }
        return payload.clone();
    }

    /** Thrown when the ranks fail to meet; the message says which ranks were missing and what to check. */
    public static final class RendezvousException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RendezvousException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    // ------------------------------------------------------------------ rank 0

    private void serve(byte[] payload) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<Integer, Socket> joined = new TreeMap<>();
        try (ServerSocket server = listen()) {
            while (joined.size() < settings.worldSize() - 1) {
                int waitMillis = remainingMillis(deadline);
                if (waitMillis <= 0) {
                    throw missing(joined, null);
                }
                server.setSoTimeout(waitMillis);
                Socket socket;
                try {
                    socket = server.accept();
                } catch (SocketTimeoutException e) {
                    throw missing(joined, e);
                }
                admit(socket, joined, deadline);
            }
            for (Socket socket : joined.values()) {
                DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                out.writeInt(MAGIC);
                out.writeInt(STATUS_OK);
                out.writeInt(payload.length);
                out.write(payload);
                out.flush();
            }
        } catch (IOException e) {
            throw new RendezvousException("rank 0 at " + settings.masterEndpoint() + ": " + e.getMessage(), e);
        } finally {
            for (Socket socket : joined.values()) {
                closeQuietly(socket);
            }
        }
    }

    /** Reads a joining rank's greeting; stray or duplicate connections are refused and the wait goes on. */
    private void admit(Socket socket, Map<Integer, Socket> joined, long deadline) throws IOException {
        try {
            socket.setSoTimeout(Math.max(1, Math.min(remainingMillis(deadline), 10_000)));
            DataInputStream in = new DataInputStream(socket.getInputStream());
            int magic = in.readInt();
            int rank = in.readInt();
            int worldSize = in.readInt();
            if (magic != MAGIC) {
                closeQuietly(socket);
                return;
            }
            String problem = worldSize != settings.worldSize()
                    ? "rank " + rank + " has WORLD_SIZE " + worldSize + " but rank 0 has " + settings.worldSize()
                    : rank < 1 || rank >= settings.worldSize() ? "a process joined with RANK " + rank
                            + ", expected 1 to " + (settings.worldSize() - 1)
                    : joined.containsKey(rank) ? "two processes joined with RANK " + rank : null;
            if (problem != null) {
                refuse(socket, problem);
                throw new RendezvousException("rendezvous at " + settings.masterEndpoint() + ": " + problem
                        + "; every rank needs the same WORLD_SIZE and its own RANK", null);
            }
            joined.put(rank, socket);
        } catch (SocketTimeoutException | java.io.EOFException e) {
            closeQuietly(socket); // connected but said nothing: not one of ours
        }
    }

    private static void refuse(Socket socket, String problem) {
        try {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.writeInt(MAGIC);
            out.writeInt(STATUS_REFUSED);
            out.writeUTF(problem);
            out.flush();
        } catch (IOException e) {
            // The joining rank will time out instead, and rank 0's own exception says why.
        } finally {
            closeQuietly(socket);
        }
    }

    private ServerSocket listen() throws IOException {
        ServerSocket server = new ServerSocket();
        try {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(bindAddress(), settings.masterPort()), settings.worldSize());
            return server;
        } catch (BindException e) {
            closeQuietly(server);
            throw new RendezvousException("rank 0 cannot listen on " + settings.masterEndpoint() + ": "
                    + e.getMessage() + ". Another job may hold the port: pick another MASTER_PORT (sparge launch "
                    + "--master-port)", e);
        } catch (IOException | RuntimeException e) {
            closeQuietly(server);
            throw e;
        }
    }

    /** MASTER_ADDR itself when it is this host's (loopback stays private), else every interface. */
    private InetAddress bindAddress() {
        try {
            InetAddress address = InetAddress.getByName(settings.masterAddress());
            if (address.isLoopbackAddress() || NetworkInterface.getByInetAddress(address) != null) {
                return address;
            }
            return null;
        } catch (UnknownHostException e) {
            throw new RendezvousException("MASTER_ADDR: got '" + settings.masterAddress() + "', which does not "
                    + "resolve; expected rank 0's host name or address", e);
        } catch (SocketException e) {
            return null;
        }
    }

    private RendezvousException missing(Map<Integer, Socket> joined, Throwable cause) {
        List<Integer> missing = new ArrayList<>();
        for (int r = 1; r < settings.worldSize(); r++) {
            if (!joined.containsKey(r)) {
                missing.add(r);
            }
        }
        return new RendezvousException("rendezvous timed out after " + timeout.toMillis() + " ms: rank 0 at "
                + settings.masterEndpoint() + " heard from ranks " + joined.keySet() + " but not " + missing
                + " of WORLD_SIZE " + settings.worldSize() + ". Check that every rank started, with the same "
                + "MASTER_ADDR, MASTER_PORT and WORLD_SIZE, and can reach this host", cause);
    }

    // ------------------------------------------------------------------ the other ranks

    private byte[] receive() {
        long deadline = System.nanoTime() + timeout.toNanos();
        InetSocketAddress master = new InetSocketAddress(settings.masterAddress(), settings.masterPort());
        if (master.isUnresolved()) {
            throw new RendezvousException("MASTER_ADDR: got '" + settings.masterAddress() + "', which does not "
                    + "resolve; expected rank 0's host name or address", null);
        }
        IOException last = null;
        long pause = 20;
        while (remainingMillis(deadline) > 0) {
            Socket socket = new Socket();
            try {
                socket.connect(master, Math.max(1, Math.min(remainingMillis(deadline), 2_000)));
                return exchange(socket, deadline);
            } catch (SocketTimeoutException e) {
                closeQuietly(socket);
                if (socket.isConnected()) {
                    throw new RendezvousException("rendezvous timed out after " + timeout.toMillis() + " ms: rank "
                            + settings.rank() + " reached rank 0 at " + settings.masterEndpoint() + " but got no "
                            + "payload: some other rank never joined (see rank 0's error)", e);
                }
                last = e;
            } catch (IOException e) {
                closeQuietly(socket);
                last = e; // rank 0 is not listening yet: try again
            }
            sleep(Math.min(pause, Math.max(1, remainingMillis(deadline))));
            pause = Math.min(pause * 2, 500);
        }
        throw new RendezvousException("rendezvous timed out after " + timeout.toMillis() + " ms: rank "
                + settings.rank() + " could not reach rank 0 at " + settings.masterEndpoint() + " (last error: "
                + (last == null ? "none" : last.getMessage()) + "). Check that rank 0 started and that MASTER_ADDR "
                + "and MASTER_PORT are the same on every rank", last);
    }

    private byte[] exchange(Socket socket, long deadline) throws IOException {
        try (socket) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.writeInt(MAGIC);
            out.writeInt(settings.rank());
            out.writeInt(settings.worldSize());
            out.flush();
            socket.setSoTimeout(Math.max(1, remainingMillis(deadline)));
            DataInputStream in = new DataInputStream(socket.getInputStream());
            if (in.readInt() != MAGIC) {
                throw new RendezvousException("rank " + settings.rank() + ": " + settings.masterEndpoint()
                        + " answered, but is not a sparge rank 0; check MASTER_PORT", null);
            }
            if (in.readInt() != STATUS_OK) {
                throw new RendezvousException("rank 0 at " + settings.masterEndpoint() + " refused rank "
                        + settings.rank() + ": " + in.readUTF(), null);
            }
            int length = in.readInt();
            if (length < 0 || length > MAX_PAYLOAD) {
                throw new RendezvousException("rank " + settings.rank() + ": rank 0 sent a payload of " + length
                        + " bytes, expected 0 to " + MAX_PAYLOAD, null);
            }
            byte[] payload = new byte[length];
            in.readFully(payload);
            return payload;
        }
    }

    private static int remainingMillis(long deadline) {
        long nanos = deadline - System.nanoTime();
        return nanos <= 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, Math.max(1, nanos / 1_000_000));
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RendezvousException("rendezvous interrupted", e);
        }
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception e) {
            // Nothing to do: the socket is being dropped.
        }
    }
}

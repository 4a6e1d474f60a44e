package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Bindings to NCCL ({@code libnccl.so.2}) through {@code java.lang.foreign}, found as {@link NcclLibrarySearch}
 * says. Every call checks its {@code ncclResult_t} and throws {@link NcclException} with the error's name, NCCL's
 * text (and its last-error detail) and advice. Communicators ({@code ncclComm_t}) and streams are pointers; buffers
 * are device addresses ({@code CUdeviceptr}) passed as {@code void*}.
 *
 * <p>Before NCCL is opened, {@code NCCL_NVLS_ENABLE=0} is set in the process environment unless the user set it.
 */
public final class NcclLibrary {
    /** {@code ncclUniqueId}, a struct of 128 chars passed by value to {@code ncclCommInitRank}. */
    static final MemoryLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(NcclUniqueId.BYTES, JAVA_BYTE).withName("internal"));

    private final NativeLibrary library;
    private final MethodHandle getVersion;
    private final MethodHandle getUniqueId;
    private final MethodHandle commInitRank;
    private final MethodHandle commDestroy;
    private final MethodHandle commAbort;
    private final MethodHandle getErrorString;
    private final Optional<MethodHandle> getLastError;
    private final MethodHandle commGetAsyncError;
    private final MethodHandle allReduce;
    private final MethodHandle allGather;
    private final MethodHandle reduceScatter;
    private final MethodHandle broadcast;
    private final MethodHandle send;
    private final MethodHandle recv;
    private final MethodHandle groupStart;
    private final MethodHandle groupEnd;

    private NcclLibrary(NativeLibrary library) {
        this.library = library;
        FunctionDescriptor pointerIn = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        getVersion = function("ncclGetVersion", pointerIn);
        getUniqueId = function("ncclGetUniqueId", pointerIn);
        commInitRank = function("ncclCommInitRank",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
        commDestroy = function("ncclCommDestroy", pointerIn);
        commAbort = function("ncclCommAbort", pointerIn);
        getErrorString = function("ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getLastError = library.optionalFunction("ncclGetLastError", FunctionDescriptor.of(ADDRESS, ADDRESS));
        commGetAsyncError = function("ncclCommGetAsyncError", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        // (send, recv, count, datatype, op, comm, stream)
        FunctionDescriptor reduce = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS);
        allReduce = function("ncclAllReduce", reduce);
        reduceScatter = function("ncclReduceScatter", reduce);
        allGather = function("ncclAllGather",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        // (send, recv, count, datatype, root, comm, stream)
        broadcast = function("ncclBroadcast", reduce);
        // (buffer, count, datatype, peer, comm, stream)
        FunctionDescriptor pointToPoint = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS);
        send = function("ncclSend", pointToPoint);
        recv = function("ncclRecv", pointToPoint);
        groupStart = function("ncclGroupStart", FunctionDescriptor.of(JAVA_INT));
        groupEnd = function("ncclGroupEnd", FunctionDescriptor.of(JAVA_INT));
    }

    private MethodHandle function(String symbol, FunctionDescriptor descriptor) {
        return library.optionalFunction(symbol, descriptor).orElseThrow(() -> new BackendException(
                library.name() + " has no function " + symbol + "; NCCL is too old (2.12 or newer is needed): "
                        + "pip install -U nvidia-nccl-cu12"));
    }

    /**
     * Opens NCCL once per process; later calls return the same bindings (or throw the same failure).
     *
     * @return the bindings
     * @throws BackendException when {@code libnccl.so.2} is not found, listing where it looked and what to do
     */
    public static NcclLibrary load() {
        return Loaded.get();
    }

    /**
     * Opens NCCL from a given search; for tests of the search and its message.
     *
     * @param search where to look
     * @return the bindings
     */
    static NcclLibrary open(NcclLibrarySearch search) {
        // NCCL reads its parameters once, at its first use, so the variable must be there before anything else.
        NativeEnvironment.disableNvlsUnlessSet();
        return new NcclLibrary(search.open(target -> NativeLibrary.open("NCCL", target)));
    }

    /** @return the file name or path the library was opened by */
    public String libraryName() {
        return library.name();
    }

    /** @return {@code ncclGetVersion}: e.g. 22803 for 2.28.3 (major * 10000 + minor * 100 + patch since 2.9) */
    public int version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("ncclGetVersion", (int) getVersion.invokeExact(out), MemorySegment.NULL);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclGetVersion", t);
        }
    }

    /** @return the version as text, e.g. {@code 2.28.3} */
    public String versionString() {
        return versionString(version());
    }

    /** NCCL_VERSION(X,Y,Z) is X*1000+Y*100+Z before 2.9 and X*10000+Y*100+Z from 2.9 on. */
    static String versionString(int v) {
        return v >= 10000 ? v / 10000 + "." + v / 100 % 100 + "." + v % 100 : v / 1000 + "." + v / 100 % 10 + "."
                + v % 100;
    }

    /** @return a fresh id from {@code ncclGetUniqueId}, made on rank 0 and shared with the others */
    public NcclUniqueId uniqueId() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(UNIQUE_ID);
            check("ncclGetUniqueId", (int) getUniqueId.invokeExact(out), MemorySegment.NULL);
            return NcclUniqueId.fromBytes(out.toArray(JAVA_BYTE));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclGetUniqueId", t);
        }
    }

    /** {@code ncclCommInitRank}; the caller has made its device's context current. */
    MemorySegment commInitRank(int worldSize, NcclUniqueId id, int rank) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment idValue = arena.allocate(UNIQUE_ID);
            MemorySegment.copy(id.bytes(), 0, idValue, JAVA_BYTE, 0, NcclUniqueId.BYTES);
            check("ncclCommInitRank", (int) commInitRank.invokeExact(out, worldSize, idValue, rank),
                    MemorySegment.NULL);
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclCommInitRank", t);
        }
    }

    void commDestroy(MemorySegment comm) {
        try {
            check("ncclCommDestroy", (int) commDestroy.invokeExact(comm), MemorySegment.NULL);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclCommDestroy", t);
        }
    }

    void commAbort(MemorySegment comm) {
        try {
            check("ncclCommAbort", (int) commAbort.invokeExact(comm), MemorySegment.NULL);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclCommAbort", t);
        }
    }

    /** @return {@code ncclCommGetAsyncError}: an error a kernel of the communicator met, or ncclSuccess (0) */
    int asyncError(MemorySegment comm) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("ncclCommGetAsyncError", (int) commGetAsyncError.invokeExact(comm, out), comm);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclCommGetAsyncError", t);
        }
    }

    void allReduce(long send, long recv, long count, int dataType, int op, MemorySegment comm,
            MemorySegment stream) {
        try {
            check("ncclAllReduce", (int) allReduce.invokeExact(address(send), address(recv), count, dataType, op,
                    comm, stream), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclAllReduce", t);
        }
    }

    void reduceScatter(long send, long recv, long recvCount, int dataType, int op, MemorySegment comm,
            MemorySegment stream) {
        try {
            check("ncclReduceScatter", (int) reduceScatter.invokeExact(address(send), address(recv), recvCount,
                    dataType, op, comm, stream), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclReduceScatter", t);
        }
    }

    void allGather(long send, long recv, long sendCount, int dataType, MemorySegment comm, MemorySegment stream) {
        try {
            check("ncclAllGather", (int) allGather.invokeExact(address(send), address(recv), sendCount, dataType,
                    comm, stream), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclAllGather", t);
        }
    }

    void broadcast(long send, long recv, long count, int dataType, int root, MemorySegment comm,
            MemorySegment stream) {
        try {
            check("ncclBroadcast", (int) broadcast.invokeExact(address(send), address(recv), count, dataType, root,
                    comm, stream), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclBroadcast", t);
        }
    }

    void send(long buffer, long count, int dataType, int peer, MemorySegment comm, MemorySegment stream) {
        try {
            check("ncclSend", (int) send.invokeExact(address(buffer), count, dataType, peer, comm, stream), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclSend", t);
        }
    }

    void recv(long buffer, long count, int dataType, int peer, MemorySegment comm, MemorySegment stream) {
        try {
            check("ncclRecv", (int) recv.invokeExact(address(buffer), count, dataType, peer, comm, stream), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclRecv", t);
        }
    }

    void groupStart() {
        try {
            check("ncclGroupStart", (int) groupStart.invokeExact(), MemorySegment.NULL);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclGroupStart", t);
        }
    }

    void groupEnd(MemorySegment comm) {
        try {
            check("ncclGroupEnd", (int) groupEnd.invokeExact(), comm);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("ncclGroupEnd", t);
        }
    }

    /**
     * @param code an {@code ncclResult_t}
     * @return {@code ncclGetErrorString(code)}, or the empty string
     */
    public String errorString(int code) {
        try {
            return text((MemorySegment) getErrorString.invokeExact(code));
        } catch (Throwable t) {
            return "";
        }
    }

    /** @return {@code ncclGetLastError(comm)} (NCCL 2.13+), or the empty string */
    String lastError(MemorySegment comm) {
        if (getLastError.isEmpty()) {
            return "";
        }
        try {
            return text((MemorySegment) getLastError.get().invokeExact(comm));
        } catch (Throwable t) {
            return "";
        }
    }

    /**
     * @param function the NCCL function that returned {@code result}
     * @param result its {@code ncclResult_t}
     * @param comm the communicator, for its last error, or NULL
     */
    void check(String function, int result, MemorySegment comm) {
        if (result != NcclException.SUCCESS) {
            throw new NcclException(function, result, errorString(result), lastError(comm));
        }
    }

    @SuppressWarnings("restricted") // NCCL returns static, NUL-terminated strings of unknown length
    private static String text(MemorySegment pointer) {
        return pointer.equals(MemorySegment.NULL) ? "" : pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }

    private static MemorySegment address(long pointer) {
        return MemorySegment.ofAddress(pointer);
    }


    /** Opens the library once and remembers the outcome, failure included. */
    private static final class Loaded {
        private static final Object OUTCOME = open();

        private static Object open() {
            try {
                return NcclLibrary.open(NcclLibrarySearch.standard());
            } catch (BackendException e) {
                return e;
            }
        }

        static NcclLibrary get() {
            if (OUTCOME instanceof BackendException e) {
                throw new BackendException(e.getMessage(), e);
            }
            return (NcclLibrary) OUTCOME;
        }
    }
}

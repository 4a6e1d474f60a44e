package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The C library's process environment ({@code getenv}/{@code setenv}), which native libraries such as NCCL read;
 * {@link System#getenv} is only a copy taken at start-up and cannot change it.
 */
final class NativeEnvironment {
    /** NCCL's switch for NVLink SHARP / multicast; the GPU machines here need it off. */
    static final String NVLS_VARIABLE = "NCCL_NVLS_ENABLE";

    private static final MethodHandle GETENV;
    private static final MethodHandle SETENV;

    static {
        Linker linker = Linker.nativeLinker();
        GETENV = downcall(linker, "getenv", FunctionDescriptor.of(ADDRESS, ADDRESS));
        SETENV = downcall(linker, "setenv", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    }

    private NativeEnvironment() {
    }

    @SuppressWarnings("restricted") // binding libc is the purpose
    private static MethodHandle downcall(Linker linker, String name, FunctionDescriptor descriptor) {
        MemorySegment address = linker.defaultLookup().find(name)
                .orElseThrow(() -> new BackendException("the C library has no " + name + "()"));
        return linker.downcallHandle(address, descriptor);
    }

    /**
     * @param name a variable's name
     * @return its value in the C environment now, or empty when unset
     */
    @SuppressWarnings("restricted") // reads a libc-owned C string of unknown length
    static Optional<String> get(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = (MemorySegment) GETENV.invokeExact(arena.allocateFrom(name));
            if (value.equals(MemorySegment.NULL)) {
                return Optional.empty();
            }
            return Optional.of(value.reinterpret(Long.MAX_VALUE).getString(0));
        } catch (Throwable t) {
            throw new BackendException("getenv(" + name + ") failed: " + t, t);
        }
    }

    /**
     * Sets a variable unless it is already set (the user's choice wins).
     *
     * @param name the variable
     * @param value its value
     * @return whether it was set by this call
     */
    static synchronized boolean setIfAbsent(String name, String value) {
        if (get(name).isPresent()) {
            return false;
        }
        try (Arena arena = Arena.ofConfined()) {
            int status = (int) SETENV.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), 0);
            if (status != 0) {
                throw new BackendException("setenv(" + name + "=" + value + ") failed with " + status
                        + "; set it yourself before starting the JVM");
            }
            return true;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw new BackendException("setenv(" + name + ") failed: " + t, t);
        }
    }

    /** Keeps NVLink multicast off ({@code NCCL_NVLS_ENABLE=0}) unless the user chose otherwise. */
    static void disableNvlsUnlessSet() {
        setIfAbsent(NVLS_VARIABLE, "0");
    }
}

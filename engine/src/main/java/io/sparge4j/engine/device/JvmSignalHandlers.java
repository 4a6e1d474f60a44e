package io.sparge4j.engine.device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Detects native code that has taken over the JVM's own signal handlers.
 *
 * <p>The JVM handles SIGSEGV itself (implicit null checks, safepoint polls). PoCL's LLVM, loaded by the OpenCL ICD
 * loader whenever OpenCL is probed on a machine that has PoCL, installs its crash handlers with
 * {@code SA_RESETHAND} over the JVM's. The next routine SIGSEGV then resets the disposition to the default, and a
 * second thread faulting in that window kills the process with a bare segmentation fault and no {@code hs_err}
 * file. The cure is the JDK's signal-chaining library: {@code LD_PRELOAD=$JAVA_HOME/lib/libjsig.so} keeps the
 * JVM's handlers in place and chains the native ones behind them. The {@code sparge} script, the Maven build and
 * the GPU scripts preload it; this class tells everyone else.
 */
public final class JvmSignalHandlers {
    /** SIGSEGV on Linux. */
    public static final int SIGSEGV = 11;
    /** Bytes of glibc's {@code struct sigaction} on 64-bit Linux (handler, 128-byte mask, flags, restorer). */
    private static final long SIGACTION_BYTES = 152;
    /** Bytes of {@code Dl_info}: four pointers. */
    private static final long DL_INFO_BYTES = 32;
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private JvmSignalHandlers() {
    }

    /** Native entry points, looked up once; absent off Linux. */
    private static final class Natives {
        static final MethodHandle SIGACTION;
        static final MethodHandle DLADDR;

        static {
            MethodHandle sigaction = null;
            MethodHandle dladdr = null;
            if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
                Linker linker = Linker.nativeLinker();
                sigaction = linker.defaultLookup().find("sigaction").map(s -> linker.downcallHandle(s,
                        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS))).orElse(null);
                dladdr = linker.defaultLookup().find("dladdr").map(s -> linker.downcallHandle(s,
                        FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS))).orElse(null);
            }
            SIGACTION = sigaction;
            DLADDR = dladdr;
        }
    }

    /**
     * @param signal a Linux signal number, e.g. {@link #SIGSEGV}
     * @return the file of the shared object whose function handles {@code signal} now, or empty when that cannot
     *         be told (not Linux, no handler, a handler outside any shared object)
     */
    @SuppressWarnings("restricted") // reading a C struct the C library filled in
    public static Optional<String> handlerLibrary(int signal) {
        if (Natives.SIGACTION == null || Natives.DLADDR == null) {
            return Optional.empty();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment old = arena.allocate(SIGACTION_BYTES, 8);
            if ((int) Natives.SIGACTION.invokeExact(signal, MemorySegment.NULL, old) != 0) {
                return Optional.empty();
            }
            MemorySegment handler = old.get(ADDRESS, 0);
            if (handler.address() <= 1) { // SIG_DFL, SIG_IGN
                return Optional.empty();
            }
            MemorySegment info = arena.allocate(DL_INFO_BYTES, 8);
            if ((int) Natives.DLADDR.invokeExact(handler, info) == 0) {
                return Optional.empty();
            }
            MemorySegment name = info.get(ADDRESS, 0);
            return name.equals(MemorySegment.NULL) ? Optional.empty()
                    : Optional.of(name.reinterpret(4096).getString(0));
        } catch (Throwable t) {
            return Optional.empty();
        }
    }

    /**
     * @return a message saying which library took over SIGSEGV and what to do, or empty when the JVM still owns it
     *         (or when that cannot be told)
     */
    public static Optional<String> takeoverWarning() {
        if (jsigLoaded()) {
            return Optional.empty(); // the JVM's handlers stay; queries then report the chained native one
        }
        return handlerLibrary(SIGSEGV)
                .filter(lib -> !lib.contains("libjvm") && !lib.contains("libjsig"))
                .map(lib -> "sparge: " + lib + " (loaded by an OpenCL driver) replaced the JVM's SIGSEGV handler, so"
                        + " this JVM may die later with a bare segmentation fault. Start java with LD_PRELOAD="
                        + System.getProperty("java.home") + "/lib/libjsig.so (the sparge script and the Maven build"
                        + " do this).");
    }

    /** @return whether the JDK's signal-chaining library is loaded in this process (Linux: from /proc/self/maps) */
    public static boolean jsigLoaded() {
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.anyMatch(line -> line.endsWith("/libjsig.so"));
        } catch (IOException | UncheckedIOException e) {
            return false;
        }
    }

    /** Prints {@link #takeoverWarning()} to standard error, once per process. */
    public static void warnIfTakenOver() {
        takeoverWarning().ifPresent(message -> {
            if (WARNED.compareAndSet(false, true)) {
                System.err.println(message);
            }
        });
    }
}

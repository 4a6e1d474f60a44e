package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.LargeStack;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Bindings to NVRTC, CUDA's run-time compiler. The library is found through {@code SPARGE_NVRTC} (a full path,
 * e.g. to the {@code libnvrtc.so.13} that PyTorch's pip wheels ship under
 * {@code site-packages/nvidia/cu13/lib}) or else by trying {@code libnvrtc.so.13}, {@code .12} and plain
 * {@code .so} through the system loader ({@code LD_LIBRARY_PATH}, {@code ldconfig}).
 */
final class Nvrtc {
    /** The environment variable naming NVRTC's full path. */
    static final String PATH_VARIABLE = "SPARGE_NVRTC";
    /** {@code NVRTC_SUCCESS}. */
    static final int SUCCESS = 0;
    /** {@code NVRTC_ERROR_COMPILATION}: the source has errors; the program log says which. */
    static final int ERROR_COMPILATION = 6;

    private final NativeLibrary library;
    private final MethodHandle version;
    private final MethodHandle getErrorString;
    private final Optional<MethodHandle> getNumSupportedArchs;
    private final Optional<MethodHandle> getSupportedArchs;
    private final MethodHandle createProgram;
    private final MethodHandle destroyProgram;
    private final MethodHandle compileProgram;
    private final MethodHandle getProgramLogSize;
    private final MethodHandle getProgramLog;
    private final MethodHandle getPtxSize;
    private final MethodHandle getPtx;
    private final Optional<MethodHandle> getCubinSize;
    private final Optional<MethodHandle> getCubin;

    private Nvrtc(NativeLibrary library) {
        this.library = library;
        FunctionDescriptor sizeOut = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
        FunctionDescriptor bytesOut = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
        FunctionDescriptor intOut = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        version = library.function("nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        getErrorString = library.function("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getNumSupportedArchs = library.optionalFunction("nvrtcGetNumSupportedArchs", intOut);
        getSupportedArchs = library.optionalFunction("nvrtcGetSupportedArchs", intOut);
        createProgram = library.function("nvrtcCreateProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        destroyProgram = library.function("nvrtcDestroyProgram", intOut);
        compileProgram = library.function("nvrtcCompileProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        getProgramLogSize = library.function("nvrtcGetProgramLogSize", sizeOut);
        getProgramLog = library.function("nvrtcGetProgramLog", bytesOut);
        getPtxSize = library.function("nvrtcGetPTXSize", sizeOut);
        getPtx = library.function("nvrtcGetPTX", bytesOut);
        getCubinSize = library.optionalFunction("nvrtcGetCUBINSize", sizeOut);
        getCubin = library.optionalFunction("nvrtcGetCUBIN", bytesOut);
    }

    /**
     * Opens NVRTC once per process; later calls return the same bindings or the same failure.
     *
     * @return the bindings
     * @throws BackendException when NVRTC cannot be found, saying where it was looked for and how to point at it
     */
    static Nvrtc load() {
        return Loaded.get();
    }

    /**
     * @param explicitPath the value of {@code SPARGE_NVRTC}, or {@code null}
     * @return the library names to try, in order
     */
    static List<String> candidates(String explicitPath) {
        List<String> names = new ArrayList<>();
        if (explicitPath != null && !explicitPath.isBlank()) {
            names.add(explicitPath.strip());
        }
        names.addAll(List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"));
        return names;
    }

    /** @return the file name NVRTC was opened by */
    String libraryName() {
        return library.name();
    }

    /** @return major and minor version, e.g. {13, 0} */
    int[] version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(JAVA_INT);
            MemorySegment minor = arena.allocate(JAVA_INT);
            check("nvrtcVersion", (int) version.invokeExact(major, minor));
            return new int[] {major.get(JAVA_INT, 0), minor.get(JAVA_INT, 0)};
        } catch (Throwable t) {
            throw BackendException.fromDowncall("nvrtcVersion", t);
        }
    }

    /** @return the {@code sm_XY} numbers NVRTC can compile cubins for, e.g. {75, 80, 86, 89, 90, 100, 120}; empty when it cannot say */
    int[] supportedArchitectures() {
        if (getNumSupportedArchs.isEmpty() || getSupportedArchs.isEmpty()) {
            return new int[0];
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            check("nvrtcGetNumSupportedArchs", (int) getNumSupportedArchs.get().invokeExact(count));
            int n = count.get(JAVA_INT, 0);
            MemorySegment archs = arena.allocate(JAVA_INT, Math.max(n, 1));
            check("nvrtcGetSupportedArchs", (int) getSupportedArchs.get().invokeExact(archs));
            return archs.asSlice(0, (long) n * Integer.BYTES).toArray(JAVA_INT);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("nvrtcGetSupportedArchs", t);
        }
    }

    /** @return whether this NVRTC can emit cubins (11.1 and later) */
    boolean emitsCubin() {
        return getCubin.isPresent() && getCubinSize.isPresent();
    }

    /**
     * What one compilation produced.
     *
     * @param result {@code NVRTC_SUCCESS} or {@code NVRTC_ERROR_COMPILATION}
     * @param log the compiler's log (warnings, or the errors)
     * @param binary the cubin or NUL-terminated PTX; empty unless it succeeded
     */
    record Output(int result, String log, byte[] binary) {
        boolean succeeded() {
            return result == SUCCESS;
        }
    }

    /**
     * Compiles one program.
     *
     * @param source CUDA C++
     * @param programName the name the log's messages use, e.g. {@code Kernels.saxpy.cu}
     * @param options compiler options
     * @param cubin whether to fetch a cubin ({@code --gpu-architecture=sm_XY}) rather than PTX
     * @return the binary or the errors
     * @throws BackendException when NVRTC fails for a reason other than errors in the source
     */
    Output compile(String source, String programName, List<String> options, boolean cubin) {
        return LargeStack.call("nvrtcCompileProgram", () -> compileHere(source, programName, options, cubin));
    }

    private Output compileHere(String source, String programName, List<String> options, boolean cubin) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programOut = arena.allocate(ADDRESS);
            check("nvrtcCreateProgram", (int) createProgram.invokeExact(programOut, arena.allocateFrom(source),
                    arena.allocateFrom(programName), 0, MemorySegment.NULL, MemorySegment.NULL));
            MemorySegment program = programOut.get(ADDRESS, 0);
            try {
                MemorySegment optionArray = arena.allocate(ADDRESS, Math.max(options.size(), 1));
                for (int i = 0; i < options.size(); i++) {
                    optionArray.setAtIndex(ADDRESS, i, arena.allocateFrom(options.get(i)));
                }
                int result = (int) compileProgram.invokeExact(program, options.size(), optionArray);
                String log = text(arena, program, "nvrtcGetProgramLog", getProgramLogSize, getProgramLog);
                if (result != SUCCESS) {
                    if (result != ERROR_COMPILATION) {
                        check("nvrtcCompileProgram", result);
                    }
                    return new Output(result, log, new byte[0]);
                }
                byte[] binary = cubin
                        ? bytes(arena, program, "nvrtcGetCUBIN", getCubinSize.orElseThrow(), getCubin.orElseThrow())
                        : bytes(arena, program, "nvrtcGetPTX", getPtxSize, getPtx);
                return new Output(result, log, binary);
            } finally {
                int ignored = (int) destroyProgram.invokeExact(programOut);
            }
        } catch (Throwable t) {
            throw BackendException.fromDowncall("nvrtcCompileProgram", t);
        }
    }

    private String text(Arena arena, MemorySegment program, String call, MethodHandle size, MethodHandle get)
            throws Throwable {
        byte[] bytes = bytes(arena, program, call, size, get);
        int length = 0;
        while (length < bytes.length && bytes[length] != 0) {
            length++;
        }
        return new String(bytes, 0, length, java.nio.charset.StandardCharsets.UTF_8).strip();
    }

    private byte[] bytes(Arena arena, MemorySegment program, String call, MethodHandle size, MethodHandle get)
            throws Throwable {
        MemorySegment sizeOut = arena.allocate(JAVA_LONG);
        check(call + "Size", (int) size.invokeExact(program, sizeOut));
        long n = sizeOut.get(JAVA_LONG, 0);
        if (n <= 0) {
            return new byte[0];
        }
        MemorySegment buffer = arena.allocate(n);
        check(call, (int) get.invokeExact(program, buffer));
        return buffer.toArray(JAVA_BYTE);
    }

    /**
     * @param result an {@code nvrtcResult}
     * @return NVRTC's text for it, e.g. {@code NVRTC_ERROR_INVALID_OPTION}
     */
    @SuppressWarnings("restricted") // a static NUL-terminated string owned by NVRTC
    String errorString(int result) {
        try {
            MemorySegment text = (MemorySegment) getErrorString.invokeExact(result);
            return text.equals(MemorySegment.NULL) ? "nvrtcResult " + result
                    : text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            return "nvrtcResult " + result;
        }
    }

    private void check(String call, int result) {
        if (result != SUCCESS) {
            throw new BackendException(call + " failed: " + errorString(result) + " (nvrtcResult " + result + ")"
                    + (result == 1 ? ". The host is out of memory" : "") + ". NVRTC is " + library.name());
        }
    }


    /** Opens the library once and remembers the outcome, failure included. */
    private static final class Loaded {
        private static final Object OUTCOME = open();

        private static Object open() {
            try {
                return new Nvrtc(NativeLibrary.open("NVRTC (CUDA's run-time compiler, libnvrtc)",
                        candidates(System.getenv(PATH_VARIABLE)).toArray(String[]::new)));
            } catch (BackendException e) {
                return new BackendException(e.getMessage() + ". CUDA kernels cannot be compiled without it: install "
                        + "the CUDA toolkit's NVRTC (e.g. the cuda-nvrtc package) on the loader path, or set "
                        + PATH_VARIABLE + "=/full/path/to/libnvrtc.so (PyTorch's pip wheels ship one under "
                        + "site-packages/nvidia/cu13/lib or nvidia/cuda_nvrtc/lib)", e);
            }
        }

        static Nvrtc get() {
            if (OUTCOME instanceof BackendException e) {
                throw new BackendException(e.getMessage(), e);
            }
            return (Nvrtc) OUTCOME;
        }
    }
}

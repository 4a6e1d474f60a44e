package io.sparge4j.engine.device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A shared library opened through the system loader, and downcall handles to its functions.
 *
 * <p>Libraries are opened in the global arena and never unloaded: drivers such as CUDA's do not
 * survive being unloaded while a process still runs, and each is opened only once per process.
 */
public final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    private final String name;
    private final SymbolLookup lookup;

    private NativeLibrary(String name, SymbolLookup lookup) {
        this.name = name;
        this.lookup = lookup;
    }

    /**
     * Opens the first library of {@code candidates} that the system loader finds.
     *
     * @param what what the library is, for the error message (e.g. "the CUDA driver")
     * @param candidates file names to try in order, e.g. {@code libcuda.so.1}
     * @return the opened library
     * @throws BackendException when none of them can be opened
     */
    @SuppressWarnings("restricted") // loading native code is this class's purpose
    public static NativeLibrary open(String what, String... candidates) {
        List<String> failures = new ArrayList<>();
        for (String candidate : candidates) {
            try {
                return new NativeLibrary(candidate, SymbolLookup.libraryLookup(candidate, Arena.global()));
            } catch (IllegalArgumentException notFound) {
                failures.add(candidate);
            }
        }
        throw new BackendException(what + " not found: the system loader could not open "
                + String.join(" or ", failures));
    }

    /** @return the file name the library was opened by */
    public String name() {
        return name;
    }

    /**
     * A downcall handle to a function the library must have.
     *
     * @param symbol the C function's name
     * @param descriptor its signature
     * @return the handle
     * @throws BackendException when the library lacks the function (too old a driver)
     */
    public MethodHandle function(String symbol, FunctionDescriptor descriptor) {
        return optionalFunction(symbol, descriptor).orElseThrow(() -> new BackendException(
                name + " has no function " + symbol + "; the driver is too old"));
    }

    /**
     * A downcall handle to a function the library may lack.
     *
     * @param symbol the C function's name
     * @param descriptor its signature
     * @return the handle, or empty when the library lacks the function
     */
    @SuppressWarnings("restricted") // downcalls are this class's purpose
    public Optional<MethodHandle> optionalFunction(String symbol, FunctionDescriptor descriptor) {
        Optional<MemorySegment> address = lookup.find(symbol);
        return address.map(a -> LINKER.downcallHandle(a, descriptor));
    }
}

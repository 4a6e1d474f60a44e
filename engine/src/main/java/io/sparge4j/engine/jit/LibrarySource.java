package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.jit.lib.DeviceLibrary;
import io.sparge4j.engine.jit.lib.LibraryFunction;

import java.util.List;
import java.util.Set;

/** Where the JIT gets the device library's text: {@link DeviceLibrary}, or a test's stand-in (package-private seam). */
interface LibrarySource {
    String functions(Set<LibraryFunction> used);

    String kernelPrologue(Set<LibraryFunction> used, int workGroupSize);

    List<String> paths(Set<LibraryFunction> used);

    /** The library for a target. */
    interface Factory {
        LibrarySource forTarget(Dialect dialect, DeviceFeatures features);
    }

    /** The real device library. */
    Factory DEVICE_LIBRARY = (dialect, features) -> {
        DeviceLibrary library = DeviceLibrary.forTarget(dialect, features);
        return new LibrarySource() {
            @Override
            public String functions(Set<LibraryFunction> used) {
                return library.functions(used);
            }

            @Override
            public String kernelPrologue(Set<LibraryFunction> used, int workGroupSize) {
                return library.kernelPrologue(used, workGroupSize);
            }

            @Override
            public List<String> paths(Set<LibraryFunction> used) {
                return library.paths(used);
            }
        };
    };
}

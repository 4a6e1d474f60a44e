package io.sparge4j.engine.device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Bindings to the CUDA driver API ({@code libcuda}) through {@code java.lang.foreign}.
 *
 * <p>Every call checks its {@code CUresult} and throws {@link CudaException} with the error's name and
 * the driver's description. Devices are identified by their {@code CUdevice} handle, an int.
 */
public final class CudaDriver {
    /** {@code CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT}: streaming multiprocessors. */
    public static final int ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    /** {@code CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR}. */
    public static final int ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    /** {@code CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR}. */
    public static final int ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    /** {@code CUDA_SUCCESS}. */
    public static final int SUCCESS = 0;
    /** {@code CUDA_ERROR_NO_DEVICE}: the driver is installed but sees no CUDA device. */
    public static final int ERROR_NO_DEVICE = 100;

    private static final int NAME_BUFFER_BYTES = 256;

    private final NativeLibrary library;
    private final MethodHandle cuInit;
    private final MethodHandle cuDriverGetVersion;
    private final MethodHandle cuDeviceGetCount;
    private final MethodHandle cuDeviceGet;
    private final MethodHandle cuDeviceGetName;
    private final MethodHandle cuDeviceTotalMem;
    private final MethodHandle cuDeviceGetAttribute;
    private final Optional<MethodHandle> cuGetErrorName;
    private final Optional<MethodHandle> cuGetErrorString;

    private CudaDriver(NativeLibrary library) {
        this.library = library;
        FunctionDescriptor intToResult = FunctionDescriptor.of(JAVA_INT, JAVA_INT);
        FunctionDescriptor pointerToResult = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        cuInit = library.function("cuInit", intToResult);
        cuDriverGetVersion = library.function("cuDriverGetVersion", pointerToResult);
        cuDeviceGetCount = library.function("cuDeviceGetCount", pointerToResult);
        cuDeviceGet = library.function("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuDeviceGetName = library.function("cuDeviceGetName",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuDeviceTotalMem = library.function("cuDeviceTotalMem_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuDeviceGetAttribute = library.function("cuDeviceGetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        FunctionDescriptor errorText = FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS);
        cuGetErrorName = library.optionalFunction("cuGetErrorName", errorText);
        cuGetErrorString = library.optionalFunction("cuGetErrorString", errorText);
    }

    /**
     * Opens the CUDA driver library. It is opened once per process; later calls return the same bindings.
     *
     * @return the bindings
     * @throws BackendException when no CUDA driver is installed or it lacks a needed function
     */
    public static CudaDriver load() {
        return Loaded.get();
    }

    /** @return the opened driver library, for bindings beyond the ones here (the CUDA device runtime) */
    public NativeLibrary library() {
        return library;
    }

    /** @return the file name the driver library was opened by */
    public String libraryName() {
        return library.name();
    }

    /** Initialises the driver ({@code cuInit(0)}); harmless when already initialised. */
    public void init() {
        try {
            check("cuInit", (int) cuInit.invokeExact(0));
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("cuInit", t);
        }
    }

    /** @return the driver's API version, e.g. 13000 for CUDA 13.0; works before {@link #init()} */
    public int driverVersion() {
        return intOut("cuDriverGetVersion", cuDriverGetVersion);
    }

    /** @return how many CUDA devices the driver sees */
    public int deviceCount() {
        return intOut("cuDeviceGetCount", cuDeviceGetCount);
    }

    /**
     * @param ordinal the device's index, from 0 to {@link #deviceCount()} - 1
     * @return its {@code CUdevice} handle
     */
    public int device(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuDeviceGet", (int) cuDeviceGet.invokeExact(out, ordinal));
            return out.get(JAVA_INT, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("cuDeviceGet", t);
        }
    }

    /**
     * @param device a {@code CUdevice} handle
     * @return the device's name, e.g. "NVIDIA H200"
     */
    public String deviceName(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(NAME_BUFFER_BYTES);
            check("cuDeviceGetName", (int) cuDeviceGetName.invokeExact(buffer, NAME_BUFFER_BYTES, device));
            return buffer.getString(0).trim();
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("cuDeviceGetName", t);
        }
    }

    /**
     * @param device a {@code CUdevice} handle
     * @return the device's global memory in bytes
     */
    public long totalMemory(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check("cuDeviceTotalMem_v2", (int) cuDeviceTotalMem.invokeExact(out, device));
            return out.get(JAVA_LONG, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("cuDeviceTotalMem_v2", t);
        }
    }

    /**
     * @param device a {@code CUdevice} handle
     * @param attribute a {@code CUdevice_attribute}, e.g. {@link #ATTRIBUTE_MULTIPROCESSOR_COUNT}
     * @return the attribute's value
     */
    public int attribute(int device, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuDeviceGetAttribute", (int) cuDeviceGetAttribute.invokeExact(out, attribute, device));
            return out.get(JAVA_INT, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("cuDeviceGetAttribute", t);
        }
    }

    /**
     * Throws unless {@code result} is {@code CUDA_SUCCESS}.
     *
     * @param function the driver function that returned it, for the message
     * @param result its {@code CUresult}
     * @throws CudaException naming the function, the error and the driver's description of it
     */
    public void check(String function, int result) {
        if (result != SUCCESS) {
            throw new CudaException(function, result, errorName(result), errorDescription(result));
        }
    }

    /**
     * @param result a {@code CUresult}
     * @return its name, e.g. {@code CUDA_ERROR_NO_DEVICE}, or {@code CUresult N} when the driver does not know it
     */
    public String errorName(int result) {
        return errorText(cuGetErrorName, result).orElse("CUresult " + result);
    }

    /**
     * @param result a {@code CUresult}
     * @return the driver's description of it, or the empty string when it has none
     */
    public String errorDescription(int result) {
        return errorText(cuGetErrorString, result).orElse("");
    }

    @SuppressWarnings("restricted") // reads a driver-owned C string of unknown length
    private static Optional<String> errorText(Optional<MethodHandle> handle, int result) {
        if (handle.isEmpty()) {
            return Optional.empty();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int status = (int) handle.get().invokeExact(result, out);
            MemorySegment text = out.get(ADDRESS, 0);
            if (status != SUCCESS || text.equals(MemorySegment.NULL)) {
                return Optional.empty();
            }
            // The driver returns a pointer to a static, NUL-terminated string of unknown length.
            return Optional.of(text.reinterpret(Long.MAX_VALUE).getString(0));
        } catch (Throwable t) {
            return Optional.empty();
        }
    }

    private int intOut(String function, MethodHandle handle) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check(function, (int) handle.invokeExact(out));
            return out.get(JAVA_INT, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed(function, t);
        }
    }

    private static BackendException downcallFailed(String function, Throwable t) {
        return new BackendException(function + ": the downcall failed: " + t, t);
    }

    /** Opens the library once and remembers the outcome, failure included. */
    private static final class Loaded {
        private static final Object OUTCOME = open();

        private static Object open() {
            try {
                return new CudaDriver(NativeLibrary.open("the CUDA driver (libcuda)",
                        "libcuda.so.1", "libcuda.so", "nvcuda.dll"));
            } catch (BackendException e) {
                return e;
            }
        }

        static CudaDriver get() {
            if (OUTCOME instanceof BackendException e) {
                throw new BackendException(e.getMessage(), e);
            }
            return (CudaDriver) OUTCOME;
        }
    }
}

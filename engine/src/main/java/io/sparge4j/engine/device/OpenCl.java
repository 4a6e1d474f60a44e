package io.sparge4j.engine.device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Bindings to OpenCL ({@code libOpenCL}, normally the ICD loader) through {@code java.lang.foreign}.
 *
 * <p>Platforms and devices are the opaque {@code cl_platform_id} and {@code cl_device_id} pointers. Every
 * call checks its error code and throws {@link OpenClException} with the code's name. {@code size_t} is
 * bound as a 64-bit integer: only 64-bit platforms are supported.
 */
public final class OpenCl {
    /** {@code CL_PLATFORM_VERSION}. */
    public static final int PLATFORM_VERSION = 0x0901;
    /** {@code CL_PLATFORM_NAME}. */
    public static final int PLATFORM_NAME = 0x0902;
    /** {@code CL_PLATFORM_VENDOR}. */
    public static final int PLATFORM_VENDOR = 0x0903;
    /** {@code CL_DEVICE_TYPE} (a {@code cl_device_type} bit field). */
    public static final int DEVICE_TYPE = 0x1000;
    /** {@code CL_DEVICE_MAX_COMPUTE_UNITS} (a {@code cl_uint}). */
    public static final int DEVICE_MAX_COMPUTE_UNITS = 0x1002;
    /** {@code CL_DEVICE_GLOBAL_MEM_SIZE} (a {@code cl_ulong}). */
    public static final int DEVICE_GLOBAL_MEM_SIZE = 0x101F;
    /** {@code CL_DEVICE_NAME}. */
    public static final int DEVICE_NAME = 0x102B;
    /** {@code CL_DEVICE_VERSION}. */
    public static final int DEVICE_VERSION = 0x102F;
    /** {@code CL_DEVICE_EXTENSIONS}: a space-separated list. */
    public static final int DEVICE_EXTENSIONS = 0x1030;
    /** {@code CL_DEVICE_MAX_WORK_GROUP_SIZE} (a {@code size_t}). */
    public static final int DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    /** {@code CL_DEVICE_MAX_WORK_ITEM_SIZES} (a {@code size_t[]}, one per dimension). */
    public static final int DEVICE_MAX_WORK_ITEM_SIZES = 0x1005;
    /** {@code CL_DEVICE_LOCAL_MEM_SIZE} (a {@code cl_ulong}). */
    public static final int DEVICE_LOCAL_MEM_SIZE = 0x1023;
    /** {@code CL_DEVICE_VENDOR}. */
    public static final int DEVICE_VENDOR = 0x102C;
    /** {@code CL_DRIVER_VERSION}. */
    public static final int DRIVER_VERSION = 0x102D;
    /** {@code CL_DEVICE_DOUBLE_FP_CONFIG} (a {@code cl_device_fp_config} bit field; 0 without fp64). */
    public static final int DEVICE_DOUBLE_FP_CONFIG = 0x1032;
    /** {@code CL_DEVICE_TYPE_CPU}. */
    public static final long DEVICE_TYPE_CPU = 1L << 1;
    /** {@code CL_DEVICE_TYPE_GPU}. */
    public static final long DEVICE_TYPE_GPU = 1L << 2;
    /** {@code CL_DEVICE_TYPE_ACCELERATOR}. */
    public static final long DEVICE_TYPE_ACCELERATOR = 1L << 3;
    /** {@code CL_DEVICE_TYPE_ALL}. */
    public static final long DEVICE_TYPE_ALL = 0xFFFFFFFFL;

    private final NativeLibrary library;
    private final MethodHandle clGetPlatformIDs;
    private final MethodHandle clGetPlatformInfo;
    private final MethodHandle clGetDeviceIDs;
    private final MethodHandle clGetDeviceInfo;

    private OpenCl(NativeLibrary library) {
        this.library = library;
        FunctionDescriptor info = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
        clGetPlatformIDs = library.function("clGetPlatformIDs",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        clGetPlatformInfo = library.function("clGetPlatformInfo", info);
        clGetDeviceIDs = library.function("clGetDeviceIDs",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        clGetDeviceInfo = library.function("clGetDeviceInfo", info);
    }

    /**
     * Opens the OpenCL library. It is opened once per process; later calls return the same bindings.
     *
     * @return the bindings
     * @throws BackendException when no OpenCL library is installed or it lacks a needed function
     */
    public static OpenCl load() {
        return Loaded.get();
    }

    /** @return the file name the OpenCL library was opened by */
    public String libraryName() {
        return library.name();
    }

    /** @return the opened library, for bindings beyond discovery (the OpenCL runtime in {@code device.opencl}) */
    public NativeLibrary library() {
        return library;
    }

    /**
     * @return every platform (vendor driver) the loader knows; empty when none is installed
     */
    public List<MemorySegment> platforms() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) clGetPlatformIDs.invokeExact(0, MemorySegment.NULL, count);
            if (status == OpenClErrors.PLATFORM_NOT_FOUND_KHR) {
                return List.of();
            }
            check("clGetPlatformIDs", status);
            int n = count.get(JAVA_INT, 0);
            if (n == 0) {
                return List.of();
            }
            MemorySegment ids = arena.allocate(ADDRESS, n);
            check("clGetPlatformIDs", (int) clGetPlatformIDs.invokeExact(n, ids, MemorySegment.NULL));
            JvmSignalHandlers.warnIfTakenOver(); // the ICD loader has just loaded every vendor's driver
            return handles(ids, n);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("clGetPlatformIDs", t);
        }
    }

    /**
     * @param platform a {@code cl_platform_id}
     * @param param a string-valued {@code cl_platform_info}, e.g. {@link #PLATFORM_NAME}
     * @return the value
     */
    public String platformString(MemorySegment platform, int param) {
        return infoString("clGetPlatformInfo", clGetPlatformInfo, platform, param);
    }

    /**
     * @param platform a {@code cl_platform_id}
     * @param type a {@code cl_device_type} mask, e.g. {@link #DEVICE_TYPE_ALL}
     * @return the platform's devices of that type; empty when it has none
     */
    public List<MemorySegment> devices(MemorySegment platform, long type) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) clGetDeviceIDs.invokeExact(platform, type, 0, MemorySegment.NULL, count);
            if (status == OpenClErrors.DEVICE_NOT_FOUND) {
                return List.of();
            }
            check("clGetDeviceIDs", status);
            int n = count.get(JAVA_INT, 0);
            if (n == 0) {
                return List.of();
            }
            MemorySegment ids = arena.allocate(ADDRESS, n);
            check("clGetDeviceIDs", (int) clGetDeviceIDs.invokeExact(platform, type, n, ids, MemorySegment.NULL));
            return handles(ids, n);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("clGetDeviceIDs", t);
        }
    }

    /**
     * @param device a {@code cl_device_id}
     * @param param a string-valued {@code cl_device_info}, e.g. {@link #DEVICE_NAME}
     * @return the value
     */
    public String deviceString(MemorySegment device, int param) {
        return infoString("clGetDeviceInfo", clGetDeviceInfo, device, param);
    }

    /**
     * @param device a {@code cl_device_id}
     * @param param a {@code cl_ulong}-valued {@code cl_device_info}, e.g. {@link #DEVICE_GLOBAL_MEM_SIZE}
     * @return the value
     */
    public long deviceLong(MemorySegment device, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check("clGetDeviceInfo", (int) clGetDeviceInfo.invokeExact(device, param, JAVA_LONG.byteSize(), out,
                    MemorySegment.NULL));
            return out.get(JAVA_LONG, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("clGetDeviceInfo", t);
        }
    }

    /**
     * @param device a {@code cl_device_id}
     * @param param a {@code cl_uint}-valued {@code cl_device_info}, e.g. {@link #DEVICE_MAX_COMPUTE_UNITS}
     * @return the value
     */
    public int deviceInt(MemorySegment device, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("clGetDeviceInfo", (int) clGetDeviceInfo.invokeExact(device, param, JAVA_INT.byteSize(), out,
                    MemorySegment.NULL));
            return out.get(JAVA_INT, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("clGetDeviceInfo", t);
        }
    }

    /**
     * @param device a {@code cl_device_id}
     * @param param a {@code size_t[]}-valued {@code cl_device_info}, e.g. {@link #DEVICE_MAX_WORK_ITEM_SIZES}
     * @return the values
     */
    public long[] deviceLongs(MemorySegment device, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            check("clGetDeviceInfo", (int) clGetDeviceInfo.invokeExact(device, param, 0L, MemorySegment.NULL, size));
            long bytes = size.get(JAVA_LONG, 0);
            MemorySegment out = arena.allocate(Math.max(bytes, JAVA_LONG.byteSize()));
            check("clGetDeviceInfo", (int) clGetDeviceInfo.invokeExact(device, param, bytes, out,
                    MemorySegment.NULL));
            return out.asSlice(0, bytes / JAVA_LONG.byteSize() * JAVA_LONG.byteSize()).toArray(JAVA_LONG);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed("clGetDeviceInfo", t);
        }
    }

    /**
     * Throws unless {@code status} is {@code CL_SUCCESS}.
     *
     * @param function the OpenCL function that returned it, for the message
     * @param status its error code
     * @throws OpenClException naming the function and the error
     */
    public static void check(String function, int status) {
        if (status != OpenClErrors.SUCCESS) {
            throw new OpenClException(function, status);
        }
    }

    /** Asks for the value's size first, then reads it; strings are NUL-terminated. */
    private static String infoString(String function, MethodHandle handle, MemorySegment object, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            check(function, (int) handle.invokeExact(object, param, 0L, MemorySegment.NULL, size));
            long bytes = size.get(JAVA_LONG, 0);
            if (bytes == 0) {
                return "";
            }
            MemorySegment value = arena.allocate(bytes + 1);
            check(function, (int) handle.invokeExact(object, param, bytes, value, MemorySegment.NULL));
            return value.getString(0).trim();
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw downcallFailed(function, t);
        }
    }

    private static List<MemorySegment> handles(MemorySegment array, int n) {
        List<MemorySegment> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(array.getAtIndex(ADDRESS, i));
        }
        return List.copyOf(out);
    }

    /**
     * @param function the OpenCL function whose downcall threw (not an error code: a JVM-side failure)
     * @param t what it threw
     * @return an exception saying so
     */
    public static BackendException downcallFailed(String function, Throwable t) {
        return new BackendException(function + ": the downcall failed: " + t, t);
    }

    /** Opens the library once and remembers the outcome, failure included. */
    private static final class Loaded {
        private static final Object OUTCOME = open();

        private static Object open() {
            try {
                return new OpenCl(NativeLibrary.open("OpenCL (libOpenCL)", "libOpenCL.so.1", "libOpenCL.so",
                        "/System/Library/Frameworks/OpenCL.framework/OpenCL", "OpenCL.dll"));
            } catch (BackendException e) {
                return e;
            }
        }

        static OpenCl get() {
            if (OUTCOME instanceof BackendException e) {
                throw new BackendException(e.getMessage(), e);
            }
            return (OpenCl) OUTCOME;
        }
    }
}

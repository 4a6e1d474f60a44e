package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Test helper: compiles a Java kernel through the JIT for an {@link OpenClDevice}, uploads its array arguments,
 * builds the launch's argument list from the generated parameters, and downloads the arrays afterwards.
 */
final class JitLaunch implements AutoCloseable {
    final OpenClDevice device;
    final GeneratedKernel generated;
    final DeviceKernel kernel;
    final Object[] javaArgs;
    final List<Object> arguments = new ArrayList<>();
    private final Map<Integer, DeviceBuffer> buffers = new LinkedHashMap<>();

    JitLaunch(OpenClDevice device, Method method, Object[] javaArgs, int workGroupSize) {
        this.device = device;
        this.javaArgs = javaArgs;
        this.generated = KernelJit.shared().compile(method, javaArgs, device.dialect(), device.features(),
                workGroupSize);
        this.kernel = device.load(generated);
        for (KernelParameter p : generated.parameters()) {
            Object arg = javaArgs[p.javaIndex()];
            switch (p.role()) {
                case BUFFER -> arguments.add(buffers.computeIfAbsent(p.javaIndex(), j -> upload((NativeArray) arg)));
                case BUFFER_SIZE -> arguments.add(((NativeArray) arg).getSize());
                case SCALAR -> arguments.add(arg instanceof Boolean b ? (Integer) (b ? 1 : 0) : arg);
            }
        }
    }

    private DeviceBuffer upload(NativeArray array) {
        DeviceBuffer buffer = device.allocate(array.getNumBytesOfSegment());
        device.copyToDevice(array.getSegment(), buffer, 0);
        return buffer;
    }

    void launch(long[] global, int[] local) {
        device.launch(kernel, global, local, arguments);
    }

    /** Copies every array argument back into its Java array. */
    void download() {
        buffers.forEach((javaIndex, buffer) -> device.copyToHost(buffer, 0,
                ((NativeArray) javaArgs[javaIndex]).getSegment()));
    }

    /** @return the position in {@link #arguments} of the scalar Java argument {@code javaIndex} */
    int scalarSlot(int javaIndex) {
        for (int i = 0; i < generated.parameters().size(); i++) {
            KernelParameter p = generated.parameters().get(i);
            if (p.javaIndex() == javaIndex && p.role() == KernelParameter.Role.SCALAR) {
                return i;
            }
        }
        throw new AssertionError("no scalar parameter for Java argument " + javaIndex + " in "
                + generated.parameters());
    }

    @Override
    public void close() {
        buffers.values().forEach(DeviceBuffer::close);
    }
}

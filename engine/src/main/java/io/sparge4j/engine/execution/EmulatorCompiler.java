package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.DoubleArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import io.sparge4j.kernels.types.arrays.LongArray;

import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;

/**
 * The "compiler" of the emulator: generates no code, only the parameter list of the Java method (a buffer per
 * array, a scalar per primitive), with the method's descriptor as the source so that {@link EmulatorDevice} finds
 * the method again. Its path report is {@code ["emulator"]}.
 *
 * <p>It first puts the kernel through the JIT's subset check ({@code KernelJit.checkSubset}), so that a kernel the
 * GPU backends would refuse (an allocation, a throw, {@code Math.exp} on doubles, ...) is refused here too, with the
 * same message, instead of running on the emulator only.
 */
public final class EmulatorCompiler implements KernelCompiler {
    /** The prefix of the emulator's "source": {@code "emulated Class method descriptor"}. */
    static final String SOURCE_PREFIX = "emulated ";
    private final boolean subsetCheck;

    /** The emulator's compiler, refusing what the JIT refuses. */
    public EmulatorCompiler() {
        this(true);
    }

    private EmulatorCompiler(boolean subsetCheck) {
        this.subsetCheck = subsetCheck;
    }

    /**
     * @return a compiler that runs any Java kernel the emulator can call, including what the GPU backends refuse
     *     ({@code DoubleArray} and {@code LongArray} parameters, say): for tests of the executor's plumbing only
     */
    public static EmulatorCompiler withoutSubsetCheck() {
        return new EmulatorCompiler(false);
    }

    @Override
    public GeneratedKernel compile(Method kernel, Object[] javaArgs, Dialect dialect, DeviceFeatures features,
            int workGroupSize) {
        if (subsetCheck) {
            KernelJit.shared().checkSubset(kernel, javaArgs, workGroupSize);
        }
        Class<?>[] types = kernel.getParameterTypes();
        boolean context = types.length > 0 && types[0] == KernelContext.class;
        List<KernelParameter> parameters = new ArrayList<>();
        for (int i = context ? 1 : 0; i < types.length; i++) {
            Class<?> t = types[i];
            String name = "p" + i;
            if (t.isPrimitive()) {
                Class<?> passed = t == long.class || t == float.class || t == double.class ? t : int.class;
                parameters.add(new KernelParameter(name, KernelParameter.Role.SCALAR, i, passed));
            } else if (t == FloatArray.class) {
                parameters.add(new KernelParameter(name, KernelParameter.Role.BUFFER, i, float.class));
            } else if (t == IntArray.class) {
                parameters.add(new KernelParameter(name, KernelParameter.Role.BUFFER, i, int.class));
            } else if (HalfWidthFloatArray.class.isAssignableFrom(t)) {
                parameters.add(new KernelParameter(name, KernelParameter.Role.BUFFER, i, short.class));
            } else if (t == LongArray.class) {
                parameters.add(new KernelParameter(name, KernelParameter.Role.BUFFER, i, long.class));
            } else if (t == DoubleArray.class) {
                parameters.add(new KernelParameter(name, KernelParameter.Role.BUFFER, i, double.class));
            } else if (t == ByteArray.class) {
                parameters.add(new KernelParameter(name, KernelParameter.Role.BUFFER, i, byte.class));
            } else {
                throw new IllegalArgumentException("EmulatorCompiler: parameter " + i + " of "
                        + kernel.getDeclaringClass().getName() + "." + kernel.getName() + " is a " + t.getName()
                        + ", expected a primitive or a kernel array (FloatArray, IntArray, LongArray,"
                        + " DoubleArray, HalfFloatArray, BFloat16Array, ByteArray)");
            }
        }
        String descriptor = MethodType.methodType(kernel.getReturnType(), types).toMethodDescriptorString();
        String source = SOURCE_PREFIX + kernel.getDeclaringClass().getName() + " " + kernel.getName() + " " + descriptor;
        return new GeneratedKernel(kernel.getName(), source, dialect, parameters, "emulator|" + source,
                List.of("emulator"), kernel.getDeclaringClass().getName(), kernel.getName(), context ? 0 : 1);
    }
}

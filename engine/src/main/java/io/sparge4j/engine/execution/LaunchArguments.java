package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** Turns a kernel's Java arguments into the launch arguments of its generated parameters. */
public final class LaunchArguments {
    private LaunchArguments() {
    }

    /**
     * @param where what is launching, for messages, e.g. {@code task "graph.t"}
     * @param generated the kernel as generated
     * @param args the Java kernel method's arguments (index 0 of a context kernel is the KernelContext)
     * @param buffers the device buffer of each array argument
     * @return one launch argument per generated parameter, as {@link ComputeDevice#launch} takes them
     * @throws IllegalArgumentException when an argument does not fit its parameter
     */
    public static List<Object> of(String where, GeneratedKernel generated, Object[] args,
            Function<NativeArray, DeviceBuffer> buffers) {
        List<Object> out = new ArrayList<>(generated.parameters().size());
        for (KernelParameter p : generated.parameters()) {
            if (p.javaIndex() < 0 || p.javaIndex() >= args.length) {
                throw new IllegalStateException(where + ": generated parameter " + p.name()
                        + " refers to Java argument " + p.javaIndex() + ", but the task has " + args.length);
            }
            Object a = args[p.javaIndex()];
            out.add(switch (p.role()) {
                case BUFFER -> buffers.apply(array(where, p, a));
                case BUFFER_SIZE -> array(where, p, a).getSize();
                case SCALAR -> scalar(where, p, a);
            });
        }
        return out;
    }

    private static NativeArray array(String where, KernelParameter p, Object a) {
        if (a instanceof NativeArray array) {
            return array;
        }
        throw new IllegalArgumentException(where + ": argument " + p.javaIndex() + " ("
                + p.name() + ") is " + (a == null ? "null" : a.getClass().getSimpleName())
                + ", expected a kernel array for a " + p.role() + " parameter");
    }

    /** The boxed value as the device expects it: Integer, Long, Float or Double (booleans as 0/1). */
    private static Object scalar(String where, KernelParameter p, Object a) {
        Class<?> t = p.type();
        if (a instanceof Boolean b && t == int.class) {
            return b ? 1 : 0;
        }
        Number n = a instanceof Character c ? Integer.valueOf(c) : a instanceof Number num ? num : null;
        if (n != null) {
            if (t == int.class && !(a instanceof Long || a instanceof Float || a instanceof Double)) {
                return n.intValue();
            } else if (t == long.class && !(a instanceof Float || a instanceof Double)) {
                return n.longValue();
            } else if (t == float.class && !(a instanceof Double)) {
                return n.floatValue();
            } else if (t == double.class) {
                return n.doubleValue();
            }
        }
        throw new IllegalArgumentException(where + ": argument " + p.javaIndex() + " ("
                + p.name() + ") is " + (a == null ? "null" : a.getClass().getSimpleName() + " " + a)
                + ", expected a " + t.getName() + " scalar");
    }
}

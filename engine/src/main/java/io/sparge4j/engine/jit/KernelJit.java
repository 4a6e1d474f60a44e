package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.jit.lib.LibraryFunction;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.annotations.LaunchBounds;

import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The kernel JIT: translates a kernel method's bytecode (and every method it calls, inlined) into CUDA C++ for
 * NVRTC or OpenCL C 1.2.
 *
 * <p>Semantics where C differs from Java: int and long overflow wraps on every supported device but is formally
 * undefined in C (the compilers may assume loops do not overflow); integer division by zero is undefined on
 * devices; float-to-int conversions saturate with NaN to 0 as in Java ({@code __float2int_rz},
 * {@code convert_int_sat_rtz}); shift counts are masked as in Java; {@code KernelMath.max/min} map to
 * {@code fmaxf/fminf}, which return the other operand where Java returns NaN, and do not order -0 and +0;
 * {@code Float.floatToIntBits} does not canonicalise NaNs; transcendental functions have the device's ulp bounds.
 * {@code new} private arrays are zero-initialised as in Java; local arrays are not (as documented on
 * {@code KernelContext}). Set {@code SPARGE_PRINT_KERNELS=1} to print every generated source to stderr.
 */
public final class KernelJit {
    /** The emission's version, part of every cache key: bump when the generated code changes. */
    public static final String VERSION = "3";

    private static final KernelJit SHARED = new KernelJit(LibrarySource.DEVICE_LIBRARY);
    /**
     * The target of {@link #checkSubset}: a CUDA device with every feature and no local-memory limit, so that only
     * the language subset is checked, not one device's capacity.
     */
    private static final DeviceFeatures SUBSET_CHECK = new DeviceFeatures(32, true, true, true, Integer.MAX_VALUE,
            Long.MAX_VALUE, "subset check");

    private final LibrarySource.Factory libraries;
    private final Map<Key, GeneratedKernel> memo = new ConcurrentHashMap<>();

    private record Key(Method kernel, List<Object> constants, Dialect dialect, DeviceFeatures features,
            int workGroupSize) {
    }

    KernelJit(LibrarySource.Factory libraries) {
        this.libraries = libraries;
    }

    /** @return the process-wide JIT */
    public static KernelJit shared() {
        return SHARED;
    }

    /**
     * Translates a kernel, memoised in memory.
     *
     * @param kernel a static void method: a KernelContext kernel (first parameter {@code KernelContext}) or a
     *     loop-style kernel with {@code @Parallel} loops
     * @param javaArgs the arguments the kernel will be launched with (index 0 = a KernelContext placeholder or null
     *     for context kernels); supplies {@code @Constant} values and is checked against the parameter types; may be
     *     null when the kernel has no {@code @Constant} parameter
     * @param dialect the language to generate
     * @param features what the device offers
     * @param workGroupSize work-items per group of the launch (product of local sizes), for fallback scratch sizing
     * @return the generated kernel
     * @throws KernelCompileException when the kernel uses something the JIT does not support
     * @throws IllegalArgumentException when the method or arguments do not fit
     */
    public GeneratedKernel compile(Method kernel, Object[] javaArgs, Dialect dialect, DeviceFeatures features,
            int workGroupSize) {
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(dialect, "dialect");
        Objects.requireNonNull(features, "features");
        if (workGroupSize < 1) {
            throw new IllegalArgumentException("KernelJit.compile: workGroupSize is " + workGroupSize
                    + ", expected >= 1");
        }
        if (!Modifier.isStatic(kernel.getModifiers()) || kernel.getReturnType() != void.class) {
            throw new IllegalArgumentException("KernelJit.compile: kernel " + kernel + " must be a static void method");
        }
        Map<Integer, Integer> constants = constants(kernel, javaArgs);
        Key key = new Key(kernel, List.copyOf(constants.entrySet().stream().map(e -> (Object) (e.getKey() + "="
                + e.getValue())).toList()), dialect, features, workGroupSize);
        return memo.computeIfAbsent(key, k -> generate(kernel, constants, dialect, features, workGroupSize));
    }

    /**
     * Checks that a kernel stays inside the subset the JIT translates, as {@link #compile} would for any GPU, without
     * printing its source ({@code SPARGE_PRINT_KERNELS}): the CPU emulator calls it, so that it refuses what the GPU
     * backends refuse, with the same message.
     *
     * @param kernel as for {@link #compile}
     * @param javaArgs as for {@link #compile}
     * @param workGroupSize as for {@link #compile}
     * @throws KernelCompileException when the kernel uses something the JIT does not support
     */
    public void checkSubset(Method kernel, Object[] javaArgs, int workGroupSize) {
        compile(kernel, javaArgs, Dialect.CUDA, SUBSET_CHECK, workGroupSize);
    }

    private static Map<Integer, Integer> constants(Method kernel, Object[] javaArgs) {
        Class<?>[] types = kernel.getParameterTypes();
        if (javaArgs != null && javaArgs.length != types.length) {
            throw new IllegalArgumentException("KernelJit.compile: javaArgs has " + javaArgs.length + " values, "
                    + "expected " + types.length + " for " + kernel.getName());
        }
        Map<Integer, Integer> constants = new TreeMap<>();
        Annotation[][] annotations = kernel.getParameterAnnotations();
        for (int i = 0; i < types.length; i++) {
            Object arg = javaArgs == null ? null : javaArgs[i];
            boolean constant = Arrays.stream(annotations[i]).anyMatch(a -> a instanceof Constant);
            if (constant) {
                if (types[i] != int.class) {
                    throw new IllegalArgumentException("KernelJit.compile: @Constant parameter " + i + " of "
                            + kernel.getName() + " has type " + types[i] + ", expected int");
                }
                if (!(arg instanceof Integer value)) {
                    throw new IllegalArgumentException("KernelJit.compile: javaArgs[" + i + "] is " + arg
                            + ", expected the Integer value of @Constant parameter " + i + " of " + kernel.getName());
                }
                constants.put(i, value);
            } else if (arg != null && !(i == 0 && types[0] == KernelContext.class) && !fits(types[i], arg)) {
                throw new IllegalArgumentException("KernelJit.compile: javaArgs[" + i + "] is a "
                        + arg.getClass().getName() + ", expected " + types[i].getName() + " for " + kernel.getName());
            }
        }
        return constants;
    }

    private static boolean fits(Class<?> type, Object arg) {
        if (!type.isPrimitive()) {
            return type.isInstance(arg);
        }
        return switch (arg) {
            case Integer i -> type == int.class;
            case Long l -> type == long.class;
            case Float f -> type == float.class;
            case Double d -> type == double.class;
            case Boolean b -> type == boolean.class;
            case Short s -> type == short.class;
            case Byte b -> type == byte.class;
            case Character ch -> type == char.class;
            default -> false;
        };
    }

    /**
     * @return work-groups of {@code groupSize} per compute unit that the kernel's {@link LaunchBounds} asks for (at
     *     least 1), or 0 without one
     */
    private static int minGroupsPerComputeUnit(Method kernel, int groupSize) {
        LaunchBounds bounds = kernel.getAnnotation(LaunchBounds.class);
        if (bounds == null) {
            return 0;
        }
        if (bounds.minWorkItemsPerComputeUnit() < 1) {
            throw new IllegalArgumentException("KernelJit.compile: @LaunchBounds(minWorkItemsPerComputeUnit = "
                    + bounds.minWorkItemsPerComputeUnit() + ") on " + kernel.getDeclaringClass().getName() + "."
                    + kernel.getName() + ", expected at least 1");
        }
        return Math.max(1, bounds.minWorkItemsPerComputeUnit() / groupSize);
    }

    private GeneratedKernel generate(Method kernel, Map<Integer, Integer> constants, Dialect dialect,
            DeviceFeatures features, int workGroupSize) {
        CSyntax syntax = new CSyntax(dialect);
        Translator translator = new Translator(syntax, features);
        translator.translateKernel(kernel, constants);
        Set<LibraryFunction> used = EnumSet.noneOf(LibraryFunction.class);
        used.addAll(translator.used);
        LibrarySource library = libraries.forTarget(dialect, features);
        String functions = used.isEmpty() ? "" : library.functions(used);
        String prologue = used.isEmpty() ? "" : library.kernelPrologue(used, workGroupSize);
        List<String> paths = used.isEmpty() ? List.of() : library.paths(used);

        String entry = kernel.getName();
        List<KernelParameter> parameters = new ArrayList<>();
        List<String> signature = new ArrayList<>();
        for (Translator.Param p : translator.params) {
            parameters.add(new KernelParameter(p.name(), p.role(), p.javaIndex(), p.type() == JType.BYTE ? byte.class
                    : p.type().javaClass()));
            signature.add(p.role() == KernelParameter.Role.BUFFER ? syntax.pointerParam(p.type(), p.name())
                    : syntax.type(p.type()) + " " + p.name());
        }
        StringBuilder source = new StringBuilder();
        source.append("// ").append(kernel.getDeclaringClass().getName()).append('.').append(entry)
                .append(", generated by the Sparge4J kernel JIT ").append(VERSION).append(" for ").append(dialect)
                .append('\n');
        if (dialect == Dialect.OPENCL && translator.usesDouble()) {
            source.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n");
        }
        if (!functions.isEmpty()) {
            source.append(functions);
            if (!functions.endsWith("\n")) {
                source.append('\n');
            }
        }
        int minGroups = minGroupsPerComputeUnit(kernel, workGroupSize);
        source.append(syntax.kernelHead(entry, workGroupSize, minGroups)).append('(')
                .append(String.join(", ", signature)).append(") {\n");
        source.append(translator.declarationText());
        if (!prologue.isEmpty()) {
            for (String line : prologue.split("\n")) {
                source.append("    ").append(line.strip()).append('\n');
            }
        }
        source.append(translator.body());
        source.append("}\n");

        StringBuilder keyText = new StringBuilder("sparge4j kernel jit ").append(VERSION).append('\n');
        translator.keyParts.forEach(part -> keyText.append(part).append('\n'));
        keyText.append("dialect ").append(dialect).append('\n').append("features ").append(features).append('\n')
                .append("work-group ").append(workGroupSize).append('\n')
                .append("min groups per compute unit ").append(minGroups).append('\n')
                .append("library ").append(io.sparge4j.engine.jit.lib.DeviceLibrary.VERSION).append(' ')
                .append(KernelCache.sha256(functions + "\n" + prologue + "\n" + paths))
                .append('\n')
                // the source itself too: a translator change that forgot to bump VERSION must not reuse a binary
                .append("source ").append(KernelCache.sha256(source.toString())).append('\n');
        String cacheKey = KernelCache.sha256(keyText.toString());
        GeneratedKernel generated = new GeneratedKernel(entry, source.toString(), dialect, parameters, cacheKey, paths,
                kernel.getDeclaringClass().getName(), entry, translator.parallelDimensions,
                translator.code.localBytes(),
                translator.code.dynamicLocalBytes());
        if ("1".equals(System.getenv("SPARGE_PRINT_KERNELS")) && features != SUBSET_CHECK) {
            System.err.println("===== sparge kernel " + generated.javaName() + " (" + dialect + ", cache key "
                    + cacheKey + ") =====\n" + generated.source());
        }
        return generated;
    }
}

package io.sparge4j.engine.execution;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.tasks.TaskSpec;

import java.io.Serializable;
import java.lang.invoke.MethodHandleInfo;
import java.lang.invoke.MethodType;
import java.lang.invoke.SerializedLambda;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;

/**
 * Finds the static kernel method behind a task's method reference: the serializable lambda's
 * {@link SerializedLambda} (from its {@code writeReplace}) names the implementing class, method and descriptor.
 * Refuses lambdas that capture values or call instance methods, and arguments that do not fit the parameters.
 */
public final class TaskResolver {
    private TaskResolver() {
    }

    /**
     * @param task the task
     * @return its kernel method (made accessible), with the arguments checked against its parameters
     * @throws IllegalArgumentException naming the task when the lambda or the arguments do not fit
     */
    public static Method resolve(TaskSpec task) {
        String what = "task \"" + task.qualifiedName() + "\"";
        Method method = resolve(task.kernel(), what);
        checkArguments(method, task.arguments(), what);
        return method;
    }

    /**
     * @param lambda a serializable lambda or method reference
     * @param what names it in messages
     * @return the static method it calls
     * @throws IllegalArgumentException when it is not a method reference to a static method without captures
     */
    public static Method resolve(Serializable lambda, String what) {
        SerializedLambda serialized = serialized(lambda, what);
        String impl = serialized.getImplClass().replace('/', '.') + "." + serialized.getImplMethodName();
        if (serialized.getCapturedArgCount() > 0) {
            throw new IllegalArgumentException(what + ": the lambda captures " + serialized.getCapturedArgCount()
                    + " value(s) (it calls " + impl + "), expected a method reference to a static kernel such as"
                    + " PortabilityKernels::saxpy, with the values passed as task arguments");
        }
        if (serialized.getImplMethodKind() != MethodHandleInfo.REF_invokeStatic) {
            throw new IllegalArgumentException(what + ": the lambda refers to " + impl + ", which is "
                    + MethodHandleInfo.referenceKindToString(serialized.getImplMethodKind())
                    + ", expected a static method (a kernel is a static method)");
        }
        ClassLoader loader = lambda.getClass().getClassLoader();
        Class<?> owner;
        MethodType type;
        try {
            owner = Class.forName(serialized.getImplClass().replace('/', '.'), false, loader);
            type = MethodType.fromMethodDescriptorString(serialized.getImplMethodSignature(), loader);
        } catch (ClassNotFoundException | TypeNotPresentException e) {
            throw new IllegalArgumentException(what + ": cannot load the kernel " + impl + ": " + e, e);
        }
        try {
            Method method = owner.getDeclaredMethod(serialized.getImplMethodName(), type.parameterArray());
            if (!Modifier.isStatic(method.getModifiers())) {
                throw new IllegalArgumentException(what + ": " + impl + " is not static, expected a static kernel");
            }
            method.setAccessible(true);
            return method;
        } catch (NoSuchMethodException e) {
            throw new IllegalArgumentException(what + ": no method " + impl + type + " found", e);
        }
    }

    private static SerializedLambda serialized(Serializable lambda, String what) {
        Method writeReplace;
        try {
            writeReplace = lambda.getClass().getDeclaredMethod("writeReplace");
            writeReplace.setAccessible(true);
            if (writeReplace.invoke(lambda) instanceof SerializedLambda s) {
                return s;
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // falls through: not a serializable lambda
        }
        throw new IllegalArgumentException(what + ": the kernel is a " + lambda.getClass().getName()
                + ", expected a method reference to a static kernel such as PortabilityKernels::saxpy");
    }

    /** The arguments must fit the parameters, so that a mistake is reported before any device work. */
    static void checkArguments(Method method, Object[] args, String what) {
        Class<?>[] params = method.getParameterTypes();
        String kernel = method.getDeclaringClass().getSimpleName() + "." + method.getName();
        if (params.length != args.length) {
            throw new IllegalArgumentException(what + ": " + kernel + " takes " + params.length + " parameters, got "
                    + args.length + " arguments");
        }
        for (int i = 0; i < params.length; i++) {
            Class<?> p = params[i];
            Object a = args[i];
            boolean fits = p.isPrimitive() ? widens(a, p) : a == null || p.isInstance(a);
            if (p == KernelContext.class && a == null) {
                fits = false;
            }
            if (!fits) {
                throw new IllegalArgumentException(what + ": argument " + i + " of " + kernel + " is "
                        + (a == null ? "null" : a.getClass().getSimpleName() + " " + a) + ", expected " + p.getSimpleName()
                        + (p == KernelContext.class ? " (pass new KernelContext())" : ""));
            }
        }
    }

    /** Whether a boxed argument converts to the primitive parameter as a method call would (unbox, widen). */
    static boolean widens(Object a, Class<?> p) {
        int rank = switch (a) {
            case Byte b -> 1;
            case Short s -> 2;
            case Character c -> 2;
            case Integer i -> 3;
            case Long l -> 4;
            case Float f -> 5;
            case Double d -> 6;
            case null, default -> -1;
        };
        if (p == boolean.class) {
            return a instanceof Boolean;
        }
        if (a instanceof Character) {
            return p == char.class || p == int.class || p == long.class || p == float.class || p == double.class;
        }
        int need = p == byte.class ? 1 : p == short.class ? 2 : p == char.class ? 0 : p == int.class ? 3
                : p == long.class ? 4 : p == float.class ? 5 : 6;
        return rank > 0 && rank <= need;
    }
}

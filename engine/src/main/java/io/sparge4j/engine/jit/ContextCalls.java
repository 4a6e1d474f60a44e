package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.CtxRef;
import io.sparge4j.engine.jit.Value.Expr;
import io.sparge4j.engine.jit.Value.Space;
import io.sparge4j.engine.jit.lib.LibraryFunction;

import java.lang.constant.MethodTypeDesc;
import java.lang.reflect.Modifier;
import java.util.List;

/**
 * KernelContext calls: barriers, local arrays, sub-group operations, atomics and tensor-core MMA map to the
 * dialect's built-ins or the device library; its other final methods are inlined.
 */
final class ContextCalls {
    private final Translator t;

    ContextCalls(Translator t) {
        this.t = t;
    }

    Expr call(String name, MethodTypeDesc type, List<Value> args) {
        String desc = type.descriptorString();
        switch (name + desc) {
            case "localBarrier()V" -> {
                t.code.emit(t.c.localBarrier());
                return null;
            }
            case "globalBarrier()V" -> {
                t.code.emit(t.c.globalBarrier());
                return null;
            }
            case "allocateFloatLocalArray(I)[F" -> {
                return localArray(JType.FLOAT, args);
            }
            case "allocateIntLocalArray(I)[I" -> {
                return localArray(JType.INT, args);
            }
            case "allocateHalfFloatLocalArray(I)[S", "allocateBFloat16LocalArray(I)[S" -> {
                return localArray(JType.SHORT, args);
            }
            case "simdGroupSize()I" -> {
                // the device library runs 32-wide sub-groups on every path (native warps or emulated), whatever
                // the device's native width, so lane arithmetic must agree with it
                return t.exprs.constant(io.sparge4j.engine.jit.lib.DeviceLibrary.SUB_GROUP_WIDTH);
            }
            case "simdSum(F)F" -> {
                return t.calls.libraryStatement(LibraryFunction.SIMD_SUM, JType.FLOAT,
                        List.of(text(args, 0, "simdSum")));
            }
            case "simdBroadcastFirst(F)F" -> {
                return t.calls.libraryStatement(LibraryFunction.SIMD_BROADCAST_FIRST, JType.FLOAT,
                        List.of(text(args, 0, "simdBroadcastFirst")));
            }
            case "simdShuffleDown(FI)F" -> {
                return t.calls.libraryStatement(LibraryFunction.SIMD_SHUFFLE_DOWN, JType.FLOAT,
                        List.of(text(args, 0, "simdShuffleDown"), text(args, 1, "delta")));
            }
            case "simdShuffleXor(FI)F" -> {
                return t.calls.libraryStatement(LibraryFunction.SIMD_SHUFFLE_XOR, JType.FLOAT,
                        List.of(text(args, 0, "simdShuffleXor"), text(args, 1, "laneMask")));
            }
            case "mmaLoadMatrixX4([IIIII[II)V", "mmaLoadMatrixX4Trans([IIIII[II)V" -> {
                ArrayRef tile = t.exprs.array(args.get(0), name);
                ArrayRef dst = t.exprs.array(args.get(5), name);
                if (tile.space != Space.LOCAL || dst.space != Space.PRIVATE) {
                    throw t.frames.error(name + " reads a local int array (ctx.allocateIntLocalArray) into a "
                            + "private one (new int[...]); got a " + tile.space + " tile and a " + dst.space
                            + " destination");
                }
                boolean trans = name.startsWith("mmaLoadMatrixX4Trans");
                return t.calls.libraryStatement(trans ? LibraryFunction.LOAD_MATRIX_X4_TRANS
                        : LibraryFunction.LOAD_MATRIX_X4, null, List.of(
                        pointer(tile, expr(args, 1, "offset")), text(args, 2, "ld"), text(args, 3, "step1"),
                        text(args, 4, "step2"), pointer(dst, expr(args, 6, "dstOffset"))));
            }
            case "asyncCopy16([IILio/sparge4j/kernels/types/arrays/IntArray;II)V" -> {
                ArrayRef local = t.exprs.array(args.get(0), name);
                ArrayRef global = t.exprs.array(args.get(2), name);
                if (local.space != Space.LOCAL || global.space != Space.GLOBAL) {
                    throw t.frames.error("asyncCopy16 copies from a kernel IntArray parameter into a local int array "
                            + "(ctx.allocateIntLocalArray); got a " + global.space + " source and a " + local.space
                            + " destination");
                }
                return t.calls.libraryStatement(LibraryFunction.ASYNC_COPY_16, null, List.of(
                        pointer(local, expr(args, 1, "localIndex")), pointer(global, expr(args, 3, "globalIndex")),
                        text(args, 4, "validInts")));
            }
            case "asyncCommit()V" -> {
                return t.calls.libraryStatement(LibraryFunction.ASYNC_COMMIT, null, List.of());
            }
            case "asyncWait(I)V" -> {
                Expr pending = expr(args, 0, "pendingGroups");
                if (!(pending.constant() instanceof Integer p) || p < 0) {
                    throw t.frames.error("asyncWait(" + pending.code() + "): pendingGroups must be a constant >= 0 "
                            + "(cp.async.wait_group takes an immediate; use a static final int or an @Constant)");
                }
                return t.calls.libraryStatement(LibraryFunction.ASYNC_WAIT, null, List.of(pending.code()));
            }
            default -> {
            }
        }
        if (name.equals("atomicAdd")) {
            ArrayRef a = t.exprs.array(args.get(0), "atomicAdd");
            Expr index = expr(args, 1, "atomicAdd index");
            Expr value = expr(args, 2, "atomicAdd value");
            LibraryFunction fn = switch (a.space) {
                case GLOBAL -> a.element == JType.FLOAT ? LibraryFunction.ATOMIC_ADD_GLOBAL_FLOAT
                        : LibraryFunction.ATOMIC_ADD_GLOBAL_INT;
                case LOCAL -> LibraryFunction.ATOMIC_ADD_LOCAL_INT;
                case PRIVATE -> null;
            };
            if (fn == null) {
                t.code.emit(a.name + "[" + index.code() + "] += " + value.code()
                        + "; // atomicAdd on a private array");
                return null;
            }
            return t.calls.libraryStatement(fn, null, List.of(a.name, t.exprs.text(index), t.exprs.text(value)));
        }
        if ((name.equals("mma16x8x16F16") || name.equals("mma16x8x16BF16")) && args.size() == 9) {
            ArrayRef a = t.exprs.array(args.get(0), name);
            ArrayRef b = t.exprs.array(args.get(3), name);
            ArrayRef cc = t.exprs.array(args.get(6), name);
            if (a.space != Space.LOCAL || b.space != Space.LOCAL || cc.space != Space.LOCAL) {
                throw t.frames.error(name + " needs local arrays (ctx.allocate...LocalArray) for A, B and C; use the "
                        + "fragment-level mmaLoadA/mmaLoadB/mmaF16 for private accumulators");
            }
            LibraryFunction fn = name.endsWith("BF16") ? LibraryFunction.MMA_TILE_BF16 : LibraryFunction.MMA_TILE_F16;
            return t.calls.libraryStatement(fn, null, List.of(pointer(a, expr(args, 1, "aOffset")),
                    text(args, 2, "lda"), pointer(b, expr(args, 4, "bOffset")),
                    text(args, 5, "ldb"), pointer(cc, expr(args, 7, "cOffset")),
                    text(args, 8, "ldc")));
        }
        if ((name.equals("mmaF16") || name.equals("mmaBF16")) && args.size() == 6) {
            ArrayRef a = t.exprs.array(args.get(0), name);
            ArrayRef b = t.exprs.array(args.get(2), name);
            ArrayRef cc = t.exprs.array(args.get(4), name);
            if (a.space != Space.PRIVATE || b.space != Space.PRIVATE || cc.space != Space.PRIVATE) {
                throw t.frames.error(name + " takes fragments in private arrays (new short[...], new float[...]); "
                        + "load them from local tiles with ctx.mmaLoadA/mmaLoadB");
            }
            LibraryFunction fn = name.equals("mmaBF16") ? LibraryFunction.MMA_BF16 : LibraryFunction.MMA_F16;
            return t.calls.libraryStatement(fn, null, List.of(pointer(a, expr(args, 1, "aOffset")),
                    pointer(b, expr(args, 3, "bOffset")), pointer(cc, expr(args, 5, "cOffset"))));
        }
        java.lang.reflect.Method m = contextMethod(name, type);
        if (m != null && Modifier.isFinal(m.getModifiers()) && !Modifier.isStatic(m.getModifiers())) {
            return t.inliner.inline(io.sparge4j.kernels.KernelContext.class, name, desc, args, CtxRef.INSTANCE);
        }
        throw t.frames.error("calls KernelContext." + name + desc + ", which the kernel JIT does not support");
    }

    private Expr expr(List<Value> args, int index, String what) {
        return t.exprs.expr(args.get(index), what);
    }

    private String text(List<Value> args, int index, String what) {
        return t.exprs.text(expr(args, index, what));
    }

    /** @return C for the address of {@code a[offset]} */
    private static String pointer(ArrayRef a, Expr offset) {
        return offset.constant() instanceof Integer k && k == 0 ? a.name : "(" + a.name + " + " + offset.code() + ")";
    }

    private java.lang.reflect.Method contextMethod(String name, MethodTypeDesc type) {
        for (java.lang.reflect.Method m : io.sparge4j.kernels.KernelContext.class.getDeclaredMethods()) {
            if (m.getName().equals(name) && java.lang.invoke.MethodType.methodType(m.getReturnType(),
                    m.getParameterTypes()).toMethodDescriptorString().equals(type.descriptorString())) {
                return m;
            }
        }
        return null;
    }

    private Expr localArray(JType element, List<Value> args) {
        Expr size = expr(args, 0, "a local array size");
        if (!(size.constant() instanceof Integer n) || n <= 0) {
            throw t.frames.error("allocates a local array of non-constant or non-positive size " + size.code()
                    + ": local arrays need a constant size (a static final int or an @Constant parameter)");
        }
        String name = t.code.uniqueName(t.locals.nextStoreName("local"));
        ArrayRef ref = new ArrayRef(Space.LOCAL, element, name, -1, null, n);
        t.code.addLocalArray(ref);
        return t.calls.pushRef(ref);
    }
}

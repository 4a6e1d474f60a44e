package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.lib.LibraryFunction;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Translates one kernel method, with every method it calls inlined, into the declarations and body of a C kernel
 * function. Control flow becomes labels and gotos; values on the JVM stack stay C expressions until a branch,
 * a store that would change what they read, or a second use forces them into a temporary.
 *
 * <p>One translator per kernel: it holds what the translation collects and wires the parts that each translate
 * one kind of thing, which call each other through it (a call inlines a method whose body holds calls).
 */
final class Translator {
    static final String KERNEL_MATH = "io.sparge4j.kernels.KernelMath";

    /** A generated kernel parameter. */
    record Param(String name, KernelParameter.Role role, int javaIndex, JType type, ArrayRef array) {
    }

    final CSyntax c;
    final CallStack frames = new CallStack();
    final ClassFiles classes = new ClassFiles(frames);
    final KernelCode code;
    final Exprs exprs;
    final StackSpills spills;
    final LocalVariables locals;
    final Arithmetic arithmetic;
    final StackShuffles shuffles;
    final ControlFlow control;
    final BytecodeTranslator bytecode = new BytecodeTranslator(this);
    final FieldReads fields = new FieldReads(this);
    final Calls calls = new Calls(this);
    final ContextCalls contextCalls = new ContextCalls(this);
    final ArrayCalls arrayCalls = new ArrayCalls(this);
    final Inliner inliner = new Inliner(this);

    /** The device library functions the kernel calls. */
    final Set<LibraryFunction> used = EnumSet.noneOf(LibraryFunction.class);
    /** Key material: every translated method's identity and bytecode hash, folded constants. */
    final Set<String> keyParts = new LinkedHashSet<>();
    /** The kernel's generated parameters in order (pointer/size/scalar), filled by {@link #translateKernel}. */
    final List<Param> params = new ArrayList<>();
    int parallelDimensions;

    Translator(CSyntax syntax, DeviceFeatures features) {
        this.c = syntax;
        this.code = new KernelCode(syntax);
        this.exprs = new Exprs(syntax, features, frames, code);
        this.spills = new StackSpills(frames, code, exprs);
        this.locals = new LocalVariables(syntax, frames, code, exprs, spills);
        this.arithmetic = new Arithmetic(syntax, frames, exprs);
        this.shuffles = new StackShuffles(frames, spills);
        this.control = new ControlFlow(syntax, frames, code, exprs, spills);
    }

    /**
     * Translates the kernel method.
     *
     * @param kernel the method
     * @param constants @Constant parameter values by Java parameter index
     */
    void translateKernel(Method kernel, Map<Integer, Integer> constants) {
        new KernelEntry(this).translate(kernel, constants);
    }

    /** @return whether the kernel uses doubles (OpenCL then needs the cl_khr_fp64 pragma) */
    boolean usesDouble() {
        return exprs.usesDouble();
    }

    /** @return the kernel body's statements */
    String body() {
        return code.body();
    }

    /** @return the declarations for the top of the kernel body (local arrays, scalars, private arrays) */
    String declarationText() {
        return code.declarationText();
    }
}

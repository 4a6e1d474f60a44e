package io.sparge4j.engine.jit.lib;

/**
 * C definitions of the atomic adds: CUDA's {@code atomicAdd}; OpenCL 1.1+'s {@code atomic_add} for ints and, as
 * OpenCL 1.2 has no float atomic, a compare-and-swap loop on the float's bits.
 */
final class Atomics {
    private Atomics() {
    }

    /** {@code void sp_atomic_add_gi(GLOBAL int* p, int index, int value)}. */
    static String globalInt(CTarget t) {
        return intAdd(t, "sp_atomic_add_gi", t.global());
    }

    /** {@code void sp_atomic_add_li(LOCAL int* p, int index, int value)}. */
    static String localInt(CTarget t) {
        return intAdd(t, "sp_atomic_add_li", t.local());
    }

    private static String intAdd(CTarget t, String name, String space) {
        return t.fn() + "void " + name + "(" + space + "int* p, int index, int value) {\n"
                + "    " + (t.cuda() ? "atomicAdd" : "atomic_add") + "(p + index, value);\n"
                + "}\n";
    }

    /** {@code void sp_atomic_add_gf(GLOBAL float* p, int index, float value)}. */
    static String globalFloat(CTarget t) {
        if (t.cuda()) {
            return t.fn() + "void sp_atomic_add_gf(float* p, int index, float value) {\n"
                    + "    atomicAdd(p + index, value);\n"
                    + "}\n";
        }
        // The loop compares bits, so it also ends when the sum is NaN.
        return "void sp_atomic_add_gf(__global float* p, int index, float value) {\n"
                + "    volatile __global int* q = (volatile __global int*)(p + index);\n"
                + "    int old = *q;\n"
                + "    int assumed;\n"
                + "    do {\n"
                + "        assumed = old;\n"
                + "        old = atomic_cmpxchg(q, assumed, as_int(as_float(assumed) + value));\n"
                + "    } while (old != assumed);\n"
                + "}\n";
    }
}

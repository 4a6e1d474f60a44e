package io.sparge4j.engine.jit.lib;

/**
 * C definitions of the KernelMath functions that differ from the C library's: {@code sp_exp2_ftz}. CUDA's
 * {@code exp2f} is {@code ex2.approx.f32} plus a compare and two multiplies that scale subnormal results; softmax
 * kernels take their terms after subtracting the row maximum, where a term below 2^-126 adds nothing, so they ask for
 * the bare instruction. Other devices flush the same range after their own {@code exp2}.
 */
final class FastMath {
    private FastMath() {
    }

    /** {@code float sp_exp2_ftz(float x)}: not volatile, so the compiler may schedule and share it. */
    static String exp2Ftz(CTarget t) {
        if (t.cuda()) {
            return t.fn() + "float sp_exp2_ftz(float x) {\n"
                    + "    float r;\n"
                    + "    asm(\"ex2.approx.ftz.f32 %0, %1;\" : \"=f\"(r) : \"f\"(x));\n"
                    + "    return r;\n"
                    + "}\n";
        }
        return t.fn() + "float sp_exp2_ftz(float x) {\n"
                + "    return x < -126.0f ? 0.0f : exp2(x);\n"
                + "}\n";
    }
}

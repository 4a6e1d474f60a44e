package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.Dialect;

/** The few spellings that differ between CUDA C++ and OpenCL C. */
final class CSyntax {
    final Dialect dialect;
    private final boolean cuda;

    CSyntax(Dialect dialect) {
        this.dialect = dialect;
        this.cuda = dialect == Dialect.CUDA;
    }

    boolean cuda() {
        return cuda;
    }

    String type(JType type) {
        return type.c(dialect);
    }

    String intLiteral(int v) {
        if (v == Integer.MIN_VALUE) {
            return "(-2147483647 - 1)";
        }
        return v < 0 ? "(" + v + ")" : Integer.toString(v);
    }

    String longLiteral(long v) {
        String suffix = cuda ? "LL" : "L";
        if (v == Long.MIN_VALUE) {
            return "(-9223372036854775807" + suffix + " - 1)";
        }
        return v < 0 ? "(" + v + suffix + ")" : v + suffix;
    }

    String floatLiteral(float v) {
        if (Float.isNaN(v) || Float.isInfinite(v)) {
            return floatFromBits(String.format("(int)0x%08xu", Float.floatToRawIntBits(v)));
        }
        String text = Float.toString(v) + "f";
        return v < 0 || (v == 0 && 1 / v < 0) ? "(" + text + ")" : text;
    }

    String doubleLiteral(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            long bits = Double.doubleToRawLongBits(v);
            return cuda ? "__longlong_as_double(" + longLiteral(bits) + ")" : "as_double(" + longLiteral(bits) + ")";
        }
        String text = Double.toString(v);
        return v < 0 || (v == 0 && 1 / v < 0) ? "(" + text + ")" : text;
    }

    String floatFromBits(String intExpr) {
        return (cuda ? "__int_as_float(" : "as_float(") + intExpr + ")";
    }

    String bitsFromFloat(String floatExpr) {
        return (cuda ? "__float_as_int(" : "as_int(") + floatExpr + ")";
    }

    /** Java's saturating, NaN-to-zero float/double to int/long conversion. */
    String saturatingConvert(String value, JType from, JType to) {
        if (cuda) {
            String fn = (from == JType.FLOAT ? "__float2" : "__double2") + (to == JType.INT ? "int_rz" : "ll_rz");
            return fn + "(" + value + ")";
        }
        return "convert_" + (to == JType.INT ? "int" : "long") + "_sat_rtz(" + value + ")";
    }

    String unsignedShiftRight(String value, String shift, JType type) {
        String unsigned = type == JType.INT ? (cuda ? "unsigned int" : "uint")
                : (cuda ? "unsigned long long" : "ulong");
        return "((" + type(type) + ")((" + unsigned + ")" + value + " >> " + shift + "))";
    }

    /** @return the C function for a KernelMath float function of one or more floats */
    String floatFunction(String javaName) {
        if (cuda) {
            return switch (javaName) {
                case "exp" -> "expf";
                case "exp2" -> "exp2f";
                case "log" -> "logf";
                case "sqrt" -> "sqrtf";
                case "rsqrt" -> "rsqrtf";
                case "tanh" -> "tanhf";
                case "sin" -> "sinf";
                case "cos" -> "cosf";
                case "pow" -> "powf";
                case "max" -> "fmaxf";
                case "min" -> "fminf";
                case "abs" -> "fabsf";
                case "fma" -> "fmaf";
                case "rem" -> "fmodf";
                default -> null;
            };
        }
        return switch (javaName) {
            case "exp", "exp2", "log", "sqrt", "rsqrt", "tanh", "sin", "cos", "pow", "fma" -> javaName;
            case "max" -> "fmax";
            case "min" -> "fmin";
            case "abs" -> "fabs";
            case "rem" -> "fmod";
            default -> null;
        };
    }

    String doubleRemainder() {
        return "fmod";
    }

    String intMax(boolean max) {
        return max ? "max" : "min";
    }

    String intAbs() {
        return "abs";
    }

    /** A KernelContext id or size field as a C int expression; null when the field is not one. */
    String contextField(String field) {
        if (field.length() < 2) {
            return null;
        }
        char axisChar = Character.toLowerCase(field.charAt(field.length() - 1));
        int dim = axisChar - 'x';
        if (dim < 0 || dim > 2) {
            return null;
        }
        String base = field.substring(0, field.length() - 1);
        String axis = String.valueOf(axisChar);
        if (cuda) {
            return switch (base) {
                case "globalId" -> "(int)(blockIdx." + axis + " * blockDim." + axis + " + threadIdx." + axis + ")";
                case "localId" -> "(int)threadIdx." + axis;
                case "groupId" -> "(int)blockIdx." + axis;
                case "localGroupSize" -> "(int)blockDim." + axis;
                case "globalGroupSize" -> "(int)(gridDim." + axis + " * blockDim." + axis + ")";
                default -> null;
            };
        }
        return switch (base) {
            case "globalId" -> "(int)get_global_id(" + dim + ")";
            case "localId" -> "(int)get_local_id(" + dim + ")";
            case "groupId" -> "(int)get_group_id(" + dim + ")";
            case "localGroupSize" -> "(int)get_local_size(" + dim + ")";
            case "globalGroupSize" -> "(int)get_global_size(" + dim + ")";
            default -> null;
        };
    }

    String globalId(int dim) {
        return contextField("globalId" + "xyz".charAt(dim));
    }

    String globalSize(int dim) {
        return contextField("globalGroupSize" + "XYZ".charAt(dim));
    }

    String localBarrier() {
        return cuda ? "__syncthreads();" : "barrier(CLK_LOCAL_MEM_FENCE);";
    }

    String globalBarrier() {
        return cuda ? "__syncthreads();" : "barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);";
    }

    /** Bytes of statically declared shared memory CUDA allows a kernel; beyond it the JIT asks dynamically. */
    static final int STATIC_SHARED_LIMIT = 48 * 1024;

    /** CUDA: the kernel's dynamic shared memory, of which {@link #dynamicLocalArray} carves the local arrays. */
    String dynamicLocalBase() {
        return "extern __shared__ __align__(16) unsigned char sp_dynamic_shared[];";
    }

    /** CUDA: local array {@code name} at byte {@code offset} (a multiple of 16) of the dynamic shared memory. */
    String dynamicLocalArray(JType type, String name, long offset) {
        return type(type) + "* const " + name + " = (" + type(type) + "*)(sp_dynamic_shared + " + offset + ");";
    }

    String localArray(JType type, String name, int size) {
        return cuda ? "__shared__ __align__(16) " + type(type) + " " + name + "[" + size + "];"
                : "__local " + type(type) + " " + name + "[" + size + "] __attribute__((aligned(16)));";
    }

    String pointerParam(JType element, String name) {
        return cuda ? type(element) + "* " + name : "__global " + type(element) + "* " + name;
    }

    String kernelHead(String name) {
        return kernelHead(name, 0, 0);
    }

    /**
     * @param groupSize the launch's work-items per group
     * @param minGroups work-groups per compute unit the register budget must allow, or 0 for the compiler's own
     *     choice; CUDA only (OpenCL has no such hint)
     */
    String kernelHead(String name, int groupSize, int minGroups) {
        if (!cuda) {
            return "__kernel void " + name;
        }
        String bounds = minGroups > 0 ? "__launch_bounds__(" + groupSize + ", " + minGroups + ") " : "";
        return "extern \"C\" __global__ void " + bounds + name;
    }
}

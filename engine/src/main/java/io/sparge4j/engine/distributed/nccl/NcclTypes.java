package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.tensor.DType;

/** The engine's {@link DType} and {@link ReduceOp} as NCCL's {@code ncclDataType_t} and {@code ncclRedOp_t}. */
public final class NcclTypes {
    /** {@code ncclUint8}. */
    static final int UINT8 = 1;
    /** {@code ncclInt32}. */
    static final int INT32 = 2;
    /** {@code ncclInt64}. */
    static final int INT64 = 4;
    /** {@code ncclFloat16}. */
    static final int FLOAT16 = 6;
    /** {@code ncclFloat32}. */
    static final int FLOAT32 = 7;
    /** {@code ncclBfloat16}. */
    static final int BFLOAT16 = 9;

    private NcclTypes() {
    }

    /**
     * @param dtype any element type; {@link DType#BOOL} travels as {@code ncclUint8} (one byte, 0 or 1)
     * @return its {@code ncclDataType_t}, values as in {@code nccl.h}
     */
    public static int dataType(DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype: got null, expected one of " + java.util.Arrays.toString(
                    DType.values()));
        }
        return switch (dtype) {
            case F32 -> FLOAT32;
            case F16 -> FLOAT16;
            case BF16 -> BFLOAT16;
            case I32 -> INT32;
            case I64 -> INT64;
            case U8, BOOL -> UINT8;
        };
    }

    /**
     * @param op a reduction
     * @return its {@code ncclRedOp_t}: ncclSum 0, ncclProd 1, ncclMax 2, ncclMin 3, ncclAvg 4
     */
    public static int reduceOp(ReduceOp op) {
        if (op == null) {
            throw new IllegalArgumentException("op: got null, expected one of SUM, PROD, MAX, MIN, AVG");
        }
        return switch (op) {
            case SUM -> 0;
            case PROD -> 1;
            case MAX -> 2;
            case MIN -> 3;
            case AVG -> 4;
        };
    }

    /**
     * Refuses reductions that make no sense on booleans (a sum of flags would leave values other than 0 and 1).
     *
     * @param dtype the element type
     * @param op the reduction
     */
    static void checkReduction(DType dtype, ReduceOp op) {
        reduceOp(op);
        dataType(dtype);
        if (dtype == DType.BOOL && op != ReduceOp.MAX && op != ReduceOp.MIN) {
            throw new IllegalArgumentException("op: got " + op + " on a bool tensor, expected MAX (any) or MIN "
                    + "(all); other reductions would leave values other than 0 and 1");
        }
    }
}

package io.sparge4j.engine.distributed;

/** The reductions of {@link Communicator#allReduce} and {@link Communicator#reduceScatter}, as NCCL names them. */
public enum ReduceOp {
    /** Element-wise sum (ncclSum). */
    SUM,
    /** Element-wise product (ncclProd). */
    PROD,
    /** Element-wise maximum (ncclMax). */
    MAX,
    /** Element-wise minimum (ncclMin). */
    MIN,
    /** Element-wise mean over ranks (ncclAvg). */
    AVG
}

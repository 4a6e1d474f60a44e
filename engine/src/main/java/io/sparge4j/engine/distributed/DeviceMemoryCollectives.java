package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.DType;

/**
 * A {@link Communicator} that also runs its collectives on raw device memory of one GPU (NCCL on a CUDA
 * {@code CUdeviceptr}), so that device tensors need no trip through the host. Each call waits for the work already
 * queued on that GPU before it starts and for its own transfer before it returns.
 */
public interface DeviceMemoryCollectives extends Communicator {
    /** @return the index of the GPU whose memory the address methods take */
    int cudaOrdinal();

    /** {@link Communicator#allReduce} of {@code count} elements at {@code send} into {@code recv} (may be equal). */
    void allReduce(long send, long recv, long count, DType dtype, ReduceOp op);

    /** {@link Communicator#allGather}: {@code sendCount} elements from each rank, rank r's at r * sendCount. */
    void allGather(long send, long recv, long sendCount, DType dtype);

    /** {@link Communicator#reduceScatter}: part r (of {@code recvCount} elements) of the reduction to rank r. */
    void reduceScatter(long send, long recv, long recvCount, DType dtype, ReduceOp op);

    /** {@link Communicator#allToAll}: part j ({@code countPerRank} elements) of send to rank j; different buffers. */
    void allToAll(long send, long recv, long countPerRank, DType dtype);

    /** {@link Communicator#broadcast} of {@code count} elements from {@code root}'s send into every recv. */
    void broadcast(long send, long recv, long count, DType dtype, int root);
}

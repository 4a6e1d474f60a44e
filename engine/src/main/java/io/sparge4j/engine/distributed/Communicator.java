package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.Tensor;

/**
 * Collective operations among the ranks of one job, one rank per process (or per GPU), as NCCL provides them
 * (PyTorch's {@code torch.distributed} has the same set). Every rank calls every collective in the same order with
 * tensors of the same dtype and shape; calls block until this rank's part is done.
 *
 * <p>Tensors are contiguous; splits and concatenations are along dimension 0 (the slowest), in rank order. The
 * implementations are NCCL through FFM for GPUs and, in tests only, an in-process one whose ranks are threads.
 */
public interface Communicator extends AutoCloseable {
    /** @return this rank, in [0, worldSize) */
    int rank();

    /** @return the number of ranks */
    int worldSize();

    /**
     * Reduces {@code buffer} over all ranks and leaves the result on every rank, in place.
     *
     * @param buffer the same shape and dtype on every rank
     * @param op the reduction
     */
    void allReduce(Tensor buffer, ReduceOp op);

    /**
     * @param input this rank's part, shape (n, ...)
     * @param output (worldSize * n, ...): rank r's input lands in rows [r * n, (r + 1) * n)
     */
    void allGather(Tensor input, Tensor output);

    /**
     * Reduces {@code input} over ranks and gives rank r the rows [r * n, (r + 1) * n) of the result.
     *
     * @param input (worldSize * n, ...)
     * @param output (n, ...)
     * @param op the reduction
     */
    void reduceScatter(Tensor input, Tensor output, ReduceOp op);

    /**
     * Rank r sends rows [j * n, (j + 1) * n) of its input to rank j, which stores them at rows [r * n, (r + 1) * n)
     * of its output.
     *
     * @param input (worldSize * n, ...)
     * @param output (worldSize * n, ...), a different tensor
     */
    void allToAll(Tensor input, Tensor output);

    /**
     * @param buffer on {@code root}, the data to send; on the others, where it is written
     * @param root the sending rank
     */
    void broadcast(Tensor buffer, int root);

    /** Returns once every rank has called it. */
    void barrier();

    /** Frees the communicator; every rank closes its own. */
    @Override
    void close();
}

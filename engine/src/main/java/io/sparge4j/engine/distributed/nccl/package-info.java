/**
 * NVIDIA's NCCL through {@code java.lang.foreign}: {@link io.sparge4j.engine.distributed.nccl.NcclLibrary} finds and
 * binds {@code libnccl.so.2}, {@link io.sparge4j.engine.distributed.nccl.NcclCommunicator} is a
 * {@link io.sparge4j.engine.distributed.Communicator} over one NCCL communicator per process (one GPU per rank), and
 * the ranks agree on the {@link io.sparge4j.engine.distributed.nccl.NcclUniqueId} through
 * {@link io.sparge4j.engine.distributed.Rendezvous} (PyTorch's {@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK},
 * {@code MASTER_ADDR}, {@code MASTER_PORT}).
 *
 * <p>NVLink multicast (NVLS) stays off: {@code NCCL_NVLS_ENABLE=0} is set in the process environment before the
 * first communicator unless the user set it, and nothing here calls {@code cuMulticastCreate}.
 */
package io.sparge4j.engine.distributed.nccl;

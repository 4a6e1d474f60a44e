/**
 * Work spread over several ranks (processes or GPUs): the {@link io.sparge4j.engine.distributed.Communicator}
 * contract of collective operations, sequence-parallel sparse attention
 * ({@link io.sparge4j.engine.distributed.UlyssesAttention}) and ZeRO-style sharded parameters
 * ({@link io.sparge4j.engine.distributed.ShardedParameters}).
 */
package io.sparge4j.engine.distributed;

package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * ZeRO-style flat sharding of f32 parameters: every parameter, in name order, is laid end to end in one flat
 * buffer padded with zeros to a multiple of the world size, and rank r owns elements
 * [r S, (r + 1) S) of it (S = padded length / world size). The optimizer updates only this shard (its state has the
 * shard's size too); {@link #gather} all-gathers the full parameters before use and
 * {@link #reduceScatterGradients} gives each rank the rank-averaged gradient of its shard.
 *
 * <pre>{@code
 * try (var sharded = ShardedParameters.shard(params, comm)) {       // every rank starts from the same params
 *     Map<String, Tensor> full = sharded.gather(comm);              // forward and backward on the full set
 *     try (Tensor g = sharded.reduceScatterGradients(comm, grads)) {
 *         optimizer.step(sharded.shard(), g);                       // shard-sized update, in place
 *     }
 * }
 * }</pre>
 *
 * <p>Name order (not the map's iteration order) fixes the layout, so every rank agrees on it whatever map it holds.
 * Shard one unit at a time (for example one transformer block), as FSDP wraps units, so that only one unit's full
 * parameters are live while it runs; a shard holds at most 2^31 - 1 elements.
 */
public final class ShardedParameters implements AutoCloseable {
    private static final String OP = "ShardedParameters";

    /**
     * Where one parameter lies in the flat buffer.
     *
     * @param name the parameter's name
     * @param shape its shape
     * @param offset its first element in the flat buffer
     * @param numel its element count
     */
    public record Entry(String name, int[] shape, long offset, long numel) {
        /** Copies the shape so the entry cannot change. */
        public Entry {
            shape = shape.clone();
        }

        @Override
        public int[] shape() {
            return shape.clone();
        }

        @Override
        public String toString() {
            return name + " " + Arrays.toString(shape) + " at " + offset;
        }
    }

    private final List<Entry> layout;
    private final int rank;
    private final int worldSize;
    private final long totalSize;
    private final int shardSize;
    private final Tensor shard;

    private ShardedParameters(List<Entry> layout, int rank, int worldSize, long totalSize, int shardSize,
            Tensor shard) {
        this.layout = layout;
        this.rank = rank;
        this.worldSize = worldSize;
        this.totalSize = totalSize;
        this.shardSize = shardSize;
        this.shard = shard;
    }

    /**
     * Keeps this rank's shard of {@code params} (no communication: every rank holds the same full parameters, for
     * example loaded from one checkpoint or drawn from one seed).
     *
     * @param params f32 parameters by name; not modified, not kept
     * @param comm gives this rank and the world size
     * @return the shard and the layout
     */
    public static ShardedParameters shard(Map<String, Tensor> params, Communicator comm) {
        checkComm(comm);
        return shard(params, comm.rank(), comm.worldSize());
    }

    /**
     * As {@link #shard(Map, Communicator)}, with the rank and world size given.
     *
     * @param params f32 parameters by name
     * @param rank this rank, in [0, worldSize)
     * @param worldSize the number of ranks
     * @return the shard and the layout
     */
    public static ShardedParameters shard(Map<String, Tensor> params, int rank, int worldSize) {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(OP + ": rank " + rank + " of world size " + worldSize
                    + ", expected a world size of at least 1 and a rank in [0, worldSize)");
        }
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException(OP + ": params is " + (params == null ? "null" : "empty")
                    + ", expected at least one f32 tensor by name");
        }
        List<Entry> layout = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : new TreeMap<>(params).entrySet()) {
            Tensor t = e.getValue();
            if (t == null || t.dtype() != DType.F32) {
                throw new IllegalArgumentException(OP + ": parameter '" + e.getKey() + "' is "
                        + (t == null ? "null" : t.dtype() + " " + Arrays.toString(t.shape())) + ", expected an f32 tensor");
            }
            layout.add(new Entry(e.getKey(), t.shape(), offset, t.numel()));
            offset += t.numel();
        }
        long padded = (offset + worldSize - 1) / worldSize * worldSize;
        long size = padded / worldSize;
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(OP + ": a shard would hold " + size + " elements, expected at most "
                    + Integer.MAX_VALUE + " (use more ranks or shard fewer parameters at a time)");
        }
        Tensor shard = Tensor.allocate(DType.F32, (int) size);
        copyRange(layout, params, (long) rank * size, shard);
        return new ShardedParameters(List.copyOf(layout), rank, worldSize, offset, (int) size, shard);
    }

    /** @return this rank's shard, f32 (shardSize); update it in place (it is the master copy of these elements) */
    public Tensor shard() {
        return shard;
    }

    /** @return the parameters' places in the flat buffer, in name order */
    public List<Entry> layout() {
        return layout;
    }

    /** @return the number of parameter elements, without padding */
    public long totalSize() {
        return totalSize;
    }

    /** @return the elements per shard: the padded length divided by the world size */
    public int shardSize() {
        return shardSize;
    }

    /** @return where this rank's shard starts in the flat buffer */
    public long shardOffset() {
        return (long) rank * shardSize;
    }

    /**
     * All-gathers the shards into the full parameters; every rank calls it together.
     *
     * @param comm the ranks sharing these parameters (the same rank and world size as at {@link #shard})
     * @return new f32 tensors by name, in name order; the caller closes them
     */
    public Map<String, Tensor> gather(Communicator comm) {
        checkSameGroup(comm);
        Map<String, Tensor> full = new LinkedHashMap<>();
        try (Tensor flat = Tensor.allocate(DType.F32, worldSize, shardSize)) { // 2-D: the total may pass 2^31
            comm.allGather(shard.reshape(1, shardSize), flat);
            for (Entry e : layout) {
                Tensor t = Tensor.allocate(DType.F32, e.shape);
                MemorySegment.copy(flat.segment(), e.offset * Float.BYTES, t.segment(), 0, e.numel * Float.BYTES);
                full.put(e.name, t);
            }
        }
        return full;
    }

    /**
     * Flattens this rank's gradients as the parameters are laid out, reduce-scatters them and returns this rank's
     * shard of the mean over ranks; every rank calls it together.
     *
     * @param comm the ranks sharing these parameters
     * @param grads one f32 gradient per parameter, the parameter's shape; not modified
     * @return the averaged gradient for this rank's shard, f32 (shardSize); padding elements are zero
     */
    public Tensor reduceScatterGradients(Communicator comm, Map<String, Tensor> grads) {
        checkSameGroup(comm);
        if (grads == null) {
            throw new IllegalArgumentException(OP + ": grads is null, expected one f32 gradient per parameter");
        }
        for (Entry e : layout) {
            Tensor g = grads.get(e.name);
            if (g == null || g.dtype() != DType.F32 || !Arrays.equals(g.shape(), e.shape)) {
                throw new IllegalArgumentException(OP + ": gradient '" + e.name + "' is "
                        + (g == null ? "missing" : g.dtype() + " " + Arrays.toString(g.shape())) + ", expected f32 "
                        + Arrays.toString(e.shape) + " (the parameter's shape)");
            }
        }
        if (grads.size() != layout.size()) {
            List<String> extra = new ArrayList<>(grads.keySet());
            extra.removeAll(layout.stream().map(Entry::name).toList());
            throw new IllegalArgumentException(OP + ": grads has " + extra + " that are not parameters, expected "
                    + "gradients for exactly the " + layout.size() + " sharded parameters");
        }
        Tensor out = Tensor.allocate(DType.F32, shardSize);
        try (Tensor flat = Tensor.allocate(DType.F32, worldSize, shardSize)) {
            copyRange(layout, grads, 0, flat);
            comm.reduceScatter(flat, out.reshape(1, shardSize), ReduceOp.AVG);
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }

    /** Frees the shard. */
    @Override
    public void close() {
        shard.close();
    }

    /** Copies flat elements [start, start + target.numel) of the laid-out tensors into target; padding stays 0. */
    private static void copyRange(List<Entry> layout, Map<String, Tensor> tensors, long start, Tensor target) {
        long end = start + target.numel();
        for (Entry e : layout) {
            long from = Math.max(start, e.offset);
            long to = Math.min(end, e.offset + e.numel);
            if (from < to) {
                MemorySegment.copy(tensors.get(e.name).segment(), (from - e.offset) * Float.BYTES,
                        target.segment(), (from - start) * Float.BYTES, (to - from) * Float.BYTES);
            }
        }
    }

    private static void checkComm(Communicator comm) {
        if (comm == null) {
            throw new IllegalArgumentException(OP + ": comm is null, expected a Communicator");
        }
    }

    private void checkSameGroup(Communicator comm) {
        checkComm(comm);
        if (comm.rank() != rank || comm.worldSize() != worldSize) {
            throw new IllegalArgumentException(OP + ": comm is rank " + comm.rank() + " of " + comm.worldSize()
                    + ", expected rank " + rank + " of " + worldSize + " (the group the parameters were sharded for)");
        }
    }
}

package io.sparge4j.engine.distributed;

import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * ZeRO-style flat sharding of f32 parameters. The parameters are grouped into units (one unit by default; one per
 * transformer block for FSDP-style full sharding, see {@link #shard(Map, Communicator, Function)}); within a unit every
 * parameter, in name order, is laid end to end in one flat buffer padded with zeros to a multiple of the world size,
 * and rank r owns elements [r S_u, (r + 1) S_u) of it (S_u = the unit's padded length / world size). A rank's shard is
 * its slices of every unit end to end, in unit order. The optimizer updates only this shard (its state has the shard's
 * size too); {@link #gather} all-gathers the full parameters before use (or {@link #gatherUnit} one unit at a time)
 * and {@link #reduceScatterGradients} gives each rank the rank-averaged gradient of its shard (or
 * {@link #reduceScatterUnit} of one unit's slice).
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
 * <p>Name order (not the map's iteration order) fixes the layout, so every rank agrees on it whatever map it holds;
 * units are ordered by their first parameter's name. A shard holds at most 2^31 - 1 elements.
 */
public final class ShardedParameters implements AutoCloseable {
    private static final String OP = "ShardedParameters";

    /**
     * Where one parameter lies in its unit's flat buffer.
     *
     * @param name the parameter's name
     * @param shape its shape
     * @param offset its first element in its unit's flat buffer (with one unit: in the flat buffer)
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

    /**
     * A run of this rank's shard that holds consecutive elements of one parameter.
     *
     * @param name the parameter
     * @param paramOffset the first element, in the parameter's flattened elements
     * @param shardOffset where it lies in this rank's shard
     * @param length the element count
     */
    public record Piece(String name, long paramOffset, int shardOffset, int length) {
    }

    /** One unit: its key, entries, element count, per-rank slice size and where this rank's slice starts. */
    private record Unit(String key, List<Entry> entries, long total, int sliceSize, int shardStart) {
    }

    private final List<Unit> units;
    private final Map<String, Unit> unitsByKey;
    private final int rank;
    private final int worldSize;
    private final long totalSize;
    private final int shardSize;
    private final Tensor shard;

    private ShardedParameters(List<Unit> units, int rank, int worldSize, long totalSize, int shardSize, Tensor shard) {
        this.units = units;
        Map<String, Unit> byKey = new LinkedHashMap<>();
        units.forEach(u -> byKey.put(u.key, u));
        this.unitsByKey = byKey;
        this.rank = rank;
        this.worldSize = worldSize;
        this.totalSize = totalSize;
        this.shardSize = shardSize;
        this.shard = shard;
    }

    /**
     * Keeps this rank's shard of {@code params} as one unit (no communication: every rank holds the same full
     * parameters, for example loaded from one checkpoint or drawn from one seed).
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
     * As {@link #shard(Map, Communicator)}, with the parameters grouped into units that can be gathered and
     * reduce-scattered one at a time (FSDP's wrapping: one unit per transformer block keeps only the running block's
     * parameters whole).
     *
     * @param params f32 parameters by name; not modified, not kept
     * @param comm gives this rank and the world size
     * @param unitOf the unit key of a parameter name (for example "blocks.3", or "" for the rest)
     * @return the shard and the layout
     */
    public static ShardedParameters shard(Map<String, Tensor> params, Communicator comm,
            Function<String, String> unitOf) {
        checkComm(comm);
        return shard(params, comm.rank(), comm.worldSize(), unitOf);
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
        return shard(params, rank, worldSize, name -> "");
    }

    /**
     * As {@link #shard(Map, Communicator, Function)}, with the rank and world size given.
     *
     * @param params f32 parameters by name
     * @param rank this rank, in [0, worldSize)
     * @param worldSize the number of ranks
     * @param unitOf the unit key of a parameter name
     * @return the shard and the layout
     */
    public static ShardedParameters shard(Map<String, Tensor> params, int rank, int worldSize,
            Function<String, String> unitOf) {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(OP + ": rank " + rank + " of world size " + worldSize
                    + ", expected a world size of at least 1 and a rank in [0, worldSize)");
        }
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException(OP + ": params is " + (params == null ? "null" : "empty")
                    + ", expected at least one f32 tensor by name");
        }
        if (unitOf == null) {
            throw new IllegalArgumentException(OP + ": unitOf is null, expected a unit key for each parameter name");
        }
        Map<String, List<Entry>> grouped = new LinkedHashMap<>();
        Map<String, Long> sizes = new HashMap<>();
        for (Map.Entry<String, Tensor> e : new TreeMap<>(params).entrySet()) {
            Tensor t = e.getValue();
            if (t == null || t.dtype() != DType.F32) {
                throw new IllegalArgumentException(OP + ": parameter '" + e.getKey() + "' is "
                        + (t == null ? "null" : t.dtype() + " " + Arrays.toString(t.shape())) + ", expected an f32 tensor");
            }
            String key = unitOf.apply(e.getKey());
            if (key == null) {
                throw new IllegalArgumentException(OP + ": unitOf gave null for '" + e.getKey()
                        + "', expected a unit key");
            }
            long offset = sizes.getOrDefault(key, 0L);
            grouped.computeIfAbsent(key, k -> new ArrayList<>()).add(new Entry(e.getKey(), t.shape(), offset, t.numel()));
            sizes.put(key, offset + t.numel());
        }
        List<Unit> units = new ArrayList<>();
        long total = 0;
        long shardSize = 0;
        for (Map.Entry<String, List<Entry>> g : grouped.entrySet()) {
            long unitTotal = sizes.get(g.getKey());
            long slice = (unitTotal + worldSize - 1) / worldSize;
            if (shardSize + slice > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(OP + ": a shard would hold " + (shardSize + slice)
                        + " elements or more, expected at most " + Integer.MAX_VALUE
                        + " (use more ranks or shard fewer parameters at a time)");
            }
            units.add(new Unit(g.getKey(), List.copyOf(g.getValue()), unitTotal, (int) slice, (int) shardSize));
            total += unitTotal;
            shardSize += slice;
        }
        Tensor shard = Tensor.allocate(DType.F32, (int) shardSize);
        for (Unit u : units) {
            copyRange(u.entries, params, (long) rank * u.sliceSize, shard.narrow(u.shardStart, u.sliceSize));
        }
        return new ShardedParameters(List.copyOf(units), rank, worldSize, total, (int) shardSize, shard);
    }

    /** @return this rank's shard, f32 (shardSize); update it in place (it is the master copy of these elements) */
    public Tensor shard() {
        return shard;
    }

    /** @return every parameter's place in its unit's flat buffer, unit by unit, each in name order */
    public List<Entry> layout() {
        List<Entry> all = new ArrayList<>();
        units.forEach(u -> all.addAll(u.entries));
        return all;
    }

    /** @return the unit keys, in layout order */
    public List<String> units() {
        return List.copyOf(unitsByKey.keySet());
    }

    /**
     * @param unit a unit key
     * @return the names of its parameters, in name order
     */
    public List<String> unitNames(String unit) {
        return unit(unit).entries.stream().map(Entry::name).toList();
    }

    /** @return the pieces of parameters this rank's shard holds, in shard order (padding is in none) */
    public List<Piece> pieces() {
        List<Piece> out = new ArrayList<>();
        for (Unit u : units) {
            long start = (long) rank * u.sliceSize;
            long end = start + u.sliceSize;
            for (Entry e : u.entries) {
                long from = Math.max(start, e.offset);
                long to = Math.min(end, e.offset + e.numel);
                if (from < to) {
                    out.add(new Piece(e.name, from - e.offset, (int) (u.shardStart + from - start), (int) (to - from)));
                }
            }
        }
        return out;
    }

    /** @return the number of parameter elements, without padding */
    public long totalSize() {
        return totalSize;
    }

    /** @return the elements per shard: the units' padded lengths divided by the world size, added */
    public int shardSize() {
        return shardSize;
    }

    /**
     * @return where this rank's shard starts in the flat buffer (one unit only; with several, each unit's slice
     *     starts at rank x its own slice size, see {@link #pieces})
     * @throws IllegalStateException with more than one unit
     */
    public long shardOffset() {
        if (units.size() != 1) {
            throw new IllegalStateException(OP + ".shardOffset: the parameters are in " + units.size() + " units, each"
                    + " with its own offset; expected one unit (use pieces())");
        }
        return (long) rank * shardSize;
    }

    /**
     * All-gathers the shards into the full parameters, unit by unit; every rank calls it together.
     *
     * @param comm the ranks sharing these parameters (the same rank and world size as at {@link #shard})
     * @return new f32 tensors by name, in layout order; the caller closes them
     */
    public Map<String, Tensor> gather(Communicator comm) {
        checkSameGroup(comm);
        Map<String, Tensor> full = new LinkedHashMap<>();
        try {
            for (Unit u : units) {
                full.putAll(gather(comm, u));
            }
        } catch (RuntimeException | Error e) {
            full.values().forEach(Tensor::close);
            throw e;
        }
        return full;
    }

    /**
     * All-gathers one unit's parameters; every rank calls it together, for the same unit.
     *
     * @param comm the ranks sharing these parameters
     * @param unit the unit's key
     * @return new f32 tensors by name, in name order; the caller closes them
     */
    public Map<String, Tensor> gatherUnit(Communicator comm, String unit) {
        checkSameGroup(comm);
        return gather(comm, unit(unit));
    }

    private Map<String, Tensor> gather(Communicator comm, Unit u) {
        Map<String, Tensor> full = new LinkedHashMap<>();
        try (Tensor flat = Tensor.allocate(DType.F32, worldSize, u.sliceSize)) { // 2-D: the total may pass 2^31
            comm.allGather(shard.narrow(u.shardStart, u.sliceSize).reshape(1, u.sliceSize), flat);
            for (Entry e : u.entries) {
                Tensor t = Tensor.allocate(DType.F32, e.shape);
                MemorySegment.copy(flat.segment(), e.offset * Float.BYTES, t.segment(), 0, e.numel * Float.BYTES);
                full.put(e.name, t);
            }
        } catch (RuntimeException | Error e) {
            full.values().forEach(Tensor::close);
            throw e;
        }
        return full;
    }

    /**
     * Flattens this rank's gradients as the parameters are laid out, reduce-scatters them unit by unit and returns
     * this rank's shard of the mean over ranks; every rank calls it together.
     *
     * @param comm the ranks sharing these parameters
     * @param grads one f32 gradient per parameter, the parameter's shape; not modified
     * @return the averaged gradient for this rank's shard, f32 (shardSize); padding elements are zero
     */
    public Tensor reduceScatterGradients(Communicator comm, Map<String, Tensor> grads) {
        checkSameGroup(comm);
        checkGradients(grads, layout(), "");
        Tensor out = Tensor.zeros(shardSize);
        try {
            for (Unit u : units) {
                reduceScatter(comm, u, grads, out, u.shardStart);
            }
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
        return out;
    }

    /**
     * Reduce-scatters one unit's gradients and ADDS this rank's slice of their mean over ranks into the unit's range
     * of {@code accumulator} (a shard-sized gradient, so that micro-batches accumulate); every rank calls it together,
     * for the same unit.
     *
     * @param comm the ranks sharing these parameters
     * @param unit the unit's key
     * @param grads one f32 gradient per parameter of the unit (and no others), the parameter's shape; not modified
     * @param accumulator f32 with {@link #shardSize} elements, added to
     */
    public void reduceScatterUnit(Communicator comm, String unit, Map<String, Tensor> grads, Tensor accumulator) {
        checkSameGroup(comm);
        Unit u = unit(unit);
        checkGradients(grads, u.entries, " of unit '" + unit + "'");
        if (accumulator == null || accumulator.dtype() != DType.F32 || accumulator.numel() != shardSize) {
            throw new IllegalArgumentException(OP + ".reduceScatterUnit: accumulator is " + (accumulator == null
                    ? "null" : accumulator.dtype() + " " + Arrays.toString(accumulator.shape())) + ", expected f32 with "
                    + shardSize + " elements (the shard's)");
        }
        try (Tensor slice = Tensor.zeros(u.sliceSize)) {
            reduceScatter(comm, u, grads, slice, 0);
            Elementwise.axpy(1f, slice, accumulator.reshape(shardSize).narrow(u.shardStart, u.sliceSize));
        }
    }

    /** Reduce-scatters unit u of grads into elements [at, at + u's slice size) of the 1-D {@code out}. */
    private void reduceScatter(Communicator comm, Unit u, Map<String, Tensor> grads, Tensor out, int at) {
        try (Tensor flat = Tensor.allocate(DType.F32, worldSize, u.sliceSize)) {
            copyRange(u.entries, grads, 0, flat);
            comm.reduceScatter(flat, out.narrow(at, u.sliceSize).reshape(1, u.sliceSize), ReduceOp.AVG);
        }
    }

    private static void checkGradients(Map<String, Tensor> grads, List<Entry> entries, String what) {
        if (grads == null) {
            throw new IllegalArgumentException(OP + ": grads is null, expected one f32 gradient per parameter" + what);
        }
        for (Entry e : entries) {
            Tensor g = grads.get(e.name);
            if (g == null || g.dtype() != DType.F32 || !Arrays.equals(g.shape(), e.shape)) {
                throw new IllegalArgumentException(OP + ": gradient '" + e.name + "' is "
                        + (g == null ? "missing" : g.dtype() + " " + Arrays.toString(g.shape())) + ", expected f32 "
                        + Arrays.toString(e.shape) + " (the parameter's shape)");
            }
        }
        if (grads.size() != entries.size()) {
            List<String> extra = new ArrayList<>(grads.keySet());
            extra.removeAll(entries.stream().map(Entry::name).toList());
            throw new IllegalArgumentException(OP + ": grads has " + extra + " that are not parameters" + what
                    + ", expected gradients for exactly the " + entries.size() + " sharded parameters" + what);
        }
    }

    private Unit unit(String key) {
        Unit u = unitsByKey.get(key);
        if (u == null) {
            throw new IllegalArgumentException(OP + ": unit '" + key + "' is not one of " + unitsByKey.keySet());
        }
        return u;
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

package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;

/**
 * One device op call being built: checks its arguments (every message names the op, the argument, what it got and
 * what was expected), then collects its tasks and grids into one graph that {@link #run} enqueues.
 */
final class Op {
    final String name;
    final DeviceSession session;
    final TaskGraph graph;
    final GridScheduler grids = new GridScheduler();

    private Op(String name, DeviceSession session) {
        this.name = name;
        this.session = session;
        this.graph = new TaskGraph(name.replace('.', '_'));
    }

    /**
     * @param name the op, e.g. {@code "DeviceNorms.layerNorm"}
     * @param first the tensor whose session runs the op
     * @return a new op call
     */
    static Op of(String name, DeviceTensor first) {
        if (first == null) {
            throw new IllegalArgumentException(name + ": the first tensor is null, expected a device tensor");
        }
        return new Op(name, first.session());
    }

    /** The array of an f32 tensor of this op's session; throws naming {@code arg} otherwise. */
    FloatArray f32(String arg, DeviceTensor t) {
        return (FloatArray) array(arg, t, DType.F32);
    }

    /** The array of a tensor of {@code dtype} of this op's session; throws naming {@code arg} otherwise. */
    Object array(String arg, DeviceTensor t, DType dtype) {
        if (t == null) {
            throw new IllegalArgumentException(name + ": " + arg + " is null, expected a " + dtype + " device tensor");
        }
        if (t.isClosed()) {
            throw new IllegalArgumentException(name + ": " + arg + " (" + t + ") is closed, expected an open tensor");
        }
        if (t.session() != session) {
            throw new IllegalArgumentException(name + ": " + arg + " lives in another device session, expected all"
                    + " tensors of one op in one session");
        }
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException(name + ": " + arg + " is " + t.dtype() + ", expected " + dtype);
        }
        return t.array();
    }

    /** Requires {@code t.shape()} to equal {@code expected}. */
    void shape(String arg, DeviceTensor t, int... expected) {
        if (t == null) {
            throw fail(arg, null, "a device tensor of shape " + Arrays.toString(expected));
        }
        if (!Arrays.equals(t.shape(), expected)) {
            throw new IllegalArgumentException(name + ": " + arg + " has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(expected));
        }
    }

    /** @return the last dimension of {@code t}, requiring rank at least 1 and positive sizes */
    int lastDim(String arg, DeviceTensor t) {
        if (t.rank() < 1 || t.numel() == 0) {
            throw new IllegalArgumentException(name + ": " + arg + " has shape " + Arrays.toString(t.shape())
                    + ", expected rank at least 1 and no zero dimension");
        }
        return t.dim(-1);
    }

    IllegalArgumentException fail(String arg, Object got, String expected) {
        return new IllegalArgumentException(name + ": " + arg + " is " + got + ", expected " + expected);
    }

    /** Adds the grid of the task {@code id} (added to {@link #graph} by the caller). */
    Op grid(String id, WorkerGrid grid) {
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + id, grid);
        return this;
    }

    /** Enqueues the collected tasks. */
    void run() {
        session.run(name, graph, grids);
    }

    static WorkerGrid2D grid2D(long x, long y, int localX, int localY) {
        WorkerGrid2D g = new WorkerGrid2D(x, y);
        g.setLocalWork(localX, localY, 1);
        return g;
    }

    static WorkerGrid1D grid1D(long x, int localX) {
        WorkerGrid1D g = new WorkerGrid1D(x);
        g.setLocalWork(localX, 1, 1);
        return g;
    }
}

package io.sparge4j.kernels;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The worker grids of the {@link KernelContext} tasks of an execution plan, keyed {@code "graph.task"},
 * as TornadoVM's {@code GridScheduler}.
 */
public final class GridScheduler {
    private final Map<String, WorkerGrid> grids = new ConcurrentHashMap<>();

    /** An empty scheduler. */
    public GridScheduler() {
    }

    /**
     * A scheduler holding one grid.
     *
     * @param taskName {@code "graph.task"}
     * @param grid the task's grid
     */
    public GridScheduler(String taskName, WorkerGrid grid) {
        setWorkerGrid(taskName, grid);
    }

    /**
     * Sets (or replaces) the grid of a task.
     *
     * @param taskName {@code "graph.task"}: the task graph's name and the task's id, joined by a dot
     * @param grid the task's grid
     */
    public void setWorkerGrid(String taskName, WorkerGrid grid) {
        if (taskName == null || taskName.indexOf('.') <= 0 || taskName.endsWith(".")) {
            throw new IllegalArgumentException("GridScheduler.setWorkerGrid: taskName is \"" + taskName
                    + "\", expected \"graph.task\"");
        }
        if (grid == null) {
            throw new IllegalArgumentException("GridScheduler.setWorkerGrid: grid for \"" + taskName
                    + "\" is null, expected a WorkerGrid");
        }
        grids.put(taskName, grid);
    }

    /**
     * Same as {@link #setWorkerGrid}.
     *
     * @param taskName {@code "graph.task"}
     * @param grid the task's grid
     */
    public void addWorkerGrid(String taskName, WorkerGrid grid) {
        setWorkerGrid(taskName, grid);
    }

    /**
     * @param taskName {@code "graph.task"}
     * @return the task's grid, or {@code null} if it has none
     */
    public WorkerGrid get(String taskName) {
        return grids.get(taskName);
    }

    /**
     * @param graphName the task graph's name
     * @param taskName the task's id
     * @return whether {@code "graphName.taskName"} has a grid
     */
    public boolean contains(String graphName, String taskName) {
        return grids.containsKey(graphName + "." + taskName);
    }
}

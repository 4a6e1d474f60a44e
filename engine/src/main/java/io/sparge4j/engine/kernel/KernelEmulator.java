package io.sparge4j.engine.kernel;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.WorkerGrid;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs {@link KernelContext} kernels in plain Java, so that kernel logic is testable without a GPU driver.
 *
 * <p>Each work-group's work-items run as virtual threads sharing a {@link WorkGroup}: one barrier for
 * {@code localBarrier()}/{@code globalBarrier()}, local arrays allocated once per group, and sub-groups of
 * {@link #subGroupSize()} consecutive work-items whose shuffles and reductions go through a shared exchange
 * between two sub-group barriers. Atomics are real atomics. Up to {@link #parallelism()} groups run at once.
 *
 * <p>A work-item that throws fails the launch with a {@link KernelLaunchException} naming its group and local
 * ids; its group's barriers are broken so the other work-items do not wait forever, and no further groups
 * start. A work-item that returns while others wait at a barrier, or a group whose work-items all wait at
 * different barriers, is reported the same way instead of hanging.
 *
 * <p>Loop-style kernels ({@code @Parallel} loops) are plain sequential Java: call them directly, no emulator
 * is needed.
 */
public final class KernelEmulator {
    /** Sub-group (warp) width used unless another is given: NVIDIA's. */
    public static final int DEFAULT_SUB_GROUP_SIZE = 32;

    private final int subGroupSize;
    private final int parallelism;

    /** An emulator with 32-wide sub-groups running up to {@link CpuRuntime#threads()} groups at once. */
    public KernelEmulator() {
        this(DEFAULT_SUB_GROUP_SIZE, CpuRuntime.threads());
    }

    /**
     * @param subGroupSize sub-group width, {@code >= 1}
     * @param parallelism how many work-groups run at once, {@code >= 1}
     */
    public KernelEmulator(int subGroupSize, int parallelism) {
        if (subGroupSize < 1) {
            throw new IllegalArgumentException("KernelEmulator: subGroupSize is " + subGroupSize + ", expected >= 1");
        }
        if (parallelism < 1) {
            throw new IllegalArgumentException("KernelEmulator: parallelism is " + parallelism + ", expected >= 1");
        }
        this.subGroupSize = subGroupSize;
        this.parallelism = parallelism;
    }

    /** @return the sub-group width */
    public int subGroupSize() {
        return subGroupSize;
    }

    /** @return how many work-groups run at once */
    public int parallelism() {
        return parallelism;
    }

    /**
     * Runs the kernel over the grid named {@code taskName} in {@code scheduler}.
     *
     * @param scheduler the grids
     * @param taskName {@code "graph.task"}
     * @param kernel the kernel with its arguments bound
     * @throws IllegalArgumentException if the scheduler has no such grid, or the grid is invalid
     * @throws KernelLaunchException if a work-item fails
     */
    public void execute(GridScheduler scheduler, String taskName, KernelContextTask kernel) {
        WorkerGrid grid = scheduler.get(taskName);
        if (grid == null) {
            throw new IllegalArgumentException("KernelEmulator.execute: no grid for task \"" + taskName
                    + "\" in the GridScheduler");
        }
        execute(grid, kernel);
    }

    /**
     * Runs the kernel once per work-item of the grid and returns when all have finished.
     *
     * @param grid global and local work; local work must divide global work (unset: the emulator picks)
     * @param kernel the kernel with its arguments bound
     * @throws IllegalArgumentException if the grid is invalid
     * @throws KernelLaunchException if a work-item fails
     */
    public void execute(WorkerGrid grid, KernelContextTask kernel) {
        LaunchGeometry geometry = LaunchGeometry.of(grid, "KernelEmulator.execute");
        if (kernel == null) {
            throw new IllegalArgumentException("KernelEmulator.execute: kernel is null");
        }
        long groups = geometry.groupCount();
        AtomicLong next = new AtomicLong();
        AtomicReference<KernelLaunchException> failure = new AtomicReference<>();
        int runners = (int) Math.min(parallelism, groups);
        Thread[] threads = new Thread[runners];
        for (int r = 0; r < runners; r++) {
            threads[r] = Thread.ofVirtual().name("kernel-group-runner-" + r).start(() -> {
                long g;
                while (failure.get() == null && (g = next.getAndIncrement()) < groups) {
                    runGroup(geometry, geometry.groupId(g), kernel, failure);
                }
            });
        }
        joinAll(threads);
        KernelLaunchException e = failure.get();
        if (e != null) {
            throw e;
        }
    }

    private void runGroup(LaunchGeometry geometry, int[] groupId, KernelContextTask kernel,
            AtomicReference<KernelLaunchException> failure) {
        int[] local = geometry.local();
        WorkGroup group = new WorkGroup(groupId, geometry.groupSize(), subGroupSize);
        Thread[] items = new Thread[group.size];
        int linear = 0;
        for (int z = 0; z < local[2]; z++) {
            for (int y = 0; y < local[1]; y++) {
                for (int x = 0; x < local[0]; x++) {
                    int[] localId = {x, y, z};
                    int[] globalId = new int[3];
                    for (int d = 0; d < 3; d++) {
                        globalId[d] = geometry.offset()[d] + groupId[d] * local[d] + localId[d];
                    }
                    EmulatedContext ctx = new EmulatedContext(group, globalId, localId, local, geometry.global());
                    items[linear++] = Thread.ofVirtual().start(() -> runItem(group, ctx, kernel, failure));
                }
            }
        }
        joinAll(items);
    }

    private static void runItem(WorkGroup group, EmulatedContext ctx, KernelContextTask kernel,
            AtomicReference<KernelLaunchException> failure) {
        try {
            kernel.apply(ctx);
        } catch (GroupAbortedException aborted) {
            // another work-item of the group failed first and is the one reported
        } catch (Throwable t) {
            fail(group, ctx, t, failure);
        } finally {
            int left = Math.max(group.barrier.exit(), group.subBarriers[ctx.subGroup()].exit());
            left = Math.max(left, group.progress.exit());
            if (left > 0) {
                fail(group, ctx, new IllegalStateException("work-item returned while " + left
                        + " other work-item(s) waited at a barrier: every work-item must reach every barrier"),
                        failure);
            }
        }
    }

    private static void fail(WorkGroup group, EmulatedContext ctx, Throwable cause,
            AtomicReference<KernelLaunchException> failure) {
        failure.compareAndSet(null, new KernelLaunchException(
                new int[] {ctx.groupIdx, ctx.groupIdy, ctx.groupIdz},
                new int[] {ctx.localIdx, ctx.localIdy, ctx.localIdz},
                new int[] {ctx.globalIdx, ctx.globalIdy, ctx.globalIdz}, cause));
        group.abort();
    }

    private static void joinAll(Thread[] threads) {
        boolean interrupted = false;
        for (Thread t : threads) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}

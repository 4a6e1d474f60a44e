package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.Arrays;

/** One work-item's {@link KernelContext} on the emulator. */
final class EmulatedContext extends KernelContext {
    private final WorkGroup group;
    private final int subGroup;
    private final int lane;
    private int allocations;
    private final AsyncCopies asyncCopies = new AsyncCopies();

    EmulatedContext(WorkGroup group, int[] globalId, int[] localId, int[] localSize, int[] globalSize) {
        super(globalId, localId, group.groupId, localSize, globalSize);
        this.group = group;
        int linear = localLinearId();
        this.subGroup = linear / group.subGroupWidth;
        this.lane = linear % group.subGroupWidth;
    }

    int subGroup() {
        return subGroup;
    }

    @Override
    public void localBarrier() {
        group.barrier.await("localBarrier");
    }

    @Override
    public void globalBarrier() {
        group.barrier.await("globalBarrier");
    }

    @Override
    public float[] allocateFloatLocalArray(int size) {
        return group.localArray(nextAllocation("allocateFloatLocalArray", size), "float", size, float[]::new);
    }

    @Override
    public int[] allocateIntLocalArray(int size) {
        return group.localArray(nextAllocation("allocateIntLocalArray", size), "int", size, int[]::new);
    }

    @Override
    public short[] allocateHalfFloatLocalArray(int size) {
        return group.localArray(nextAllocation("allocateHalfFloatLocalArray", size), "half", size, short[]::new);
    }

    @Override
    public short[] allocateBFloat16LocalArray(int size) {
        return group.localArray(nextAllocation("allocateBFloat16LocalArray", size), "bfloat16", size, short[]::new);
    }

    private int nextAllocation(String op, int size) {
        if (size < 1) {
            throw new IllegalArgumentException(op + ": size is " + size + ", expected > 0");
        }
        return allocations++;
    }

    @Override
    public int simdGroupSize() {
        return group.subGroupWidth;
    }

    @Override
    public float simdSum(float value) {
        float[] slots = publish(value, "simdSum");
        float sum = 0f;
        for (float v : slots) {
            sum += v;
        }
        return release(sum, "simdSum");
    }

    @Override
    public float simdShuffleDown(float value, int delta) {
        if (delta < 0) {
            throw new IllegalArgumentException("simdShuffleDown: delta is " + delta + ", expected >= 0");
        }
        float[] slots = publish(value, "simdShuffleDown");
        float result = lane + delta < slots.length ? slots[lane + delta] : value;
        return release(result, "simdShuffleDown");
    }

    @Override
    public float simdShuffleXor(float value, int laneMask) {
        if (laneMask < 0) {
            throw new IllegalArgumentException("simdShuffleXor: laneMask is " + laneMask + ", expected >= 0");
        }
        float[] slots = publish(value, "simdShuffleXor");
        int partner = lane ^ laneMask;
        float result = partner < slots.length ? slots[partner] : value;
        return release(result, "simdShuffleXor");
    }

    @Override
    public float simdBroadcastFirst(float value) {
        float[] slots = publish(value, "simdBroadcastFirst");
        return release(slots[0], "simdBroadcastFirst");
    }

    /** Writes this lane's value to the sub-group's exchange and waits until every lane has written. */
    private float[] publish(float value, String op) {
        float[] slots = group.exchange[subGroup];
        slots[lane] = value;
        group.subBarriers[subGroup].await(op);
        return slots;
    }

    /** Waits until every lane has read the exchange, so the next operation may overwrite it. */
    private float release(float result, String op) {
        group.subBarriers[subGroup].await(op);
        return result;
    }

    @Override
    public void mma16x8x16F16(short[] a, int aOffset, int lda, short[] b, int bOffset, int ldb,
            float[] c, int cOffset, int ldc) {
        mma("mma16x8x16F16", false, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
    }

    @Override
    public void mma16x8x16BF16(short[] a, int aOffset, int lda, short[] b, int bOffset, int ldb,
            float[] c, int cOffset, int ldc) {
        mma("mma16x8x16BF16", true, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
    }

    /** Lane 0 computes the tile between two sub-group barriers: inputs are complete before, C is after. */
    private void mma(String op, boolean bf16, short[] a, int aOffset, int lda, short[] b, int bOffset, int ldb,
            float[] c, int cOffset, int ldc) {
        GroupBarrier barrier = group.subBarriers[subGroup];
        barrier.await(op);
        if (lane == 0) {
            MmaTile.multiplyAccumulate(op, bf16, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        }
        barrier.await(op);
    }

    @Override
    public void mmaF16(short[] a, int aOffset, short[] b, int bOffset, float[] c, int cOffset) {
        mmaFragments("mmaF16", false, a, aOffset, b, bOffset, c, cOffset);
    }

    @Override
    public void mmaBF16(short[] a, int aOffset, short[] b, int bOffset, float[] c, int cOffset) {
        mmaFragments("mmaBF16", true, a, aOffset, b, bOffset, c, cOffset);
    }

    /**
     * Every lane publishes its A and B fragments; after a sub-group barrier each lane gathers the rows and columns
     * of its own four accumulator elements from the other lanes' fragments; a second barrier keeps the fragments
     * unchanged until every lane has read them.
     */
    private void mmaFragments(String op, boolean bf16, short[] a, int aOffset, short[] b, int bOffset, float[] c,
            int cOffset) {
        MmaFragments.checkRanges(op, a, aOffset, b, bOffset, c, cOffset);
        if (group.subGroupLanes(subGroup) != MmaFragments.LANES) {
            throw new IllegalStateException(op + ": sub-group " + subGroup + " has " + group.subGroupLanes(subGroup)
                    + " work-items, expected " + MmaFragments.LANES + " (a full warp)");
        }
        GroupBarrier barrier = group.subBarriers[subGroup];
        group.mmaA[subGroup][lane] = Arrays.copyOfRange(a, aOffset, aOffset + MMA_A_FRAGMENT);
        group.mmaB[subGroup][lane] = Arrays.copyOfRange(b, bOffset, bOffset + MMA_B_FRAGMENT);
        barrier.await(op);
        float[] d = MmaFragments.multiplyAccumulate(bf16, group.mmaA[subGroup], group.mmaB[subGroup], c, cOffset,
                lane);
        barrier.await(op);
        System.arraycopy(d, 0, c, cOffset, d.length);
    }

    /** Every lane computes its own registers from the arguments, as the device fallbacks do; no exchange needed. */
    @Override
    public void mmaLoadMatrixX4(int[] tile, int offset, int ld, int step1, int step2, int[] dst, int dstOffset) {
        if (group.subGroupLanes(subGroup) != MmaFragments.LANES) {
            throw new IllegalStateException("mmaLoadMatrixX4: sub-group " + subGroup + " has "
                    + group.subGroupLanes(subGroup) + " work-items, expected " + MmaFragments.LANES + " (a full warp)");
        }
        MatrixLoads.loadX4(lane, tile, offset, ld, step1, step2, dst, dstOffset);
    }

    /** As {@link #mmaLoadMatrixX4}, each lane computing its own transposed registers. */
    @Override
    public void mmaLoadMatrixX4Trans(int[] tile, int offset, int ld, int step1, int step2, int[] dst,
            int dstOffset) {
        if (group.subGroupLanes(subGroup) != MmaFragments.LANES) {
            throw new IllegalStateException("mmaLoadMatrixX4Trans: sub-group " + subGroup + " has "
                    + group.subGroupLanes(subGroup) + " work-items, expected " + MmaFragments.LANES + " (a full warp)");
        }
        MatrixLoads.loadX4Trans(lane, tile, offset, ld, step1, step2, dst, dstOffset);
    }

    @Override
    public void asyncCopy16(int[] local, int localIndex, IntArray global, int globalIndex, int validInts) {
        asyncCopies.copy(local, localIndex, global, globalIndex, validInts);
    }

    @Override
    public void asyncCommit() {
        asyncCopies.commit();
    }

    @Override
    public void asyncWait(int pendingGroups) {
        asyncCopies.waitFor(pendingGroups);
    }
}

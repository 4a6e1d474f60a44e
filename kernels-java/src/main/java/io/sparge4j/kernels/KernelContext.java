package io.sparge4j.kernels;

import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What a work-item of a kernel sees: its ids, the grid's sizes, local (shared) memory, barriers, atomics,
 * sub-group (warp) operations and a tensor-core style matrix multiply-accumulate. Names follow TornadoVM's
 * {@code KernelContext}, so a kernel ports with an import change.
 *
 * <p>A kernel is a static method whose first parameter is a {@code KernelContext}, e.g.
 * {@code static void saxpy(KernelContext ctx, float a, FloatArray x, FloatArray y, int n)}. An executor
 * supplies the behaviour: the CPU emulator gives each work-item its own context object, and the kernel JIT
 * replaces every call by the device's intrinsic. As on a GPU, ids are fields; everything else is a method.
 *
 * <p>Rules the executors rely on: every work-item of a group reaches the same barriers and makes the same local
 * allocations in the same order; the sub-group operations and the MMA are called by every work-item of the
 * sub-group (convergently) with the same arguments where the method says so.
 *
 * <p>Sub-groups are {@link #simdGroupSize()} consecutive work-items in linear local order
 * ({@code localIdx + localIdy * localGroupSizeX + localIdz * localGroupSizeX * localGroupSizeY}); the last one
 * of a group may be smaller.
 */
public class KernelContext {
    private static final int[] ZERO = {0, 0, 0};
    private static final int[] ONE = {1, 1, 1};

    private static final VarHandle INT_SEGMENT = ValueLayout.JAVA_INT.varHandle();
    private static final VarHandle INT_ARRAY = MethodHandles.arrayElementVarHandle(int[].class);

    /** Global id in x (OpenCL {@code get_global_id(0)}, CUDA {@code blockIdx.x * blockDim.x + threadIdx.x}). */
    public final int globalIdx;
    /** Global id in y. */
    public final int globalIdy;
    /** Global id in z. */
    public final int globalIdz;
    /** Id within the work-group in x (OpenCL {@code get_local_id(0)}, CUDA {@code threadIdx.x}). */
    public final int localIdx;
    /** Id within the work-group in y. */
    public final int localIdy;
    /** Id within the work-group in z. */
    public final int localIdz;
    /** Work-group id in x (OpenCL {@code get_group_id(0)}, CUDA {@code blockIdx.x}). */
    public final int groupIdx;
    /** Work-group id in y. */
    public final int groupIdy;
    /** Work-group id in z. */
    public final int groupIdz;
    /** Work-group size in x (OpenCL {@code get_local_size(0)}, CUDA {@code blockDim.x}). */
    public final int localGroupSizeX;
    /** Work-group size in y. */
    public final int localGroupSizeY;
    /** Work-group size in z. */
    public final int localGroupSizeZ;
    /** Global size in x (OpenCL {@code get_global_size(0)}, CUDA {@code gridDim.x * blockDim.x}). */
    public final int globalGroupSizeX;
    /** Global size in y. */
    public final int globalGroupSizeY;
    /** Global size in z. */
    public final int globalGroupSizeZ;

    /**
     * A placeholder to pass as a {@code TaskGraph} task's context argument, as in TornadoVM
     * ({@code new KernelContext()}): the executor replaces it by each work-item's own context. Its ids are 0 and
     * its operations throw, because it is not a work-item.
     */
    public KernelContext() {
        this(ZERO, ZERO, ZERO, ONE, ONE);
    }

    /**
     * For executors: one context per work-item. Each array holds {x, y, z}.
     *
     * @param globalId the work-item's global id (including any global offset)
     * @param localId its id within the work-group
     * @param groupId the work-group's id
     * @param localSize the work-group size
     * @param globalSize the global size
     */
    protected KernelContext(int[] globalId, int[] localId, int[] groupId, int[] localSize, int[] globalSize) {
        globalIdx = globalId[0];
        globalIdy = globalId[1];
        globalIdz = globalId[2];
        localIdx = localId[0];
        localIdy = localId[1];
        localIdz = localId[2];
        groupIdx = groupId[0];
        groupIdy = groupId[1];
        groupIdz = groupId[2];
        localGroupSizeX = localSize[0];
        localGroupSizeY = localSize[1];
        localGroupSizeZ = localSize[2];
        globalGroupSizeX = globalSize[0];
        globalGroupSizeY = globalSize[1];
        globalGroupSizeZ = globalSize[2];
    }

    /**
     * Waits until every work-item of the group has arrived; local-memory writes before it are visible to the
     * group after it (OpenCL {@code barrier(CLK_LOCAL_MEM_FENCE)}, CUDA {@code __syncthreads()}).
     */
    public void localBarrier() {
        throw notAWorkItem("localBarrier");
    }

    /**
     * A work-group barrier that also orders global-memory accesses (OpenCL
     * {@code barrier(CLK_GLOBAL_MEM_FENCE)}). As in TornadoVM it does not synchronise different work-groups.
     */
    public void globalBarrier() {
        throw notAWorkItem("globalBarrier");
    }

    /**
     * Allocates a float array in local (shared) memory, one per work-group, shared by its work-items.
     *
     * @param size number of elements: a compile-time constant for the JIT
     * @return the group's array (zeroed on the emulator; undefined contents on a device)
     */
    public float[] allocateFloatLocalArray(int size) {
        throw notAWorkItem("allocateFloatLocalArray");
    }

    /**
     * Allocates an int array in local (shared) memory, one per work-group.
     *
     * @param size number of elements: a compile-time constant for the JIT
     * @return the group's array
     */
    public int[] allocateIntLocalArray(int size) {
        throw notAWorkItem("allocateIntLocalArray");
    }

    /**
     * Allocates an f16 array in local (shared) memory, one per work-group. Elements are raw f16 bits (convert
     * with {@link KernelMath#halfToFloat} and {@link KernelMath#floatToHalf}); TornadoVM returns
     * {@code HalfFloat[]} here, so a port changes the element accesses.
     *
     * @param size number of elements: a compile-time constant for the JIT
     * @return the group's array
     */
    public short[] allocateHalfFloatLocalArray(int size) {
        throw notAWorkItem("allocateHalfFloatLocalArray");
    }

    /**
     * Allocates a bf16 array (raw bits) in local (shared) memory, one per work-group. Not in TornadoVM.
     *
     * @param size number of elements: a compile-time constant for the JIT
     * @return the group's array
     */
    public short[] allocateBFloat16LocalArray(int size) {
        throw notAWorkItem("allocateBFloat16LocalArray");
    }

    /**
     * Atomically adds {@code value} to {@code array[index]} (global memory). On the JVM the array must be
     * native memory aligned to 4 bytes, as every allocated array and engine tensor is.
     *
     * @param array the array
     * @param index element index
     * @param value the addend
     */
    public void atomicAdd(IntArray array, int index, int value) {
        checkAtomicIndex(index, array.getSize(), "IntArray");
        INT_SEGMENT.getAndAdd(array.getSegment(), (long) index * Integer.BYTES, value);
    }

    /**
     * Atomically adds {@code value} to {@code array[index]} (global memory; a compare-and-set loop where the
     * device has no float atomic add). The order of concurrent adds, and so the rounding, is unspecified.
     *
     * @param array the array
     * @param index element index
     * @param value the addend
     */
    public void atomicAdd(FloatArray array, int index, float value) {
        checkAtomicIndex(index, array.getSize(), "FloatArray");
        long offset = (long) index * Float.BYTES;
        int old;
        do {
            old = (int) INT_SEGMENT.getVolatile(array.getSegment(), offset);
        } while (!INT_SEGMENT.compareAndSet(array.getSegment(), offset, old,
                Float.floatToRawIntBits(Float.intBitsToFloat(old) + value)));
    }

    /**
     * Atomically adds {@code value} to {@code array[index]} of a local int array.
     *
     * @param array a local array from {@link #allocateIntLocalArray}
     * @param index element index
     * @param value the addend
     */
    public void atomicAdd(int[] array, int index, int value) {
        checkAtomicIndex(index, array.length, "int[]");
        INT_ARRAY.getAndAdd(array, index, value);
    }

    private static void checkAtomicIndex(int index, int size, String type) {
        if (Integer.compareUnsigned(index, size) >= 0) {
            throw new IndexOutOfBoundsException("atomicAdd: index " + index + " out of bounds for " + type
                    + " of size " + size);
        }
    }

    /**
     * Not in TornadoVM (whose warps are 32 wide).
     *
     * @return the sub-group (warp) width: 32 on NVIDIA and on the emulator by default
     */
    public int simdGroupSize() {
        throw notAWorkItem("simdGroupSize");
    }

    /** @return the work-item's lane within its sub-group, {@code linear local id % simdGroupSize()} */
    public final int simdLaneId() {
        return localLinearId() % simdGroupSize();
    }

    /** @return {@code localIdx + localIdy * localGroupSizeX + localIdz * localGroupSizeX * localGroupSizeY} */
    public final int localLinearId() {
        return localIdx + localGroupSizeX * (localIdy + localGroupSizeY * localIdz);
    }

    /**
     * Sum of {@code value} over the work-item's sub-group, the same on every lane (lanes added in lane order).
     * Sub-group collective.
     *
     * @param value this lane's value
     * @return the sub-group's sum
     */
    public float simdSum(float value) {
        throw notAWorkItem("simdSum");
    }

    /**
     * The value of the lane {@code delta} lanes further on; a lane with no such lane in its sub-group gets its
     * own value (CUDA {@code __shfl_down_sync}). Sub-group collective, same {@code delta} on every lane.
     *
     * @param value this lane's value
     * @param delta lanes to look ahead, {@code >= 0}
     * @return lane {@code lane + delta}'s value, or {@code value}
     */
    public float simdShuffleDown(float value, int delta) {
        throw notAWorkItem("simdShuffleDown");
    }

    /**
     * The value of lane {@code lane ^ laneMask} (a butterfly exchange, CUDA {@code __shfl_xor_sync}); a lane whose
     * partner is not in its sub-group (the last sub-group of a group may be smaller; {@code laneMask >=}
     * {@link #simdGroupSize()}) gets its own value. {@code simdShuffleXor(x, 1)} then {@code (x, 2)} combine the
     * four lanes of an MMA fragment's row (lanes 4g .. 4g + 3). Sub-group collective, same {@code laneMask} on every
     * lane.
     *
     * @param value this lane's value
     * @param laneMask bits to flip in the lane id, {@code >= 0}
     * @return lane {@code lane ^ laneMask}'s value, or {@code value}
     */
    public float simdShuffleXor(float value, int laneMask) {
        throw notAWorkItem("simdShuffleXor");
    }

    /**
     * Lane 0's value, on every lane. Sub-group collective.
     *
     * @param value this lane's value
     * @return lane 0's value
     */
    public float simdBroadcastFirst(float value) {
        throw notAWorkItem("simdBroadcastFirst");
    }

    /**
     * One m16n8k16 tensor-core tile with f16 inputs and f32 accumulation: {@code C += A * B}, where A is
     * 16x16 (row {@code i} at {@code a[aOffset + i * lda]}), B is 16x8 (row {@code k} at
     * {@code b[bOffset + k * ldb]}) and C is 16x8 floats (row {@code i} at {@code c[cOffset + i * ldc]}).
     * A and B hold raw f16 bits.
     *
     * <p>Sub-group collective: every lane calls it with the same arguments, and the arrays should be local
     * arrays shared by the sub-group (the JIT loads A and B with {@code ldmatrix} and runs {@code mma.sync},
     * or plain FMA where there are no tensor cores). C is complete on every lane when the call returns.
     * Reference semantics: for each (i, j), {@code acc = C[i][j]; for k in 0..15: acc += A[i][k] * B[k][j]}
     * in float, products exact (f16 x f16 fits a float), then {@code C[i][j] = acc}. Hardware may sum the 16
     * products in another order; the difference is a float rounding per add.
     *
     * @param a A tile, f16 bits
     * @param aOffset index of A[0][0]
     * @param lda A's row stride in elements
     * @param b B tile, f16 bits
     * @param bOffset index of B[0][0]
     * @param ldb B's row stride
     * @param c C tile, accumulated in place
     * @param cOffset index of C[0][0]
     * @param ldc C's row stride
     */
    public void mma16x8x16F16(short[] a, int aOffset, int lda, short[] b, int bOffset, int ldb,
            float[] c, int cOffset, int ldc) {
        throw notAWorkItem("mma16x8x16F16");
    }

    /**
     * As {@link #mma16x8x16F16} with bf16 inputs (bf16 x bf16 products are also exact in float).
     *
     * @param a A tile (16x16), bf16 bits
     * @param aOffset index of A[0][0]
     * @param lda A's row stride in elements
     * @param b B tile (16x8), bf16 bits
     * @param bOffset index of B[0][0]
     * @param ldb B's row stride
     * @param c C tile (16x8 floats), accumulated in place
     * @param cOffset index of C[0][0]
     * @param ldc C's row stride
     */
    public void mma16x8x16BF16(short[] a, int aOffset, int lda, short[] b, int bOffset, int ldb,
            float[] c, int cOffset, int ldc) {
        throw notAWorkItem("mma16x8x16BF16");
    }

    // Fragment-level MMA: the accumulator stays in registers across many tiles, as fast GEMMs and attention need.
    // Layouts are PTX's for mma.m16n8k16 with g = lane / 4 and t = lane % 4 (lane = simdLaneId()).

    /** Elements per lane of an A fragment: {@code short[8]}. */
    public static final int MMA_A_FRAGMENT = 8;
    /** Elements per lane of a B fragment: {@code short[4]}. */
    public static final int MMA_B_FRAGMENT = 4;
    /** Elements per lane of a C (accumulator) fragment: {@code float[4]}. */
    public static final int MMA_C_FRAGMENT = 4;

    /**
     * Loads this lane's A fragment of the 16x16 tile whose element (r, c) is {@code tile[offset + r * ld + c]}:
     * fragment element {@code i} is (r, c) = ({@code g + 8 * ((i >> 1) & 1)}, {@code 2 * t + (i & 1) + 8 * (i >> 2)}).
     * Per lane (not collective).
     *
     * @param tile a local f16 or bf16 array
     * @param offset index of element (0, 0)
     * @param ld row stride in elements
     * @param fragment receives {@link #MMA_A_FRAGMENT} elements
     * @param fragmentOffset where in {@code fragment} they go
     */
    public final void mmaLoadA(short[] tile, int offset, int ld, short[] fragment, int fragmentOffset) {
        int g = simdLaneId() >> 2;
        int t = simdLaneId() & 3;
        for (int i = 0; i < MMA_A_FRAGMENT; i++) {
            fragment[fragmentOffset + i] = tile[offset + (g + 8 * ((i >> 1) & 1)) * ld + 2 * t + (i & 1) + 8 * (i >> 2)];
        }
    }

    /**
     * Loads this lane's B fragment of the 16x8 (k x n) tile whose element (k, n) is
     * {@code tile[offset + k * ld + n]}: fragment element {@code i} is (k, n) = ({@code 2 * t + (i & 1) + 8 * (i >> 1)},
     * {@code g}). Per lane.
     *
     * @param tile a local f16 or bf16 array
     * @param offset index of element (0, 0)
     * @param ld row stride in elements
     * @param fragment receives {@link #MMA_B_FRAGMENT} elements
     * @param fragmentOffset where in {@code fragment} they go
     */
    public final void mmaLoadB(short[] tile, int offset, int ld, short[] fragment, int fragmentOffset) {
        int g = simdLaneId() >> 2;
        int t = simdLaneId() & 3;
        for (int i = 0; i < MMA_B_FRAGMENT; i++) {
            fragment[fragmentOffset + i] = tile[offset + (2 * t + (i & 1) + 8 * (i >> 1)) * ld + g];
        }
    }

    /**
     * As {@link #mmaLoadB} for a B stored transposed, element (k, n) at {@code tile[offset + n * ld + k]}, as
     * K is for {@code Q K^T} and a weight is for {@code x W^T}. Per lane.
     *
     * @param tile a local f16 or bf16 array holding B transposed (8 rows of 16)
     * @param offset index of element (k, n) = (0, 0)
     * @param ld stride between B's columns (the stored rows)
     * @param fragment receives {@link #MMA_B_FRAGMENT} elements
     * @param fragmentOffset where in {@code fragment} they go
     */
    public final void mmaLoadBTransposed(short[] tile, int offset, int ld, short[] fragment, int fragmentOffset) {
        int g = simdLaneId() >> 2;
        int t = simdLaneId() & 3;
        for (int i = 0; i < MMA_B_FRAGMENT; i++) {
            fragment[fragmentOffset + i] = tile[offset + g * ld + 2 * t + (i & 1) + 8 * (i >> 1)];
        }
    }

    /**
     * Stores this lane's C fragment into the 16x8 float tile whose element (r, c) is {@code tile[offset + r * ld + c]}:
     * fragment element {@code i} is (r, c) = ({@code g + 8 * (i >> 1)}, {@code 2 * t + (i & 1)}). Per lane.
     *
     * @param fragment holds {@link #MMA_C_FRAGMENT} accumulator elements
     * @param fragmentOffset where in {@code fragment} they start
     * @param tile a local or private float array
     * @param offset index of element (0, 0)
     * @param ld row stride in elements
     */
    public final void mmaStoreC(float[] fragment, int fragmentOffset, float[] tile, int offset, int ld) {
        int g = simdLaneId() >> 2;
        int t = simdLaneId() & 3;
        for (int i = 0; i < MMA_C_FRAGMENT; i++) {
            tile[offset + (g + 8 * (i >> 1)) * ld + 2 * t + (i & 1)] = fragment[fragmentOffset + i];
        }
    }

    /**
     * {@code D = A * B + C} on one m16n8k16 tile held in fragments (f16 inputs, f32 accumulation), the
     * accumulator updated in place: PTX {@code mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32}. Sub-group
     * collective: every lane of a full 32-wide sub-group calls it; devices without tensor cores run FMAs through
     * local memory, which also needs every work-item of the group to reach the call.
     *
     * @param a holds this lane's A fragment ({@link #MMA_A_FRAGMENT} f16 values) from {@code aOffset}
     * @param aOffset start of the A fragment
     * @param b holds this lane's B fragment ({@link #MMA_B_FRAGMENT} f16 values) from {@code bOffset}
     * @param bOffset start of the B fragment
     * @param c holds this lane's accumulator ({@link #MMA_C_FRAGMENT} floats) from {@code cOffset}, updated
     * @param cOffset start of the accumulator
     */
    public void mmaF16(short[] a, int aOffset, short[] b, int bOffset, float[] c, int cOffset) {
        throw notAWorkItem("mmaF16");
    }

    /**
     * As {@link #mmaF16} with bf16 inputs ({@code .bf16.bf16}).
     *
     * @param a holds this lane's A fragment of bf16 bits from {@code aOffset}
     * @param aOffset start of the A fragment
     * @param b holds this lane's B fragment of bf16 bits from {@code bOffset}
     * @param bOffset start of the B fragment
     * @param c holds this lane's accumulator from {@code cOffset}, updated
     * @param cOffset start of the accumulator
     */
    public void mmaBF16(short[] a, int aOffset, short[] b, int bOffset, float[] c, int cOffset) {
        throw notAWorkItem("mmaBF16");
    }

    /**
     * {@link #mmaF16(short[], int, short[], int, float[], int)} with fragments at offset 0.
     *
     * @param a this lane's A fragment
     * @param b this lane's B fragment
     * @param c this lane's accumulator, updated
     */
    public final void mmaF16(short[] a, short[] b, float[] c) {
        mmaF16(a, 0, b, 0, c, 0);
    }

    /**
     * {@link #mmaBF16(short[], int, short[], int, float[], int)} with fragments at offset 0.
     *
     * @param a this lane's A fragment
     * @param b this lane's B fragment
     * @param c this lane's accumulator, updated
     */
    public final void mmaBF16(short[] a, short[] b, float[] c) {
        mmaBF16(a, 0, b, 0, c, 0);
    }

    // Shared-memory matrix loads (PTX ldmatrix) and asynchronous global-to-local copies (PTX cp.async): the two
    // operations a tensor-core GEMM needs to feed mma.sync without staging through registers.

    /** Ints per row of an 8x8 matrix of 16-bit elements, as {@link #mmaLoadMatrixX4} reads them (16 bytes). */
    public static final int MMA_MATRIX_ROW_INTS = 4;
    /** Ints {@link #asyncCopy16} copies (16 bytes). */
    public static final int ASYNC_COPY_INTS = 4;

    /**
     * Loads four 8x8 matrices of 16-bit elements from a local int array into this lane's registers, one int (two
     * elements) per matrix: PTX {@code ldmatrix.sync.aligned.m8n8.x4.shared.b16}. Elements are held as pairs in
     * ints (element {@code 2p} in the low half of int {@code p}), so row {@code r} of a matrix is
     * {@value #MMA_MATRIX_ROW_INTS} consecutive ints.
     *
     * <p>Matrix {@code j} (0..3) starts at {@code base(j) = offset + (j & 1) * step1 + (j >> 1) * step2}; its row
     * {@code r} (0..7) is {@code tile[base(j) + r * ld ..][0 .. 3]}. (On the device, lane {@code 8 j + r} supplies the
     * address of that row, which this method computes from the arguments; so they must be the same on every lane.)
     * Lane {@code l} receives, as PTX defines for the non-transposed load, row {@code l / 4}, elements
     * {@code 2 (l % 4)} and {@code 2 (l % 4) + 1} of each matrix:
     * <pre>{@code dst[dstOffset + j] = tile[base(j) + (l >> 2) * ld + (l & 3)]}</pre>
     * This is an MMA operand fragment in {@link #mmaLoadA}'s and {@link #mmaLoadB}'s register order:
     * <ul>
     * <li>A (16x16 at row {@code r0}, k pair {@code p0}, row stride {@code ld} ints): {@code offset = r0 * ld + p0,
     * step1 = 8 * ld, step2 = 4} gives the four A registers (rows g, g + 8 by k 2t, 2t + 8), i.e. fragment elements
     * {@code 2j, 2j + 1} are the low and high halves of {@code dst[dstOffset + j]};</li>
     * <li>B of two adjacent 8-column tiles from a transposed store (Bt, n rows of k pairs): {@code offset = n0 * ld
     * + p0, step1 = 4, step2 = 8 * ld} gives B registers 0, 1 of columns n0 .. n0 + 7, then of n0 + 8 .. n0 + 15.</li>
     * </ul>
     *
     * <p>Sub-group collective: every lane of a full 32-wide sub-group calls it with the same arguments. Alignment
     * (ldmatrix reads 16-byte rows): {@code offset}, {@code ld}, {@code step1}, {@code step2} are multiples of
     * {@value #MMA_MATRIX_ROW_INTS}. Devices without {@code ldmatrix} (OpenCL, CUDA below sm_80) read the same ints
     * with plain local loads, each lane computing its own addresses from the arguments.
     *
     * @param tile a local int array ({@link #allocateIntLocalArray}) of 16-bit pairs
     * @param offset index of matrix 0's row 0
     * @param ld ints from one matrix row to the next
     * @param step1 ints from matrix 0 to matrix 1 (and from 2 to 3)
     * @param step2 ints from matrix 0 to matrix 2 (and from 1 to 3)
     * @param dst a private int array receiving 4 ints
     * @param dstOffset where in {@code dst} they go
     */
    public void mmaLoadMatrixX4(int[] tile, int offset, int ld, int step1, int step2, int[] dst, int dstOffset) {
        throw notAWorkItem("mmaLoadMatrixX4");
    }

    /**
     * As {@link #mmaLoadMatrixX4} with each 8x8 matrix transposed: PTX
     * {@code ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16}. Matrices, rows and the lanes supplying their addresses
     * are as for {@link #mmaLoadMatrixX4}; lane {@code l} receives column {@code l / 4} of rows {@code 2 (l % 4)}
     * (low half) and {@code 2 (l % 4) + 1} (high half) of each matrix, i.e. with
     * {@code half(w, h) = (w >>> 16 h) & 0xffff}, {@code c = l >> 2} and {@code r = 2 (l & 3)}:
     * <pre>{@code dst[dstOffset + j] = half(tile[base(j) + r * ld + (c >> 1)], c & 1)
     *         | half(tile[base(j) + (r + 1) * ld + (c >> 1)], c & 1) << 16}</pre>
     * This reads an MMA B operand from a tile stored k-major (row k holds the n columns as pairs, as V is in
     * attention's {@code P V}): {@code offset = k0 * ld + n0 / 2, step1 = 8 * ld, step2 = 4} gives B registers 0
     * (k0 .. k0 + 7) and 1 (k0 + 8 .. k0 + 15) of columns n0 .. n0 + 7, then of n0 + 8 .. n0 + 15. Likewise an A
     * operand stored column-major.
     *
     * <p>Sub-group collective, alignment and fallbacks as {@link #mmaLoadMatrixX4}: devices without {@code ldmatrix}
     * read the same halves with plain local loads, giving the same registers.
     *
     * @param tile a local int array ({@link #allocateIntLocalArray}) of 16-bit pairs
     * @param offset index of matrix 0's row 0
     * @param ld ints from one matrix row to the next
     * @param step1 ints from matrix 0 to matrix 1 (and from 2 to 3)
     * @param step2 ints from matrix 0 to matrix 2 (and from 1 to 3)
     * @param dst a private int array receiving 4 ints
     * @param dstOffset where in {@code dst} they go
     */
    public void mmaLoadMatrixX4Trans(int[] tile, int offset, int ld, int step1, int step2, int[] dst,
            int dstOffset) {
        throw notAWorkItem("mmaLoadMatrixX4Trans");
    }

    /**
     * Starts copying {@value #ASYNC_COPY_INTS} ints, {@code global[globalIndex ..]} to {@code local[localIndex ..]},
     * without waiting: PTX {@code cp.async.cg.shared.global [local], [global], 16, 4 * validInts} (sm_80+). The first
     * {@code validInts} ints are copied and the rest of the 4 zeroed; with {@code validInts == 0} nothing is read
     * (so {@code globalIndex} may lie outside the array). The copy belongs to the work-item's next
     * {@link #asyncCommit} group, and is complete only after an {@link #asyncWait} that covers that group; other
     * work-items see it after that wait and a {@link #localBarrier}. Per work-item (not collective).
     *
     * <p>Alignment (16-byte copies): {@code localIndex} and {@code globalIndex} are multiples of
     * {@value #ASYNC_COPY_INTS}, the global array starting 16-byte aligned as device buffers do. Devices without
     * {@code cp.async} (OpenCL, CUDA below sm_80) copy at once with plain loads and stores.
     *
     * @param local a local int array
     * @param localIndex first int written, a multiple of 4
     * @param global the source
     * @param globalIndex first int read, a multiple of 4
     * @param validInts ints to copy, 0 to 4; the rest of the 4 are zeroed
     */
    public void asyncCopy16(int[] local, int localIndex, IntArray global, int globalIndex, int validInts) {
        throw notAWorkItem("asyncCopy16");
    }

    /**
     * Closes the work-item's current group of {@link #asyncCopy16} copies (PTX {@code cp.async.commit_group}); an
     * empty group is fine and keeps group counting uniform across pipeline stages. Per work-item.
     */
    public void asyncCommit() {
        throw notAWorkItem("asyncCommit");
    }

    /**
     * Waits until at most {@code pendingGroups} of the work-item's most recently committed copy groups are still in
     * flight (PTX {@code cp.async.wait_group pendingGroups}): every older group is complete and visible to this
     * work-item; add a {@link #localBarrier} for the others. Copies not yet committed are not waited for. Per
     * work-item.
     *
     * @param pendingGroups groups that may stay in flight, {@code >= 0}: a compile-time constant for the JIT
     */
    public void asyncWait(int pendingGroups) {
        throw notAWorkItem("asyncWait");
    }

    private static IllegalStateException notAWorkItem(String operation) {
        return new IllegalStateException("KernelContext." + operation + " runs only inside a kernel launch: this "
                + "context is a placeholder for a TaskGraph task; run the task through an ExecutionPlan or an "
                + "emulator");
    }
}

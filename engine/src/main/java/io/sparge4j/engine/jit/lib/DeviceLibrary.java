package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Definitions of the {@link LibraryFunction}s for one dialect and device: native where the device has the
 * feature, else a fallback (sub-groups through local memory, MMA through FMA, half through bit operations).
 *
 * <p>Paths: CUDA uses warp shuffles when {@link DeviceFeatures#nativeSubGroups()} and {@code mma.sync} when
 * {@link DeviceFeatures#tensorCoreMma()}, and with the latter also {@code ldmatrix} and {@code cp.async} (sm_80+, as
 * tensor-core MMA is enabled). OpenCL always takes the fallbacks: sub-groups are emulated 32 wide
 * (32 consecutive linear local ids) through {@code sp_scratch} and {@code barrier(CLK_LOCAL_MEM_FENCE)}, so every
 * work-item of the group must reach each collective call, the same number of times. Sub-groups are 32 wide on
 * every path. Results: conversions, atomics on ints, the sub-group operations and the FMA fallbacks are
 * bit-identical to the emulator ({@code simdSum} adds lanes in lane order from 0 on every path); the tensor-core
 * MMA may sum the 16 products in another order (a float rounding per add).
 */
public final class DeviceLibrary {
    /** Version of the emitted C text; part of the JIT's cache key. */
    public static final String VERSION = "sp-devlib-3";
    /** Width of a sub-group on every path (CUDA warps and the emulated sub-groups): {@code simdGroupSize()}. */
    public static final int SUB_GROUP_WIDTH = CTarget.WIDTH;

    private final Dialect dialect;
    private final DeviceFeatures features;
    private final CTarget target;

    private DeviceLibrary(Dialect dialect, DeviceFeatures features) {
        this.dialect = Objects.requireNonNull(dialect, "dialect");
        this.features = Objects.requireNonNull(features, "features");
        boolean cuda = dialect == Dialect.CUDA;
        this.target = new CTarget(dialect, cuda && features.nativeSubGroups(), cuda && features.tensorCoreMma());
    }

    /**
     * @param dialect the generated language
     * @param features what the device offers
     * @return the library for that target
     */
    public static DeviceLibrary forTarget(Dialect dialect, DeviceFeatures features) {
        return new DeviceLibrary(dialect, features);
    }

    /**
     * @param used the functions a kernel calls
     * @return C definitions of them (and of anything they need), to place before the kernel; "" when none
     */
    public String functions(Set<LibraryFunction> used) {
        Set<Piece> pieces = pieces(used);
        StringBuilder out = new StringBuilder();
        for (Piece piece : pieces) {
            out.append(text(piece)).append('\n');
        }
        return out.toString();
    }

    /**
     * @param used the functions a kernel calls
     * @param workGroupSize work-items per group of the launch the kernel is compiled for
     * @return C statements for the top of the kernel body that define {@code sp_scratch} and {@code sp_llid} when a
     *     collective function is used; "" otherwise
     */
    public String kernelPrologue(Set<LibraryFunction> used, int workGroupSize) {
        Objects.requireNonNull(used, "used");
        if (workGroupSize < 1) {
            throw new IllegalArgumentException("kernelPrologue: workGroupSize is " + workGroupSize
                    + ", expected >= 1");
        }
        if (used.stream().noneMatch(LibraryFunction::collective)) {
            return "";
        }
        int floats = scratchFloats(used, workGroupSize);
        boolean cuda = target.cuda();
        String llid = cuda
                ? "    const int sp_llid = (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));\n"
                : "    const int sp_llid = (int)(get_local_id(0) + get_local_size(0) * (get_local_id(1)"
                        + " + get_local_size(1) * get_local_id(2)));\n";
        String scratch;
        if (floats == 0) {
            scratch = cuda ? "    float* const sp_scratch = (float*)0;\n" : "    __local float* const sp_scratch = 0;\n";
        } else {
            scratch = (cuda ? "    __shared__ float sp_scratch[" : "    __local float sp_scratch[") + floats + "];\n";
        }
        return llid + scratch;
    }

    /**
     * @param used the functions a kernel calls
     * @return one line per feature path taken, e.g. {@code "mma: tensor cores (mma.sync)"},
     *     {@code "sub-groups: local-memory fallback"}; empty when none applies
     */
    public List<String> paths(Set<LibraryFunction> used) {
        Objects.requireNonNull(used, "used");
        List<String> paths = new ArrayList<>();
        if (used.contains(LibraryFunction.HALF_TO_FLOAT) || used.contains(LibraryFunction.FLOAT_TO_HALF)) {
            paths.add("half: bit-exact conversions (bit operations)");
        }
        if (used.contains(LibraryFunction.EXP2_FTZ)) {
            paths.add(target.cuda() ? "exp2, subnormals flushed: ex2.approx.ftz"
                    : "exp2, subnormals flushed: exp2 and a range check");
        }
        if (used.stream().anyMatch(f -> f.name().startsWith("ATOMIC_ADD"))) {
            paths.add(target.cuda() ? "atomics: native atomicAdd"
                    : used.contains(LibraryFunction.ATOMIC_ADD_GLOBAL_FLOAT)
                            ? "atomics: atomic_add, float through an atomic_cmpxchg loop" : "atomics: atomic_add");
        }
        if (used.stream().anyMatch(f -> f.name().startsWith("SIMD_"))) {
            paths.add(target.nativeWarps() ? "sub-groups: native warp shuffles"
                    : "sub-groups: local-memory fallback (32 wide)");
        }
        if (used.stream().anyMatch(f -> f.name().startsWith("MMA_"))) {
            paths.add(target.nativeMma() ? "mma: tensor cores (mma.sync m16n8k16)"
                    : target.nativeWarps() ? "mma: FMA fallback through shared memory (warp-synchronous)"
                            : "mma: FMA fallback through local memory");
        }
        if (used.contains(LibraryFunction.LOAD_MATRIX_X4)) {
            paths.add(target.nativeMma() ? "matrix loads: ldmatrix.x4" : "matrix loads: plain local loads");
        }
        if (used.contains(LibraryFunction.LOAD_MATRIX_X4_TRANS)) {
            paths.add(target.nativeMma() ? "transposed matrix loads: ldmatrix.x4.trans"
                    : "transposed matrix loads: plain local loads");
        }
        if (used.contains(LibraryFunction.ASYNC_COPY_16)) {
            paths.add(target.nativeMma() ? "async copies: cp.async (16 bytes)"
                    : "async copies: synchronous loads and stores");
        }
        return List.copyOf(paths);
    }

    /** Floats of {@code sp_scratch} the fallbacks need; 0 when only native forms are used. */
    private int scratchFloats(Set<LibraryFunction> used, int workGroupSize) {
        int floats = 0;
        boolean simd = used.stream().anyMatch(f -> f.name().startsWith("SIMD_"));
        if (simd && !target.nativeWarps()) {
            floats = workGroupSize;
        }
        boolean fragments = used.contains(LibraryFunction.MMA_F16) || used.contains(LibraryFunction.MMA_BF16);
        if (fragments && !target.nativeMma()) {
            int subGroups = (workGroupSize + CTarget.WIDTH - 1) / CTarget.WIDTH;
            floats = Math.max(floats, subGroups * Mma.SCRATCH_PER_SUB_GROUP);
        }
        return floats;
    }

    /** Internal C pieces, in the order they are emitted (each after what it calls). */
    private enum Piece {
        HALF_TO_FLOAT, FLOAT_TO_HALF, BF16_TO_FLOAT, EXP2_FTZ, ATOMIC_GI, ATOMIC_GF, ATOMIC_LI, SUBGROUP_LANES,
        WARP_MASK, SIMD_SUM, SIMD_SHUFFLE_DOWN, SIMD_SHUFFLE_XOR, SIMD_BROADCAST_FIRST, PACK, MMA_F16, MMA_BF16,
        MMA_TILE_F16, MMA_TILE_BF16, LOAD_MATRIX_X4, LOAD_MATRIX_X4_TRANS, ASYNC_COPY_16, ASYNC_COMMIT, ASYNC_WAIT
    }

    private Set<Piece> pieces(Set<LibraryFunction> used) {
        Objects.requireNonNull(used, "used");
        EnumSet<Piece> pieces = EnumSet.noneOf(Piece.class);
        for (LibraryFunction f : used) {
            Objects.requireNonNull(f, "used: a null LibraryFunction");
            switch (f) {
                case HALF_TO_FLOAT -> pieces.add(Piece.HALF_TO_FLOAT);
                case FLOAT_TO_HALF -> pieces.add(Piece.FLOAT_TO_HALF);
                case EXP2_FTZ -> pieces.add(Piece.EXP2_FTZ);
                case ATOMIC_ADD_GLOBAL_INT -> pieces.add(Piece.ATOMIC_GI);
                case ATOMIC_ADD_GLOBAL_FLOAT -> pieces.add(Piece.ATOMIC_GF);
                case ATOMIC_ADD_LOCAL_INT -> pieces.add(Piece.ATOMIC_LI);
                case SIMD_SUM -> addSimd(pieces, Piece.SIMD_SUM);
                case SIMD_SHUFFLE_DOWN -> addSimd(pieces, Piece.SIMD_SHUFFLE_DOWN);
                case SIMD_SHUFFLE_XOR -> addSimd(pieces, Piece.SIMD_SHUFFLE_XOR);
                case SIMD_BROADCAST_FIRST -> addSimd(pieces, Piece.SIMD_BROADCAST_FIRST);
                case MMA_F16 -> addFragments(pieces, false);
                case MMA_BF16 -> addFragments(pieces, true);
                case MMA_TILE_F16 -> addTile(pieces, false);
                case MMA_TILE_BF16 -> addTile(pieces, true);
                case LOAD_MATRIX_X4 -> pieces.add(Piece.LOAD_MATRIX_X4);
                case LOAD_MATRIX_X4_TRANS -> pieces.add(Piece.LOAD_MATRIX_X4_TRANS);
                case ASYNC_COPY_16 -> pieces.add(Piece.ASYNC_COPY_16);
                case ASYNC_COMMIT -> pieces.add(Piece.ASYNC_COMMIT);
                case ASYNC_WAIT -> pieces.add(Piece.ASYNC_WAIT);
            }
        }
        return pieces;
    }

    private void addSimd(Set<Piece> pieces, Piece op) {
        pieces.add(Piece.SUBGROUP_LANES);
        if (target.nativeWarps()) {
            pieces.add(Piece.WARP_MASK);
        }
        pieces.add(op);
    }

    private void addFragments(Set<Piece> pieces, boolean bf16) {
        pieces.add(Piece.PACK);
        if (!bf16 && !target.nativeMma()) {
            pieces.add(Piece.HALF_TO_FLOAT);
        }
        pieces.add(bf16 ? Piece.MMA_BF16 : Piece.MMA_F16);
    }

    private void addTile(Set<Piece> pieces, boolean bf16) {
        if (target.nativeMma()) {
            addFragments(pieces, bf16);
        } else {
            pieces.add(bf16 ? Piece.BF16_TO_FLOAT : Piece.HALF_TO_FLOAT);
        }
        pieces.add(bf16 ? Piece.MMA_TILE_BF16 : Piece.MMA_TILE_F16);
    }

    private String text(Piece piece) {
        CTarget t = target;
        return switch (piece) {
            case HALF_TO_FLOAT -> HalfConversions.halfToFloat(t);
            case FLOAT_TO_HALF -> HalfConversions.floatToHalf(t);
            case BF16_TO_FLOAT -> HalfConversions.bf16ToFloat(t);
            case EXP2_FTZ -> FastMath.exp2Ftz(t);
            case ATOMIC_GI -> Atomics.globalInt(t);
            case ATOMIC_GF -> Atomics.globalFloat(t);
            case ATOMIC_LI -> Atomics.localInt(t);
            case SUBGROUP_LANES -> SubGroups.lanes(t);
            case WARP_MASK -> SubGroups.warpMask(t);
            case SIMD_SUM -> SubGroups.sum(t);
            case SIMD_SHUFFLE_DOWN -> SubGroups.shuffleDown(t);
            case SIMD_SHUFFLE_XOR -> SubGroups.shuffleXor(t);
            case SIMD_BROADCAST_FIRST -> SubGroups.broadcastFirst(t);
            case PACK -> Mma.pack(t);
            case MMA_F16 -> Mma.fragments(t, false);
            case MMA_BF16 -> Mma.fragments(t, true);
            case MMA_TILE_F16 -> Mma.tile(t, false);
            case MMA_TILE_BF16 -> Mma.tile(t, true);
            case LOAD_MATRIX_X4 -> SharedMemoryLoads.loadMatrixX4(t);
            case LOAD_MATRIX_X4_TRANS -> SharedMemoryLoads.loadMatrixX4Trans(t);
            case ASYNC_COPY_16 -> SharedMemoryLoads.copy16(t);
            case ASYNC_COMMIT -> SharedMemoryLoads.commit(t);
            case ASYNC_WAIT -> SharedMemoryLoads.waitGroups(t);
        };
    }

    @Override
    public String toString() {
        return "DeviceLibrary[" + dialect + ", " + features.identity() + "]";
    }
}

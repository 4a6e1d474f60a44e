package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.WorkerGrid3D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Kernel arrays (allocation, wrapping, bounds, half formats) and the host grid types. */
class KernelArraysTest {

    @Test
    void allocationIsZeroedAndAligned() {
        FloatArray f = new FloatArray(37);
        IntArray i = new IntArray(5);
        ByteArray b = new ByteArray(3);
        HalfFloatArray h = new HalfFloatArray(9);
        BFloat16Array bf = new BFloat16Array(9);
        for (var a : new io.sparge4j.kernels.types.arrays.NativeArray[] {f, i, b, h, bf}) {
            assertEquals(0, a.getSegment().address() % 64, a + " alignment");
        }
        assertEquals(37, f.getSize());
        assertEquals(37 * 4, f.getNumBytesOfSegment());
        for (int k = 0; k < 37; k++) {
            assertEquals(0f, f.get(k));
        }
        assertEquals(0f, h.get(8));
        assertEquals(0f, bf.get(8));
    }

    @Test
    void shallowWrapSharesMemoryAndFromSegmentCopies() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(40, 64);
            FloatArray view = FloatArray.fromSegmentShallow(seg);
            FloatArray copy = FloatArray.fromSegment(seg);
            assertEquals(10, view.getSize());
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, 3, 2.5f);
            assertEquals(2.5f, view.get(3));
            assertEquals(0f, copy.get(3));
            view.set(4, -1.25f);
            assertEquals(-1.25f, seg.getAtIndex(ValueLayout.JAVA_FLOAT, 4));
            assertEquals(seg.address(), view.getSegment().address());
        }
    }

    @Test
    void initClearAndHeapRoundTrip() {
        IntArray a = IntArray.fromArray(new int[] {4, -7, 9});
        assertArrayEquals(new int[] {4, -7, 9}, a.toHeapArray());
        a.init(11);
        assertArrayEquals(new int[] {11, 11, 11}, a.toHeapArray());
        a.clear();
        assertArrayEquals(new int[] {0, 0, 0}, a.toHeapArray());
        ByteArray b = ByteArray.fromArray(new byte[] {1, -2});
        b.set(1, (byte) 100);
        assertEquals((byte) 100, b.get(1));
        FloatArray f = new FloatArray(4);
        f.init(3.5f);
        assertArrayEquals(new float[] {3.5f, 3.5f, 3.5f, 3.5f}, f.toHeapArray());
    }

    @Test
    void boundsErrorsNameTheArrayIndexAndSize() {
        FloatArray f = new FloatArray(10);
        var e = assertThrows(IndexOutOfBoundsException.class, () -> f.get(10));
        assertEquals("FloatArray: index 10 out of bounds for size 10", e.getMessage());
        e = assertThrows(IndexOutOfBoundsException.class, () -> new HalfFloatArray(3).set(-1, 1f));
        assertEquals("HalfFloatArray: index -1 out of bounds for size 3", e.getMessage());
        var w = assertThrows(IllegalArgumentException.class,
                () -> IntArray.fromSegmentShallow(MemorySegment.ofArray(new byte[10])));
        assertEquals("IntArray.fromSegmentShallow: segment has 10 bytes, expected a multiple of 4", w.getMessage());
        var n = assertThrows(IllegalArgumentException.class, () -> new FloatArray(-2));
        assertEquals("FloatArray: size is -2, expected >= 0", n.getMessage());
    }

    @Test
    void halfRoundTripMatchesNearestF16() {
        Random rnd = new Random(41);
        HalfFloatArray h = new HalfFloatArray(2000);
        for (int i = 0; i < h.getSize(); i++) {
            float x = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(20) - 10));
            h.set(i, x);
            float back = h.get(i);
            // independent check: the stored value is within half an f16 ulp (11-bit significand) of x
            int exp = Math.getExponent(x);
            double ulp = Math.scalb(1.0, Math.max(exp, -14) - 10);
            assertTrue(Math.abs(back - x) <= ulp / 2, "f16 rounding of " + x + " gave " + back);
            // a value already in f16 survives unchanged, bits included
            short bits = h.getHalfBits(i);
            h.set(i, back);
            assertEquals(bits, h.getHalfBits(i));
        }
        h.setHalfBits(0, (short) 0x3C00);
        assertEquals(1f, h.get(0));
        h.set(1, 65504f);
        assertEquals((short) 0x7BFF, h.getHalfBits(1));
        h.set(2, Float.NaN);
        assertTrue(Float.isNaN(h.get(2)));
    }

    @Test
    void bfloat16RoundTripIsNearestEven() {
        Random rnd = new Random(43);
        BFloat16Array b = new BFloat16Array(3000);
        for (int i = 0; i < b.getSize(); i++) {
            float x = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(60) - 30));
            b.set(i, x);
            assertEquals(nearestBf16(x), b.get(i), "bf16 rounding of " + x);
        }
        b.setHalfBits(0, (short) 0x3F80);
        assertEquals(1f, b.get(0));
        b.set(1, Float.NaN);
        assertTrue(Float.isNaN(b.get(1)));
        b.set(2, Float.NEGATIVE_INFINITY);
        assertEquals(Float.NEGATIVE_INFINITY, b.get(2));
        // a tie rounds to the even neighbour: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7
        b.set(3, 1f + 0x1p-8f);
        assertEquals(1f, b.get(3));
        assertEquals(1f, KernelMath.bfloat16ToFloat(KernelMath.floatToBFloat16(1f)));
    }

    /** The bf16 value nearest to x by exhaustive comparison of the two truncation neighbours (ties to even). */
    private static float nearestBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        float down = Float.intBitsToFloat(bits & 0xffff0000);
        float up = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
        double dd = Math.abs((double) x - down);
        double du = Math.abs((double) up - x);
        if (dd != du) {
            return dd < du ? down : up;
        }
        return ((Float.floatToRawIntBits(down) >>> 16) & 1) == 0 ? down : up;
    }

    @Test
    void workerGridsKeepSizesAndRejectBadOnes() {
        WorkerGrid2D g = new WorkerGrid2D(64, 32);
        assertNull(g.getLocalWork());
        assertNull(g.getNumberOfWorkgroups());
        g.setLocalWork(16, 8, 1);
        assertArrayEquals(new long[] {64, 32, 1}, g.getGlobalWork());
        assertArrayEquals(new long[] {16, 8, 1}, g.getLocalWork());
        assertArrayEquals(new long[] {4, 4, 1}, g.getNumberOfWorkgroups());
        assertEquals(2, g.dimension());
        assertEquals(3, new WorkerGrid3D(2, 3, 4).dimension());
        var e = assertThrows(IllegalArgumentException.class, () -> new WorkerGrid1D(128).setLocalWork(16, 2, 1));
        assertEquals("WorkerGrid1D.setLocalWork: y is 2, expected 1 for a 1D grid", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new WorkerGrid1D(0));
        assertEquals("WorkerGrid1D.setGlobalWork: x is 0, expected >= 1", e.getMessage());
    }

    @Test
    void gridSchedulerKeysByGraphAndTask() {
        WorkerGrid1D grid = new WorkerGrid1D(256);
        GridScheduler s = new GridScheduler("layer0.attention", grid);
        assertTrue(s.contains("layer0", "attention"));
        assertEquals(grid, s.get("layer0.attention"));
        assertNull(s.get("layer0.rms"));
        var e = assertThrows(IllegalArgumentException.class, () -> s.setWorkerGrid("attention", grid));
        assertEquals("GridScheduler.setWorkerGrid: taskName is \"attention\", expected \"graph.task\"", e.getMessage());
        assertEquals("UNDER_DEMAND", DataTransferMode.name(DataTransferMode.UNDER_DEMAND));
        assertThrows(IllegalArgumentException.class, () -> DataTransferMode.name(3));
    }
}

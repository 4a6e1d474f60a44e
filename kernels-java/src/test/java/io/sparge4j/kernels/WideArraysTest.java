package io.sparge4j.kernels;

import io.sparge4j.kernels.types.arrays.DoubleArray;
import io.sparge4j.kernels.types.arrays.LongArray;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** LongArray and DoubleArray: 8-byte elements, views, copies and bounds. */
class WideArraysTest {
    @Test
    void longArray() {
        long[] v = {Long.MIN_VALUE, -1, 0, 1L << 40, Long.MAX_VALUE};
        LongArray a = LongArray.fromArray(v);
        assertEquals(5, a.getSize());
        assertEquals(40, a.getNumBytesOfSegment());
        assertEquals(8, a.getElementSize());
        assertArrayEquals(v, a.toHeapArray());
        a.set(2, 7L << 50);
        assertEquals(7L << 50, a.get(2));
        LongArray view = LongArray.fromSegmentShallow(a.getSegment());
        view.set(0, 3);
        assertEquals(3, a.get(0), "a shallow view shares memory");
        LongArray copy = LongArray.fromSegment(a.getSegment());
        copy.set(0, 4);
        assertEquals(3, a.get(0), "fromSegment copies");
        var e = assertThrows(IndexOutOfBoundsException.class, () -> a.get(5));
        assertEquals("LongArray: index 5 out of bounds for size 5", e.getMessage());
        var bad = assertThrows(IllegalArgumentException.class,
                () -> LongArray.fromSegmentShallow(Arena.ofAuto().allocate(12)));
        assertEquals("LongArray.fromSegmentShallow: segment has 12 bytes, expected a multiple of 8", bad.getMessage());
    }

    @Test
    void doubleArray() {
        double[] v = {Math.PI, -0.0, Double.MIN_VALUE, 1e300};
        DoubleArray a = DoubleArray.fromArray(v);
        assertArrayEquals(v, a.toHeapArray());
        a.init(2.5);
        assertEquals(2.5, a.get(3));
        assertEquals(32, a.getNumBytesOfSegment());
        assertEquals("DoubleArray[4]", a.toString());
        assertThrows(IllegalArgumentException.class, () -> new DoubleArray(-1));
    }
}

package io.sparge4j.engine.io;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsRoundTripTest {
    @TempDir
    Path dir;

    private static final int[][] SHAPES = {{}, {0, 5}, {7}, {3, 5, 2}, {1, 13}, {2, 3, 1, 5}};

    /** A tensor of random raw bits (bool: random 0/1), so half floats include NaN and subnormal patterns. */
    static Tensor randomBits(SplittableRandom rng, DType dtype, int... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        for (long i = 0; i < t.byteSize(); i++) {
            byte b = dtype == DType.BOOL ? (byte) rng.nextInt(2) : (byte) rng.nextInt(256);
            t.segment().set(ValueLayout.JAVA_BYTE, i, b);
        }
        return t;
    }

    static byte[] bytes(Tensor t) {
        // segment() of an empty allocated tensor holds one spare byte; compare the data bytes only
        return t.segment().asSlice(0, t.byteSize()).toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void everyDtypeAndShapeRoundTripsBitExact() throws IOException {
        SplittableRandom rng = new SplittableRandom(11);
        Map<String, Tensor> in = new LinkedHashMap<>();
        for (DType dtype : DType.values()) {
            for (int s = 0; s < SHAPES.length; s++) {
                in.put(dtype + "/" + s, randomBits(rng, dtype, SHAPES[s]));
            }
        }
        Path file = dir.resolve("all.safetensors");
        Safetensors.write(file, in);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(new ArrayList<>(new TreeMap<>(in).keySet()), new ArrayList<>(f.names()));
            assertTrue(f.metadata().isEmpty());
            for (Map.Entry<String, Tensor> e : in.entrySet()) {
                Tensor want = e.getValue();
                TensorInfo info = f.info(e.getKey());
                assertEquals(want.dtype(), info.dtype(), e.getKey());
                assertArrayEquals(want.shape(), info.shape(), e.getKey());
                assertEquals(want.byteSize(), info.byteSize(), e.getKey());
                try (Tensor loaded = f.load(e.getKey())) {
                    assertFalse(loaded.isView());
                    assertArrayEquals(want.shape(), loaded.shape(), e.getKey());
                    assertArrayEquals(bytes(want), bytes(loaded), e.getKey());
                }
                assertArrayEquals(bytes(want), bytes(f.tensor(e.getKey())), e.getKey() + " (view)");
            }
        }
    }

    @Test
    void metadataRoundTripsIncludingEscapesAndUnicode() throws IOException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("quote\"back\\slash", "line\nbreak\ttab");
        meta.put("unicode", "θ ✓ \uD83D\uDE80");
        meta.put("empty", "");
        Path file = dir.resolve("meta.safetensors");
        Safetensors.write(file, Map.of("x", Tensor.randn(3, 2, 2)), meta);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(meta, f.metadata());
            assertThrows(UnsupportedOperationException.class, () -> f.metadata().put("a", "b"));
        }
    }

    @Test
    void viewIsZeroCopyReadOnlyAndReadsTheSameValues() throws IOException {
        Tensor x = Tensor.randn(5, 3, 17);
        Path file = dir.resolve("view.safetensors");
        Safetensors.write(file, Map.of("x", x, "m", randomBits(new SplittableRandom(2), DType.U8, 5)));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor v1 = f.tensor("x");
            Tensor v2 = f.tensor("x");
            assertTrue(v1.isView());
            // Both calls see the same mapped bytes: no copy was made.
            assertEquals(v1.segment().address(), v2.segment().address());
            assertArrayEquals(x.toFloatArray(), v1.toFloatArray());
            assertEquals(x.get(2, 16), v1.get(2, 16));
            // JDK 25 reports a write to a read-only segment as an IllegalArgumentException
            assertThrows(IllegalArgumentException.class, () -> v1.setFloat(0, 1f));
        }
    }

    /** Float value of f16 bits, decoded by hand (independent of Float.float16ToFloat). */
    static double f16Reference(int bits) {
        int sign = (bits >> 15) & 1;
        int exp = (bits >> 10) & 0x1f;
        int mant = bits & 0x3ff;
        double mag;
        if (exp == 0) {
            mag = Math.scalb((double) mant, -24);
        } else if (exp == 31) {
            mag = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else {
            mag = Math.scalb(1024.0 + mant, exp - 25);
        }
        return sign == 1 ? -mag : mag;
    }

    /** Float value of bf16 bits: by definition the top half of a binary32. */
    static double bf16Reference(int bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /**
     * Checks that {@code got} is the nearest half-float to {@code x} with ties to even, by comparing with its
     * two neighbours in bit space (x is finite, non-zero and in the normal range of the format).
     */
    static void assertNearestEven(double x, int got, java.util.function.IntToDoubleFunction decode, String what) {
        double here = Math.abs(decode.applyAsDouble(got) - x);
        for (int neighbour : new int[] {got - 1, got + 1}) {
            double there = Math.abs(decode.applyAsDouble(neighbour & 0xffff) - x);
            assertTrue(here < there || (here == there && (got & 1) == 0),
                    what + ": " + x + " -> bits " + Integer.toHexString(got) + " is not the nearest (ties to even)");
        }
    }

    @Test
    void loadConvertsHalfFloatsAgainstIndependentReferences() throws IOException {
        SplittableRandom rng = new SplittableRandom(5);
        Tensor bf = randomBits(rng, DType.BF16, 9, 31);
        Tensor h = randomBits(rng, DType.F16, 9, 31);
        Tensor x = Tensor.allocate(DType.F32, 300);
        for (int i = 0; i < 300; i++) {
            // magnitudes within the normal range of f16 (6.1e-5 .. 65504) and of bf16
            double mag = Math.exp(rng.nextDouble(Math.log(1e-4), Math.log(6e4)));
            x.setFloat(i, (float) (rng.nextBoolean() ? mag : -mag));
        }
        Path file = dir.resolve("conv.safetensors");
        Safetensors.write(file, Map.of("bf", bf, "h", h, "x", x));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            // Widening is exact: compare bit patterns of the doubles (NaN payloads aside).
            try (Tensor bf32 = f.load("bf", DType.F32); Tensor h32 = f.load("h", DType.F32)) {
                assertEquals(DType.F32, bf32.dtype());
                for (int i = 0; i < bf32.numel(); i++) {
                    int bfBits = (int) (bf.segment().getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff);
                    int hBits = (int) (h.segment().getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff);
                    assertEquals(bf16Reference(bfBits), (double) bf32.getFloat(i), 0.0, "bf16 " + i);
                    assertEquals(f16Reference(hBits), (double) h32.getFloat(i), 0.0, "f16 " + i);
                }
            }
            // Narrowing rounds to nearest, ties to even.
            try (Tensor xb = f.load("x", DType.BF16); Tensor xh = f.load("x", DType.F16)) {
                for (int i = 0; i < 300; i++) {
                    double v = x.getFloat(i);
                    assertNearestEven(v, xb.segment().getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff,
                            SafetensorsRoundTripTest::bf16Reference, "f32->bf16");
                    assertNearestEven(v, xh.segment().getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff,
                            SafetensorsRoundTripTest::f16Reference, "f32->f16");
                }
            }
        }
    }

    @Test
    void loadConvertsIntegersAndBooleans() throws IOException {
        long[] longs = {-7, 0, 1, 123_456_789, -(1L << 30)};
        Tensor i64 = Tensor.allocate(DType.I64, longs.length);
        for (int i = 0; i < longs.length; i++) {
            i64.setLong(i, longs[i]);
        }
        Tensor u8 = Tensor.allocate(DType.U8, 3);
        u8.setLong(0, 0);
        u8.setLong(1, 200);
        u8.setLong(2, 1);
        Tensor f = Tensor.of(new float[] {-2.75f, 2.75f, 0.5f, 1e6f}, 4);
        Path file = dir.resolve("ints.safetensors");
        Safetensors.write(file, Map.of("i64", i64, "u8", u8, "f", f));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertArrayEquals(new int[] {-7, 0, 1, 123_456_789, -(1 << 30)}, st.load("i64", DType.I32).toIntArray());
            assertArrayEquals(new float[] {-7f, 0f, 1f, 123_456_792f, -(float) (1L << 30)},
                    st.load("i64", DType.F32).toFloatArray());
            assertArrayEquals(new float[] {0f, 200f, 1f}, st.load("u8", DType.F32).toFloatArray());
            assertArrayEquals(new int[] {0, 1, 1}, st.load("u8", DType.BOOL).toIntArray());
            // float to integer truncates toward zero, as a Java cast does
            assertArrayEquals(new int[] {-2, 2, 0, 1_000_000}, st.load("f", DType.I32).toIntArray());
        }
    }

    @Test
    void largeTensorConversionUsesAllChunksCorrectly() throws IOException {
        // More than one parallel chunk (2^18 elements), with a ragged last chunk.
        int n = (1 << 19) + 4099;
        Tensor bf = randomBits(new SplittableRandom(9), DType.BF16, n);
        Path file = dir.resolve("big.safetensors");
        Safetensors.write(file, Map.of("bf", bf));
        try (SafetensorsFile f = SafetensorsFile.open(file); Tensor out = f.load("bf", DType.F32)) {
            for (int i = 0; i < n; i++) {
                int bits = bf.segment().getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff;
                // compare raw bits: bf16 widening must keep even signalling-NaN payloads
                assertEquals(bits << 16, out.segment().getAtIndex(ValueLayout.JAVA_INT, i), "element " + i);
            }
            try (Tensor same = f.load("bf")) {
                assertArrayEquals(bytes(bf), bytes(same));
            }
        }
    }

    @Test
    void loadAllReturnsOwnedCopiesInNameOrder() throws IOException {
        Map<String, Tensor> in = Map.of("b", Tensor.randn(1, 4), "a", Tensor.randn(2, 2, 3), "c",
                Tensor.randn(3, 5).to(DType.BF16));
        Path file = dir.resolve("all.safetensors");
        Safetensors.write(file, in);
        Map<String, Tensor> out;
        Map<String, Tensor> f32;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            out = f.loadAll();
            f32 = f.loadAll(DType.F32);
        }
        // Still readable after the file is closed: they are copies.
        assertEquals(List.of("a", "b", "c"), new ArrayList<>(out.keySet()));
        for (String k : in.keySet()) {
            assertArrayEquals(bytes(in.get(k)), bytes(out.get(k)), k);
            assertEquals(DType.F32, f32.get(k).dtype());
            assertArrayEquals(in.get(k).toFloatArray(), f32.get(k).toFloatArray(), k);
        }
    }

    @Test
    void writeReplacesAnExistingFile() throws IOException {
        Path file = dir.resolve("w.safetensors");
        Safetensors.write(file, Map.of("old", Tensor.randn(1, 3)));
        Tensor fresh = Tensor.randn(2, 4);
        Safetensors.write(file, Map.of("new", fresh));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("new"), new ArrayList<>(f.names()));
            assertArrayEquals(fresh.toFloatArray(), f.load("new").toFloatArray());
        }
    }

    /**
     * A copy-on-write file's shared tensors: the file's values without a copy (the mapped address), writable with the
     * writes private (the file and a second opener still see the stored values), alive after the file is closed,
     * and the mapping gone once the last of them is closed too (a view taken before then stops reading).
     */
    @Test
    void sharedTensorsMapCopyOnWriteAndKeepTheMappingUntilTheLastCloses() throws IOException {
        Tensor x = Tensor.randn(11, 4, 9);
        Tensor y = Tensor.randn(12, 5);
        Path file = dir.resolve("shared.safetensors");
        Safetensors.write(file, Map.of("x", x, "y", y));
        Tensor a;
        Tensor b;
        Tensor view;
        try (SafetensorsFile f = SafetensorsFile.openCopyOnWrite(file)) {
            a = f.shared("x");
            b = f.shared("y");
            view = f.tensor("x");
            assertFalse(a.isView(), "the caller owns (closes) a shared tensor");
            assertEquals(view.segment().address(), a.segment().address(), "no copy: the mapping itself");
            assertArrayEquals(x.toFloatArray(), a.toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> view.setFloat(0, 1f), "views stay read-only");
            a.setFloat(3, 1234.5f);
            assertEquals(1234.5f, a.getFloat(3));
            try (SafetensorsFile other = SafetensorsFile.open(file)) {
                assertEquals(x.getFloat(3), other.tensor("x").getFloat(3), "the write stays in this mapping");
            }
            try (SafetensorsFile readOnly = SafetensorsFile.open(file)) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> readOnly.shared("x"));
                assertTrue(e.getMessage().contains("openCopyOnWrite"), e.getMessage());
            }
        }
        assertArrayEquals(y.toFloatArray(), b.toFloatArray(), "readable after the file is closed");
        a.close();
        assertEquals(x.getFloat(5), view.getFloat(5), "b still holds the mapping");
        b.close();
        assertThrows(IllegalStateException.class, () -> view.getFloat(5), "unmapped after the last shared tensor");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(x.toFloatArray(), f.load("x").toFloatArray(), "the file never changed");
        }
    }

    /** A tensor that does not lie aligned in the file comes back as an owned copy with the same values. */
    @Test
    void aMisalignedSharedTensorIsACopy() throws IOException {
        // u8 [3] first puts the f32 tensor 3 bytes past an 8-aligned data start
        byte[] data = StBytes.concat(new byte[] {1, 2, 3}, StBytes.f32(0.5f, -2.25f));
        Path file = StBytes.write(dir, "odd.safetensors", StBytes.file("{\"m\":{\"dtype\":\"U8\",\"shape\":[3],"
                + "\"data_offsets\":[0,3]},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}}", data));
        try (SafetensorsFile f = SafetensorsFile.openCopyOnWrite(file); Tensor w = f.shared("w")) {
            assertArrayEquals(new float[] {0.5f, -2.25f}, w.toFloatArray());
            assertNotEquals(f.tensor("w").segment().address(), w.segment().address(), "a copy");
        }
    }

    @Test
    void viewsOfAnOpenFileCanBeWrittenOverThatSameFile() throws IOException {
        // Converting a checkpoint in place: the old mapping stays valid while the new file replaces it.
        Tensor x = Tensor.randn(8, 4, 6);
        Path file = dir.resolve("inplace.safetensors");
        Safetensors.write(file, Map.of("x", x), Map.of("step", "1"));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Safetensors.write(file, Map.of("x", f.tensor("x"), "x_bf16", f.load("x", DType.BF16)), Map.of("step", "2"));
            assertArrayEquals(x.toFloatArray(), f.tensor("x").toFloatArray(), "old mapping still readable");
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("step", "2"), f.metadata());
            assertArrayEquals(x.toFloatArray(), f.load("x").toFloatArray());
            assertArrayEquals(x.to(DType.BF16).toFloatArray(), f.load("x_bf16").toFloatArray());
        }
    }

    @Test
    void unknownNameIsAnIllegalArgumentNamingIt() throws IOException {
        Path file = dir.resolve("n.safetensors");
        Safetensors.write(file, Map.of("x", Tensor.randn(1, 3)));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertFalse(f.contains("y"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.tensor("y"));
            assertTrue(e.getMessage().contains("'y'") && e.getMessage().contains("n.safetensors"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> f.load("y", DType.F32));
        }
    }

    @Test
    void writerRejectsInvalidArgumentsBeforeTouchingTheDisk() {
        Path file = dir.resolve("bad.safetensors");
        Tensor t = Tensor.randn(1, 2);
        Map<String, Tensor> nullTensor = new LinkedHashMap<>();
        nullTensor.put("x", null);
        Map<String, String> nullValue = new LinkedHashMap<>();
        nullValue.put("k", null);
        List<Runnable> bad = List.of(
                () -> write(file, Map.of("", t), null),
                () -> write(file, Map.of("__metadata__", t), null),
                () -> write(file, nullTensor, null),
                () -> write(file, null, null),
                () -> write(file, Map.of("x", t), nullValue),
                () -> write(null, Map.of("x", t), null));
        for (Runnable r : bad) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
            assertTrue(e.getMessage().startsWith("Safetensors.write: "), e.getMessage());
            assertTrue(e.getMessage().contains("expected"), e.getMessage());
        }
        assertFalse(java.nio.file.Files.exists(file));
        assertEquals(0, dir.toFile().list().length, "no temporary file left behind");
    }

    private static void write(Path p, Map<String, Tensor> t, Map<String, String> m) {
        try {
            Safetensors.write(p, t, m);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void differentValuesGiveDifferentFiles() throws IOException {
        // Guards the round-trip test against comparing a file with itself.
        Path a = dir.resolve("a.safetensors");
        Path b = dir.resolve("b.safetensors");
        Safetensors.write(a, Map.of("x", Tensor.randn(1, 8)));
        Safetensors.write(b, Map.of("x", Tensor.randn(2, 8)));
        assertNotEquals(java.util.Arrays.toString(java.nio.file.Files.readAllBytes(a)),
                java.util.Arrays.toString(java.nio.file.Files.readAllBytes(b)));
    }
}

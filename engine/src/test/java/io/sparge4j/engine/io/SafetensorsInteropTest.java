package io.sparge4j.engine.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Files made outside this code base are read correctly, and the writer's output follows the spec. */
class SafetensorsInteropTest {
    @TempDir
    Path dir;

    /*
     * Written by python3 + numpy 2.4 (the safetensors package cannot be installed here), laying the bytes
     * out by hand exactly as the format describes:
     *
     *   def bf16_bits(x):  # round-to-nearest-even of float32 bits to the top 16
     *       b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
     *       return ((b + 0x7fff + ((b >> 16) & 1)) >> 16).astype(np.uint16)
     *   t = {"f_u8": ("U8", np.array([0, 200, 255], np.uint8)),
     *        "a_f32": ("F32", (np.arange(6, dtype=np.float32) * np.float32(0.375) - 1).reshape(2, 3)),
     *        "b_bf16": ("BF16", bf16_bits([3.14159, -0.1, 1e30])),
     *        "c_f16": ("F16", np.array([1.5, -2.25, 65504, 6e-8, np.inf], np.float16)),
     *        "d_i64": ("I64", np.array([-(2**40), 7], np.int64)),
     *        "e_i32": ("I32", np.array([[-5], [123456]], np.int32)),
     *        "g_bool": ("BOOL", np.array([True, False, True, True])),
     *        "h_scalar": ("F32", np.array(3.25, np.float32)),
     *        "i_empty": ("F32", np.zeros((0, 4), np.float32))}
     *   header, buf = {"__metadata__": {"format": "pt", "note": "numpy \u2713"}}, b""
     *   for name, (dt, arr) in t.items():   # data in this (unsorted, misaligning) order
     *       raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
     *       header[name] = {"dtype": dt, "shape": list(arr.shape),
     *                       "data_offsets": [len(buf), len(buf) + len(raw)]}
     *       buf += raw
     *   h = json.dumps(header, ensure_ascii=False).encode(); h += b" " * ((8 - len(h) % 8) % 8)
     *   print(base64.b64encode(struct.pack("<Q", len(h)) + h + buf).decode())
     */
    private static final String NUMPY_FILE = "oAIAAAAAAAB7Il9fbWV0YWRhdGFfXyI6IHsiZm9ybWF0IjogInB0IiwgIm5vdGUiOiAibnVtcHkg4pyTIn0sICJmX3U4IjogeyJkdHlwZSI6ICJVOCIsICJzaGFwZSI6IFszXSwgImRhdGFfb2Zmc2V0cyI6IFswLCAzXX0sICJhX2YzMiI6IHsiZHR5cGUiOiAiRjMyIiwgInNoYXBlIjogWzIsIDNdLCAiZGF0YV9vZmZzZXRzIjogWzMsIDI3XX0sICJiX2JmMTYiOiB7ImR0eXBlIjogIkJGMTYiLCAic2hhcGUiOiBbM10sICJkYXRhX29mZnNldHMiOiBbMjcsIDMzXX0sICJjX2YxNiI6IHsiZHR5cGUiOiAiRjE2IiwgInNoYXBlIjogWzVdLCAiZGF0YV9vZmZzZXRzIjogWzMzLCA0M119LCAiZF9pNjQiOiB7ImR0eXBlIjogIkk2NCIsICJzaGFwZSI6IFsyXSwgImRhdGFfb2Zmc2V0cyI6IFs0MywgNTldfSwgImVfaTMyIjogeyJkdHlwZSI6ICJJMzIiLCAic2hhcGUiOiBbMiwgMV0sICJkYXRhX29mZnNldHMiOiBbNTksIDY3XX0sICJnX2Jvb2wiOiB7ImR0eXBlIjogIkJPT0wiLCAic2hhcGUiOiBbNF0sICJkYXRhX29mZnNldHMiOiBbNjcsIDcxXX0sICJoX3NjYWxhciI6IHsiZHR5cGUiOiAiRjMyIiwgInNoYXBlIjogW10sICJkYXRhX29mZnNldHMiOiBbNzEsIDc1XX0sICJpX2VtcHR5IjogeyJkdHlwZSI6ICJGMzIiLCAic2hhcGUiOiBbMCwgNF0sICJkYXRhX29mZnNldHMiOiBbNzUsIDc1XX19ICAAyP8AAIC/AAAgvwAAgL4AAAA+AAAAPwAAYD9JQM29SnEAPoDA/3sBAAB8AAAAAAD///8HAAAAAAAAAPv///9A4gEAAQABAQAAUEA=";

    @Test
    void readsAFileWrittenByPythonNumpy() throws IOException {
        Path file = StBytes.write(dir, "numpy.safetensors", Base64.getDecoder().decode(NUMPY_FILE));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("a_f32", "b_bf16", "c_f16", "d_i64", "e_i32", "f_u8", "g_bool", "h_scalar", "i_empty"),
                    new ArrayList<>(f.names()));
            assertEquals(Map.of("format", "pt", "note", "numpy \u2713"), f.metadata());
            // Expected values printed by numpy.
            assertArrayEquals(new float[] {-1.0f, -0.625f, -0.25f, 0.125f, 0.5f, 0.875f}, f.load("a_f32").toFloatArray());
            assertArrayEquals(new int[] {2, 3}, f.info("a_f32").shape());
            assertArrayEquals(new float[] {3.140625f, -0.10009765625f, (float) 1.0002555517425873e+30},
                    f.load("b_bf16", DType.F32).toFloatArray());
            assertArrayEquals(new float[] {1.5f, -2.25f, 65504.0f, (float) 5.960464477539063e-08, Float.POSITIVE_INFINITY},
                    f.load("c_f16", DType.F32).toFloatArray());
            Tensor i64 = f.load("d_i64");
            assertEquals(-(1L << 40), i64.getLong(0));
            assertEquals(7L, i64.getLong(1));
            assertArrayEquals(new int[] {-5, 123456}, f.load("e_i32").toIntArray());
            assertArrayEquals(new int[] {2, 1}, f.info("e_i32").shape());
            assertArrayEquals(new int[] {0, 200, 255}, f.load("f_u8").toIntArray());
            assertArrayEquals(new int[] {1, 0, 1, 1}, f.load("g_bool").toIntArray());
            assertEquals(0, f.info("h_scalar").shape().length);
            assertEquals(3.25f, f.load("h_scalar").getFloat(0));
            assertArrayEquals(new int[] {0, 4}, f.info("i_empty").shape());
            assertEquals(0, f.load("i_empty").numel());
            // a_f32 starts at data byte 3, so it is not 4-byte aligned: the view falls back to a copy that
            // still reads the same values and is still read-only.
            assertEquals(3, f.info("a_f32").dataBegin());
            Tensor view = f.tensor("a_f32");
            assertArrayEquals(f.load("a_f32").toFloatArray(), view.toFloatArray());
            assertEquals(0, view.segment().address() % 4);
            assertTrue(view.segment().isReadOnly());
            assertArrayEquals(new float[] {1.5f, -2.25f, 65504.0f, (float) 5.960464477539063e-08, Float.POSITIVE_INFINITY},
                    f.tensor("c_f16").toFloatArray());
        }
    }

    @Test
    void readsHandCraftedBytesWithUnsortedKeysAndDataOutOfHeaderOrder() throws IOException {
        // Header order z, a; data order a, z; a null __metadata__; extra spaces and a key we do not know.
        String header = """
                { "z" : {"shape":[2], "data_offsets":[12,16], "dtype":"BF16", "extra": {"k": [1, 2]}},
                  "__metadata__": null,
                  "a" : {"dtype":"F32","shape":[3],"data_offsets":[0,12]} }""";
        ByteBuffer data = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        data.putFloat(1.25f).putFloat(-3e-7f).putFloat(Float.NaN);
        data.putShort((short) 0x3fc0).putShort((short) 0xc2f7); // bf16: 1.5 and -123.5
        Path file = StBytes.write(dir, "hand.safetensors", StBytes.file(header, data.array()));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("a", "z"), new ArrayList<>(f.names()));
            assertTrue(f.metadata().isEmpty());
            float[] a = f.tensor("a").toFloatArray();
            assertEquals(1.25f, a[0]);
            assertEquals(-3e-7f, a[1]);
            assertTrue(Float.isNaN(a[2]));
            assertArrayEquals(new float[] {1.5f, -123.5f}, f.load("z", DType.F32).toFloatArray());
            TensorInfo z = f.info("z");
            assertEquals(DType.BF16, z.dtype());
            assertEquals(12, z.dataBegin());
            assertEquals(16, z.dataEnd());
            assertEquals(8 + (header.getBytes(StandardCharsets.UTF_8).length + 7) / 8 * 8 + 12, z.fileOffset());
        }
    }

    @Test
    void writerOutputFollowsTheSpec() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("mask", Tensor.ofInts(new int[] {1, 0, 1}, 3).to(DType.U8));
        tensors.put("w", Tensor.of(new float[] {0.5f, -1.75f, 3e8f, -0f}, 2, 2));
        tensors.put("b", Tensor.of(DType.BF16, new float[] {1.5f, -2f, 0.25f}, 3));
        tensors.put("pos", Tensor.ofInts(new int[] {-1, 7}, 2, 1).to(DType.I64));
        Path file = dir.resolve("spec.safetensors");
        Safetensors.write(file, tensors, Map.of("format", "pt"));

        byte[] raw = Files.readAllBytes(file);
        ByteBuffer buf = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        long n = buf.getLong();
        assertEquals(0, n % 8, "header length is a multiple of 8");
        String headerText = new String(raw, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(headerText.startsWith("{"));
        String trimmed = headerText.stripTrailing();
        assertTrue(trimmed.endsWith("}"));
        assertTrue(headerText.substring(trimmed.length()).chars().allMatch(c -> c == ' '), "padding is spaces");
        assertTrue(headerText.length() - trimmed.length() < 8);

        JsonNode root = new ObjectMapper().readTree(headerText);
        List<String> keys = new ArrayList<>();
        root.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("__metadata__", "b", "mask", "pos", "w"), keys, "metadata first, then names sorted");
        assertEquals("pt", root.get("__metadata__").get("format").asText());

        long dataLength = raw.length - 8 - n;
        long covered = 0;
        Map<String, long[]> ranges = new LinkedHashMap<>();
        for (String k : keys.subList(1, keys.size())) {
            JsonNode e = root.get(k);
            assertEquals(3, e.size(), k + " has exactly dtype, shape and data_offsets");
            long begin = e.get("data_offsets").get(0).asLong();
            long end = e.get("data_offsets").get(1).asLong();
            ranges.put(k, new long[] {begin, end});
            covered += end - begin;
            int elem = switch (e.get("dtype").asText()) {
                case "F32" -> 4;
                case "BF16" -> 2;
                case "I64" -> 8;
                case "U8" -> 1;
                default -> throw new AssertionError(e);
            };
            assertEquals(0, begin % elem, k + " is aligned to its element size");
            long numel = 1;
            for (Iterator<JsonNode> it = e.get("shape").elements(); it.hasNext(); ) {
                numel *= it.next().asLong();
            }
            assertEquals(numel * elem, end - begin, k);
        }
        assertEquals(dataLength, covered, "ranges cover the buffer");
        assertEquals("BF16", root.get("b").get("dtype").asText());
        assertEquals("[2,1]", root.get("pos").get("shape").toString());

        // The data bytes, built independently with little-endian ByteBuffers.
        ByteBuffer w = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN)
                .putFloat(0.5f).putFloat(-1.75f).putFloat(3e8f).putFloat(-0f);
        ByteBuffer b = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) 0x3fc0).putShort((short) 0xc000).putShort((short) 0x3e80);
        ByteBuffer pos = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).putLong(7);
        assertRange(raw, 8 + n, ranges.get("w"), w.array());
        assertRange(raw, 8 + n, ranges.get("b"), b.array());
        assertRange(raw, 8 + n, ranges.get("pos"), pos.array());
        assertRange(raw, 8 + n, ranges.get("mask"), new byte[] {1, 0, 1});
    }

    private static void assertRange(byte[] file, long dataStart, long[] range, byte[] want) {
        byte[] got = java.util.Arrays.copyOfRange(file, (int) (dataStart + range[0]), (int) (dataStart + range[1]));
        assertArrayEquals(want, got);
    }

    @Test
    void emptyTensorMapWritesAValidFile() throws IOException {
        Path file = dir.resolve("empty.safetensors");
        Safetensors.write(file, Map.of(), Map.of("k", "v"));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(0, f.size());
            assertEquals(Map.of("k", "v"), f.metadata());
        }
        assertEquals(ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong() + 8,
                Files.size(file));
    }
}

package io.sparge4j.engine.io;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the reader: valid files are corrupted in many seeded ways (structural header mutations and raw
 * byte damage) and each variant must either load consistently or fail with SafetensorsFormatException.
 * Any other exception, or a hang, fails the test.
 *
 * <p>Run longer with {@code -Dsparge.fuzz.variants=100000 -Dsparge.fuzz.seed=N}.
 */
class SafetensorsFuzzTest {
    @TempDir
    Path dir;

    private static final int VARIANTS = Integer.getInteger("sparge.fuzz.variants", 2000);
    private static final long SEED = Long.getLong("sparge.fuzz.seed", 20261129L);

    private static final String[] DTYPES = {"\"F64\"", "\"f32\"", "\"\"", "3", "null", "[\"F32\"]", "{}", "\"I32\"",
            "\"F32\"", "\"U8\"", "\"BOOL\"", "\"BF16\"", "\"I64\"", "\"F16\"", "\"F8_E4M3\"", "\"F32 \""};
    private static final String[] DIMS = {"-1", "1.5", "1e3", "\"2\"", "2147483648", "99999999999999999999999", "null",
            "[2]", "0", "1", "2", "3", "4", "2147483647", "9223372036854775807", "-0", "true"};
    private static final String[] NON_ARRAYS = {"{}", "5", "\"[2]\"", "null", "true"};
    private static final String[] METADATA = {"null", "[]", "\"s\"", "{\"k\":1}", "{\"k\":null}",
            "{\"k\":\"v\",\"k\":\"w\"}", "{\"a\":{\"b\":\"c\"}}", "{}", "{\"\":\"\"}", "{\"k\":\"v\"}"};
    private static final String[] ROOTS = {"[]", "\"x\"", "1", "null", "", " {}", "{", "{}}", "{\"a\"}", "{\"a\":}",
            "{}", "{\"a\":1,}", "{'a':{}}", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}} //",
            "\uFEFF{}", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}"};
    private static final String[] NON_OBJECTS = {"[]", "1", "\"x\"", "null", "[{}]"};

    /** A header as raw JSON fragments, so mutations can write anything, valid JSON or not. */
    private static final class Model {
        final List<String> names = new ArrayList<>();
        final List<LinkedHashMap<String, String>> entries = new ArrayList<>();
        final List<String> rawEntries = new ArrayList<>(); // when non-null, replaces the entry's object
        String metadata; // raw JSON, or null when absent
        String rootOverride;
        byte[] data;

        String render() {
            if (rootOverride != null) {
                return rootOverride;
            }
            StringBuilder sb = new StringBuilder("{");
            if (metadata != null) {
                sb.append("\"__metadata__\":").append(metadata);
            }
            for (int i = 0; i < names.size(); i++) {
                if (sb.length() > 1) {
                    sb.append(',');
                }
                sb.append('"').append(names.get(i)).append("\":");
                if (rawEntries.get(i) != null) {
                    sb.append(rawEntries.get(i));
                    continue;
                }
                sb.append('{');
                boolean first = true;
                for (Map.Entry<String, String> f : entries.get(i).entrySet()) {
                    sb.append(first ? "" : ",").append('"').append(f.getKey()).append("\":").append(f.getValue());
                    first = false;
                }
                sb.append('}');
            }
            return sb.append('}').toString();
        }
    }

    private static Model validModel(SplittableRandom rng) {
        Model m = new Model();
        int count = 1 + rng.nextInt(4);
        DType[] types = DType.values();
        long[] sizes = new long[count];
        List<String> shapes = new ArrayList<>();
        List<DType> dts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            DType t = types[rng.nextInt(types.length)];
            int rank = rng.nextInt(4);
            int[] shape = new int[rank];
            for (int d = 0; d < rank; d++) {
                shape[d] = rng.nextInt(10) == 0 ? 0 : 1 + rng.nextInt(5);
            }
            sizes[i] = Tensor.numelOf(shape) * t.byteSize();
            shapes.add(Arrays.toString(shape).replace(" ", ""));
            dts.add(t);
        }
        // Data in a random order, unrelated to header order.
        int[] order = new int[count];
        for (int i = 0; i < count; i++) {
            order[i] = i;
        }
        for (int i = count - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        long[] begin = new long[count];
        long offset = 0;
        for (int k : order) {
            begin[k] = offset;
            offset += sizes[k];
        }
        for (int i = 0; i < count; i++) {
            LinkedHashMap<String, String> f = new LinkedHashMap<>();
            f.put("dtype", "\"" + dts.get(i).safetensorsName() + "\"");
            f.put("shape", shapes.get(i));
            f.put("data_offsets", "[" + begin[i] + "," + (begin[i] + sizes[i]) + "]");
            m.names.add("t" + i);
            m.entries.add(f);
            m.rawEntries.add(null);
        }
        m.metadata = rng.nextBoolean() ? null : "{\"format\":\"pt\",\"seed\":\"" + rng.nextInt(1000) + "\"}";
        m.data = new byte[(int) offset];
        for (int i = 0; i < m.data.length; i++) {
            m.data[i] = (byte) rng.nextInt(256);
        }
        return m;
    }

    private static String pick(SplittableRandom rng, String[] options) {
        return options[rng.nextInt(options.length)];
    }

    private static String nested(SplittableRandom rng) {
        int depth = 1 + rng.nextInt(rng.nextBoolean() ? 10 : 3000);
        return switch (rng.nextInt(3)) {
            case 0 -> "[".repeat(depth) + "]".repeat(depth);
            case 1 -> "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
            default -> "[".repeat(depth); // unbalanced
        };
    }

    /** Applies one structural mutation; returns its description. */
    private static String mutateModel(SplittableRandom rng, Model m) {
        int i = rng.nextInt(m.names.size());
        LinkedHashMap<String, String> e = m.entries.get(i);
        switch (rng.nextInt(10)) {
            case 0 -> {
                String v = pick(rng, DTYPES);
                e.put("dtype", v);
                return "dtype=" + v;
            }
            case 1 -> {
                String v;
                if (rng.nextInt(4) == 0) {
                    v = pick(rng, NON_ARRAYS);
                } else {
                    int n = rng.nextInt(5);
                    List<String> dims = new ArrayList<>();
                    for (int d = 0; d < n; d++) {
                        dims.add(pick(rng, DIMS));
                    }
                    v = "[" + String.join(",", dims) + "]";
                }
                e.put("shape", v);
                return "shape=" + v;
            }
            case 2 -> {
                String v = offsets(rng, m, e);
                e.put("data_offsets", v);
                return "data_offsets=" + v;
            }
            case 3 -> {
                List<String> keys = new ArrayList<>(e.keySet());
                String k = keys.get(rng.nextInt(keys.size()));
                e.remove(k);
                return "remove " + k;
            }
            case 4 -> {
                String v = rng.nextBoolean() ? nested(rng) : pick(rng, new String[] {"1", "\"x\"", "{}", "[1,[2]]", "null"});
                e.put("extra", v);
                return "extra field of " + v.length() + " chars";
            }
            case 5 -> {
                if (rng.nextBoolean()) {
                    m.names.add(m.names.get(i));
                    m.entries.add(new LinkedHashMap<>(e));
                    m.rawEntries.add(null);
                    return "duplicate tensor " + m.names.get(i);
                }
                m.rawEntries.set(i, "{" + "\"dtype\":" + e.get("dtype") + "," + e.entrySet().stream()
                        .map(f -> "\"" + f.getKey() + "\":" + f.getValue()).reduce((a, b) -> a + "," + b).orElse("") + "}");
                return "duplicate field dtype";
            }
            case 6 -> {
                m.metadata = pick(rng, METADATA);
                return "metadata=" + m.metadata;
            }
            case 7 -> {
                m.rootOverride = rng.nextInt(4) == 0 ? nested(rng) : pick(rng, ROOTS);
                return "root of " + m.rootOverride.length() + " chars";
            }
            case 8 -> {
                m.rawEntries.set(i, pick(rng, NON_OBJECTS));
                return "entry=" + m.rawEntries.get(i);
            }
            default -> {
                String name = pick(rng, new String[] {"__metadata__", "", "\u00e9\u2713", "a\\\"b", "t0", "\\ud800"});
                m.names.set(i, name);
                return "rename to " + name;
            }
        }
    }

    private static String offsets(SplittableRandom rng, Model m, Map<String, String> e) {
        long[] be = parseOffsets(e.get("data_offsets"));
        long b = be[0];
        long end = be[1];
        int k = 1 + rng.nextInt(8);
        return switch (rng.nextInt(14)) {
            case 0 -> "[" + end + "," + b + "]";
            case 1 -> "[" + (b + k) + "," + (end + k) + "]";
            case 2 -> "[" + Math.max(0, b - k) + "," + Math.max(0, end - k) + "]";
            case 3 -> "[" + b + "," + (end + k) + "]";
            case 4 -> "[" + b + "]";
            case 5 -> "[" + b + "," + end + "," + end + "]";
            case 6 -> "[\"" + b + "\"," + end + "]";
            case 7 -> "[" + b + ".0," + end + "]";
            case 8 -> "[" + (-b - 1) + "," + end + "]";
            case 9 -> "[" + b + ",9223372036854775807]";
            case 10 -> "[9223372036854775807,9223372036854775807]";
            case 11 -> "[" + b + ",18446744073709551616]";
            case 12 -> "[0," + m.data.length + "]";
            default -> {
                // Another tensor's range: an overlap unless both are empty.
                String other = m.entries.get(rng.nextInt(m.entries.size())).get("data_offsets");
                yield other == null ? "null" : other;
            }
        };
    }

    private static long[] parseOffsets(String raw) {
        try {
            String[] parts = raw.replace("[", "").replace("]", "").split(",");
            return new long[] {Long.parseLong(parts[0].trim()), Long.parseLong(parts[1].trim())};
        } catch (RuntimeException e) {
            return new long[] {0, 4}; // already mutated into something unparsable: any numbers will do
        }
    }

    private static byte[] assemble(Model m, SplittableRandom rng, boolean padWithSpaces) {
        byte[] h = m.render().getBytes(StandardCharsets.UTF_8);
        int padded = padWithSpaces ? (h.length + 7) / 8 * 8 : h.length;
        return StBytes.file(h, padded, m.data);
    }

    /** Applies one raw byte-level mutation; returns its description. */
    private static String mutateBytes(SplittableRandom rng, byte[][] holder) {
        byte[] b = holder[0];
        long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int headerEnd = (int) Math.min(b.length, 8 + n);
        switch (rng.nextInt(6)) {
            case 0 -> {
                int len = rng.nextInt(b.length);
                holder[0] = Arrays.copyOf(b, len);
                return "truncate to " + len;
            }
            case 1 -> {
                int flips = 1 + rng.nextInt(3);
                for (int f = 0; f < flips; f++) {
                    int at = rng.nextInt(headerEnd);
                    b[at] ^= (byte) (1 << rng.nextInt(8));
                }
                return flips + " bit flips in length/header";
            }
            case 2 -> {
                long[] lengths = {0, 1, n - 1, n + 1, n + 8, b.length - 8, b.length - 7, Long.MIN_VALUE, -1,
                        100_000_001, Safetensors.MAX_HEADER_BYTES, rng.nextLong(), 7};
                long v = lengths[rng.nextInt(lengths.length)];
                ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
                return "length field=" + Long.toUnsignedString(v);
            }
            case 3 -> {
                int k = 1 + rng.nextInt(16);
                holder[0] = rng.nextBoolean() ? Arrays.copyOf(b, b.length + k) : Arrays.copyOf(b, Math.max(0, b.length - k));
                return "resize by " + k;
            }
            case 4 -> {
                if (headerEnd > 8) {
                    b[8 + rng.nextInt(headerEnd - 8)] = (byte) (0x80 + rng.nextInt(128));
                }
                return "high byte in header";
            }
            default -> {
                byte pad = (byte) (rng.nextBoolean() ? 0 : rng.nextInt(256));
                for (int at = headerEnd - 1; at > 8 && b[at] == ' '; at--) {
                    b[at] = pad;
                }
                return "padding byte " + pad;
            }
        }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void corruptedFilesLoadConsistentlyOrFailWithAFormatError() throws IOException {
        SplittableRandom seeds = new SplittableRandom(SEED);
        int accepted = 0;
        int rejected = 0;
        for (int v = 0; v < VARIANTS; v++) {
            SplittableRandom rng = seeds.split();
            Model m = validModel(rng);
            List<String> steps = new ArrayList<>();
            int structural = rng.nextInt(3); // 0, 1 or 2 header mutations
            for (int s = 0; s < structural; s++) {
                steps.add(mutateModel(rng, m));
            }
            byte[][] holder = {assemble(m, rng, rng.nextInt(8) != 0)};
            if (structural == 0 || rng.nextInt(4) == 0) {
                steps.add(mutateBytes(rng, holder));
            }
            byte[] bytes = holder[0];
            // A fresh file each time: rewriting one file forces a flush on ext4 (auto_da_alloc), 20x slower.
            Path file = dir.resolve("fuzz" + v + ".safetensors");
            Files.write(file, bytes);
            String what = "variant " + v + " (seed " + SEED + "): " + steps;
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                checkConsistent(f, bytes, what);
                accepted++;
            } catch (SafetensorsFormatException e) {
                assertTrue(e.getMessage().contains(file.toString()), what + ": " + e.getMessage());
                rejected++;
            } catch (Throwable t) {
                fail(what + ": threw " + t + " instead of SafetensorsFormatException", t);
            }
            Files.delete(file);
        }
        // Both outcomes must be common, or the fuzzer is not exploring.
        assertTrue(accepted > VARIANTS / 50, "accepted " + accepted);
        assertTrue(rejected > VARIANTS / 2, "rejected " + rejected);
    }

    /** An accepted file must describe its bytes exactly, and every access path must agree with them. */
    private static void checkConsistent(SafetensorsFile f, byte[] bytes, String what) {
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        long dataLength = bytes.length - 8 - n;
        long covered = 0;
        for (String name : f.names()) {
            TensorInfo info = f.info(name);
            long numel = 1;
            for (int d : info.shape()) {
                numel *= d;
            }
            assertEquals(numel, info.numel(), what);
            assertEquals(numel * info.dtype().byteSize(), info.byteSize(), what);
            assertTrue(info.dataBegin() >= 0 && info.dataEnd() <= dataLength, what);
            assertEquals(8 + n + info.dataBegin(), info.fileOffset(), what);
            covered += info.byteSize();
            byte[] raw = Arrays.copyOfRange(bytes, (int) info.fileOffset(), (int) (info.fileOffset() + info.byteSize()));
            try (Tensor loaded = f.load(name); Tensor f32 = f.load(name, DType.F32)) {
                assertArrayEquals(raw, loaded.segment().asSlice(0, info.byteSize()).toArray(ValueLayout.JAVA_BYTE), what);
                assertArrayEquals(raw, f.tensor(name).segment().toArray(ValueLayout.JAVA_BYTE), what);
                assertEquals(numel, f32.numel(), what);
            }
        }
        assertEquals(dataLength, covered, what + ": tensors must cover the data buffer");
    }
}

package io.sparge4j.engine.io;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

/** Each rule of the format, broken on its own, gives a clear SafetensorsFormatException. */
class SafetensorsMalformedTest {
    @TempDir
    Path dir;

    private static final byte[] DATA24 = StBytes.f32(1, 2, 3, 4, 5, 6);

    /** A one-tensor header around 24 bytes of f32 data, with the entry's fields given raw. */
    private static byte[] one(String entry) {
        return StBytes.file("{\"t\":{" + entry + "}}", DATA24);
    }

    private static byte[] lengthField(long n, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN).putLong(n).put(rest).array();
    }

    static Stream<Arguments> cases() {
        String ok = "\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]";
        byte[] valid = one(ok);
        return Stream.of(
                arguments("empty file", new byte[0], null, "too short"),
                arguments("7-byte file", new byte[7], null, "too short"),
                arguments("header length above the limit", lengthField(100_000_001L, new byte[16]), null, "limit"),
                arguments("header length 2^64-1", lengthField(-1L, new byte[16]), null, "18446744073709551615"),
                arguments("header length past the end", lengthField(17, new byte[16]), null, "past the end of the file"),
                arguments("empty header", lengthField(0, new byte[0]), null, "start with '{'"),
                arguments("leading space", StBytes.file(" {}", new byte[0]), null, "start with '{'"),
                arguments("not JSON", StBytes.file("{nope}", new byte[0]), null, "not valid JSON"),
                arguments("unclosed object", StBytes.file("{\"t\":{" + ok + "}", DATA24), null, "not valid JSON"),
                arguments("unclosed entry", StBytes.file("{\"t\":{" + ok, DATA24), "t", "not valid JSON"),
                arguments("trailing garbage", StBytes.file("{}x", new byte[0]), null, "not valid JSON"),
                arguments("second JSON value", StBytes.file("{} {}", new byte[0]), null, "after its JSON object"),
                arguments("NUL padding", StBytes.file("{}\0", new byte[0]), null, "not valid JSON"),
                arguments("invalid UTF-8", StBytes.file(utf8Broken(), 8, new byte[0]), null, "UTF-8"),
                arguments("entry not an object", StBytes.file("{\"t\":[1]}", new byte[0]), "t", "expected an object"),
                arguments("missing dtype", one("\"shape\":[2,3],\"data_offsets\":[0,24]"), "t", "missing field 'dtype'"),
                arguments("missing shape", one("\"dtype\":\"F32\",\"data_offsets\":[0,24]"), "t", "missing field 'shape'"),
                arguments("missing offsets", one("\"dtype\":\"F32\",\"shape\":[2,3]"), "t", "missing field 'data_offsets'"),
                arguments("unknown dtype", one(ok.replace("F32", "F64")), "t", "unknown or unsupported dtype 'F64'"),
                arguments("lower-case dtype", one(ok.replace("F32", "f32")), "t", "dtype 'f32'"),
                arguments("dtype not a string", one(ok.replace("\"F32\"", "4")), "t", "dtype is a number"),
                arguments("negative dimension", one(ok.replace("[2,3]", "[-2,3]")), "t", "non-negative integer"),
                arguments("fractional dimension", one(ok.replace("[2,3]", "[2.0,3]")), "t", "holds 2.0"),
                arguments("string dimension", one(ok.replace("[2,3]", "[\"2\",3]")), "t", "holds a string"),
                arguments("nested shape", one(ok.replace("[2,3]", "[[2],3]")), "t", "holds an array"),
                arguments("shape not an array", one(ok.replace("[2,3]", "6")), "t", "shape is a number"),
                arguments("dimension above int", one(ok.replace("[2,3]", "[2147483648,3]")), "t", "2147483648"),
                arguments("dimension above long", one(ok.replace("[2,3]", "[99999999999999999999999,3]")), "t", "out of range"),
                arguments("shape overflow", one(ok.replace("[2,3]", "[2147483647,2147483647,2147483647]")), "t", "overflows"),
                arguments("one offset", one(ok.replace("[0,24]", "[0]")), "t", "has 1 values"),
                arguments("three offsets", one(ok.replace("[0,24]", "[0,12,24]")), "t", "more than 2"),
                arguments("negative offset", one(ok.replace("[0,24]", "[-1,23]")), "t", "non-negative"),
                arguments("begin after end", one(ok.replace("[0,24]", "[24,0]")), "t", "begin after they end"),
                arguments("size mismatch", one(ok.replace("[2,3]", "[2,2]")), "t", "hold 24 bytes, expected 16"),
                arguments("offsets past the data", one(ok.replace("[0,24]", "[8,32]")), "t", "run past the end"),
                arguments("huge offsets", one(ok.replace("[0,24]", "[9223372036854775783,9223372036854775807]")),
                        "t", "run past the end"),
                arguments("duplicate field", one(ok + ",\"dtype\":\"F32\""), "t", "duplicate field 'dtype'"),
                arguments("duplicate tensor", StBytes.file("{\"t\":{" + ok + "},\"t\":{" + ok + "}}", DATA24), "t",
                        "duplicate tensor name"),
                arguments("overlap", StBytes.file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", DATA24), "b", "overlap tensor 'a'"),
                arguments("gap", StBytes.file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", DATA24), "b", "leave a gap"),
                arguments("gap at the start", one(ok.replace("[2,3]", "[5]").replace("[0,24]", "[4,24]")), "t", "leave a gap"),
                arguments("trailing data", StBytes.concat(valid, new byte[4]), null, "trailing bytes"),
                arguments("truncated data", Arrays.copyOf(valid, valid.length - 1), "t", "file truncated"),
                arguments("metadata value not a string", StBytes.file("{\"__metadata__\":{\"k\":1}}", new byte[0]), null,
                        "expected a string"),
                arguments("metadata not an object", StBytes.file("{\"__metadata__\":[]}", new byte[0]), null,
                        "expected an object of strings"),
                arguments("metadata twice", StBytes.file("{\"__metadata__\":{},\"__metadata__\":{}}", new byte[0]), null,
                        "duplicate __metadata__"),
                arguments("metadata duplicate key", StBytes.file("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", new byte[0]),
                        null, "duplicate key 'k'"),
                arguments("deep nesting in an ignored field", one(ok + ",\"x\":" + "[".repeat(5000) + "]".repeat(5000)),
                        "t", "not valid JSON"));
    }

    private static byte[] utf8Broken() {
        byte[] h = "{\"\u00e9\":1}".getBytes(StandardCharsets.UTF_8);
        h[3] = (byte) 0xff; // breaks the two-byte sequence of é
        return h;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rejectsWithAClearMessage(String what, byte[] bytes, String tensor, String fragment) throws IOException {
        Path file = StBytes.write(dir, "bad.safetensors", bytes);
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file),
                what);
        assertTrue(e.getMessage().contains("bad.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), what + ": message was: " + e.getMessage());
        assertEquals(tensor, e.tensor(), what + ": " + e.getMessage());
        if (tensor != null) {
            assertTrue(e.getMessage().contains("tensor '" + tensor + "'"), e.getMessage());
        }
    }
}

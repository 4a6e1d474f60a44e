package io.sparge4j.engine.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import io.sparge4j.engine.tensor.DType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Parses and checks a safetensors JSON header.
 *
 * <p>The header is read with Jackson's streaming parser so that every value's JSON type is checked as it
 * arrives and no deep or huge structure is ever built. Every rule of the format is checked before a
 * single data byte is touched: dtypes, shapes, offsets against the data buffer, sizes against dtype and
 * shape (with overflow checks), and the ranges tiling the buffer exactly, with no overlap and no gap.
 */
final class SafetensorsHeader {
    /** Name of the optional free-form string-to-string map. */
    static final String METADATA_KEY = "__metadata__";

    /** Only the first levels of the header have meaning; deeper JSON is an ignored field's value. */
    private static final int MAX_NESTING = 64;

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_NESTING)
                    // names and strings are bounded by the header size limit alone
                    .maxNameLength(Math.toIntExact(Safetensors.MAX_HEADER_BYTES))
                    .maxStringLength(Math.toIntExact(Safetensors.MAX_HEADER_BYTES))
                    .build())
            .build();

    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsHeader(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** @return the tensors by name, in name order (unmodifiable) */
    Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** @return the {@code __metadata__} map, empty when absent (unmodifiable) */
    Map<String, String> metadata() {
        return metadata;
    }

    /**
     * @param file the file, for error messages
     * @param json the header bytes (after the 8-byte length)
     * @param dataStart absolute file position of the data buffer ({@code 8 + json.length})
     * @param dataLength size of the data buffer in bytes
     * @return the checked header
     * @throws SafetensorsFormatException naming the first problem found
     */
    static SafetensorsHeader parse(Path file, byte[] json, long dataStart, long dataLength)
            throws SafetensorsFormatException {
        if (json.length == 0 || json[0] != '{') {
            throw new SafetensorsFormatException(file, null, "header does not start with '{'");
        }
        String text = decodeUtf8(file, json);
        Reader reader = new Reader(file, dataStart);
        try (JsonParser p = JSON.createParser(text)) {
            reader.readRoot(p);
        } catch (SafetensorsFormatException e) {
            throw e;
        } catch (JsonProcessingException e) {
            throw new SafetensorsFormatException(file, reader.currentTensor,
                    "header is not valid JSON: " + jsonProblem(e), e);
        } catch (IOException e) {
            // A parser over a String does no I/O; anything else is still a parse failure.
            throw new SafetensorsFormatException(file, reader.currentTensor, "header cannot be parsed: " + e, e);
        }
        checkLayout(file, reader.entries, dataLength);
        Map<String, TensorInfo> byName = new TreeMap<>();
        for (TensorInfo t : reader.entries) {
            byName.put(t.name(), t);
        }
        return new SafetensorsHeader(Collections.unmodifiableMap(byName),
                Collections.unmodifiableMap(reader.metadata));
    }

    /** @return Jackson's message without its source dump, with the position in the header */
    private static String jsonProblem(JsonProcessingException e) {
        String message = String.valueOf(e.getOriginalMessage());
        int marker = message.indexOf(" (start marker at");
        if (marker > 0) {
            message = message.substring(0, marker);
        }
        JsonLocation at = e.getLocation();
        return at == null ? message : message + " (header line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
    }

    private static String decodeUtf8(Path file, byte[] json) throws SafetensorsFormatException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(json))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(file, null, "header is not valid UTF-8", e);
        }
    }

    /** Checks that the byte ranges, sorted, tile {@code [0, dataLength)} exactly. */
    private static void checkLayout(Path file, List<TensorInfo> entries, long dataLength)
            throws SafetensorsFormatException {
        for (TensorInfo t : entries) {
            if (t.dataEnd() > dataLength) {
                throw new SafetensorsFormatException(file, t.name(), "data_offsets [" + t.dataBegin() + ", "
                        + t.dataEnd() + "] run past the end of the data buffer, which holds " + dataLength
                        + " bytes (file truncated?)");
            }
        }
        List<TensorInfo> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(TensorInfo::dataBegin).thenComparingLong(TensorInfo::dataEnd)
                .thenComparing(TensorInfo::name));
        long expected = 0;
        String previous = null;
        for (TensorInfo t : sorted) {
            if (t.dataBegin() < expected) {
                throw new SafetensorsFormatException(file, t.name(), "data_offsets [" + t.dataBegin() + ", "
                        + t.dataEnd() + "] overlap tensor '" + previous + "', which ends at " + expected);
            }
            if (t.dataBegin() > expected) {
                throw new SafetensorsFormatException(file, t.name(), "data_offsets [" + t.dataBegin() + ", "
                        + t.dataEnd() + "] leave a gap: bytes [" + expected + ", " + t.dataBegin()
                        + ") of the data buffer belong to no tensor");
            }
            expected = t.dataEnd();
            previous = t.name();
        }
        if (expected != dataLength) {
            throw new SafetensorsFormatException(file, null, "the data buffer holds " + dataLength
                    + " bytes but the tensors cover only " + expected + " (trailing bytes)");
        }
    }

    /** Streaming reader of the header object; keeps the tensor being read for error messages. */
    private static final class Reader {
        private final Path file;
        private final long dataStart;
        private final List<TensorInfo> entries = new ArrayList<>();
        private final java.util.Set<String> names = new java.util.HashSet<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();
        private boolean sawMetadata;
        String currentTensor;

        Reader(Path file, long dataStart) {
            this.file = file;
            this.dataStart = dataStart;
        }

        void readRoot(JsonParser p) throws IOException {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw fail(null, "header is not a JSON object");
            }
            JsonToken tok;
            while ((tok = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                p.nextToken();
                if (METADATA_KEY.equals(key)) {
                    readMetadata(p);
                } else {
                    currentTensor = key;
                    if (!names.add(key)) {
                        throw fail(key, "duplicate tensor name");
                    }
                    entries.add(readEntry(p, key));
                    currentTensor = null;
                }
            }
            if (tok != JsonToken.END_OBJECT) {
                throw fail(null, "header object is not closed");
            }
            JsonToken trailing = p.nextToken();
            if (trailing != null) {
                throw fail(null, "header has content after its JSON object: " + trailing);
            }
        }

        private void readMetadata(JsonParser p) throws IOException {
            if (sawMetadata) {
                throw fail(null, "duplicate " + METADATA_KEY);
            }
            sawMetadata = true;
            JsonToken tok = p.currentToken();
            if (tok == JsonToken.VALUE_NULL) {
                return;
            }
            if (tok != JsonToken.START_OBJECT) {
                throw fail(null, METADATA_KEY + " is " + describe(tok) + ", expected an object of strings");
            }
            while ((tok = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken value = p.nextToken();
                if (value != JsonToken.VALUE_STRING) {
                    throw fail(null, METADATA_KEY + " value for key '" + key + "' is " + describe(value)
                            + ", expected a string");
                }
                if (metadata.putIfAbsent(key, p.getText()) != null) {
                    throw fail(null, METADATA_KEY + " has duplicate key '" + key + "'");
                }
            }
            if (tok != JsonToken.END_OBJECT) {
                throw fail(null, METADATA_KEY + " object is not closed");
            }
        }

        private TensorInfo readEntry(JsonParser p, String name) throws IOException {
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw fail(name, "entry is " + describe(p.currentToken())
                        + ", expected an object with dtype, shape and data_offsets");
            }
            DType dtype = null;
            int[] shape = null;
            long[] offsets = null;
            JsonToken tok;
            while ((tok = p.nextToken()) == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                switch (field) {
                    case "dtype" -> {
                        if (dtype != null) {
                            throw fail(name, "duplicate field 'dtype'");
                        }
                        dtype = readDType(p, name, value);
                    }
                    case "shape" -> {
                        if (shape != null) {
                            throw fail(name, "duplicate field 'shape'");
                        }
                        shape = readShape(p, name, value);
                    }
                    case "data_offsets" -> {
                        if (offsets != null) {
                            throw fail(name, "duplicate field 'data_offsets'");
                        }
                        offsets = readOffsets(p, name, value);
                    }
                    default -> p.skipChildren(); // unknown fields are allowed and ignored, like the reference reader
                }
            }
            if (tok != JsonToken.END_OBJECT) {
                throw fail(name, "entry object is not closed");
            }
            if (dtype == null) {
                throw fail(name, "missing field 'dtype'");
            }
            if (shape == null) {
                throw fail(name, "missing field 'shape'");
            }
            if (offsets == null) {
                throw fail(name, "missing field 'data_offsets'");
            }
            long begin = offsets[0];
            long end = offsets[1];
            if (begin > end) {
                throw fail(name, "data_offsets [" + begin + ", " + end + "] begin after they end");
            }
            long numel = numel(name, shape);
            long bytes = checkedMultiply(name, numel, dtype.byteSize(), shape);
            if (end - begin != bytes) {
                throw fail(name, "data_offsets [" + begin + ", " + end + "] hold " + (end - begin)
                        + " bytes, expected " + bytes + " for " + dtype + " " + Arrays.toString(shape));
            }
            return new TensorInfo(name, dtype, shape, numel, begin, end, dataStart + begin);
        }

        private DType readDType(JsonParser p, String name, JsonToken value) throws IOException {
            if (value != JsonToken.VALUE_STRING) {
                throw fail(name, "dtype is " + describe(value) + ", expected a string");
            }
            String s = p.getText();
            for (DType t : DType.values()) {
                if (t.safetensorsName().equals(s)) {
                    return t;
                }
            }
            throw fail(name, "unknown or unsupported dtype '" + s + "', expected one of F32, F16, BF16, I32, I64, U8, BOOL");
        }

        private int[] readShape(JsonParser p, String name, JsonToken value) throws IOException {
            if (value != JsonToken.START_ARRAY) {
                throw fail(name, "shape is " + describe(value) + ", expected an array of integers");
            }
            int[] dims = new int[4];
            int rank = 0;
            JsonToken tok;
            while ((tok = p.nextToken()) != JsonToken.END_ARRAY) {
                long d = readNonNegative(p, name, "shape", tok);
                if (d > Integer.MAX_VALUE) {
                    throw fail(name, "shape dimension " + d + " is larger than " + Integer.MAX_VALUE
                            + ", the largest this engine supports");
                }
                if (rank == dims.length) {
                    dims = Arrays.copyOf(dims, rank * 2);
                }
                dims[rank++] = (int) d;
            }
            return Arrays.copyOf(dims, rank);
        }

        private long[] readOffsets(JsonParser p, String name, JsonToken value) throws IOException {
            if (value != JsonToken.START_ARRAY) {
                throw fail(name, "data_offsets is " + describe(value) + ", expected [begin, end]");
            }
            long[] out = new long[2];
            int n = 0;
            JsonToken tok;
            while ((tok = p.nextToken()) != JsonToken.END_ARRAY) {
                long v = readNonNegative(p, name, "data_offsets", tok);
                if (n == 2) {
                    throw fail(name, "data_offsets has more than 2 values, expected [begin, end]");
                }
                out[n++] = v;
            }
            if (n != 2) {
                throw fail(name, "data_offsets has " + n + " values, expected [begin, end]");
            }
            return out;
        }

        private long readNonNegative(JsonParser p, String name, String field, JsonToken tok) throws IOException {
            if (tok == JsonToken.VALUE_NUMBER_FLOAT) {
                throw fail(name, field + " holds " + p.getText() + ", expected a non-negative integer");
            }
            if (tok != JsonToken.VALUE_NUMBER_INT) {
                throw fail(name, field + " holds " + describe(tok) + ", expected a non-negative integer");
            }
            JsonParser.NumberType type = p.getNumberType();
            if (type != JsonParser.NumberType.INT && type != JsonParser.NumberType.LONG) {
                throw fail(name, field + " holds " + abbreviate(p.getText()) + ", which is out of range");
            }
            long v = p.getLongValue();
            if (v < 0) {
                throw fail(name, field + " holds " + v + ", expected a non-negative integer");
            }
            return v;
        }

        private long numel(String name, int[] shape) throws SafetensorsFormatException {
            long n = 1;
            for (int d : shape) {
                if (d == 0) {
                    return 0;
                }
            }
            for (int d : shape) {
                n = checkedMultiply(name, n, d, shape);
            }
            return n;
        }

        private long checkedMultiply(String name, long a, long b, int[] shape) throws SafetensorsFormatException {
            long hi = Math.multiplyHigh(a, b);
            long lo = a * b;
            if (hi != 0 || lo < 0) {
                throw fail(name, "shape " + Arrays.toString(shape) + " is too large: its size overflows 64 bits");
            }
            return lo;
        }

        private SafetensorsFormatException fail(String tensor, String problem) {
            return new SafetensorsFormatException(file, tensor, problem);
        }
    }

    private static String describe(JsonToken tok) {
        if (tok == null) {
            return "missing";
        }
        return switch (tok) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> tok.toString();
        };
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}

package io.sparge4j.engine.io;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A write that fails part-way leaves the previous file intact and no temporary file behind. */
class SafetensorsWriteFailureTest {
    @TempDir
    Path dir;

    private Path previous;
    private byte[] previousBytes;

    private void writePrevious() throws IOException {
        previous = dir.resolve("model.safetensors");
        Safetensors.write(previous, Map.of("old", Tensor.randn(1, 4, 4)), Map.of("v", "1"));
        previousBytes = Files.readAllBytes(previous);
    }

    private List<String> dirListing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private void assertPreviousIntact() throws IOException {
        assertEquals(List.of("model.safetensors"), dirListing(), "no temporary file left behind");
        assertArrayEquals(previousBytes, Files.readAllBytes(previous));
        try (SafetensorsFile f = SafetensorsFile.open(previous)) {
            assertEquals(List.of("old"), List.copyOf(f.names()));
        }
    }

    @Test
    void tensorFreedMidWriteLeavesPreviousFileIntact() throws IOException {
        writePrevious();
        // Data is laid out by element size then name: "a" (1 MiB) is written before "b" fails.
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("a", Tensor.randn(2, 512, 512));
        Arena arena = Arena.ofConfined();
        Tensor b = Tensor.allocate(arena, DType.F32, 8);
        tensors.put("b", b);
        arena.close();
        assertThrows(IllegalStateException.class, () -> Safetensors.write(previous, tensors, null));
        assertPreviousIntact();
    }

    @Test
    void interruptedWriteLeavesPreviousFileIntact() throws IOException {
        writePrevious();
        Map<String, Tensor> tensors = Map.of("x", Tensor.randn(3, 256, 256));
        Thread.currentThread().interrupt();
        try {
            assertThrows(ClosedByInterruptException.class, () -> Safetensors.write(previous, tensors));
        } finally {
            Thread.interrupted(); // clear the flag for the next test
        }
        assertPreviousIntact();
    }

    @Test
    void failedRenameRemovesTheTemporaryFile() throws IOException {
        // The target is a non-empty directory, so the final rename fails after all data was written.
        Path target = dir.resolve("target.safetensors");
        Files.createDirectory(target);
        Files.writeString(target.resolve("keep.txt"), "keep");
        assertThrows(FileSystemException.class, () -> Safetensors.write(target, Map.of("x", Tensor.randn(4, 16))));
        assertEquals(List.of("target.safetensors"), dirListing());
        assertEquals("keep", Files.readString(target.resolve("keep.txt")));
    }

    @Test
    void missingDirectoryFailsWithoutCreatingAnything() {
        Path target = dir.resolve("no/such/dir/m.safetensors");
        assertThrows(NoSuchFileException.class, () -> Safetensors.write(target, Map.of("x", Tensor.randn(5, 2))));
        assertFalse(Files.exists(dir.resolve("no")));
    }

    @Test
    void successfulWriteLeavesOnlyTheTarget() throws IOException {
        writePrevious();
        Tensor x = Tensor.randn(6, 3, 3);
        Safetensors.write(previous, Map.of("x", x));
        assertEquals(List.of("model.safetensors"), dirListing());
        try (SafetensorsFile f = SafetensorsFile.open(previous)) {
            assertArrayEquals(x.toFloatArray(), f.tensor("x").toFloatArray());
            assertTrue(f.metadata().isEmpty());
        }
    }
}

package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.distributed.ReduceOp;
import io.sparge4j.engine.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finding NCCL and the pieces that need no GPU: the search and its missing-library message, the dtype and reduction
 * numbers (from {@code nccl.h}), the error names and the unique id's forms.
 */
class NcclLibraryTest {
    @TempDir
    Path tmp;

    @Test
    void missingLibraryMessageListsEveryPlaceSearchedAndWhatToDo() throws IOException {
        Path ldA = Files.createDirectories(tmp.resolve("ld-a"));
        Path ldB = tmp.resolve("ld-b-absent");
        Path usrLib = tmp.resolve("usr/lib");
        Path dist = Files.createDirectories(usrLib.resolve("python3.11/dist-packages"));
        Path venvSite = Files.createDirectories(tmp.resolve("venv/lib/python3.12/site-packages"));
        Files.createDirectories(tmp.resolve("venv/bin"));
        NcclLibrarySearch search = new NcclLibrarySearch(Map.of("LD_LIBRARY_PATH", ldA + ":" + ldB,
                "PATH", tmp.resolve("venv/bin") + ":/usr/bin"), List.of(usrLib, tmp.resolve("home/.local/lib")));
        List<String> opened = new ArrayList<>();
        BackendException e = assertThrows(BackendException.class, () -> search.open(target -> {
            opened.add(target);
            throw new IllegalStateException("cannot open " + target);
        }));
        String m = e.getMessage();
        for (String part : List.of("NCCL (libnccl.so.2) not found", ldA.resolve("libnccl.so.2").toString(),
                ldB.resolve("libnccl.so.2").toString(), "the system loader",
                dist.resolve("nvidia/nccl/lib/libnccl.so.2").toString(),
                venvSite.resolve("nvidia/nccl/lib/libnccl.so.2").toString(),
                usrLib.resolve("python3*/{site,dist}-packages").toString(),
                tmp.resolve("home/.local/lib/python3*/{site,dist}-packages").toString(),
                tmp.resolve("venv/lib/python3*/{site,dist}-packages").toString(),
                "pip install nvidia-nccl-cu12", "SPARGE_NCCL_LIBRARY=/full/path/to/libnccl.so.2")) {
            assertTrue(m.contains(part), () -> "expected '" + part + "' in: " + m);
        }
        assertFalse(m.contains("\n"), "one line, as the CLI prints only the first");
        // Only the bare name reaches the loader: the listed files do not exist.
        assertEquals(List.of("libnccl.so.2"), opened);
    }

    @Test
    void placesAreTriedInOrderAndTheFirstThatLoadsWins() throws IOException {
        Path ld = Files.createDirectories(tmp.resolve("ld"));
        Path site = Files.createDirectories(tmp.resolve("lib/python3.12/site-packages/nvidia/nccl/lib"));
        Files.writeString(ld.resolve("libnccl.so.2"), "not a library");
        Files.writeString(site.resolve("libnccl.so.2"), "the package's");
        NcclLibrarySearch search = new NcclLibrarySearch(Map.of("LD_LIBRARY_PATH", ld.toString()),
                List.of(tmp.resolve("lib")));
        List<String> tried = new ArrayList<>();
        String found = search.open(target -> {
            tried.add(target);
            if (!target.startsWith(site.toString())) {
                throw new IllegalStateException("refused " + target);
            }
            return target;
        });
        assertEquals(site.resolve("libnccl.so.2").toString(), found);
        assertEquals(List.of(ld.resolve("libnccl.so.2").toString(), "libnccl.so.2", found), tried);
    }

    @Test
    void anExplicitPathIsTheOnlyPlaceTried() {
        Path missing = tmp.resolve("nowhere/libnccl.so.2");
        NcclLibrarySearch search = new NcclLibrarySearch(Map.of("SPARGE_NCCL_LIBRARY", missing.toString(),
                "LD_LIBRARY_PATH", tmp.toString()), List.of(tmp));
        assertEquals(1, search.places().size());
        BackendException e = assertThrows(BackendException.class, () -> search.open(target -> target));
        assertTrue(e.getMessage().contains("SPARGE_NCCL_LIBRARY=" + missing + ": no file " + missing),
                e.getMessage());
        assertTrue(e.getMessage().contains("pip install nvidia-nccl-cu12"), e.getMessage());
    }

    @Test
    void aFileThatIsNotALibrarySaysItDidNotLoad() throws IOException {
        // A folder: dlopen refuses it. (The JVM may warn about "stack guard" after any failed dlopen; harmless.)
        Path bogus = Files.createDirectories(tmp.resolve("libnccl.so.2"));
        NcclLibrarySearch search = new NcclLibrarySearch(Map.of("SPARGE_NCCL_LIBRARY", bogus.toString()), List.of());
        BackendException e = assertThrows(BackendException.class, () -> NcclLibrary.open(search));
        assertTrue(e.getMessage().contains(bogus + " did not load"), e.getMessage());
        // Opening NCCL, even failing, first keeps NVLink multicast off unless the user chose otherwise.
        String userChoice = System.getenv("NCCL_NVLS_ENABLE");
        assertEquals(userChoice == null ? "0" : userChoice,
                NativeEnvironment.get(NativeEnvironment.NVLS_VARIABLE).orElse(null));
    }

    @Test
    void setIfAbsentKeepsTheUsersValue() {
        String name = "SPARGE_TEST_VARIABLE_" + new Random().nextInt(1_000_000);
        assertTrue(NativeEnvironment.get(name).isEmpty());
        assertTrue(NativeEnvironment.setIfAbsent(name, "first"));
        assertFalse(NativeEnvironment.setIfAbsent(name, "second"));
        assertEquals("first", NativeEnvironment.get(name).orElseThrow());
    }

    @Test
    void dtypesMapToNcclsNumbers() {
        // ncclDataType_t in nccl.h: Int8 0, Uint8 1, Int32 2, Uint32 3, Int64 4, Uint64 5, Float16 6, Float32 7,
        // Float64 8, Bfloat16 9.
        assertEquals(7, NcclTypes.dataType(DType.F32));
        assertEquals(6, NcclTypes.dataType(DType.F16));
        assertEquals(9, NcclTypes.dataType(DType.BF16));
        assertEquals(2, NcclTypes.dataType(DType.I32));
        assertEquals(4, NcclTypes.dataType(DType.I64));
        assertEquals(1, NcclTypes.dataType(DType.U8));
        assertEquals(1, NcclTypes.dataType(DType.BOOL));
        assertThrows(IllegalArgumentException.class, () -> NcclTypes.dataType(null));
    }

    @Test
    void reductionsMapToNcclsNumbers() {
        assertEquals(0, NcclTypes.reduceOp(ReduceOp.SUM));
        assertEquals(1, NcclTypes.reduceOp(ReduceOp.PROD));
        assertEquals(2, NcclTypes.reduceOp(ReduceOp.MAX));
        assertEquals(3, NcclTypes.reduceOp(ReduceOp.MIN));
        assertEquals(4, NcclTypes.reduceOp(ReduceOp.AVG));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NcclTypes.checkReduction(DType.BOOL, ReduceOp.SUM));
        assertTrue(e.getMessage().contains("op: got SUM on a bool tensor"), e.getMessage());
        NcclTypes.checkReduction(DType.BOOL, ReduceOp.MAX);
        assertThrows(IllegalArgumentException.class, () -> NcclTypes.checkReduction(DType.F32, null));
    }

    @Test
    void errorsAreNamedWithNcclsTextAndAdvice() {
        String[] names = {"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
            "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress"};
        for (int code = 0; code < names.length; code++) {
            assertEquals(names[code], NcclException.name(code));
        }
        assertEquals("ncclResult_t 42", NcclException.name(42));
        NcclException e = new NcclException("ncclCommInitRank", 5, "invalid usage (run with NCCL_DEBUG=WARN)",
                "Duplicate GPU detected : rank 1 and rank 0 both on CUDA device 1000");
        assertEquals("ncclInvalidUsage", e.errorName());
        assertEquals(5, e.code());
        assertEquals("ncclCommInitRank", e.function());
        for (String part : List.of("ncclCommInitRank failed: ncclInvalidUsage", "(invalid usage",
                "NCCL says: Duplicate GPU detected", "two ranks share one GPU", "NCCL_DEBUG=INFO")) {
            assertTrue(e.getMessage().contains(part), () -> "expected '" + part + "' in: " + e.getMessage());
        }
        assertTrue(new NcclException("ncclAllReduce", 6, "", "").getMessage().contains("[rank r]"));
    }

    @Test
    void versionsReadAsNcclWritesThem() {
        assertEquals("2.28.3", NcclLibrary.versionString(22803));
        assertEquals("2.21.5", NcclLibrary.versionString(22105));
        assertEquals("2.8.4", NcclLibrary.versionString(2804));
    }

    @Test
    void uniqueIdTravelsAsBytesAndHex() {
        byte[] bytes = new byte[NcclUniqueId.BYTES];
        new Random(7).nextBytes(bytes);
        NcclUniqueId id = NcclUniqueId.fromBytes(bytes);
        assertArrayEquals(bytes, id.bytes());
        assertEquals(256, id.hex().length());
        assertEquals(id, NcclUniqueId.fromHex(id.hex()));
        assertArrayEquals(bytes, NcclUniqueId.fromHex(id.hex().toUpperCase()).bytes());
        bytes[0]++;
        assertFalse(id.equals(NcclUniqueId.fromBytes(bytes)), "the id keeps its own copy");
        IllegalArgumentException shortId = assertThrows(IllegalArgumentException.class,
                () -> NcclUniqueId.fromBytes(new byte[127]));
        assertTrue(shortId.getMessage().contains("got 127 bytes, expected the 128 bytes"), shortId.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NcclUniqueId.fromHex("zz".repeat(128)));
    }
}

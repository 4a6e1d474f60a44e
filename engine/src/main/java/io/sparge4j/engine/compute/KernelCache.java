package io.sparge4j.engine.compute;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Compiled kernel binaries (cubins, PTX, OpenCL program binaries) in memory and on disk, by
 * {@link GeneratedKernel#cacheKey()} and binary kind. The key already covers everything the binary depends on, so
 * an entry is never stale; a corrupt or unreadable file is a miss.
 *
 * <p>The disk folder is {@code SPARGE_CACHE_DIR} if set, else {@code $XDG_CACHE_HOME/sparge4j/kernels}, else
 * {@code ~/.cache/sparge4j/kernels}; {@code SPARGE_KERNEL_CACHE=off} keeps the cache in memory only. Files are
 * written to a temporary name and renamed, so concurrent processes never read half a binary. A disk that
 * cannot be written is reported once on stderr and the cache carries on in memory.
 */
public final class KernelCache {
    private static final KernelCache STANDARD = new KernelCache(standardDirectory());

    private final Path directory;
    private final Map<String, byte[]> memory = new ConcurrentHashMap<>();
    private final AtomicBoolean warned = new AtomicBoolean();

    /**
     * @param directory where binaries are kept, or {@code null} for memory only
     */
    public KernelCache(Path directory) {
        this.directory = directory;
    }

    /** @return the process-wide cache in the standard folder */
    public static KernelCache standard() {
        return STANDARD;
    }

    /** @return the disk folder, empty when the cache is memory only */
    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /**
     * @param key a {@link GeneratedKernel#cacheKey()}
     * @param kind the binary's kind, e.g. {@code "cubin"}, a file extension
     * @return the binary, if cached
     */
    public Optional<byte[]> get(String key, String kind) {
        String name = fileName(key, kind);
        byte[] cached = memory.get(name);
        if (cached != null || directory == null) {
            return Optional.ofNullable(cached);
        }
        Path file = directory.resolve(name);
        try {
            if (!Files.isRegularFile(file)) {
                return Optional.empty();
            }
            byte[] bytes = Files.readAllBytes(file);
            memory.put(name, bytes);
            return Optional.of(bytes);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * Keeps a binary in memory and, when there is a folder, on disk.
     *
     * @param key a {@link GeneratedKernel#cacheKey()}
     * @param kind the binary's kind, a file extension
     * @param binary the binary
     */
    public void put(String key, String kind, byte[] binary) {
        String name = fileName(key, kind);
        memory.put(name, binary.clone());
        if (directory == null) {
            return;
        }
        try {
            Files.createDirectories(directory);
            Path temporary = Files.createTempFile(directory, name, ".tmp");
            try {
                Files.write(temporary, binary);
                try {
                    Files.move(temporary, directory.resolve(name), StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temporary, directory.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(temporary);
            }
        } catch (IOException e) {
            if (warned.compareAndSet(false, true)) {
                System.err.println("sparge: kernel cache " + directory + " is not writable (" + e.getMessage()
                        + "); compiled kernels are kept in memory only. Set SPARGE_CACHE_DIR to a writable folder.");
            }
        }
    }

    /** Forgets the in-memory copies (the disk stays), so the next {@link #get} reads the disk. */
    public void clearMemory() {
        memory.clear();
    }

    private static String fileName(String key, String kind) {
        if (kind.isEmpty() || !kind.chars().allMatch(Character::isLetterOrDigit)) {
            throw new IllegalArgumentException("KernelCache: kind is \"" + kind + "\", expected letters and digits");
        }
        return sha256(key) + "." + kind;
    }

    /**
     * @param text any text
     * @return its SHA-256 as 64 hex digits
     */
    public static String sha256(String text) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(digest.digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static Path standardDirectory() {
        if ("off".equalsIgnoreCase(System.getenv("SPARGE_KERNEL_CACHE"))) {
            return null;
        }
        String explicit = System.getenv("SPARGE_CACHE_DIR");
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("sparge4j").resolve("kernels");
    }
}

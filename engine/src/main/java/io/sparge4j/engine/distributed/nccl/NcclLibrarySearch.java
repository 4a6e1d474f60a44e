package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;

import java.io.File;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Where {@code libnccl.so.2} may be, in the order tried: {@code SPARGE_NCCL_LIBRARY} alone when set; else each
 * {@code LD_LIBRARY_PATH} folder, the system loader, then the folder of Python's NCCL package
 * ({@code nvidia/nccl/lib}, from {@code pip install nvidia-nccl-cu12}, which PyTorch's CUDA wheels bring) under the
 * site-packages and dist-packages of {@code /usr/lib/python3*}, {@code /usr/local/lib/python3*},
 * {@code ~/.local/lib/python3*} and of every virtual environment whose {@code bin} is on {@code PATH}.
 *
 * <p>Kept apart from the loading so that the search and its error message are testable without NCCL.
 */
final class NcclLibrarySearch {
    /** The library's file name (the ABI version NCCL 2 keeps). */
    static final String FILE = "libnccl.so.2";
    /** The environment variable naming the library's full path. */
    static final String PATH_VARIABLE = "SPARGE_NCCL_LIBRARY";
    private static final String PACKAGE_FOLDER = "nvidia/nccl/lib";

    /**
     * One place tried.
     *
     * @param description where it comes from, for the error message
     * @param target what is opened: a full path, or a bare file name for the system loader
     */
    record Place(String description, String target) {
        boolean isPath() {
            return target.indexOf('/') >= 0;
        }
    }

    private final Map<String, String> env;
    private final List<Path> pythonParents;

    /**
     * @param env the environment ({@code SPARGE_NCCL_LIBRARY}, {@code LD_LIBRARY_PATH}, {@code PATH})
     * @param pythonParents folders whose {@code python3*} subfolders hold site-packages or dist-packages
     */
    NcclLibrarySearch(Map<String, String> env, List<Path> pythonParents) {
        this.env = env;
        this.pythonParents = pythonParents;
    }

    /** @return the search of this process: its environment and the standard Python folders */
    static NcclLibrarySearch standard() {
        Path home = Path.of(System.getProperty("user.home", "/root"));
        return new NcclLibrarySearch(System.getenv(),
                List.of(Path.of("/usr/lib"), Path.of("/usr/local/lib"), home.resolve(".local/lib")));
    }

    /** @return every place to try, in order */
    List<Place> places() {
        List<Place> places = new ArrayList<>();
        String explicit = env.get(PATH_VARIABLE);
        if (explicit != null && !explicit.isBlank()) {
            places.add(new Place(PATH_VARIABLE + "=" + explicit, explicit.strip()));
            return places;
        }
        for (String dir : split(env.get("LD_LIBRARY_PATH"))) {
            places.add(new Place("LD_LIBRARY_PATH folder " + dir, Path.of(dir).resolve(FILE).toString()));
        }
        places.add(new Place("the system loader (ld.so.cache and the default folders)", FILE));
        for (Path packages : sitePackages()) {
            places.add(new Place("Python's NCCL package", packages.resolve(PACKAGE_FOLDER).resolve(FILE).toString()));
        }
        return places;
    }

    /**
     * Opens the first place that loads.
     *
     * @param opener opens a full path or a bare name, throwing a RuntimeException when it cannot
     * @return what the opener returned
     * @throws BackendException listing every place tried and why each failed, and what to do
     */
    <T> T open(Function<String, T> opener) {
        List<String> failures = new ArrayList<>();
        for (Place place : places()) {
            if (place.isPath() && !Files.exists(Path.of(place.target()))) {
                failures.add(place.description() + ": no file " + place.target());
                continue;
            }
            try {
                return opener.apply(place.target());
            } catch (RuntimeException e) {
                failures.add(place.description() + ": " + place.target() + " did not load (" + e.getMessage() + ")");
            }
        }
        throw new BackendException(notFoundMessage(failures));
    }

    private String notFoundMessage(List<String> failures) {
        StringBuilder m = new StringBuilder("NCCL (" + FILE + ") not found; looked in: ");
        m.append(String.join("; ", failures));
        if (!env.containsKey(PATH_VARIABLE)) {
            m.append("; Python folders searched for ").append(PACKAGE_FOLDER).append(": ")
                    .append(String.join(", ", pythonPatterns()));
        }
        m.append(". Install it with `pip install nvidia-nccl-cu12` (PyTorch's CUDA wheels bring it too), or set ")
                .append(PATH_VARIABLE).append("=/full/path/to/").append(FILE);
        return m.toString();
    }

    private List<String> pythonPatterns() {
        List<String> patterns = new ArrayList<>();
        for (Path parent : pythonRoots()) {
            patterns.add(parent.resolve("python3*/{site,dist}-packages").toString());
        }
        return patterns;
    }

    /** The folders holding {@code python3*} folders: the standard ones, then each virtual environment's lib. */
    private List<Path> pythonRoots() {
        Set<Path> roots = new LinkedHashSet<>(pythonParents);
        for (String dir : split(env.get("PATH"))) {
            Path bin = Path.of(dir);
            if (bin.getFileName() != null && bin.getFileName().toString().equals("bin") && bin.getParent() != null) {
                Path lib = bin.getParent().resolve("lib");
                if (Files.isDirectory(lib)) {
                    roots.add(lib);
                }
            }
        }
        return List.copyOf(roots);
    }

    private List<Path> sitePackages() {
        List<Path> found = new ArrayList<>();
        for (Path root : pythonRoots()) {
            if (!Files.isDirectory(root)) {
                continue;
            }
            try (DirectoryStream<Path> pythons = Files.newDirectoryStream(root, "python3*")) {
                for (Path python : sorted(pythons)) {
                    for (String kind : List.of("site-packages", "dist-packages")) {
                        Path packages = python.resolve(kind);
                        if (Files.isDirectory(packages)) {
                            found.add(packages);
                        }
                    }
                }
            } catch (IOException | SecurityException e) {
                // An unreadable folder is one place fewer to look; the message lists the patterns searched.
            }
        }
        return found;
    }

    private static List<Path> sorted(DirectoryStream<Path> paths) {
        List<Path> list = new ArrayList<>();
        paths.forEach(list::add);
        list.sort(null);
        return list;
    }

    private static List<String> split(String pathList) {
        List<String> parts = new ArrayList<>();
        if (pathList != null) {
            for (String part : pathList.split(File.pathSeparator)) {
                if (!part.isBlank()) {
                    parts.add(part);
                }
            }
        }
        return parts;
    }
}

package io.sparge4j.cli;

import io.sparge4j.engine.cpu.SimdSupport;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The version of Sparge4J and of the runtime it runs on, for {@code sparge --version} and
 * {@code sparge info}.
 */
public final class SpargeVersion implements CommandLine.IVersionProvider {
    private static final String RESOURCE = "version.properties";

    /** Picocli creates it. */
    public SpargeVersion() {
    }

    /**
     * @return the project version, from the build's generated resource, else the jar manifest's
     *         {@code Implementation-Version}, else "unknown"
     */
    public static String version() {
        try (InputStream in = SpargeVersion.class.getResourceAsStream(RESOURCE)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "");
                if (!v.isBlank() && !v.startsWith("${")) {
                    return v;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        String manifest = SpargeVersion.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : "unknown";
    }

    /** @return e.g. "Java 25.0.1+8-LTS (Eclipse Adoptium), Linux amd64" */
    public static String runtime() {
        return "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + "), "
                + System.getProperty("os.name") + " " + System.getProperty("os.arch");
    }

    /** @return e.g. "Vector API on, 16 float lanes (512-bit)", or "Vector API off, scalar code" and why */
    public static String vectorApi() {
        if (!SimdSupport.available()) {
            boolean moduleAdded = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
            return "Vector API off, scalar code" + (moduleAdded ? " (-Dsparge.scalar=true)"
                    : " (add --add-modules jdk.incubator.vector)");
        }
        int lanes = SimdSupport.floatLanes();
        return "Vector API on, " + lanes + " float lanes (" + lanes * Float.SIZE + "-bit)";
    }

    @Override
    public String[] getVersion() {
        return new String[] {"sparge " + version(), runtime(), vectorApi()};
    }
}

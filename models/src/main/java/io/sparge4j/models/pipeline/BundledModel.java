package io.sparge4j.models.pipeline;

import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.wan.WanWeights;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * A model directory shipped inside the models jar as classpath resources (such as {@code tiny-demo}), extracted to
 * a temporary directory because the loaders read files.
 *
 * @param name the model's name, as given to {@code --model}
 * @param resourceDir the resource folder, e.g. {@code io/sparge4j/models/tiny-demo}
 */
public record BundledModel(String name, String resourceDir) {
    /** The trained tiny text-to-video model of the README's main job. */
    public static final BundledModel TINY_DEMO = new BundledModel("tiny-demo", "io/sparge4j/models/tiny-demo");

    /** The files a bundled model directory holds; all are required. */
    public static final List<String> FILES = List.of(WanWeights.CONFIG_FILE, ModelDirectory.DIT_FILE,
            TextEncoder.WEIGHTS_FILE, TextEncoder.CONFIG_FILE, TextEncoder.VOCABULARY_FILE,
            ModelDirectory.GENERATION_FILE);

    /** @return the files of {@link #FILES} missing from the classpath (empty when the model is shipped) */
    public List<String> missingFiles() {
        ClassLoader loader = BundledModel.class.getClassLoader();
        return FILES.stream().filter(f -> loader.getResource(resourceDir + "/" + f) == null).toList();
    }

    /**
     * Copies the model's files into a new temporary directory, deleted when the JVM exits.
     *
     * @return the directory, ready for {@link ModelDirectory#load}
     * @throws IllegalStateException naming the missing files and how to make them, when the model is not shipped
     * @throws IOException if a file cannot be copied
     */
    public Path extract() throws IOException {
        List<String> missing = missingFiles();
        if (!missing.isEmpty()) {
            throw new IllegalStateException("--model " + name + ": the trained model's files are missing from this"
                    + " build (" + String.join(", ", missing) + " under models/src/main/resources/" + resourceDir
                    + "); make them with './sparge pretrain --out runs/" + name + "' and then './sparge export"
                    + " --checkpoint runs/" + name + "/checkpoints --out models/src/main/resources/" + resourceDir
                    + " --dtype f16 --attention hybrid', or use --model tiny-random (untrained) or a model directory");
        }
        Path dir = Files.createTempDirectory("sparge-" + name + "-");
        dir.toFile().deleteOnExit();
        ClassLoader loader = BundledModel.class.getClassLoader();
        for (String f : FILES) {
            Path target = dir.resolve(f);
            try (InputStream in = loader.getResourceAsStream(resourceDir + "/" + f)) {
                if (in == null) {
                    throw new IOException("classpath resource " + resourceDir + "/" + f + " vanished while extracting");
                }
                Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            }
            target.toFile().deleteOnExit();
        }
        return dir;
    }
}

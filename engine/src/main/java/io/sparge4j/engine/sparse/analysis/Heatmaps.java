package io.sparge4j.engine.sparse.analysis;

import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.PooledAttentionMap;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * PNG pictures of one head's pooled attention map and of the masks chosen from it, drawn with {@code javax.imageio}.
 * Each (query block, key block) cell is a square of pixels; rows are query blocks, top to bottom.
 */
public final class Heatmaps {
    private static final int GAP = 8;

    private Heatmaps() {
    }

    /**
     * Draws the pooled map of (b, h) with a perceptual-ish colour ramp (dark blue = 0, yellow = the row maximum
     * over the whole map), on a square-root scale so small probabilities stay visible.
     *
     * @param map the pooled map
     * @param b batch index
     * @param h head index
     * @param cell pixels per block
     * @param out the PNG file (written to a temporary file, then renamed)
     * @throws IOException if the file cannot be written
     */
    public static void writePooledMap(PooledAttentionMap map, int b, int h, int cell, Path out) throws IOException {
        int nq = map.queryGrid().blocks();
        int nk = map.keyGrid().blocks();
        float max = 0;
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                max = Math.max(max, map.prob(b, h, i, j));
            }
        }
        BufferedImage img = new BufferedImage(nk * cell, nq * cell, BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                double t = max > 0 ? Math.sqrt(map.prob(b, h, i, j) / max) : 0;
                fill(img, j * cell, i * cell, cell, ramp(t));
            }
        }
        write(img, out);
    }

    /**
     * Draws masks side by side, kept blocks in white on black, separated by grey gaps.
     *
     * @param masks the masks, all with the same grids
     * @param b batch index
     * @param h head index
     * @param cell pixels per block
     * @param out the PNG file (written to a temporary file, then renamed)
     * @throws IOException if the file cannot be written
     */
    public static void writeMasks(List<BlockMask> masks, int b, int h, int cell, Path out) throws IOException {
        if (masks.isEmpty()) {
            throw new IllegalArgumentException("masks: got an empty list, expected at least one mask");
        }
        int nq = masks.get(0).queryGrid().blocks();
        int nk = masks.get(0).keyGrid().blocks();
        int panel = nk * cell;
        BufferedImage img = new BufferedImage(masks.size() * panel + (masks.size() - 1) * GAP, nq * cell,
                BufferedImage.TYPE_INT_RGB);
        fill(img, 0, 0, Math.max(img.getWidth(), img.getHeight()), 0x808080);
        for (int m = 0; m < masks.size(); m++) {
            BlockMask mask = masks.get(m);
            if (mask.queryGrid().blocks() != nq || mask.keyGrid().blocks() != nk) {
                throw new IllegalArgumentException("masks: mask " + m + " has " + mask.queryGrid().blocks() + "x"
                        + mask.keyGrid().blocks() + " blocks, expected " + nq + "x" + nk);
            }
            int x0 = m * (panel + GAP);
            for (int i = 0; i < nq; i++) {
                for (int j = 0; j < nk; j++) {
                    fill(img, x0 + j * cell, i * cell, cell, mask.kept(b, h, i, j) ? 0xffffff : 0x000000);
                }
            }
        }
        write(img, out);
    }

    /** A blue-to-yellow ramp through teal, for t in [0, 1]. */
    static int ramp(double t) {
        double c = Math.max(0, Math.min(1, t));
        int r = (int) Math.round(255 * Math.max(0, 1.6 * c - 0.6));
        int g = (int) Math.round(255 * (0.1 + 0.85 * c));
        int bl = (int) Math.round(255 * (0.45 + 0.3 * Math.sin(Math.PI * c) - 0.4 * c));
        return (clamp(r) << 16) | (clamp(g) << 8) | clamp(bl);
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    private static void fill(BufferedImage img, int x, int y, int size, int rgb) {
        for (int yy = y; yy < Math.min(img.getHeight(), y + size); yy++) {
            for (int xx = x; xx < Math.min(img.getWidth(), x + size); xx++) {
                img.setRGB(xx, yy, rgb);
            }
        }
    }

    private static void write(BufferedImage img, Path out) throws IOException {
        Path dir = out.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + out.getFileName(), ".tmp");
        try {
            if (!ImageIO.write(img, "png", tmp.toFile())) {
                throw new IOException("no PNG writer in this Java runtime (javax.imageio)");
            }
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.File;

/**
 * The frames of a generated GIF side by side in one PNG, for RECIPE.md: left to right, top to bottom, each frame
 * scaled up by whole pixels (nearest neighbour, so the model's own pixels stay visible), with a black gap between.
 * Assumes full frames, as {@code sparge generate} writes them (no sub-frame offsets to compose).
 *
 * <p>{@code java bench/tiny-demo/ClipSheet.java CLIP.gif OUT.png [COLUMNS (4) [SCALE (4)]]}
 */
public class ClipSheet {
    private static final int GAP = 4;

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ClipSheet CLIP.gif OUT.png [COLUMNS [SCALE]]");
            System.exit(2);
        }
        int columns = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        int scale = args.length > 3 ? Integer.parseInt(args[3]) : 4;
        ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
        reader.setInput(ImageIO.createImageInputStream(new File(args[0])));
        int frames = reader.getNumImages(true);
        BufferedImage first = reader.read(0);
        int w = first.getWidth() * scale;
        int h = first.getHeight() * scale;
        int rows = (frames + columns - 1) / columns;
        BufferedImage sheet = new BufferedImage(columns * (w + GAP) - GAP, rows * (h + GAP) - GAP,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = sheet.createGraphics();
        g.setColor(Color.BLACK);
        g.fillRect(0, 0, sheet.getWidth(), sheet.getHeight());
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
        for (int i = 0; i < frames; i++) {
            g.drawImage(reader.read(i), (i % columns) * (w + GAP), (i / columns) * (h + GAP), w, h, null);
        }
        g.dispose();
        File out = new File(args[1]);
        File tmp = new File(out.getPath() + ".tmp");
        ImageIO.write(sheet, "png", tmp);
        if (!tmp.renameTo(out)) {
            throw new java.io.IOException("could not rename " + tmp + " to " + out);
        }
    }
}

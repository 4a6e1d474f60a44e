package io.sparge4j.models.video;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A palette of at most 256 colours for one GIF frame, and each pixel's index into it.
 *
 * <p>A frame with at most 256 distinct colours keeps them exactly. Otherwise median cut: the colour box with
 * the widest channel range is split at the pixel median of that channel until there are 256 boxes, and each
 * box's colour is the pixel-weighted mean of its colours. Every pixel then takes its nearest palette colour
 * (least squared RGB distance), so no pixel is farther from its palette colour than it must be.
 */
final class GifPalette {
    static final int SIZE = 256;

    private final int[] colors;
    private final byte[] indices;

    private GifPalette(int[] colors, byte[] indices) {
        this.colors = colors;
        this.indices = indices;
    }

    /**
     * @param rgb a frame as packed 0xRRGGBB
     * @return its palette and indices
     */
    static GifPalette of(int[] rgb) {
        // Distinct colours and their pixel counts, from runs of the sorted pixels (no boxing, unlike a map).
        int[] sorted = rgb.clone();
        Arrays.sort(sorted);
        int distinct = 0;
        for (int i = 0; i < sorted.length; i++) {
            if (i == 0 || sorted[i] != sorted[i - 1]) {
                distinct++;
            }
        }
        int[] unique = new int[distinct];
        int[] weight = new int[distinct];
        int n = -1;
        for (int i = 0; i < sorted.length; i++) {
            if (i == 0 || sorted[i] != sorted[i - 1]) {
                unique[++n] = sorted[i];
            }
            weight[n]++;
        }
        int[] palette = unique.length <= SIZE ? unique.clone() : medianCut(unique.clone(), weight);
        Arrays.sort(palette); // by red first (0xRRGGBB), which lets the nearest-colour search stop early
        byte[] nearestOfUnique = new byte[unique.length];
        for (int u = 0; u < unique.length; u++) {
            nearestOfUnique[u] = (byte) nearest(palette, unique[u]);
        }
        byte[] indices = new byte[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            indices[i] = nearestOfUnique[Arrays.binarySearch(unique, rgb[i])];
        }
        return new GifPalette(palette, indices);
    }

    /** @return the palette colours as packed 0xRRGGBB, at most {@link #SIZE} */
    int[] colors() {
        return colors;
    }

    /** @return each pixel's palette index, row-major */
    byte[] indices() {
        return indices;
    }

    private static int channel(int rgb, int c) {
        return (rgb >> (16 - 8 * c)) & 0xFF;
    }

    /**
     * @param palette colours as 0xRRGGBB in ascending order, hence sorted by red
     * @return the index of a palette colour at the least squared RGB distance from {@code rgb}
     */
    static int nearest(int[] palette, int rgb) {
        int r = (rgb >> 16) & 0xFF;
        int g = (rgb >> 8) & 0xFF;
        int b = rgb & 0xFF;
        int start = Arrays.binarySearch(palette, rgb);
        start = start >= 0 ? start : Math.min(-start - 1, palette.length - 1);
        int best = start;
        int bestDistance = Integer.MAX_VALUE;
        // Walk outwards from where rgb would sit; a side ends once its red difference alone reaches the best.
        for (int lo = start, hi = start + 1; lo >= 0 || hi < palette.length; lo--, hi++) {
            boolean any = false;
            for (int p : new int[] {lo, hi}) {
                if (p < 0 || p >= palette.length) {
                    continue;
                }
                int dr = ((palette[p] >> 16) & 0xFF) - r;
                if (dr * dr >= bestDistance) {
                    continue;
                }
                any = true;
                int dg = ((palette[p] >> 8) & 0xFF) - g;
                int db = (palette[p] & 0xFF) - b;
                int d = dr * dr + dg * dg + db * db;
                if (d < bestDistance) {
                    bestDistance = d;
                    best = p;
                }
            }
            if (!any && bestDistance != Integer.MAX_VALUE) {
                break;
            }
        }
        return best;
    }

    /** A box of distinct colours: indices [from, to) into the colour arrays, and its widest channel. */
    private record Box(int from, int to, int widestChannel, int widestRange) {
        static Box of(int[] colors, int from, int to) {
            int channel = 0;
            int widest = -1;
            for (int c = 0; c < 3; c++) {
                int range = range(colors, from, to, c);
                if (range > widest) {
                    widest = range;
                    channel = c;
                }
            }
            return new Box(from, to, channel, widest);
        }

        int size() {
            return to - from;
        }
    }

    private static int[] medianCut(int[] colors, int[] weight) {
        List<Box> boxes = new ArrayList<>();
        boxes.add(Box.of(colors, 0, colors.length));
        while (boxes.size() < SIZE) {
            int pick = -1;
            for (int b = 0; b < boxes.size(); b++) {
                Box box = boxes.get(b);
                if (box.size() >= 2 && (pick < 0 || box.widestRange() > boxes.get(pick).widestRange())) {
                    pick = b;
                }
            }
            if (pick < 0) {
                break; // every box holds a single colour
            }
            Box box = boxes.remove(pick);
            int cut = sortAndFindMedian(colors, weight, box, box.widestChannel());
            boxes.add(Box.of(colors, box.from(), cut));
            boxes.add(Box.of(colors, cut, box.to()));
        }
        int[] palette = new int[boxes.size()];
        for (int b = 0; b < boxes.size(); b++) {
            palette[b] = mean(colors, weight, boxes.get(b));
        }
        return palette;
    }

    private static int range(int[] colors, int from, int to, int c) {
        int lo = 255;
        int hi = 0;
        for (int i = from; i < to; i++) {
            int v = channel(colors[i], c);
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        return hi - lo;
    }

    /**
     * Sorts the box's colours by one channel (with their weights) and returns the split point: the first index
     * at which half the box's pixels lie before it, kept strictly inside the box so both halves are non-empty.
     */
    private static int sortAndFindMedian(int[] colors, int[] weight, Box box, int c) {
        int n = box.size();
        long[] keyed = new long[n];
        for (int i = 0; i < n; i++) {
            // channel value in the high bits, the position in the low bits to carry the weight along
            keyed[i] = ((long) channel(colors[box.from() + i], c) << 32) | i;
        }
        Arrays.sort(keyed);
        int[] sortedColors = new int[n];
        int[] sortedWeights = new int[n];
        long total = 0;
        for (int i = 0; i < n; i++) {
            int src = box.from() + (int) keyed[i];
            sortedColors[i] = colors[src];
            sortedWeights[i] = weight[src];
            total += weight[src];
        }
        System.arraycopy(sortedColors, 0, colors, box.from(), n);
        System.arraycopy(sortedWeights, 0, weight, box.from(), n);
        long seen = 0;
        int cut = 1;
        for (int i = 0; i < n - 1; i++) {
            seen += sortedWeights[i];
            cut = i + 1;
            if (2 * seen >= total) {
                break;
            }
        }
        return box.from() + cut;
    }

    private static int mean(int[] colors, int[] weight, Box box) {
        long[] sum = new long[3];
        long total = 0;
        for (int i = box.from(); i < box.to(); i++) {
            for (int c = 0; c < 3; c++) {
                sum[c] += (long) channel(colors[i], c) * weight[i];
            }
            total += weight[i];
        }
        int rgb = 0;
        for (int c = 0; c < 3; c++) {
            rgb |= (int) Math.round((double) sum[c] / total) << (16 - 8 * c);
        }
        return rgb;
    }
}

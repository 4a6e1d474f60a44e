package io.sparge4j.models.video;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A palette of at most 256 colours for one GIF frame, and each pixel's index into it.
 *
 * <p>A frame with at most 256 distinct colours keeps them exactly. Otherwise median cut: the colour box with
 * the widest channel range is split at the pixel median of that channel until there are 256 boxes, and each
 * box's colour is the pixel-weighted mean of its colours. Every pixel then takes its nearest palette colour
 * (squared RGB distance, lowest index on ties), so no pixel is farther from its palette colour than it must be.
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
        Map<Integer, Integer> counts = new HashMap<>();
        for (int c : rgb) {
            counts.merge(c, 1, Integer::sum);
        }
        int[] unique = new int[counts.size()];
        int[] weight = new int[counts.size()];
        int n = 0;
        for (Map.Entry<Integer, Integer> e : counts.entrySet()) {
            unique[n] = e.getKey();
            weight[n++] = e.getValue();
        }
        int[] palette = unique.length <= SIZE ? unique.clone() : medianCut(unique, weight);
        Map<Integer, Byte> index = new HashMap<>(unique.length * 2);
        for (int c : unique) {
            index.put(c, (byte) nearest(palette, c));
        }
        byte[] indices = new byte[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            indices[i] = index.get(rgb[i]);
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

    static int nearest(int[] palette, int rgb) {
        int best = 0;
        int bestDistance = Integer.MAX_VALUE;
        for (int p = 0; p < palette.length; p++) {
            int d = 0;
            for (int c = 0; c < 3; c++) {
                int diff = channel(palette[p], c) - channel(rgb, c);
                d += diff * diff;
            }
            if (d < bestDistance) {
                bestDistance = d;
                best = p;
            }
        }
        return best;
    }

    /** A box of distinct colours: indices [from, to) into the colour arrays. */
    private record Box(int from, int to) {
        int size() {
            return to - from;
        }
    }

    private static int[] medianCut(int[] colors, int[] weight) {
        List<Box> boxes = new ArrayList<>();
        boxes.add(new Box(0, colors.length));
        while (boxes.size() < SIZE) {
            int pick = -1;
            int pickChannel = 0;
            int pickRange = -1;
            for (int b = 0; b < boxes.size(); b++) {
                Box box = boxes.get(b);
                if (box.size() < 2) {
                    continue;
                }
                for (int c = 0; c < 3; c++) {
                    int range = range(colors, box, c);
                    if (range > pickRange) {
                        pickRange = range;
                        pick = b;
                        pickChannel = c;
                    }
                }
            }
            if (pick < 0) {
                break; // every box holds a single colour
            }
            Box box = boxes.remove(pick);
            int cut = sortAndFindMedian(colors, weight, box, pickChannel);
            boxes.add(new Box(box.from(), cut));
            boxes.add(new Box(cut, box.to()));
        }
        int[] palette = new int[boxes.size()];
        for (int b = 0; b < boxes.size(); b++) {
            palette[b] = mean(colors, weight, boxes.get(b));
        }
        return palette;
    }

    private static int range(int[] colors, Box box, int c) {
        int lo = 255;
        int hi = 0;
        for (int i = box.from(); i < box.to(); i++) {
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

package io.sparge4j.models.video;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GifPaletteTest {
    private static int distance2(int a, int b) {
        int d = 0;
        for (int shift = 0; shift <= 16; shift += 8) {
            int diff = ((a >> shift) & 0xFF) - ((b >> shift) & 0xFF);
            d += diff * diff;
        }
        return d;
    }

    @Test
    void prunedNearestSearchFindsABruteForceNearestColour() {
        SplittableRandom rng = new SplittableRandom(621);
        for (int size : new int[] {1, 2, 17, 256}) {
            int[] palette = new int[size];
            for (int i = 0; i < size; i++) {
                palette[i] = rng.nextInt(1 << 24);
            }
            Arrays.sort(palette);
            for (int q = 0; q < 5000; q++) {
                int rgb = rng.nextInt(1 << 24);
                int best = Integer.MAX_VALUE;
                for (int p : palette) {
                    best = Math.min(best, distance2(p, rgb));
                }
                assertEquals(best, distance2(palette[GifPalette.nearest(palette, rgb)], rgb),
                        "palette of " + size + ", colour " + Integer.toHexString(rgb));
            }
        }
    }

    @Test
    void framesWithFewColoursKeepThemExactlyAndManyColoursGetA256Palette() {
        SplittableRandom rng = new SplittableRandom(622);
        int[] few = new int[1000];
        int[] colours = rng.ints(200, 0, 1 << 24).toArray();
        for (int i = 0; i < few.length; i++) {
            few[i] = colours[rng.nextInt(colours.length)];
        }
        GifPalette exact = GifPalette.of(few);
        for (int i = 0; i < few.length; i++) {
            assertEquals(few[i], exact.colors()[exact.indices()[i] & 0xFF], "pixel " + i);
        }

        int[] many = rng.ints(5000, 0, 1 << 24).toArray();
        GifPalette cut = GifPalette.of(many);
        assertEquals(GifPalette.SIZE, cut.colors().length);
        assertTrue(Arrays.stream(cut.colors()).distinct().count() > 200, "median cut gives mostly distinct colours");
    }
}

package io.sparge4j.models.eval;

import io.sparge4j.models.data.Direction;
import io.sparge4j.models.data.ShapeColour;
import io.sparge4j.models.data.ShapeKind;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Evaluation prompts drawn deterministically and balanced: each of colour, shape and direction runs through seeded
 * shuffles of all its values, one full shuffle after another, so over N prompts every colour appears N/8 times
 * (rounded down or up), every shape N/3 and every direction N/8. Prompts read as training captions without a
 * background: "a red circle moving right", "an orange square moving up and left".
 */
public final class EvalPrompts {
    private EvalPrompts() {
    }

    /**
     * @param n how many prompts, at least 1
     * @param seed the shuffles' seed
     * @return the prompts, in order
     * @throws IllegalArgumentException if n is below 1
     */
    public static List<String> balanced(int n, long seed) {
        if (n < 1) {
            throw new IllegalArgumentException("--prompts: got " + n + ", expected at least 1");
        }
        SplittableRandom random = new SplittableRandom(seed);
        ShapeColour[] colours = cycle(ShapeColour.values(), n, random.split());
        ShapeKind[] shapes = cycle(ShapeKind.values(), n, random.split());
        Direction[] directions = cycle(Direction.values(), n, random.split());
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(caption(colours[i], shapes[i], directions[i]));
        }
        return out;
    }

    /** @return the caption the data generator writes for these attributes, without a background */
    public static String caption(ShapeColour colour, ShapeKind shape, Direction direction) {
        String c = colour.word();
        String article = "aeiou".indexOf(c.charAt(0)) >= 0 ? "an " : "a ";
        return article + c + " " + shape.word() + " moving " + direction.words();
    }

    /** n values: whole seeded shuffles of {@code values} one after another, the last one cut short. */
    private static <T> T[] cycle(T[] values, int n, SplittableRandom random) {
        T[] out = Arrays.copyOf(values, n);
        for (int start = 0; start < n; start += values.length) {
            T[] round = values.clone();
            for (int i = round.length - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                T t = round[i];
                round[i] = round[j];
                round[j] = t;
            }
            System.arraycopy(round, 0, out, start, Math.min(round.length, n - start));
        }
        return out;
    }
}

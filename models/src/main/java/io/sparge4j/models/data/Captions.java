package io.sparge4j.models.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Captions from clip attributes ("a red circle moving left", "a green square moving up and right on a striped
 * background"), the vocabulary they use, and a tolerant parser from text back to a {@link PromptRequest}.
 */
public final class Captions {
    private static final Map<String, ShapeKind> SHAPES = new TreeMap<>();
    private static final Map<String, ShapeColour> COLOURS = new TreeMap<>();
    private static final Map<String, BackgroundKind> BACKGROUNDS = new TreeMap<>();

    static {
        for (ShapeKind s : ShapeKind.values()) {
            SHAPES.put(s.word(), s);
            SHAPES.put(s.word() + "s", s);
        }
        for (ShapeColour c : ShapeColour.values()) {
            COLOURS.put(c.word(), c);
        }
        COLOURS.put("purple", ShapeColour.MAGENTA);
        for (BackgroundKind b : BackgroundKind.values()) {
            BACKGROUNDS.put(b.word(), b);
        }
        BACKGROUNDS.put("plain", BackgroundKind.PLAIN);
        BACKGROUNDS.put("black", BackgroundKind.PLAIN);
        BACKGROUNDS.put("gradient", BackgroundKind.GRADIENT);
        BACKGROUNDS.put("noise", BackgroundKind.NOISE);
        BACKGROUNDS.put("textured", BackgroundKind.NOISE);
        BACKGROUNDS.put("stripes", BackgroundKind.STRIPES);
        BACKGROUNDS.put("stripy", BackgroundKind.STRIPES);
    }

    private Captions() {
    }

    /**
     * @param attributes the clip's attributes
     * @param withBackground whether to end with "on a ... background"
     * @return the caption, lower case, words separated by single spaces ("an" before a vowel: "an orange square")
     */
    public static String caption(ClipAttributes attributes, boolean withBackground) {
        return caption(attributes, withBackground, false, false);
    }

    /**
     * {@link #caption(ClipAttributes, boolean)} with the colour, the direction or both left out: "a circle moving
     * left", "an orange circle", "a circle on a striped background".
     *
     * @param attributes the clip's attributes
     * @param withBackground whether to end with "on a ... background"
     * @param withoutColour leave the colour out
     * @param withoutDirection leave "moving ..." out
     * @return the caption
     */
    public static String caption(ClipAttributes attributes, boolean withBackground, boolean withoutColour,
            boolean withoutDirection) {
        String noun = (withoutColour ? "" : attributes.colour().word() + " ") + attributes.shape().word();
        String article = "aeiou".indexOf(noun.charAt(0)) >= 0 ? "an " : "a ";
        String text = article + noun + (withoutDirection ? "" : " moving " + attributes.direction().words());
        return withBackground ? text + " on a " + attributes.background().kind().word() + " background" : text;
    }

    /**
     * Every word a caption from {@link #caption} can contain, each once, in a fixed order (articles and connectives,
     * colours, shapes, directions, backgrounds). Parser-only synonyms (plurals, "purple", "stripes") are not in it.
     *
     * @return an unmodifiable list of lower-case words
     */
    public static List<String> vocabulary() {
        LinkedHashSet<String> words = new LinkedHashSet<>(List.of("a", "an", "moving", "and", "on", "background"));
        for (ShapeColour c : ShapeColour.values()) {
            words.add(c.word());
        }
        for (ShapeKind s : ShapeKind.values()) {
            words.add(s.word());
        }
        words.addAll(List.of("up", "down", "left", "right"));
        for (BackgroundKind b : BackgroundKind.values()) {
            words.add(b.word());
        }
        return Collections.unmodifiableList(new ArrayList<>(words));
    }

    /**
     * Reads what a prompt asks for. Case and punctuation do not matter ("Up-Left", "up and to the left" and
     * "left, up" all mean up-left); words it does not know are ignored. The first colour, shape and background word
     * win; the first vertical word (up, down) and the first horizontal word (left, right) combine into the direction.
     * A background word counts only when "background" appears too, so that "dark" alone asks for nothing.
     *
     * @param prompt any text, possibly empty
     * @return what it asks for
     * @throws IllegalArgumentException if prompt is null
     */
    public static PromptRequest parse(String prompt) {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt is null, expected text such as \"a red circle moving left\"");
        }
        ShapeKind shape = null;
        ShapeColour colour = null;
        BackgroundKind background = null;
        boolean mentionsBackground = false;
        int vertical = 0;
        int horizontal = 0;
        for (String word : prompt.toLowerCase(Locale.ROOT).split("[^a-z]+")) {
            switch (word) {
                case "up", "upward", "upwards", "upper" -> vertical = vertical == 0 ? -1 : vertical;
                case "down", "downward", "downwards", "lower" -> vertical = vertical == 0 ? 1 : vertical;
                case "left", "leftward", "leftwards" -> horizontal = horizontal == 0 ? -1 : horizontal;
                case "right", "rightward", "rightwards" -> horizontal = horizontal == 0 ? 1 : horizontal;
                case "background", "backdrop" -> mentionsBackground = true;
                default -> {
                    if (shape == null && SHAPES.containsKey(word)) {
                        shape = SHAPES.get(word);
                    } else if (colour == null && COLOURS.containsKey(word)) {
                        colour = COLOURS.get(word);
                    } else if (background == null && BACKGROUNDS.containsKey(word)) {
                        background = BACKGROUNDS.get(word);
                    }
                }
            }
        }
        Direction direction = vertical == 0 && horizontal == 0 ? null : Direction.of(horizontal, vertical);
        return new PromptRequest(Optional.ofNullable(shape), Optional.ofNullable(colour),
                Optional.ofNullable(direction), mentionsBackground ? Optional.ofNullable(background) : Optional.empty());
    }
}

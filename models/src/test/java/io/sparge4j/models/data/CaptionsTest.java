package io.sparge4j.models.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CaptionsTest {
    private static ClipAttributes attributes(ShapeKind shape, ShapeColour colour, Direction direction,
                                            BackgroundKind background) {
        Background bg = new Background(background, new double[] {0.1, 0.1, 0.1}, new double[] {0.2, 0.2, 0.2}, 0, 8,
                0.05, 1);
        return new ClipAttributes(shape, colour, direction, 16, 16, 2, 4, bg);
    }

    @Test
    void captionsReadAsPlainEnglish() {
        assertEquals("a red circle moving left",
                Captions.caption(attributes(ShapeKind.CIRCLE, ShapeColour.RED, Direction.LEFT, BackgroundKind.PLAIN), false));
        assertEquals("a green square moving up and right on a striped background",
                Captions.caption(attributes(ShapeKind.SQUARE, ShapeColour.GREEN, Direction.UP_RIGHT,
                        BackgroundKind.STRIPES), true));
        assertEquals("a white triangle moving down and left on a dark background",
                Captions.caption(attributes(ShapeKind.TRIANGLE, ShapeColour.WHITE, Direction.DOWN_LEFT,
                        BackgroundKind.PLAIN), true));
        assertEquals("an orange square moving up",
                Captions.caption(attributes(ShapeKind.SQUARE, ShapeColour.ORANGE, Direction.UP, BackgroundKind.NOISE),
                        false));
    }

    @Test
    void everyCaptionRoundTripsThroughTheParser() {
        for (ShapeKind s : ShapeKind.values()) {
            for (ShapeColour c : ShapeColour.values()) {
                for (Direction d : Direction.values()) {
                    for (BackgroundKind b : BackgroundKind.values()) {
                        ClipAttributes a = attributes(s, c, d, b);
                        String plain = Captions.caption(a, false);
                        assertEquals(PromptRequest.of(s, c, d, null), Captions.parse(plain), plain);
                        String full = Captions.caption(a, true);
                        assertEquals(PromptRequest.of(s, c, d, b), Captions.parse(full), full);
                    }
                }
            }
        }
    }

    @Test
    void vocabularyHoldsEveryCaptionWordOnce() {
        List<String> vocabulary = Captions.vocabulary();
        assertEquals(vocabulary.size(), new HashSet<>(vocabulary).size(), "duplicates in " + vocabulary);
        // 6 function words, 8 colours, 3 shapes, 4 direction words, 4 background adjectives.
        assertEquals(25, vocabulary.size(), vocabulary.toString());
        ClipGenerator g = new ClipGenerator(606, new ClipSpec(8, 24, 24, 0.5));
        HashSet<String> used = new HashSet<>();
        for (long i = 0; i < 300; i++) {
            for (String w : g.clip(i).caption().split(" ")) {
                assertTrue(vocabulary.contains(w), "'" + w + "' is missing from " + vocabulary);
                used.add(w);
            }
        }
        assertEquals(new HashSet<>(vocabulary), used, "300 captions use the whole vocabulary");
        assertThrows(UnsupportedOperationException.class, () -> vocabulary.add("x"));
    }

    @Test
    void parserToleratesCasePunctuationSynonymsAndUnknownWords() {
        assertEquals(PromptRequest.of(ShapeKind.CIRCLE, ShapeColour.RED, Direction.UP_LEFT, null),
                Captions.parse("A RED Circle, moving UP-LEFT!!"));
        assertEquals(PromptRequest.of(ShapeKind.TRIANGLE, ShapeColour.BLUE, Direction.DOWN_RIGHT, null),
                Captions.parse("please draw a big blue triangle going down and to the right, quickly"));
        assertEquals(PromptRequest.of(ShapeKind.SQUARE, ShapeColour.MAGENTA, Direction.LEFT, BackgroundKind.NOISE),
                Captions.parse("purple squares drifting leftwards over a noise background"));
        // The first word of a kind wins; a background word alone does not ask for a background.
        assertEquals(PromptRequest.of(ShapeKind.CIRCLE, ShapeColour.RED, Direction.RIGHT, null),
                Captions.parse("red or green circle, right or left, dark"));
        assertEquals(PromptRequest.NONE, Captions.parse(""));
        assertEquals(PromptRequest.NONE, Captions.parse("something else entirely 42"));
        assertEquals(Optional.of(Direction.UP), Captions.parse("moving upwards").direction());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Captions.parse(null));
        assertTrue(e.getMessage().contains("prompt is null"), e.getMessage());
    }

    @Test
    void directionsSnapToTheNearestOfEightSectors() {
        for (Direction d : Direction.values()) {
            assertEquals(d, Direction.of(d.signX(), d.signY()));
            assertEquals(d, Direction.nearest(d.unitX(), d.unitY()));
            assertEquals(1.0, Math.hypot(d.unitX(), d.unitY()), 1e-12, d.toString());
            // 20 degrees off still lies in the same 45-degree sector.
            double angle = Math.atan2(d.unitY(), d.unitX()) + Math.toRadians(20);
            assertEquals(d, Direction.nearest(Math.cos(angle), Math.sin(angle)));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Direction.nearest(0, 0));
        assertTrue(e.getMessage().contains("(0.0, 0.0)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Direction.of(2, 0));
        assertTrue(e.getMessage().contains("(2, 0)"), e.getMessage());
    }
}

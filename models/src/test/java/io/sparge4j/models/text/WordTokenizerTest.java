package io.sparge4j.models.text;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.models.text.TextEncoderFixtures.TOKENIZER;
import static io.sparge4j.models.text.TextEncoderFixtures.WORDS;
import static io.sparge4j.models.text.WordTokenizer.END;
import static io.sparge4j.models.text.WordTokenizer.PAD;
import static io.sparge4j.models.text.WordTokenizer.UNKNOWN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WordTokenizerTest {
    /** Word i of {@link TextEncoderFixtures#WORDS} has id 3 + i (written out, not computed by the class). */
    private static int id(String word) {
        return 3 + WORDS.indexOf(word);
    }

    @Test
    void splitLowercasesAndBreaksAtEveryNonLetterOrDigit() {
        assertEquals(List.of("a", "red", "circle", "moving", "left"),
                WordTokenizer.split("  A Red-circle,moving\tLEFT!! "));
        assertEquals(List.of("it", "s", "2", "fast"), WordTokenizer.split("It's 2 fast."));
        assertEquals(List.of("café", "naïve"), WordTokenizer.split("Café/NAÏVE"));
        assertEquals(List.of(), WordTokenizer.split(" ,.;! "));
    }

    @Test
    void encodesWordsThenEndThenPadding() {
        Tokens t = TOKENIZER.encode("A red, CIRCLE!", 6);
        assertArrayEquals(new int[] {id("a"), id("red"), id("circle"), END, PAD, PAD}, t.ids());
        assertEquals(4, t.length());
        assertFalse(t.truncated());
        assertEquals(13, TOKENIZER.vocabSize());
        assertEquals("<pad>", TOKENIZER.token(PAD));
        assertEquals("<unk>", TOKENIZER.token(UNKNOWN));
        assertEquals("<end>", TOKENIZER.token(END));
        assertEquals("right", TOKENIZER.token(12));
    }

    @Test
    void unknownWordsBecomeTheUnknownToken() {
        Tokens t = TOKENIZER.encode("a purple hexagon", 6);
        assertArrayEquals(new int[] {id("a"), UNKNOWN, UNKNOWN, END, PAD, PAD}, t.ids());
        assertEquals("a <unk> <unk>", TOKENIZER.decode(t));
    }

    @Test
    void theEmptyPromptHasNoTokens() {
        for (String empty : new String[] {"", "   ", "?!,."}) {
            Tokens t = TOKENIZER.encode(empty, 4);
            assertEquals(0, t.length(), empty);
            assertArrayEquals(new int[4], t.ids());
            assertEquals("", TOKENIZER.decode(t));
        }
    }

    @Test
    void longPromptsKeepTheirFirstWordsAndTheEndToken() {
        Tokens t = TOKENIZER.encode("a red circle moving left", 4);
        assertArrayEquals(new int[] {id("a"), id("red"), id("circle"), END}, t.ids());
        assertEquals(4, t.length());
        assertTrue(t.truncated());
        // exactly maxLength - 1 words fit without truncation
        Tokens fits = TOKENIZER.encode("a red circle", 4);
        assertFalse(fits.truncated());
        assertEquals(4, fits.length());
    }

    @Test
    void decodeInvertsEncodeForVocabularyWords() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int trial = 0; trial < 50; trial++) {
            List<String> words = new ArrayList<>();
            int n = 1 + rng.nextInt(7);
            for (int i = 0; i < n; i++) {
                words.add(WORDS.get(rng.nextInt(WORDS.size())));
            }
            String prompt = String.join(" ", words);
            Tokens t = TOKENIZER.encode(prompt, 8);
            assertEquals(n + 1, t.length(), prompt);
            assertEquals(prompt, TOKENIZER.decode(t));
        }
    }

    @Test
    void saveAndLoadGiveTheSameVocabulary(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("vocabulary.json");
        TOKENIZER.save(file);
        WordTokenizer loaded = WordTokenizer.load(file);
        assertEquals(WORDS, loaded.words());
        for (String prompt : TextEncoderTest.PROMPTS) {
            assertEquals(TOKENIZER.encode(prompt, 6), loaded.encode(prompt, 6), prompt);
        }
        try (var stream = Files.list(dir)) {
            assertEquals(List.of(file), stream.toList(), "no temporary file is left behind");
        }
    }

    @Test
    void loadRejectsOtherFilesWithTheirName(@TempDir Path dir) throws IOException {
        Path other = dir.resolve("other.json");
        Files.writeString(other, "{\"format\": \"something-else\", \"words\": []}");
        assertMessage(() -> WordTokenizer.load(other), other.toString(), "format", "sparge4j.word-tokenizer");
        Path badWord = dir.resolve("bad.json");
        Files.writeString(badWord, "{\"format\": \"sparge4j.word-tokenizer\", \"special_tokens\": [\"<pad>\", "
                + "\"<unk>\", \"<end>\"], \"words\": [\"red\", \"Blue\"]}");
        assertMessage(() -> WordTokenizer.load(badWord), badWord.toString(), "words[1]", "Blue");
        Path specials = dir.resolve("specials.json");
        Files.writeString(specials, "{\"format\": \"sparge4j.word-tokenizer\", \"special_tokens\": [\"<pad>\"], "
                + "\"words\": []}");
        assertMessage(() -> WordTokenizer.load(specials), "special_tokens", "<unk>");
        IOException missing = assertThrows(IOException.class, () -> WordTokenizer.load(dir.resolve("none.json")));
        assertTrue(missing.getMessage().contains("none.json"), missing.getMessage());
    }

    @Test
    void badArgumentsAreNamed() {
        assertMessage(() -> new WordTokenizer(null), "words is null");
        assertMessage(() -> new WordTokenizer(List.of("red", "red")), "words[1]", "repeats words[0]");
        assertMessage(() -> new WordTokenizer(List.of("red", "two words")), "words[1]", "\"two words\"");
        assertMessage(() -> new WordTokenizer(List.of("Red")), "words[0]", "lowercase");
        assertMessage(() -> new WordTokenizer(List.of("")), "words[0]", "\"\"");
        assertMessage(() -> new WordTokenizer(Arrays.asList("red", null)), "words[1] is null");
        assertMessage(() -> TOKENIZER.encode(null, 6), "prompt is null");
        assertMessage(() -> TOKENIZER.encode("red", 1), "maxLength is 1", "at least 2");
        assertMessage(() -> TOKENIZER.token(13), "id is 13", "0..12");
        assertMessage(() -> TOKENIZER.token(-1), "id is -1");
        assertMessage(() -> new Tokens(new int[3], 4, false), "length is 4", "0..3");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message lacks \"" + part + "\": " + e.getMessage());
        }
    }
}

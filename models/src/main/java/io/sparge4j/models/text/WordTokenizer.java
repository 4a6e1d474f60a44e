package io.sparge4j.models.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A word-level tokenizer over a fixed vocabulary, for the tiny models' captions.
 *
 * <p>Ids: {@link #PAD} = 0, {@link #UNKNOWN} = 1, {@link #END} = 2, then the given words in their order (word
 * {@code i} has id {@code 3 + i}). A prompt is lowercased ({@link Locale#ROOT}) and split into words at every
 * character that is not a letter or digit ({@link #split}), so punctuation and spaces only separate words. Each
 * word maps to its id or to {@link #UNKNOWN}; a non-empty prompt ends with {@link #END}; the rest is
 * {@link #PAD}. The empty prompt (or one with no words, such as {@code " ,. "}) has no tokens at all, as Wan's
 * empty negative prompt has none.
 *
 * <p><b>Truncation:</b> a prompt of more than {@code maxLength - 1} words keeps its first {@code maxLength - 1}
 * words followed by {@link #END}, and {@link Tokens#truncated()} says so.
 */
public final class WordTokenizer {
    /** Padding: the id of every position beyond a prompt's tokens. */
    public static final int PAD = 0;
    /** A word not in the vocabulary. */
    public static final int UNKNOWN = 1;
    /** Closes every non-empty prompt. */
    public static final int END = 2;
    /** The special tokens' spellings, by id. */
    public static final List<String> SPECIAL_TOKENS = List.of("<pad>", "<unk>", "<end>");
    /** The smallest {@code maxLength} accepted: one word and {@link #END}. */
    public static final int MIN_MAX_LENGTH = 2;

    static final String FORMAT = "sparge4j.word-tokenizer";

    private final List<String> words;
    private final Map<String, Integer> ids;

    /**
     * @param words the vocabulary, in id order: distinct, each already one lowercase word of letters and digits
     *              ({@code split(word)} must give back exactly {@code [word]})
     * @throws IllegalArgumentException on a null list, or a null, empty, non-normalised or repeated word (named
     *                                  with its index)
     */
    public WordTokenizer(List<String> words) {
        if (words == null) {
            throw new IllegalArgumentException("WordTokenizer: words is null, expected a list of words");
        }
        Map<String, Integer> map = new HashMap<>();
        for (int i = 0; i < SPECIAL_TOKENS.size(); i++) {
            map.put(SPECIAL_TOKENS.get(i), i);
        }
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            if (w == null || !split(w).equals(List.of(w))) {
                throw new IllegalArgumentException("WordTokenizer: words[" + i + "] is "
                        + (w == null ? "null" : "\"" + w + "\"")
                        + ", expected one lowercase word of letters and digits (no spaces or punctuation)");
            }
            Integer previous = map.putIfAbsent(w, SPECIAL_TOKENS.size() + i);
            if (previous != null) {
                throw new IllegalArgumentException("WordTokenizer: words[" + i + "] is \"" + w
                        + "\", which repeats words[" + (previous - SPECIAL_TOKENS.size()) + "]; expected distinct words");
            }
        }
        this.words = List.copyOf(words);
        this.ids = Map.copyOf(map);
    }

    /**
     * Splits text into words: lowercased, broken at every character that is not a letter or digit.
     *
     * @param text any text
     * @return the words, possibly none
     * @throws IllegalArgumentException if text is null
     */
    public static List<String> split(String text) {
        if (text == null) {
            throw new IllegalArgumentException("WordTokenizer.split: text is null, expected a string");
        }
        List<String> out = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        String lower = text.toLowerCase(Locale.ROOT);
        for (int i = 0; i < lower.length(); ) {
            int cp = lower.codePointAt(i);
            if (Character.isLetterOrDigit(cp)) {
                word.appendCodePoint(cp);
            } else if (!word.isEmpty()) {
                out.add(word.toString());
                word.setLength(0);
            }
            i += Character.charCount(cp);
        }
        if (!word.isEmpty()) {
            out.add(word.toString());
        }
        return out;
    }

    /**
     * @param prompt the text ({@code ""} for the empty prompt)
     * @param maxLength the padded length, at least {@value #MIN_MAX_LENGTH}
     * @return the ids, truncated as the class comment says when the prompt is too long
     * @throws IllegalArgumentException on a null prompt or a maxLength below {@value #MIN_MAX_LENGTH}
     */
    public Tokens encode(String prompt, int maxLength) {
        if (prompt == null) {
            throw new IllegalArgumentException("WordTokenizer.encode: prompt is null, expected a string (\"\" for"
                    + " the empty prompt)");
        }
        if (maxLength < MIN_MAX_LENGTH) {
            throw new IllegalArgumentException("WordTokenizer.encode: maxLength is " + maxLength + ", expected at least "
                    + MIN_MAX_LENGTH + " (one word and the end token)");
        }
        List<String> split = split(prompt);
        int[] out = new int[maxLength]; // zero-filled: PAD
        if (split.isEmpty()) {
            return new Tokens(out, 0, false);
        }
        int kept = Math.min(split.size(), maxLength - 1);
        for (int i = 0; i < kept; i++) {
            out[i] = ids.getOrDefault(split.get(i), UNKNOWN);
        }
        out[kept] = END;
        return new Tokens(out, kept + 1, kept < split.size());
    }

    /** Encodes several prompts; see {@link #encode(String, int)}. */
    public List<Tokens> encodeAll(List<String> prompts, int maxLength) {
        if (prompts == null) {
            throw new IllegalArgumentException("WordTokenizer.encodeAll: prompts is null, expected a list of strings");
        }
        List<Tokens> out = new ArrayList<>(prompts.size());
        for (String p : prompts) {
            out.add(encode(p, maxLength));
        }
        return out;
    }

    /**
     * @param tokens encoded prompt
     * @return its words joined by single spaces, without {@link #END}; unknown words read {@code "<unk>"}
     * @throws IllegalArgumentException on an id outside the vocabulary
     */
    public String decode(Tokens tokens) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < tokens.length(); i++) {
            int id = tokens.id(i);
            if (id != END) {
                out.add(token(id));
            }
        }
        return String.join(" ", out);
    }

    /**
     * @param id a token id
     * @return its spelling (a word or a special token)
     * @throws IllegalArgumentException if id is not in 0..vocabSize-1
     */
    public String token(int id) {
        if (id < 0 || id >= vocabSize()) {
            throw new IllegalArgumentException("WordTokenizer.token: id is " + id + ", expected 0.." + (vocabSize() - 1));
        }
        return id < SPECIAL_TOKENS.size() ? SPECIAL_TOKENS.get(id) : words.get(id - SPECIAL_TOKENS.size());
    }

    /** @return the id of {@code word} (a vocabulary word or special token's spelling), or {@link #UNKNOWN} */
    public int id(String word) {
        return ids.getOrDefault(word, UNKNOWN);
    }

    /** @return the number of ids: the special tokens and the words */
    public int vocabSize() {
        return SPECIAL_TOKENS.size() + words.size();
    }

    /** @return the words given to the constructor, in id order (without the special tokens) */
    public List<String> words() {
        return words;
    }

    /**
     * Writes {@code {"format": "sparge4j.word-tokenizer", "special_tokens": [...], "words": [...]}}, atomically.
     *
     * @param file the target (replaced if present)
     * @throws IOException if it cannot be written
     */
    public void save(Path file) throws IOException {
        ObjectNode root = JsonFiles.JSON.createObjectNode();
        root.put("format", FORMAT);
        ArrayNode specials = root.putArray("special_tokens");
        SPECIAL_TOKENS.forEach(specials::add);
        ArrayNode list = root.putArray("words");
        words.forEach(list::add);
        JsonFiles.write(file, root);
    }

    /**
     * Reads a file written by {@link #save}.
     *
     * @param file the vocabulary file
     * @return the tokenizer
     * @throws IOException if it cannot be read or is not JSON
     * @throws IllegalArgumentException naming the file on a wrong format, other special tokens or a bad word
     */
    public static WordTokenizer load(Path file) throws IOException {
        JsonNode root = JsonFiles.read(file);
        JsonFiles.checkFormat(file, root, FORMAT);
        List<String> specials = strings(file, root, "special_tokens");
        if (!specials.equals(SPECIAL_TOKENS)) {
            throw new IllegalArgumentException(file + ": \"special_tokens\" is " + specials + ", expected "
                    + SPECIAL_TOKENS);
        }
        try {
            return new WordTokenizer(strings(file, root, "words"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    private static List<String> strings(Path file, JsonNode root, String key) {
        JsonNode array = root.get(key);
        if (array == null || !array.isArray()) {
            throw new IllegalArgumentException(file + ": \"" + key + "\" is " + array + ", expected an array of strings");
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) {
            JsonNode s = array.get(i);
            if (!s.isTextual()) {
                throw new IllegalArgumentException(file + ": \"" + key + "\"[" + i + "] is " + s + ", expected a string");
            }
            out.add(s.asText());
        }
        return Collections.unmodifiableList(out);
    }

    @Override
    public String toString() {
        return "WordTokenizer[" + vocabSize() + " ids: " + SPECIAL_TOKENS + " + " + words.size() + " words "
                + (words.size() <= 8 ? words : Arrays.asList(words.subList(0, 8).toArray()) + "...") + "]";
    }
}

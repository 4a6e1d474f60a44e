package io.sparge4j.models.text;

import java.util.Arrays;

/**
 * One prompt as token ids, padded to a fixed length.
 *
 * @param ids {@code maxLength} ids: the prompt's {@code length} real tokens, then {@link WordTokenizer#PAD}
 * @param length the number of real tokens (0 for the empty prompt)
 * @param truncated whether words were dropped because the prompt did not fit
 */
public record Tokens(int[] ids, int length, boolean truncated) {
    /** Copies {@code ids} and checks that {@code length} fits. */
    public Tokens {
        if (ids == null) {
            throw new IllegalArgumentException("Tokens: ids is null, expected an int array");
        }
        if (length < 0 || length > ids.length) {
            throw new IllegalArgumentException("Tokens: length is " + length + ", expected 0.." + ids.length
                    + " (the number of ids)");
        }
        ids = ids.clone();
    }

    /** @return a copy of the ids */
    @Override
    public int[] ids() {
        return ids.clone();
    }

    /** @return the id at {@code position} (padding included) */
    public int id(int position) {
        return ids[position];
    }

    /** @return the padded length (the encoder's maximum length) */
    public int maxLength() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tokens t && length == t.length && truncated == t.truncated && Arrays.equals(ids, t.ids);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + length + (truncated ? 1 : 0);
    }

    @Override
    public String toString() {
        return "Tokens" + Arrays.toString(Arrays.copyOf(ids, length)) + (truncated ? " (truncated)" : "") + " of "
                + ids.length;
    }
}

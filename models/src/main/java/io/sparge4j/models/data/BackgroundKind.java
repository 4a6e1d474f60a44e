package io.sparge4j.models.data;

/** The kinds of static background behind a clip's object, each with the adjective captions use for it. */
public enum BackgroundKind {
    /** One dark colour. */
    PLAIN("dark"),
    /** A linear blend between two dark colours across the frame. */
    GRADIENT("gradient"),
    /** Soft, smooth value noise around a dark colour. */
    NOISE("noisy"),
    /** Soft stripes alternating between two dark colours. */
    STRIPES("striped");

    private final String word;

    BackgroundKind(String word) {
        this.word = word;
    }

    /** @return the caption adjective, as in "on a striped background" */
    public String word() {
        return word;
    }
}

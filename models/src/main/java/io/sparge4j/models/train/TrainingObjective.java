package io.sparge4j.models.train;

import java.util.Arrays;
import java.util.Locale;

/** What a {@link WanTrainingTask} optimises. */
public enum TrainingObjective {
    /** Flow matching under full attention, DiT and text encoder trained jointly: how our own small model is made. */
    PRETRAIN("pretrain"),
    /** Flow matching, {@code ||v - (noise - x0)||^2}, on the sparse-attention student (the paper's baseline). */
    FLOW("flow"),
    /** Velocity distillation (SpargeAttention2): {@code ||v_student - v_teacher||^2} against a frozen dense copy. */
    DISTILL("distill");

    private final String word;

    TrainingObjective(String word) {
        this.word = word;
    }

    /** @return the command-line word */
    public String word() {
        return word;
    }

    /**
     * @param option the flag, for the message
     * @param word pretrain, flow or distill (any case)
     * @return the objective
     */
    public static TrainingObjective parse(String option, String word) {
        String w = word == null ? "" : word.trim().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(o -> o.word.equals(w)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(option + ": got '" + word
                        + "', expected one of pretrain, flow, distill"));
    }
}

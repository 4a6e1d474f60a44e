package io.sparge4j.cli;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.train.NoiseLevels;
import io.sparge4j.models.train.ShardedTrainer;
import io.sparge4j.models.video.AtomicFiles;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.TextModulation;

import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Every setting that decides the numbers of a {@code sparge pretrain} or {@code sparge finetune} run, saved as
 * {@value #FILE} in the run's directory when it starts so that {@code --resume} rebuilds the same model, data and
 * attention (the mask hyperparameters after any calibration). Where it runs ({@code --backend}, {@code --device}) is
 * not part of it.
 *
 * @param command pretrain or finetune
 * @param steps the run's total optimizer steps
 * @param microBatches micro-batches per step
 * @param batchSize clips per micro-batch (one batched pass on a device); 0 in a run.json written before the setting
 *     existed reads as 1
 * @param lr the peak learning rate
 * @param warmup warm-up steps
 * @param minLrRatio the cosine's floor as a fraction of lr
 * @param weightDecay AdamW's decoupled weight decay
 * @param maxGradNorm the global gradient-norm clip (0: none)
 * @param seed the run's seed (initialisation, data, noise)
 * @param frames clip frames
 * @param height clip height in pixels
 * @param width clip width in pixels
 * @param captionDropout probability of the empty prompt
 * @param timestepShift shift of the training noise levels (1: uniform)
 * @param checkpointEvery steps between checkpoints
 * @param keep checkpoints kept
 * @param precision f32 or bf16 (device forward GEMMs)
 * @param checkpointBlocks recompute blocks in the backward
 * @param dim DiT width (pretrain)
 * @param layers DiT blocks (pretrain)
 * @param heads DiT heads (pretrain)
 * @param ffnDim DiT feed-forward width (pretrain)
 * @param textWidth text encoder width, also the DiT's text_dim (pretrain)
 * @param textLayers text encoder layers (pretrain; finetune records its --init's)
 * @param init the model directory fine-tuning starts from (finetune), else null
 * @param objective pretrain, distill or flow
 * @param attention dense, topk, topp or hybrid
 * @param topk Top-k fraction used (after calibration)
 * @param topp Top-p threshold used (after calibration)
 * @param targetSparsity the sparsity k or p was calibrated to, or null
 * @param motion the clips' speeds and start range; null in a run.json written before the setting existed reads as
 *     {@link ClipMotion#DEFAULT}
 * @param captionAttributeDropout the probability that a caption leaves out its colour (and, drawn apart, its
 *     direction); absent in older run.json files, read as 0
 * @param textEncoderLrScale the multiplier of the text encoder's learning rate (pretrain trains it jointly); absent
 *     (0) in older run.json files, read as 1
 * @param teacher finetune --objective distill: the dense teacher's model directory (as {@code init} records it), or
 *     null for {@code init} itself (also in older run.json files)
 * @param distillGuidance finetune --objective distill: 0 distils the conditional velocity (the paper's loss), G above
 *     0 the velocity guided at scale G; absent (0) in older run.json files
 * @param sharding in a job of several ranks, what each rank keeps whole: {@value #SHARD_GRAD_OP} (ZeRO-2) or
 *     {@value #FULL_SHARD} (ZeRO-3, the blocks gathered as they run); the checkpoints' layouts differ, so a resume
 *     keeps it; absent in older run.json files, read as {@value #SHARD_GRAD_OP}
 * @param late finetune: the student's late Top-k (another k at and below a noise level, per clip), or null for none
 *     (also in older run.json files)
 * @param freshTextEncoder pretrain --init: the DiT came from init and the text encoder from a new initialisation of
 *     the run's seed ({@code --fresh-text-encoder}); false in older run.json files
 * @param scaleTextEmbedding pretrain: textEncoderLrScale also scales the DiT's text_embedding, the MLP between the
 *     encoder and the cross-attention ({@code --scale-text-embedding}); false in older run.json files
 * @param absolutePosition the DiT's absolute position signal (pretrain's {@code --absolute-position}, an experiment;
 *     {@code none} is Wan's architecture; finetune records its --init model's); absent (null) in older run.json
 *     files, read as none
 * @param clipFixed the attributes every training clip has, in caption words ({@code --clip-fixed}), or null for none
 *     (also in older run.json files)
 * @param textModulation the caption's path into the DiT's time embedding (pretrain's {@code --text-modulation}, an
 *     experiment; {@code none} is Wan's architecture; finetune records its --init model's); absent (null) in older
 *     run.json files, read as none
 * @param noiseBand the share of noise levels drawn from a band ({@code --noise-band}), or null for none (also in
 *     older run.json files)
 */
record RunSettings(String command, long steps, int microBatches, int batchSize, double lr, long warmup, double minLrRatio,
        double weightDecay, double maxGradNorm, long seed, int frames, int height, int width, double captionDropout,
        double timestepShift, long checkpointEvery, int keep, String precision, boolean checkpointBlocks, int dim,
        int layers, int heads, int ffnDim, int textWidth, int textLayers, String init, String objective,
        String attention, double topk, double topp, Double targetSparsity, ClipMotion motion,
        double captionAttributeDropout, double textEncoderLrScale, String teacher, double distillGuidance,
        String sharding, LateTopk late, boolean freshTextEncoder, boolean scaleTextEmbedding,
        String absolutePosition, String clipFixed, String textModulation, NoiseBand noiseBand) {

    /**
     * A late Top-k ({@code WanAttention#withLateTopk}).
     *
     * @param topk the Top-k fraction at and below the noise level
     * @param noiseLevel the noise level (timestep / 1000)
     */
    record LateTopk(double topk, double noiseLevel) {
    }

    /**
     * A band of noise levels that a share of the draws comes from ({@link NoiseLevels}).
     *
     * @param low the band's lowest level
     * @param high the band's end
     * @param share the share of draws from the band
     */
    record NoiseBand(double low, double high, double share) {
    }

    /** @return how the run draws its noise levels: the shift, and the band if any */
    NoiseLevels noiseLevels() {
        return noiseBand == null ? NoiseLevels.shifted(timestepShift)
                : new NoiseLevels(timestepShift, noiseBand.low(), noiseBand.high(), noiseBand.share());
    }

    /** ZeRO-2: gradients and AdamW's moments sharded, parameters whole on every rank. */
    static final String SHARD_GRAD_OP = "shard-grad-op";
    /** ZeRO-3: the blocks' parameters sharded too. */
    static final String FULL_SHARD = "full-shard";

    RunSettings {
        sharding = sharding == null ? SHARD_GRAD_OP : sharding;
        textEncoderLrScale = textEncoderLrScale == 0 ? 1 : textEncoderLrScale;
        batchSize = batchSize == 0 ? 1 : batchSize;
        motion = motion == null ? ClipMotion.DEFAULT : motion;
        absolutePosition = absolutePosition == null ? AbsolutePosition.NONE.word() : absolutePosition;
        textModulation = textModulation == null ? TextModulation.NONE.word() : textModulation;
    }

    /** The file name in the run's directory. */
    static final String FILE = "run.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** @return a copy with another total step count */
    RunSettings withSteps(long newSteps) {
        return with(Map.of("steps", newSteps));
    }

    /** @return a copy with the mask hyperparameters a calibration chose */
    RunSettings withMask(double newTopk, double newTopp) {
        return with(Map.of("topk", newTopk, "topp", newTopp));
    }

    /**
     * @return a copy with the model part (what {@link TrainingFlags#settings} leaves zero or null) filled in
     */
    RunSettings withModel(int newDim, int newLayers, int newHeads, int newFfnDim, int newTextWidth,
            int newTextLayers, String newInit, String newObjective, String newAttention, double newTopk,
            double newTopp, Double newTargetSparsity) {
        Map<String, Object> m = new HashMap<>(Map.of("dim", newDim, "layers", newLayers, "heads", newHeads,
                "ffnDim", newFfnDim, "textWidth", newTextWidth, "textLayers", newTextLayers, "objective",
                newObjective, "attention", newAttention, "topk", newTopk, "topp", newTopp));
        m.put("init", newInit);
        m.put("targetSparsity", newTargetSparsity);
        return with(m);
    }

    /**
     * @return a copy whose distillation teacher is {@code newTeacher} (null: the init model) and whose distilled
     *     velocity is guided at {@code newGuidance} (0: the conditional one)
     */
    RunSettings withDistillation(String newTeacher, double newGuidance) {
        Map<String, Object> m = new HashMap<>(Map.of("distillGuidance", newGuidance));
        m.put("teacher", newTeacher);
        return with(m);
    }

    /** @return a copy whose student runs {@code newLate} (null: one Top-k throughout) */
    RunSettings withLate(LateTopk newLate) {
        Map<String, Object> m = new HashMap<>();
        m.put("late", newLate);
        return with(m);
    }

    /** @return a copy that records whether the text encoder started afresh ({@code --fresh-text-encoder}) */
    RunSettings withFreshTextEncoder(boolean fresh) {
        return with(Map.of("freshTextEncoder", fresh));
    }

    /** @return a copy with the DiT's absolute position signal ({@code --absolute-position}) */
    RunSettings withAbsolutePosition(AbsolutePosition position) {
        return with(Map.of("absolutePosition", position.word()));
    }

    /** @return a copy with the caption's path into the DiT's time embedding ({@code --text-modulation}) */
    RunSettings withTextModulation(TextModulation modulation) {
        return with(Map.of("textModulation", modulation.word()));
    }

    /**
     * A copy with some components replaced, by name, through the canonical constructor: one place that lists
     * the components instead of a 40-argument call in every copy method.
     */
    private RunSettings with(Map<String, Object> changes) {
        RecordComponent[] components = RunSettings.class.getRecordComponents();
        Class<?>[] types = new Class<?>[components.length];
        Object[] values = new Object[components.length];
        int used = 0;
        try {
            for (int i = 0; i < components.length; i++) {
                String name = components[i].getName();
                types[i] = components[i].getType();
                if (changes.containsKey(name)) {
                    values[i] = changes.get(name);
                    used++;
                } else {
                    values[i] = components[i].getAccessor().invoke(this);
                }
            }
            if (used != changes.size()) {
                throw new IllegalStateException("RunSettings.with: " + changes.keySet() + " names a component"
                        + " RunSettings does not have");
            }
            return RunSettings.class.getDeclaredConstructor(types).newInstance(values);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("RunSettings.with: copying through the canonical constructor failed", e);
        }
    }

    /** @return the strategy {@link #sharding} names */
    ShardedTrainer.Strategy strategy() {
        return sharding.equals(FULL_SHARD) ? ShardedTrainer.Strategy.FULL_SHARD : ShardedTrainer.Strategy.SHARD_GRAD_OP;
    }

    /** Writes {@value #FILE} into the run's directory, atomically. */
    void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        String text = JSON.writeValueAsString(this);
        AtomicFiles.write(dir.resolve(FILE), f -> Files.writeString(f, text));
    }

    /**
     * @param dir a run's directory
     * @return its settings
     * @throws IllegalArgumentException if the directory has no {@value #FILE} (not a run started by this tool)
     */
    static RunSettings load(Path dir) throws IOException {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--resume: " + file + " does not exist, expected the directory of a run"
                    + " started by sparge pretrain or sparge finetune (drop --resume to start a new run)");
        }
        return JSON.readValue(file.toFile(), RunSettings.class);
    }
}

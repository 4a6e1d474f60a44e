package io.sparge4j.models.wan;

import io.sparge4j.engine.sparse.MaskStatistics;

import java.util.ArrayList;
import java.util.List;

/**
 * What a {@link WanModel}'s attention did since the last {@link #reset}: the mask statistics of every self-attention
 * call, by transformer block and denoising step, and the wall time spent in self- and cross-attention, so that a
 * pipeline can report the sparsity achieved and the attention share of each step. Safe to read from another thread.
 */
public final class WanAttentionStats {

    /**
     * One self-attention call.
     *
     * @param layer transformer block index
     * @param step denoising step index
     * @param dense whether the call ran dense (mode dense, or a dense layer or step)
     * @param statistics what the call's block mask kept ({@code sparsity()} is 0 for a dense call)
     * @param nanos wall time of the call, mask selection included
     */
    public record Entry(int layer, int step, boolean dense, MaskStatistics statistics, long nanos) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private long selfNanos;
    private long crossNanos;

    /**
     * Records one self-attention call (the models and the training graph call it).
     *
     * @param layer transformer block index
     * @param step denoising step index
     * @param dense whether the call ran dense
     * @param statistics what the call's block mask kept
     * @param nanos wall time of the call
     */
    public synchronized void recordSelf(int layer, int step, boolean dense, MaskStatistics statistics, long nanos) {
        entries.add(new Entry(layer, step, dense, statistics, nanos));
        selfNanos += nanos;
    }

    /** Adds the wall time of one cross-attention call. @param nanos the call's wall time */
    public synchronized void recordCross(long nanos) {
        crossNanos += nanos;
    }

    /** @return every self-attention call recorded, in order */
    public synchronized List<Entry> entries() {
        return List.copyOf(entries);
    }

    /** @return the number of self-attention calls recorded */
    public synchronized int calls() {
        return entries.size();
    }

    /**
     * @param layer transformer block index
     * @param step denoising step index
     * @return the mean sparsity of the calls at that block and step (several with classifier-free guidance), or
     *         NaN when there were none
     */
    public synchronized double sparsity(int layer, int step) {
        double sum = 0;
        int n = 0;
        for (Entry e : entries) {
            if (e.layer == layer && e.step == step) {
                sum += e.statistics.sparsity();
                n++;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /** @return the mean sparsity over every call recorded (dense ones count as 0), or NaN when there were none */
    public synchronized double meanSparsity() {
        return entries.isEmpty() ? Double.NaN
                : entries.stream().mapToDouble(e -> e.statistics.sparsity()).average().orElse(Double.NaN);
    }

    /** @return the mean sparsity over the calls of one denoising step, or NaN when there were none */
    public synchronized double meanSparsity(int step) {
        return entries.stream().filter(e -> e.step == step).mapToDouble(e -> e.statistics.sparsity()).average()
                .orElse(Double.NaN);
    }

    /** @return nanoseconds spent in self-attention (mask selection and the attention kernels) */
    public synchronized long attentionNanos() {
        return selfNanos;
    }

    /** @return nanoseconds spent in cross-attention's attention kernel (projections excluded) */
    public synchronized long crossAttentionNanos() {
        return crossNanos;
    }

    /** Forgets every call and time recorded. */
    public synchronized void reset() {
        entries.clear();
        selfNanos = 0;
        crossNanos = 0;
    }

    @Override
    public synchronized String toString() {
        return String.format(java.util.Locale.ROOT, "WanAttentionStats[calls=%d, sparsity=%.4f, self=%.3f ms, cross=%.3f ms]",
                entries.size(), meanSparsity(), selfNanos / 1e6, crossNanos / 1e6);
    }
}

package io.sparge4j.models.train;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;

/** A progress bar on stderr showing loss, lr, step time, tokens/s and the task's metrics; or nothing. */
final class TrainerProgress implements AutoCloseable {
    private final ProgressBar bar;

    private TrainerProgress(ProgressBar bar) {
        this.bar = bar;
    }

    /**
     * @param enabled whether to draw anything
     * @param from steps already done
     * @param total the run's steps
     * @return the bar
     */
    static TrainerProgress open(boolean enabled, long from, long total) {
        if (!enabled) {
            return new TrainerProgress(null);
        }
        return new TrainerProgress(new ProgressBarBuilder().setTaskName("train").setInitialMax(total)
                .startsFrom(from, Duration.ZERO).setConsumer(new ConsoleProgressBarConsumer(System.err)).build());
    }

    void update(TrainerStepLog log) {
        if (bar == null) {
            return;
        }
        bar.stepTo(log.step());
        bar.setExtraMessage(message(log));
    }

    /** @return the bar's text after the count: loss, lr, step time, tokens/s, then the task's metrics */
    static String message(TrainerStepLog log) {
        StringBuilder msg = new StringBuilder(String.format(Locale.ROOT, "loss %.4g lr %.3g %.2f s/step %.0f tok/s",
                log.loss(), log.lr(), log.stepSeconds(), log.tokensPerSecond()));
        for (Map.Entry<String, Double> e : log.metrics().entrySet()) {
            msg.append(String.format(Locale.ROOT, " %s %.4g", e.getKey(), e.getValue()));
        }
        return msg.toString();
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}

package io.sparge4j.models.eval;

import io.sparge4j.models.data.Direction;

import java.util.Optional;

/**
 * Reads the motion off an {@link ObjectTrack}'s centroids.
 *
 * <ul>
 *   <li>Speed: the median length of the frame-to-frame velocities.</li>
 *   <li>Direction: the mean velocity before the first reversal (a velocity component whose sign flips, counting
 *       only components above {@link #SIGNIFICANT} of the speed), snapped to the nearest of eight directions.</li>
 *   <li>Smoothness: the mean |second difference| of the centroid per axis over the speed (the acceleration ratio,
 *       0 for a steady motion), leaving out an axis's terms while the object is within {@code speed + 1} pixels of
 *       a wall on that axis (where it bounces); {@code smoothness = 1 / (1 + ratio)}.</li>
 * </ul>
 */
final class Motion {
    /** A velocity component counts as a direction only above this fraction of the speed. */
    static final double SIGNIFICANT = 0.3;
    /** Below this speed (pixels per frame) the object is taken as static: no direction. */
    static final double MIN_SPEED = 0.25;

    final double speed;
    final Optional<Direction> direction;
    final double accelerationRatio;
    final double smoothness;

    Motion(ObjectTrack track, int height, int width) {
        int frames = track.frames();
        // Velocities between consecutive frames that both hold the object.
        double[] vx = new double[frames];
        double[] vy = new double[frames];
        int n = 0;
        for (int f = 0; f + 1 < frames; f++) {
            if (track.present[f] && track.present[f + 1]) {
                vx[n] = track.centreX[f + 1] - track.centreX[f];
                vy[n] = track.centreY[f + 1] - track.centreY[f];
                n++;
            }
        }
        if (n == 0) {
            speed = 0;
            direction = Optional.empty();
            accelerationRatio = Double.POSITIVE_INFINITY;
            smoothness = 0;
            return;
        }
        double[] lengths = new double[n];
        for (int k = 0; k < n; k++) {
            lengths[k] = Math.hypot(vx[k], vy[k]);
        }
        speed = Foreground.median(lengths, n);
        direction = speed < MIN_SPEED ? Optional.empty() : Optional.of(initialDirection(vx, vy, n));
        accelerationRatio = accelerationRatio(track, height, width);
        smoothness = Double.isFinite(accelerationRatio) ? 1 / (1 + accelerationRatio) : 0;
    }

    private Direction initialDirection(double[] vx, double[] vy, int n) {
        double threshold = SIGNIFICANT * speed;
        int signX = 0;
        int signY = 0;
        double sumX = 0;
        double sumY = 0;
        for (int k = 0; k < n; k++) {
            int sx = Math.abs(vx[k]) > threshold ? (int) Math.signum(vx[k]) : 0;
            int sy = Math.abs(vy[k]) > threshold ? (int) Math.signum(vy[k]) : 0;
            if ((sx != 0 && signX != 0 && sx != signX) || (sy != 0 && signY != 0 && sy != signY)) {
                break; // the first bounce
            }
            signX = signX == 0 ? sx : signX;
            signY = signY == 0 ? sy : signY;
            sumX += vx[k];
            sumY += vy[k];
        }
        return Direction.nearest(sumX, sumY);
    }

    private double accelerationRatio(ObjectTrack track, int height, int width) {
        double margin = speed + 1;
        int frames = track.frames();
        double included = 0;
        int includedCount = 0;
        double all = 0;
        int allCount = 0;
        for (int f = 1; f + 1 < frames; f++) {
            if (!track.present[f - 1] || !track.present[f] || !track.present[f + 1]) {
                continue;
            }
            double ax = Math.abs(track.centreX[f + 1] - 2 * track.centreX[f] + track.centreX[f - 1]);
            double ay = Math.abs(track.centreY[f + 1] - 2 * track.centreY[f] + track.centreY[f - 1]);
            all += ax + ay;
            allCount += 2;
            boolean wallX = false;
            boolean wallY = false;
            for (int g = f - 1; g <= f + 1; g++) {
                wallX |= track.minX[g] < margin || track.maxX[g] + 1 > width - margin;
                wallY |= track.minY[g] < margin || track.maxY[g] + 1 > height - margin;
            }
            if (!wallX) {
                included += ax;
                includedCount++;
            }
            if (!wallY) {
                included += ay;
                includedCount++;
            }
        }
        double scale = Math.max(speed, MIN_SPEED);
        if (includedCount > 0) {
            return included / includedCount / scale;
        }
        return allCount > 0 ? all / allCount / scale : Double.POSITIVE_INFINITY;
    }
}

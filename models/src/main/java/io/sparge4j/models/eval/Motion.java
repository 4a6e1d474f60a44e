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
 *   <li>Smoothness: the mean |second difference| of the centroid on the worse axis, after unfolding the bounces
 *       (see {@link #accelerationRatio}), over the speed: the acceleration ratio, 0 for a steady motion;
 *       {@code smoothness = 1 / (1 + ratio)}.</li>
 * </ul>
 */
final class Motion {
    /** A velocity component counts as a direction only above this fraction of the speed. */
    static final double SIGNIFICANT = 0.3;
    /** Below this speed (pixels per frame) the object is taken as static: no direction. */
    static final double MIN_SPEED = 0.25;
    /** How far (pixels) each wall may move from its geometric estimate when the track is unfolded. */
    static final double WALL_SEARCH = 2.0;
    static final double WALL_STEP = 0.05;

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
        direction = speed < MIN_SPEED ? Optional.empty() : initialDirection(vx, vy, n);
        accelerationRatio = accelerationRatio(track, height, width);
        smoothness = Double.isFinite(accelerationRatio) ? 1 / (1 + accelerationRatio) : 0;
    }

    private Optional<Direction> initialDirection(double[] vx, double[] vy, int n) {
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
        return sumX == 0 && sumY == 0 ? Optional.empty() : Optional.of(Direction.nearest(sumX, sumY));
    }

    /**
     * The mean |second difference| of the unfolded centroid on the worse axis, over the speed. Unfolding undoes the
     * bounces: the walls, in centroid coordinates, lie one centroid-to-edge offset (median over frames) inside the
     * frame's edges (each then refined within {@link #WALL_SEARCH} pixels), and each position takes whichever of its mirror images about the walls is nearest to the
     * constant-velocity prediction from the two positions before it. A steady bouncing motion unfolds to a straight
     * line; a jerky one does not.
     */
    private double accelerationRatio(ObjectTrack track, int height, int width) {
        double worst = Double.NEGATIVE_INFINITY;
        for (int axis = 0; axis < 2; axis++) {
            double ratio = meanAcceleration(track, axis == 0, axis == 0 ? width : height);
            if (!Double.isNaN(ratio)) {
                worst = Math.max(worst, ratio);
            }
        }
        return worst == Double.NEGATIVE_INFINITY ? Double.POSITIVE_INFINITY : worst / Math.max(speed, MIN_SPEED);
    }

    /** @return the mean |second difference| of the unfolded track on one axis, NaN without three present frames */
    private static double meanAcceleration(ObjectTrack track, boolean alongX, int side) {
        int frames = track.frames();
        double[] lowOffsets = new double[frames];
        double[] highOffsets = new double[frames];
        int n = 0;
        for (int f = 0; f < frames; f++) {
            if (track.present[f]) {
                double c = alongX ? track.centreX[f] : track.centreY[f];
                lowOffsets[n] = c - (alongX ? track.left[f] : track.top[f]);
                highOffsets[n] = (alongX ? track.right[f] : track.bottom[f]) - c;
                n++;
            }
        }
        if (n < 3) {
            return Double.NaN;
        }
        double lo = Foreground.median(lowOffsets, n);
        double hi = side - Foreground.median(highOffsets, n);
        // The edges of small shapes (a triangle's thin apex) are uncertain by about a pixel: refine each wall
        // within WALL_SEARCH pixels to the position that unfolds the track straightest, one wall at a time.
        double[] best = {unfoldedAcceleration(track, alongX, lo, hi), lo, hi};
        for (int round = 0; round < 2; round++) {
            for (int wall = 0; wall < 2; wall++) {
                double centre = best[1 + wall];
                for (double delta = -WALL_SEARCH; delta <= WALL_SEARCH + 1e-9; delta += WALL_STEP) {
                    double l = wall == 0 ? centre + delta : best[1];
                    double h = wall == 1 ? centre + delta : best[2];
                    double a = unfoldedAcceleration(track, alongX, l, h);
                    if (a < best[0]) {
                        best = new double[] {a, l, h};
                    }
                }
            }
        }
        return best[0];
    }

    /** @return the mean |second difference| of the track unfolded about walls lo and hi, NaN without any */
    private static double unfoldedAcceleration(ObjectTrack track, boolean alongX, double lo, double hi) {
        int frames = track.frames();
        double period = 2 * (hi - lo);
        double sum = 0;
        int count = 0;
        double[] u = new double[frames];
        for (int f = 0; f < frames; f++) {
            if (!track.present[f]) {
                continue;
            }
            double raw = alongX ? track.centreX[f] : track.centreY[f];
            boolean prev1 = f >= 1 && track.present[f - 1];
            boolean prev2 = f >= 2 && track.present[f - 2] && prev1;
            if (!prev1 || !(period > 0)) {
                u[f] = raw;
                continue;
            }
            double predicted = prev2 ? 2 * u[f - 1] - u[f - 2] : u[f - 1];
            u[f] = nearestImage(raw, lo, period, predicted);
            if (prev2) {
                sum += Math.abs(u[f] - 2 * u[f - 1] + u[f - 2]);
                count++;
            }
        }
        return count == 0 ? Double.NaN : sum / count;
    }

    /** @return the image of p under reflections about lo and lo + period / 2 that is nearest to target */
    private static double nearestImage(double p, double lo, double period, double target) {
        double best = p;
        for (double base : new double[] {p, 2 * lo - p}) {
            double k = Math.rint((target - base) / period);
            double candidate = base + k * period;
            if (Math.abs(candidate - target) < Math.abs(best - target)) {
                best = candidate;
            }
        }
        return best;
    }
}

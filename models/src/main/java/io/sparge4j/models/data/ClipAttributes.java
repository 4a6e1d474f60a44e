package io.sparge4j.models.data;

/**
 * Everything that decides a clip: with its {@link ClipSpec}'s geometry these attributes render the same pixels
 * every time ({@link ClipRenderer}).
 *
 * @param shape the object's shape
 * @param colour the object's colour
 * @param direction the direction of motion at the first frame
 * @param startX the object's centre at frame 0, in pixels from the left edge (pixel x covers [x, x + 1))
 * @param startY the object's centre at frame 0, in pixels from the top edge
 * @param speed pixels per frame, along the direction
 * @param size the half-extent in pixels: the object fits a square of side {@code 2 * size} around its centre
 * @param background the static background
 */
public record ClipAttributes(ShapeKind shape, ShapeColour colour, Direction direction, double startX, double startY,
                             double speed, double size, Background background) {
    public ClipAttributes {
        if (shape == null || colour == null || direction == null || background == null) {
            throw new IllegalArgumentException("shape, colour, direction and background must be given, got " + shape
                    + ", " + colour + ", " + direction + ", " + background);
        }
        if (!(speed > 0) || !Double.isFinite(speed)) {
            throw new IllegalArgumentException("speed is " + speed + ", expected a finite number of pixels per frame > 0");
        }
        if (!(size > 0) || !Double.isFinite(size)) {
            throw new IllegalArgumentException("size is " + size + ", expected a finite half-extent in pixels > 0");
        }
    }

    /**
     * The object's centre in each frame: a steady velocity, reflected whenever the object's edge would leave the
     * frame (it bounces off the edges, keeping its speed).
     *
     * @param frames frame count
     * @param height rows
     * @param width columns
     * @return {@code [frames][2]} centres (x, y)
     * @throws IllegalArgumentException if the object does not fit the frame, or starts outside its range
     */
    public double[][] centres(int frames, int height, int width) {
        double loX = size;
        double hiX = width - size;
        double loY = size;
        double hiY = height - size;
        if (hiX - loX < speed || hiY - loY < speed) {
            throw new IllegalArgumentException("size " + size + " and speed " + speed + " do not fit a " + width + "x"
                    + height + " frame, expected 2 * size + speed <= min(width, height)");
        }
        if (startX < loX || startX > hiX || startY < loY || startY > hiY) {
            throw new IllegalArgumentException("start (" + startX + ", " + startY + ") is outside [" + loX + ", " + hiX
                    + "] x [" + loY + ", " + hiY + "], expected the object inside the frame");
        }
        double[][] out = new double[frames][2];
        double x = startX;
        double y = startY;
        double vx = speed * direction.unitX();
        double vy = speed * direction.unitY();
        for (int f = 0; f < frames; f++) {
            out[f][0] = x;
            out[f][1] = y;
            x += vx;
            if (x > hiX) {
                x = 2 * hiX - x;
                vx = -vx;
            } else if (x < loX) {
                x = 2 * loX - x;
                vx = -vx;
            }
            y += vy;
            if (y > hiY) {
                y = 2 * hiY - y;
                vy = -vy;
            } else if (y < loY) {
                y = 2 * loY - y;
                vy = -vy;
            }
        }
        return out;
    }

    /**
     * @param frames frame count
     * @param height rows
     * @param width columns
     * @return the first step (0-based: the step from frame k to k + 1) in which the object bounces, or
     *     {@code frames - 1} when it never does
     */
    public int firstBounceStep(int frames, int height, int width) {
        double[][] c = centres(frames, height, width);
        double vx = speed * direction.unitX();
        double vy = speed * direction.unitY();
        for (int k = 0; k + 1 < frames; k++) {
            double ex = c[k][0] + vx;
            double ey = c[k][1] + vy;
            if (Math.abs(c[k + 1][0] - ex) > 1e-9 || Math.abs(c[k + 1][1] - ey) > 1e-9) {
                return k;
            }
        }
        return frames - 1;
    }
}

package io.sparge4j.models.data;

/**
 * The eight directions of motion. Image coordinates: x grows to the right, y grows downwards, so "up" is -y.
 * Diagonals move at the same speed as the others ({@code speed / sqrt 2} on each axis).
 */
public enum Direction {
    LEFT(-1, 0),
    RIGHT(1, 0),
    UP(0, -1),
    DOWN(0, 1),
    UP_LEFT(-1, -1),
    UP_RIGHT(1, -1),
    DOWN_LEFT(-1, 1),
    DOWN_RIGHT(1, 1);

    private final int signX;
    private final int signY;

    Direction(int signX, int signY) {
        this.signX = signX;
        this.signY = signY;
    }

    /** @return -1, 0 or 1: the sign of the x velocity */
    public int signX() {
        return signX;
    }

    /** @return -1, 0 or 1: the sign of the y velocity (1 is downwards) */
    public int signY() {
        return signY;
    }

    /** @return the x component of the unit velocity */
    public double unitX() {
        return signY == 0 ? signX : signX / Math.sqrt(2);
    }

    /** @return the y component of the unit velocity */
    public double unitY() {
        return signX == 0 ? signY : signY / Math.sqrt(2);
    }

    /** @return the caption words, for example "up and left" or "right" */
    public String words() {
        String vertical = signY < 0 ? "up" : signY > 0 ? "down" : null;
        String horizontal = signX < 0 ? "left" : signX > 0 ? "right" : null;
        if (vertical == null) {
            return horizontal;
        }
        return horizontal == null ? vertical : vertical + " and " + horizontal;
    }

    /**
     * @param signX -1, 0 or 1
     * @param signY -1, 0 or 1 (1 is downwards)
     * @return the direction with these signs
     * @throws IllegalArgumentException for (0, 0) or a value outside -1..1
     */
    public static Direction of(int signX, int signY) {
        for (Direction d : values()) {
            if (d.signX == signX && d.signY == signY) {
                return d;
            }
        }
        throw new IllegalArgumentException("signs (" + signX + ", " + signY + ") name no direction, expected each"
                + " of -1, 0, 1 and not both 0");
    }

    /**
     * The direction nearest to a velocity: the one of eight 45-degree sectors its angle falls in.
     *
     * @param vx x velocity
     * @param vy y velocity (positive is downwards)
     * @return the nearest direction
     * @throws IllegalArgumentException for a zero or non-finite velocity
     */
    public static Direction nearest(double vx, double vy) {
        if (!Double.isFinite(vx) || !Double.isFinite(vy) || (vx == 0 && vy == 0)) {
            throw new IllegalArgumentException("velocity (" + vx + ", " + vy + ") has no direction, expected a"
                    + " finite non-zero vector");
        }
        double angle = Math.atan2(vy, vx);
        long sector = Math.round(angle / (Math.PI / 4)); // -4..4, 0 = right, 2 = down
        int sx = (int) Math.round(Math.cos(sector * Math.PI / 4));
        int sy = (int) Math.round(Math.sin(sector * Math.PI / 4));
        return of(sx, sy);
    }
}

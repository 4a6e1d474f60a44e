package io.sparge4j.models.data;

/**
 * The shapes a procedural clip can hold. Each fits a square of side {@code 2 * size} around its centre, so the
 * fill ratio of its bounding box tells them apart: about 0.785 for the circle, 1 for the square and 0.5 for the
 * triangle.
 */
public enum ShapeKind {
    CIRCLE("circle"),
    SQUARE("square"),
    TRIANGLE("triangle");

    private final String word;

    ShapeKind(String word) {
        this.word = word;
    }

    /** @return the caption word, lower case */
    public String word() {
        return word;
    }

    /** @return the fill ratio of the shape's bounding box: its area over {@code (2 size)^2} */
    public double boxFill() {
        return switch (this) {
            case CIRCLE -> Math.PI / 4;
            case SQUARE -> 1.0;
            case TRIANGLE -> 0.5;
        };
    }

    /**
     * Whether a point lies inside the shape.
     *
     * @param dx the point's x minus the centre's x, in pixels
     * @param dy the point's y minus the centre's y, in pixels (y grows downwards)
     * @param size the half-extent: radius, half side, or half the triangle's base and height
     * @return true inside or on the boundary
     */
    public boolean contains(double dx, double dy, double size) {
        return switch (this) {
            case CIRCLE -> dx * dx + dy * dy <= size * size;
            case SQUARE -> Math.abs(dx) <= size && Math.abs(dy) <= size;
            // Apex at the top centre, base along the bottom edge: the half-width grows from 0 to size.
            case TRIANGLE -> dy >= -size && dy <= size && Math.abs(dx) <= (dy + size) / 2;
        };
    }
}

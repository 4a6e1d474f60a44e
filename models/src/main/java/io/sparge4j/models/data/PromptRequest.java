package io.sparge4j.models.data;

import java.util.Optional;

/**
 * What a prompt asks for; each part is empty when the prompt does not name it.
 *
 * @param shape the requested shape
 * @param colour the requested colour
 * @param direction the requested direction of motion
 * @param background the requested background
 */
public record PromptRequest(Optional<ShapeKind> shape, Optional<ShapeColour> colour, Optional<Direction> direction,
                            Optional<BackgroundKind> background) {
    /** A request that names nothing. */
    public static final PromptRequest NONE = new PromptRequest(Optional.empty(), Optional.empty(), Optional.empty(),
            Optional.empty());

    public PromptRequest {
        if (shape == null || colour == null || direction == null || background == null) {
            throw new IllegalArgumentException("PromptRequest parts must be Optional, not null; got " + shape + ", "
                    + colour + ", " + direction + ", " + background);
        }
    }

    /** @return a request for exactly these (each may be null for "any") */
    public static PromptRequest of(ShapeKind shape, ShapeColour colour, Direction direction, BackgroundKind background) {
        return new PromptRequest(Optional.ofNullable(shape), Optional.ofNullable(colour),
                Optional.ofNullable(direction), Optional.ofNullable(background));
    }
}

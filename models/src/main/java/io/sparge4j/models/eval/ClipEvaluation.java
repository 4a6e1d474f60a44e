package io.sparge4j.models.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.models.data.Direction;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.data.ShapeColour;
import io.sparge4j.models.data.ShapeKind;

import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * What {@link ClipEvaluator} measured on one clip. The {@code ...Correct} flags are true only when the prompt asked
 * for that attribute and the clip shows it; {@link #allCorrect()} holds when every requested attribute is shown.
 *
 * @param request what the prompt asked for
 * @param colour the object's colour (the nearest named one), empty when no object was found
 * @param shape the majority shape over the frames, empty when no object was found
 * @param direction the starting direction of motion, empty when the object was not found or did not move
 * @param colourCorrect the prompt names a colour and the object has it
 * @param shapeCorrect the prompt names a shape and the object has it
 * @param directionCorrect the prompt names a direction and the object starts moving that way
 * @param objectPresence the fraction of frames in which an object was found, in [0, 1]
 * @param shapeFill the mean fill ratio (about 1 square, 0.785 circle, 0.5 triangle), 0 without an object
 * @param shapeSkewness the mean skewness of the object's coverage (about 0.57 triangle, 0 circle and square)
 * @param colourDistance the RGB distance (clip units) between the object's colour and the named colour found
 * @param speed the object's median speed in pixels per frame
 * @param accelerationRatio mean |second difference| of the centroid over the speed, away from walls (0 = steady)
 * @param smoothness {@code 1 / (1 + accelerationRatio)}, in [0, 1], 1 for a perfectly steady motion
 * @param edgeSharpness mean gradient magnitude on the object's boundary over its contrast with the background
 * @param backgroundNoise the standard deviation over time of background pixels (clip units), 0 for a static one
 * @param contrast the median over frames of the largest RGB distance from the background (clip units)
 */
public record ClipEvaluation(PromptRequest request, Optional<ShapeColour> colour, Optional<ShapeKind> shape,
                             Optional<Direction> direction, boolean colourCorrect, boolean shapeCorrect,
                             boolean directionCorrect, double objectPresence, double shapeFill, double shapeSkewness,
                             double colourDistance,
                             double speed, double accelerationRatio, double smoothness, double edgeSharpness,
                             double backgroundNoise, double contrast) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** @return true when every attribute the prompt asked for (colour, shape, direction) is shown */
    public boolean allCorrect() {
        return (request.colour().isEmpty() || colourCorrect) && (request.shape().isEmpty() || shapeCorrect)
                && (request.direction().isEmpty() || directionCorrect);
    }

    /**
     * @return an insertion-ordered map of JSON values: strings for attributes (null when not found), booleans for
     *     the checks (null when the prompt did not ask), numbers for scores (null when not finite)
     */
    public Map<String, Object> toJsonMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("requested_colour", request.colour().map(ShapeColour::word).orElse(null));
        m.put("requested_shape", request.shape().map(ShapeKind::word).orElse(null));
        m.put("requested_direction", request.direction().map(Direction::words).orElse(null));
        m.put("colour", colour.map(ShapeColour::word).orElse(null));
        m.put("shape", shape.map(ShapeKind::word).orElse(null));
        m.put("direction", direction.map(Direction::words).orElse(null));
        m.put("colour_correct", request.colour().isPresent() ? colourCorrect : null);
        m.put("shape_correct", request.shape().isPresent() ? shapeCorrect : null);
        m.put("direction_correct", request.direction().isPresent() ? directionCorrect : null);
        m.put("all_correct", allCorrect());
        m.put("object_presence", finite(objectPresence));
        m.put("shape_fill", finite(shapeFill));
        m.put("shape_skewness", finite(shapeSkewness));
        m.put("colour_distance", finite(colourDistance));
        m.put("speed", finite(speed));
        m.put("acceleration_ratio", finite(accelerationRatio));
        m.put("smoothness", finite(smoothness));
        m.put("edge_sharpness", finite(edgeSharpness));
        m.put("background_noise", finite(backgroundNoise));
        m.put("contrast", finite(contrast));
        return m;
    }

    /** @return {@link #toJsonMap()} as one line of JSON */
    public String toJson() {
        try {
            return JSON.writeValueAsString(toJsonMap());
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException("could not write an evaluation as JSON: " + e.getMessage(), e);
        }
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "colour %s%s, shape %s%s, direction %s%s, smoothness %.3f, sharpness %.3f,"
                        + " background noise %.4f", colour.map(ShapeColour::word).orElse("-"), mark(request.colour(), colourCorrect),
                shape.map(ShapeKind::word).orElse("-"), mark(request.shape(), shapeCorrect),
                direction.map(Direction::words).orElse("-"), mark(request.direction(), directionCorrect), smoothness,
                edgeSharpness, backgroundNoise);
    }

    private static String mark(Optional<?> requested, boolean correct) {
        return requested.isEmpty() ? "" : correct ? " (ok)" : " (wanted " + requested.get() + ")";
    }
}

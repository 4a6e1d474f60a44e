package io.sparge4j.cli;

import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.PromptRequest;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.util.Locale;

/**
 * {@code --clip-speed}, {@code --clip-start}, {@code --clip-start-spread} and {@code --clip-size}: the procedural
 * clips' motion and object sizes, for training and probes; and {@code --clip-fixed}, attributes every clip has.
 */
final class ClipMotionFlags {
    @Option(names = "--clip-speed", paramLabel = "MIN,MAX",
            description = "The objects' speeds, in their own widths a frame (default 0.2,0.5). Slower objects bounce"
                    + " less, so more of each clip moves the captioned way.")
    String clipSpeed;

    @Option(names = "--clip-start", paramLabel = "centre|trailing",
            description = "Where objects start: around the frame's centre (default), or trailing: at the edge they move"
                    + " away from, so that a slow object (e.g. --clip-speed 0.13,0.2 --clip-start-spread 0.1) crosses"
                    + " the frame the captioned way without bouncing.")
    String clipStart;

    @Option(names = "--clip-start-spread", paramLabel = "S",
            description = "How far from that place objects may start, as a fraction of the room: 1 anywhere"
                    + " (default), 0.25 near the centre (or near the trailing edge).")
    Double clipStartSpread;

    @Option(names = "--clip-size", paramLabel = "MIN,MAX",
            description = "The objects' half-extents (radius, half side) as fractions of the frame's shorter side"
                    + " (default 0.1,0.16: 6 to 10 pixels wide at 32), at most 0.2 (the background must show around"
                    + " them). Larger objects make a shape's corners more of each frame; speeds stay in object widths.")
    String clipSize;

    @Option(names = "--clip-fixed", paramLabel = "WORDS",
            description = "Attributes every clip has, in caption words, e.g. \"a red circle\": the others are drawn"
                    + " (default: all drawn). With colour and shape fixed the direction is the only word that varies.")
    String clipFixed;

    /**
     * @param spec the command, for the error
     * @return the attributes --clip-fixed names, or {@link PromptRequest#NONE}
     * @throws ParameterException when the words name no attribute
     */
    PromptRequest fixed(CommandSpec spec) {
        PromptRequest r = fixed(clipFixed);
        TrainingFlags.check(spec, clipFixed == null || !r.equals(PromptRequest.NONE), "--clip-fixed",
                "'" + clipFixed + "'", "caption words naming a colour, shape, direction or background, e.g. 'a red"
                + " circle'");
        return r;
    }

    /**
     * @param words --clip-fixed's words as run.json keeps them, or null
     * @return the attributes they name, {@link PromptRequest#NONE} for null
     */
    static PromptRequest fixed(String words) {
        return words == null ? PromptRequest.NONE : Captions.parse(words);
    }

    /**
     * @param spec the command, for the error
     * @return the clips' motion, defaults where a flag is absent
     * @throws ParameterException naming the flag and its value when one is out of range
     */
    ClipMotion motion(CommandSpec spec) {
        ClipMotion motion = speedsAndStart(spec);
        if (clipSize == null) {
            return motion;
        }
        try {
            return motion.withSizes(clipSize);
        } catch (IllegalArgumentException e) {
            throw TrainingFlags.invalid(spec, "--clip-size", "'" + clipSize + "'", "MIN,MAX half-extents as"
                    + " fractions of the shorter side with 0 < MIN <= MAX <= " + ClipMotion.MAX_SIZE
                    + ", e.g. 0.16,0.2");
        }
    }

    private ClipMotion speedsAndStart(CommandSpec spec) {
        double spread = clipStartSpread == null ? ClipMotion.DEFAULT.startSpread() : clipStartSpread;
        TrainingFlags.check(spec, spread > 0 && spread <= 1, "--clip-start-spread", spread, "a fraction in (0, 1]");
        String start = clipStart == null ? "centre" : clipStart.strip().toLowerCase(Locale.ROOT);
        if (!start.equals("centre") && !start.equals("trailing")) {
            throw TrainingFlags.invalid(spec, "--clip-start", "'" + clipStart + "'", "centre or trailing");
        }
        boolean trailing = start.equals("trailing");
        if (clipSpeed == null) {
            return new ClipMotion(ClipMotion.DEFAULT.minSpeed(), ClipMotion.DEFAULT.maxSpeed(), spread, trailing);
        }
        try {
            return ClipMotion.parse(clipSpeed, spread).withTrailingStart(trailing);
        } catch (IllegalArgumentException e) {
            throw TrainingFlags.invalid(spec, "--clip-speed", "'" + clipSpeed + "'", "MIN,MAX object widths a frame"
                    + " with 0 < MIN <= MAX <= 1, e.g. 0.15,0.3");
        }
    }
}

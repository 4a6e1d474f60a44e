import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.data.ShapeKind;
import io.sparge4j.models.eval.ClipEvaluation;
import io.sparge4j.models.eval.ClipEvaluator;
import io.sparge4j.models.pipeline.BundledModel;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.sampling.ClassifierFreeGuidance;
import io.sparge4j.models.sampling.FlowSchedule;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanTransformer;
import io.sparge4j.models.wan.WanTransformers;
import io.sparge4j.models.wan.WanWeights;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Issue 7's shape question, asked on the CPU: where is the shape lost? A training clip of each shape (the shipped
 * recipe's motion) is noised to level s, x_s = (1 - s) x0 + s noise, and denoised from there with its own caption
 * (Euler, by default on the eval's schedule: 20 steps, shift 5; guidance 5, dense); the evaluator then reads the
 * shape. s = 0 is the clip itself (the evaluator on real data), s = 1 a plain text-to-video sample from the clip's
 * noise. If the shape survives from low s but not from high s, the model draws shapes but does not choose them early.
 *
 * <p>Run from the checkout after {@code ./mvnw -q -DskipTests package}:
 * {@code java -cp 'models/target/lib/*:models/target/sparge4j-models-0.1.0-SNAPSHOT.jar'
 * --add-modules jdk.incubator.vector bench/tiny-demo/ShapeRestore.java MODEL CLIPS_PER_SHAPE LEVELS
 * [STEPS [SHIFT [SHAPES]]]} (MODEL a model directory or tiny-demo; LEVELS e.g. 0,0.3,0.5,0.7,0.9,1; STEPS 20 and
 * SHIFT 5, as the eval, by default; SHAPES e.g. square,triangle). Prints one line per shape and level: the shape read
 * correctly, the mean fill ratio (about 1 square, 0.785 circle, 0.5 triangle) and the mean skewness.
 */
public class ShapeRestore {
    private static final double GUIDANCE = 5.0;
    private static final long SEED = 77;

    public static void main(String[] args) throws Exception {
        Path dir = args[0].equals("tiny-demo") ? BundledModel.TINY_DEMO.extract() : Path.of(args[0]);
        int perShape = Integer.parseInt(args[1]);
        String[] levelText = args[2].split(",");
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        double shift = args.length > 4 ? Double.parseDouble(args[4]) : 5.0;
        String shapes = args.length > 5 ? args[5] : "circle,square,triangle";
        try (ModelDirectory m = ModelDirectory.load(dir, WanWeights.Precision.F32);
             Tensor empty = m.context("", "model");
             WanTransformer model = WanTransformers.open("cpu", GemmPrecision.F32, m.config(), m.weights(),
                     WanAttention.dense())) {
            ClipSpec spec = ClipSpec.of(16, 32, 32).withMotion(new ClipMotion(0.13, 0.2, 0.1).withTrailingStart(true));
            ClipGenerator data = new ClipGenerator(SEED, spec);
            FlowSchedule schedule = FlowSchedule.wan(steps, shift);
            ClipEvaluator evaluator = new ClipEvaluator();
            for (ShapeKind shape : ShapeKind.values()) {
                if (!shapes.contains(shape.word())) {
                    continue;
                }
                for (String lt : levelText) {
                    double s = Double.parseDouble(lt);
                    int correct = 0;
                    double fill = 0;
                    double skew = 0;
                    for (int c = 0; c < perShape; c++) {
                        Clip clip = data.clip(c, PromptRequest.of(shape, null, null, null));
                        try (Tensor x0 = clip.video();
                             Tensor context = m.context(clip.caption(), "model");
                             Tensor out = s == 0 ? Tensor.of(x0.toFloatArray(), x0.shape())
                                     : restore(model, context, empty, x0, s, schedule, SEED * 1000 + c)) {
                            ClipEvaluation e = evaluator.evaluate(out, clip.caption());
                            correct += e.shapeCorrect() ? 1 : 0;
                            fill += e.shapeFill();
                            skew += e.shapeSkewness();
                        }
                    }
                    System.out.printf(Locale.ROOT, "%s from %.2f: shape %d/%d, fill %.3f, skewness %.3f%n",
                            shape.word(), s, correct, perShape, fill / perShape, skew / perShape);
                }
            }
        }
    }

    /** Noises x0 to the schedule's first level at or below s, then runs the remaining Euler steps. */
    private static Tensor restore(WanTransformer model, Tensor context, Tensor empty, Tensor x0, double s,
            FlowSchedule schedule, long seed) {
        int first = 0;
        while (schedule.sigma(first) > s + 1e-12) {
            first++;
        }
        double sigma = schedule.sigma(first);
        float[] x = x0.toFloatArray();
        try (Tensor noise = Noise.gaussian(seed, x0.shape())) {
            float[] n = noise.toFloatArray();
            for (int j = 0; j < x.length; j++) {
                x[j] = (float) ((1 - sigma) * x[j] + sigma * n[j]);
            }
        }
        ClassifierFreeGuidance velocity = new ClassifierFreeGuidance(model::forward, context, empty, GUIDANCE);
        for (int i = first; i < schedule.steps(); i++) {
            float[] v;
            try (Tensor xt = Tensor.of(x, x0.shape()); Tensor vt = velocity.velocity(xt, schedule.timestep(i), i)) {
                v = vt.toFloatArray();
            }
            double dt = schedule.sigma(i + 1) - schedule.sigma(i);
            for (int j = 0; j < x.length; j++) {
                x[j] = (float) (x[j] + dt * v[j]);
            }
        }
        return Tensor.of(x, x0.shape());
    }
}

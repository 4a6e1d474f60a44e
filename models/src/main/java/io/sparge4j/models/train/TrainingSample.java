package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.sampling.Noise;

import java.util.SplittableRandom;

/**
 * One training example drawn from a micro-batch's seed: a procedural clip, its caption (or the empty prompt, for
 * classifier-free guidance), Gaussian noise and a noise level. Everything derives from the seed, so a resumed run
 * draws exactly what the uninterrupted one did.
 *
 * @param clip the clean clip; its video is x0 (3, F, H, W) in [-1, 1]
 * @param prompt the caption, or "" when dropped
 * @param noise standard normal, shaped like x0
 * @param level the noise level s in [0, 1)
 */
public record TrainingSample(Clip clip, String prompt, Tensor noise, double level) implements AutoCloseable {

    /**
     * @param data the clip source
     * @param seed the micro-batch's seed
     * @param captionDropout probability of the empty prompt, in [0, 1]
     * @param timestepShift Wan's timestep shift for drawing the level (1 = uniform)
     * @return the sample; the caller closes it
     */
    public static TrainingSample draw(ClipGenerator data, long seed, double captionDropout, double timestepShift) {
        return draw(data, seed, captionDropout, NoiseLevels.shifted(timestepShift));
    }

    /**
     * @param data the clip source
     * @param seed the micro-batch's seed
     * @param captionDropout probability of the empty prompt, in [0, 1]
     * @param levels how the noise level is drawn
     * @return the sample; the caller closes it
     */
    public static TrainingSample draw(ClipGenerator data, long seed, double captionDropout, NoiseLevels levels) {
        if (!(captionDropout >= 0 && captionDropout <= 1)) {
            throw new IllegalArgumentException("captionDropout is " + captionDropout + ", expected a probability in"
                    + " [0, 1]");
        }
        SplittableRandom random = new SplittableRandom(seed);
        long index = random.nextLong() >>> 1; // the unbounded stream's clip, independent of any other draw order
        boolean drop = random.nextDouble() < captionDropout;
        double level = levels.draw(random);
        long noiseSeed = random.nextLong();
        Clip clip = data.clip(index);
        Tensor noise = Noise.gaussian(noiseSeed, clip.video().shape());
        return new TrainingSample(clip, drop ? "" : clip.caption(), noise, level);
    }

    @Override
    public void close() {
        noise.close();
        clip.video().close();
    }
}

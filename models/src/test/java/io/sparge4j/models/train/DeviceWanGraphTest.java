package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceMeanSquaredError;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.ops.Shapes;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.TextModulation;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DeviceWanGraph} against the CPU's {@link WanGraph} (which {@code WanGraphGradientTest} checks against float64
 * finite differences) on a tiny pixel-space model: dim 64, one head of 64, 2 blocks, 3 channels, 4 frames of
 * 32 x 32 pixels = 1024 tokens (8 x 16 blocks of 128 x 64), on every OpenCL device (PoCL here; the emulator where
 * there is none: {@link DeviceTestSessions#openWholeModel});
 * CUDA is skipped with the reason where absent.
 *
 * <p>Tolerance: 1e-4 relative, meaning {@code max |device - cpu| <= 1e-4 * max |cpu|} per tensor (the velocity, every
 * parameter gradient, dContext, dInput): both sides round every op to f32, in different summation orders, through
 * two blocks forward and back; a wrong detail (a missing gradient term, a swapped modulation, RoPE not undone)
 * gives O(1). Hybrid attention is compared with the CPU's masks held fixed on the device (the device's own masks are
 * compared with the CPU's by sparsity). Checkpointing and accumulation are compared bit for bit. Training steps: see
 * {@link #trainingStepsGiveTheCpuLossSequence}.
 */
class DeviceWanGraphTest {
    private static final WanConfig CONFIG = WanConfig.tiny(64, 1, 2, 3, true);
    private static final double TOL = 1e-4;
    private static final double BF16_TOL = 3e-2;
    /** Loose enough that a 8 x 16 block grid keeps some key blocks and drops others. */
    private static final WanAttention HYBRID = WanAttention.defaults().withTopk(0.3).withTopp(0.5);

    private static GraphCase problem(long seed) {
        return GraphCase.of(CONFIG, 4, 32, 32, 9, seed);
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void denseForwardAndEveryGradientMatchTheCpu(String backend) {
        compareWithCpu(backend, WanAttention.dense(), 31);
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void hybridWithTheCpuMasksHeldFixedMatchesTheCpu(String backend) {
        compareWithCpu(backend, HYBRID, 32);
    }

    /**
     * Mixed precision (bf16 forward GEMMs and self-attention, f32 backward GEMMs): within 3e-2 of the f32 CPU, as
     * {@code DeviceWanModelTest} holds the bf16 forward (operands rounded to 8 mantissa bits). PoCL and CUDA only:
     * the emulator's tensor-core fallback is slow.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void bf16ForwardStaysCloseToTheCpuInEveryGradient(String backend) {
        compareWithCpu(backend, HYBRID, 37, GemmPrecision.BF16, BF16_TOL);
    }

    private static void compareWithCpu(String backend, WanAttention attention, long seed) {
        compareWithCpu(backend, attention, seed, GemmPrecision.F32, TOL);
    }

    private static void compareWithCpu(String backend, WanAttention attention, long seed, GemmPrecision precision,
            double tol) {
        try (GraphCase c = problem(seed); DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights())) {
            WanGraph cpu = new WanGraph(CONFIG, c.weights(), attention, false);
            DeviceWanGraph device = new DeviceWanGraph(store, attention, false, precision);
            Map<String, Tensor> cpuGrads = new LinkedHashMap<>();
            try (WanGraph.Tape ct = cpu.forward(c.x(), c.t(), c.context(), 0)) {
                cpu.backward(ct, c.r(), cpuGrads);
                List<BlockMask> masks = masks(ct);
                double[] sparsity = ct.layerSparsity();
                if (attention.mode() != io.sparge4j.engine.sparse.MaskMode.DENSE) {
                    assertTrue(sparsity[1] > 0.2 && sparsity[1] < 0.9, "hybrid should drop some blocks and keep "
                            + "others: sparsity " + sparsity[1]);
                }
                try (DeviceWanGraph.Tape dt = device.forward(c.x(), c.t(), c.context(), 0, masks)) {
                    assertArrayEquals(sparsity, dt.layerSparsity(), 0.0, "the masks held fixed");
                    assertClose("velocity", ct.velocity().toFloatArray(), dt.velocity().toFloatArray(), backend, tol);
                    device.backward(dt, c.r());
                    Map<String, Tensor> deviceGrads = store.downloadGrads();
                    try {
                        assertEquals(cpuGrads.keySet(), deviceGrads.keySet(), "every parameter gets a gradient");
                        for (String name : cpuGrads.keySet()) {
                            assertArrayEquals(cpuGrads.get(name).shape(), deviceGrads.get(name).shape(), name);
                            assertClose(name, cpuGrads.get(name).toFloatArray(), deviceGrads.get(name).toFloatArray(),
                                    backend, tol);
                        }
                    } finally {
                        deviceGrads.values().forEach(Tensor::close);
                    }
                    assertClose("dContext", ct.contextGradient().toFloatArray(),
                            dt.contextGradient().toFloatArray(), backend, tol);
                    assertArrayEquals(ct.contextGradient().shape(), dt.contextGradient().shape());
                    assertClose("dInput", ct.inputGradient().toFloatArray(), dt.inputGradient().toFloatArray(),
                            backend, tol);
                    report(backend + " " + attention.mode() + " " + precision + " velocity, " + cpuGrads.size()
                            + " gradients, dContext, dInput");
                }
            } finally {
                cpuGrads.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * A batch of three clips (each its own timestep, caption length and dVelocity) in one device pass against the CPU
     * graph run clip by clip: each clip's velocity, dContext and dInput are that clip's, every parameter gradient is
     * the sum of the three CPU gradients. Dense attention and hybrid (each clip choosing its own mask on the device,
     * which the CPU does not see; the velocities of a masked forward are compared by clip against the device
     * running that clip alone), also with a late Top-k that gives the clips different k. Tolerance as above.
     */
    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void aBatchOfClipsEqualsTheClipsOneByOne(String backend) {
        int batch = 3;
        GraphCase[] cases = new GraphCase[batch];
        for (int b = 0; b < batch; b++) {
            cases[b] = problem(40 + b);
        }
        Map<String, Tensor> weights = cases[0].weights();
        int rows = 7;   // the same caption length for the batch: contexts are one (B, L, text_dim) tensor
        try (TensorScope scope = new TensorScope();
             DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, weights)) {
            Tensor x = stack(scope, cases[0].x(), cases[1].x(), cases[2].x());
            Tensor r = stack(scope, cases[0].r(), cases[1].r(), cases[2].r());
            Tensor[] contexts = new Tensor[batch];
            double[] t = new double[batch];
            for (int b = 0; b < batch; b++) {
                contexts[b] = scope.own(cases[b].context().narrow(0, rows).copy());
                t[b] = cases[b].t();
            }
            Tensor context = stack(scope, contexts);
            WanGraph cpu = new WanGraph(CONFIG, weights, WanAttention.dense(), false);
            DeviceWanGraph device = new DeviceWanGraph(store, WanAttention.dense(), false);
            try (DeviceWanGraph.Tape dt = device.forward(x, t, context, 0)) {
                assertArrayEquals(new int[] {batch, CONFIG.outDim(), 4, 32, 32}, dt.velocity().shape());
                device.backward(dt, r);
                assertBatchMatchesCpu(backend, cpu, dt, store, cases, t, contexts);
            }
            // hybrid: each clip's own device mask; a clip's batched velocity equals that clip run alone
            DeviceWanGraph sparse = device.withAttention(HYBRID);
            try (DeviceWanGraph.Tape all = sparse.forward(x, t, context, 0)) {
                double[] sparsity = all.layerSparsity();
                assertTrue(sparsity[1] > 0.2 && sparsity[1] < 0.9, "hybrid drops some blocks: " + sparsity[1]);
                for (int b = 0; b < batch; b++) {
                    try (Tensor alone = sparse.predict(cases[b].x(), t[b], contexts[b], 0)) {
                        assertClose("hybrid clip " + b + " velocity", alone.toFloatArray(),
                                all.velocity().select(b).toFloatArray(), backend, TOL);
                    }
                }
            }
            // a late Top-k: the clips at or below the level keep more blocks; each batched clip equals that clip
            // run alone with the k of its noise level
            double[] sorted = t.clone();
            java.util.Arrays.sort(sorted);
            WanAttention late = HYBRID.withLateTopk(0.7, sorted[1] / 1000);
            DeviceWanGraph mixed = device.withAttention(late);
            try (DeviceWanGraph.Tape all = mixed.forward(x, t, context, 0)) {
                for (int b = 0; b < batch; b++) {
                    WanAttention own = late.at(t[b]);
                    assertEquals(t[b] <= sorted[1] ? 0.7 : HYBRID.topk(), own.topk(), "clip " + b + "'s k");
                    try (Tensor alone = device.withAttention(own).predict(cases[b].x(), t[b], contexts[b], 0)) {
                        assertClose("late-k clip " + b + " velocity", alone.toFloatArray(),
                                all.velocity().select(b).toFloatArray(), backend, TOL);
                    }
                }
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> device.forward(x, new double[] {500, 500}, context, 0));
            assertTrue(e.getMessage().contains("timesteps") && e.getMessage().contains("3"), e.getMessage());
            report(backend + " batch of " + batch + ": velocities, dContext, dInput by clip, summed gradients");
        } finally {
            for (GraphCase c : cases) {
                c.close();
            }
        }
    }

    /**
     * The experimental absolute position signal in a batch of two clips (the signal repeats per clip) against the
     * CPU graph clip by clip (assertBatchMatchesCpu). Dense attention; tolerance as above.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void sincosPositionInABatchMatchesTheCpu(String backend) {
        denseBatchOfTwoMatchesTheCpu(backend, CONFIG.withAbsolutePosition(AbsolutePosition.SINCOS), 50,
                "sincos position");
    }

    /**
     * The experimental pooled text modulation (with the position signal) in a batch of two clips with different
     * captions (each clip's e takes the mean of its own text rows, and its gradient goes back to those rows only)
     * against the CPU graph clip by clip (assertBatchMatchesCpu). Dense attention; tolerance as above.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void pooledTextModulationInABatchMatchesTheCpu(String backend) {
        denseBatchOfTwoMatchesTheCpu(backend, CONFIG.withAbsolutePosition(AbsolutePosition.SINCOS)
                .withTextModulation(TextModulation.POOLED), 52, "pooled text modulation");
    }

    /** Two random clips (seeds {@code seed} and {@code seed + 1}) of {@code config}, dense, forward and backward. */
    private static void denseBatchOfTwoMatchesTheCpu(String backend, WanConfig config, long seed, String what) {
        GraphCase[] cases = {GraphCase.of(config, 4, 32, 32, 9, seed), GraphCase.of(config, 4, 32, 32, 9, seed + 1)};
        Map<String, Tensor> weights = cases[0].weights();
        try (TensorScope scope = new TensorScope();
             DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanStore store = DeviceWanStore.upload(session, config, weights)) {
            Tensor x = stack(scope, cases[0].x(), cases[1].x());
            Tensor r = stack(scope, cases[0].r(), cases[1].r());
            Tensor context = stack(scope, cases[0].context(), cases[1].context());
            double[] t = {cases[0].t(), cases[1].t()};
            WanGraph cpu = new WanGraph(config, weights, WanAttention.dense(), false);
            DeviceWanGraph device = new DeviceWanGraph(store, WanAttention.dense(), false);
            try (DeviceWanGraph.Tape dt = device.forward(x, t, context, 0)) {
                device.backward(dt, r);
                assertBatchMatchesCpu(backend, cpu, dt, store, cases, t,
                        new Tensor[] {cases[0].context(), cases[1].context()});
            }
            report(backend + " " + what + ", batch of 2: velocities, dContext, dInput by clip, summed gradients");
        } finally {
            for (GraphCase c : cases) {
                c.close();
            }
        }
    }

    /**
     * A batched device pass (forward and backward done) against the CPU graph clip by clip: each clip's velocity,
     * dContext and dInput, and every parameter gradient against the sum of the clips' CPU gradients.
     */
    private static void assertBatchMatchesCpu(String backend, WanGraph cpu, DeviceWanGraph.Tape dt,
            DeviceWanStore store, GraphCase[] cases, double[] t, Tensor[] contexts) {
        Map<String, Tensor> cpuGrads = new LinkedHashMap<>();
        try {
            for (int b = 0; b < cases.length; b++) {
                try (WanGraph.Tape ct = cpu.forward(cases[b].x(), t[b], contexts[b], 0)) {
                    cpu.backward(ct, cases[b].r(), cpuGrads);
                    assertClose("clip " + b + " velocity", ct.velocity().toFloatArray(),
                            dt.velocity().select(b).toFloatArray(), backend, TOL);
                    assertClose("clip " + b + " dContext", ct.contextGradient().toFloatArray(),
                            dt.contextGradient().select(b).toFloatArray(), backend, TOL);
                    assertClose("clip " + b + " dInput", ct.inputGradient().toFloatArray(),
                            dt.inputGradient().select(b).toFloatArray(), backend, TOL);
                }
            }
            Map<String, Tensor> deviceGrads = store.downloadGrads();
            try {
                assertEquals(cpuGrads.keySet(), deviceGrads.keySet(), "every parameter gets a gradient");
                for (String name : cpuGrads.keySet()) {
                    assertClose("summed " + name, cpuGrads.get(name).toFloatArray(),
                            deviceGrads.get(name).toFloatArray(), backend, TOL);
                }
            } finally {
                deviceGrads.values().forEach(Tensor::close);
            }
        } finally {
            cpuGrads.values().forEach(Tensor::close);
        }
    }

    /** Tensors of one shape joined along a new first axis, owned by the scope. */
    private static Tensor stack(TensorScope scope, Tensor... parts) {
        int[] one = parts[0].shape();
        int[] shape = new int[one.length + 1];
        shape[0] = parts.length;
        System.arraycopy(one, 0, shape, 1, one.length);
        return scope.own(scope.own(Shapes.concat(0, parts)).reshape(shape));
    }

    /** The device's own masks (pooled on the device) against the CPU's: the same sparsity, the same blocks. */
    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl"})
    void devicePooledMasksHaveTheCpuSparsity(String backend) {
        try (GraphCase c = problem(33); DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights())) {
            WanGraph cpu = new WanGraph(CONFIG, c.weights(), HYBRID, false);
            DeviceWanGraph device = new DeviceWanGraph(store, HYBRID, false);
            try (WanGraph.Tape ct = cpu.forward(c.x(), c.t(), c.context(), 0);
                 DeviceWanGraph.Tape dt = device.forward(c.x(), c.t(), c.context(), 0)) {
                double[] want = ct.layerSparsity();
                double[] got = dt.layerSparsity();
                System.out.printf("DeviceWanGraphTest %s: layer sparsity CPU %s, device %s%n", backend,
                        java.util.Arrays.toString(want), java.util.Arrays.toString(got));
                assertArrayEquals(want, got, 1e-12, "per-layer sparsity");
                for (int i = 0; i < want.length; i++) {
                    BlockMask cm = ct.selections().get(i).mask();
                    BlockMask dm = dt.masks().get(i).toHost();
                    assertArrayEquals(cm.rowStart(), dm.rowStart(), "layer " + i + " mask rows");
                    assertArrayEquals(cm.rowBlocks(), dm.rowBlocks(), "layer " + i + " kept blocks");
                }
                assertClose("velocity", ct.velocity().toFloatArray(), dt.velocity().toFloatArray(), backend);
            }
        }
    }

    /**
     * Checkpointed blocks (recomputed with the forward's device mask) give the very same bits; so does predict; a
     * second backward adds into the first's gradients. PoCL and CUDA only: the emulator takes about a minute and a
     * half per forward and backward at this size, and runs the same kernels as the comparisons above.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void checkpointingAndAccumulationAreBitExact(String backend) {
        try (GraphCase c = problem(34); GraphCase other = problem(35);
             DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights())) {
            DeviceWanGraph stored = new DeviceWanGraph(store, HYBRID, false);
            Map<String, float[]> a = gradients(stored, c, store);
            Map<String, float[]> b = gradients(stored.withCheckpointBlocks(true), c, store);
            assertEquals(a.keySet(), b.keySet());
            a.forEach((name, g) -> assertArrayEquals(g, b.get(name), "checkpointed " + name));
            try (DeviceWanGraph.Tape t = stored.forward(c.x(), c.t(), c.context(), 0);
                 Tensor p = stored.predict(c.x(), c.t(), c.context(), 0)) {
                assertArrayEquals(t.velocity().toFloatArray(), p.toFloatArray(), "predict");
            }
            // accumulation: the second backward adds into the first's gradients (one f32 addition each)
            Map<String, float[]> second = gradients(stored, other, store);
            backward(stored, c);
            backward(stored, other);
            Map<String, Tensor> both = store.downloadGrads();
            try {
                for (String name : a.keySet()) {
                    float[] x = a.get(name);
                    float[] y = second.get(name);
                    float[] sum = both.get(name).toFloatArray();
                    for (int i = 0; i < sum.length; i++) {
                        assertEquals(x[i] + y[i], sum[i], 0f, name + "[" + i + "]");
                    }
                }
            } finally {
                both.values().forEach(Tensor::close);
                store.zeroGrads();
            }
        }
    }

    private static Map<String, float[]> gradients(DeviceWanGraph graph, GraphCase c, DeviceWanStore store) {
        store.zeroGrads();
        backward(graph, c);
        Map<String, float[]> out = new LinkedHashMap<>();
        Map<String, Tensor> g = store.downloadGrads();
        g.forEach((k, v) -> out.put(k, v.toFloatArray()));
        g.values().forEach(Tensor::close);
        store.zeroGrads();
        return out;
    }

    private static void backward(DeviceWanGraph graph, GraphCase c) {
        try (DeviceWanGraph.Tape t = graph.forward(c.x(), c.t(), c.context(), 0)) {
            graph.backward(t, c.r());
        }
    }

    private static final int STEPS = 4;
    private static final double LR = 2e-3;
    private static final double MAX_NORM = 0.5;
    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.999;
    private static final double EPS = 1e-8;
    private static final double WEIGHT_DECAY = 0.01;

    /**
     * Four flow-matching steps (hybrid attention, the CPU's masks held fixed on the device; a new input, timestep and
     * target each step; gradient clipping at 0.5, which binds; AdamW with weight decay and a warm-up learning rate):
     * the device (DeviceWanLoss, DeviceWanOptimizer) against the CPU's WanGraph with the loss, clipping and
     * {@code torch.optim.AdamW} written here in float64. The losses agree within 1e-4 relative: the same tolerance as
     * one forward, as the parameters after three steps differ by a few f32 roundings of lr-sized updates (the
     * steps' gradients agree within 1e-4, and AdamW's update {@code m / sqrt(v)} is bounded by about 1 per step).
     * PoCL and CUDA only (the emulator's kernels are the same; four steps would take it several minutes).
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void trainingStepsGiveTheCpuLossSequence(String backend) {
        try (GraphCase c = problem(36); DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights());
             DeviceWanOptimizer opt = new DeviceWanOptimizer(store, BETA1, BETA2, EPS, WEIGHT_DECAY)) {
            WanGraph cpu = new WanGraph(CONFIG, c.weights(), HYBRID, true);
            DeviceWanGraph device = new DeviceWanGraph(store, HYBRID, true);
            Map<String, double[]> p64 = new LinkedHashMap<>();
            Map<String, double[]> m64 = new LinkedHashMap<>();
            Map<String, double[]> v64 = new LinkedHashMap<>();
            c.weights().forEach((k, v) -> {
                p64.put(k, v.toDoubleArray());
                m64.put(k, new double[(int) v.numel()]);
                v64.put(k, new double[(int) v.numel()]);
            });
            float[] initial = c.weights().get("blocks.1.ffn.0.weight").toFloatArray();
            double[] cpuLoss = new double[STEPS];
            double[] deviceLoss = new double[STEPS];
            double[] cpuNorm = new double[STEPS];
            double[] deviceNorm = new double[STEPS];
            for (int step = 0; step < STEPS; step++) {
                double lr = LR * Math.min(1, (step + 1) / 2.0);   // warm-up over two steps
                long seed = 100 + step;
                try (Tensor x = Tensor.randn(seed, 3, 4, 32, 32);
                     Tensor target = Tensor.randn(seed + 50, 3, 4, 32, 32)) {
                    double t = 100 + 200 * step;
                    // CPU: forward, float64 loss, f32 gradient, backward, float64 clip and AdamW
                    Map<String, Tensor> grads = new LinkedHashMap<>();
                    List<BlockMask> masks;
                    try (WanGraph.Tape tape = cpu.forward(x, t, c.context(), 0)) {
                        masks = masks(tape);
                        float[] v = tape.velocity().toFloatArray();
                        float[] y = target.toFloatArray();
                        float[] dv = new float[v.length];
                        double sum = 0;
                        for (int i = 0; i < v.length; i++) {
                            double d = (double) v[i] - y[i];
                            sum += d * d;
                            dv[i] = (float) (2.0 / v.length * d);
                        }
                        cpuLoss[step] = sum / v.length;
                        try (Tensor dV = Tensor.of(dv, tape.velocity().shape())) {
                            cpu.backward(tape, dV, grads);
                        }
                    }
                    cpuNorm[step] = clipAndStep(grads, c.weights(), p64, m64, v64, lr, step + 1);
                    grads.values().forEach(Tensor::close);
                    // device: the same step, reading back the loss and the norm only
                    try (DeviceWanGraph.Tape tape = device.forward(x, t, c.context(), 0, masks);
                         DeviceTensor y = device.tokens(target);
                         DeviceMeanSquaredError.Result loss = DeviceWanLoss.mse(tape, y)) {
                        device.backward(tape, loss.grad());
                        deviceNorm[step] = opt.clipGradNorm(MAX_NORM, true);
                        opt.step(lr);
                        store.zeroGrads();
                        deviceLoss[step] = loss.lossValue();
                    }
                }
            }
            System.out.printf("DeviceWanGraphTest %s training: CPU losses %s norms %s; device losses %s norms %s%n",
                    backend, java.util.Arrays.toString(cpuLoss), java.util.Arrays.toString(cpuNorm),
                    java.util.Arrays.toString(deviceLoss), java.util.Arrays.toString(deviceNorm));
            assertTrue(cpuNorm[0] > MAX_NORM, "clipping should bind: norm " + cpuNorm[0]);
            for (int s = 0; s < STEPS; s++) {
                assertEquals(cpuLoss[s], deviceLoss[s], TOL * cpuLoss[s], "loss at step " + s);
                assertEquals(cpuNorm[s], deviceNorm[s], TOL * cpuNorm[s], "gradient norm at step " + s);
            }
            // the parameters moved, and the device's equal the float64 reference's
            Map<String, Tensor> after = store.download();
            try {
                for (String name : p64.keySet()) {
                    assertClose("parameter " + name, toFloat(p64.get(name)), after.get(name).toFloatArray(), backend);
                }
                assertTrue(maxAbsDiff(initial, after.get("blocks.1.ffn.0.weight").toFloatArray()) > 1e-4,
                        "the steps moved the parameters");
            } finally {
                after.values().forEach(Tensor::close);
            }
            report(backend + " parameters after " + STEPS + " steps");
            Map<String, Tensor> state = opt.downloadState();
            assertEquals(2 * p64.size(), state.size(), "exp_avg and exp_avg_sq per parameter");
            state.values().forEach(Tensor::close);
        }
    }

    /**
     * {@code clip_grad_norm_} then {@code torch.optim.AdamW} in float64 over every parameter; the f32 parameters the
     * CPU graph reads are set to the float64 values rounded. @return the norm before clipping
     */
    private static double clipAndStep(Map<String, Tensor> grads, Map<String, Tensor> params, Map<String, double[]> p64,
            Map<String, double[]> m64, Map<String, double[]> v64, double lr, int step) {
        double sq = 0;
        for (Tensor g : grads.values()) {
            for (double d : g.toDoubleArray()) {
                sq += d * d;
            }
        }
        double norm = Math.sqrt(sq);
        double coef = Math.min(1, MAX_NORM / (norm + 1e-6));
        double bc1 = 1 - Math.pow(BETA1, step);
        double bc2 = 1 - Math.pow(BETA2, step);
        for (String name : p64.keySet()) {
            double[] p = p64.get(name);
            double[] m = m64.get(name);
            double[] v = v64.get(name);
            double[] g = grads.get(name).toDoubleArray();
            for (int i = 0; i < p.length; i++) {
                double gi = g[i] * coef;
                p[i] *= 1 - lr * WEIGHT_DECAY;
                m[i] = BETA1 * m[i] + (1 - BETA1) * gi;
                v[i] = BETA2 * v[i] + (1 - BETA2) * gi * gi;
                p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + EPS);
            }
            params.get(name).copyFrom(toFloat(p));
        }
        return norm;
    }

    @Test
    void refusesWhatTheDeviceKernelsCannotRun() {
        try (DeviceSession session = DeviceSession.open("emulator")) {
            WanConfig small = WanConfig.tiny(64, 2, 1, 3, true);   // head dim 32
            try (GraphCase c = GraphCase.of(small, 1, 8, 8, 2, 1);
                 DeviceWanStore store = DeviceWanStore.upload(session, small, c.weights())) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> new DeviceWanGraph(store, WanAttention.dense(), false));
                assertTrue(e.getMessage().contains("head dim") && e.getMessage().contains("32"), e.getMessage());
            }
            try (GraphCase c = GraphCase.of(CONFIG, 1, 8, 8, 2, 2);
                 DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights())) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> new DeviceWanGraph(store, HYBRID.withBlocks(64, 64), false));
                assertTrue(e.getMessage().contains("64 x 64") && e.getMessage().contains("128 x 64"), e.getMessage());
                // f16 is for inference: training would need loss scaling
                e = assertThrows(IllegalArgumentException.class,
                        () -> new DeviceWanGraph(store, WanAttention.dense(), false, GemmPrecision.F16));
                assertTrue(e.getMessage().contains("precision is F16, expected F32 or BF16"), e.getMessage());
                DeviceWanGraph graph = new DeviceWanGraph(store, WanAttention.dense(), false);
                try (DeviceWanGraph.Tape tape = graph.forward(c.x(), c.t(), c.context(), 0);
                     Tensor wrong = Tensor.zeros(3, 1, 8, 4)) {
                    assertThrows(IllegalStateException.class, tape::contextGradient);
                    e = assertThrows(IllegalArgumentException.class, () -> graph.backward(tape, wrong));
                    assertTrue(e.getMessage().contains("dVelocity"), e.getMessage());
                    graph.backward(tape, c.r());
                    assertThrows(IllegalStateException.class, () -> graph.backward(tape, c.r()));
                }
                store.zeroGrads();
            }
        }
    }

    private static List<BlockMask> masks(WanGraph.Tape tape) {
        List<BlockMask> out = new ArrayList<>();
        for (SparseAttention.Selection s : tape.selections()) {
            out.add(s.mask());
        }
        return out;
    }

    /** The largest relative difference seen by {@link #assertClose} since the last report. */
    private static double worst;

    private static void report(String what) {
        System.out.printf("DeviceWanGraphTest %s: largest max|diff| / max|cpu| over every compared tensor %.2e%n", what,
                worst);
        worst = 0;
    }

    private static void assertClose(String what, float[] expected, float[] actual, String backend) {
        assertClose(what, expected, actual, backend, TOL);
    }

    private static void assertClose(String what, float[] expected, float[] actual, String backend, double tolerance) {
        assertEquals(expected.length, actual.length, what + " length");
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            diff = Math.max(diff, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(scale > 0, what + ": the CPU's values are all zero");
        worst = Math.max(worst, diff / scale);
        assertTrue(diff <= tolerance * scale, backend + " " + what + ": max |diff| " + diff + " > " + tolerance
                + " * max |cpu| "
                + scale + " (" + diff / scale + " relative)");
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

}

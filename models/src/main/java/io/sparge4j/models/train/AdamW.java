package io.sparge4j.models.train;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.vec.AdamWCoefficients;
import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW on the CPU over a map of f32 parameters, updated in place, with PyTorch's semantics
 * ({@code torch.optim.AdamW}, not amsgrad, not maximize) and the same arithmetic as the GPU's
 * {@link AdamWKernels#adamW} (so a CPU and a device run agree): per element, in f32,
 * <pre>
 *   m = fma(beta1, m, (1 - beta1) g)
 *   v = fma(beta2, v, (1 - beta2) g g)
 *   p = p (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
 * </pre>
 * where t counts the steps taken (from 1) and the per-step scalars are computed in float64 and rounded once by
 * {@link AdamWKernels#hyperparameters}. Parameters that {@link AdamWConfig#decays} excludes use wd = 0; those that
 * {@link AdamWConfig#lrScale(String)} scales use {@code lr * lrScale}.
 *
 * <p>The state is one f32 {@code exp_avg} and {@code exp_avg_sq} per parameter (zero at the start, as in PyTorch)
 * and the step count. Work is split into fixed chunks of elements run on {@link CpuRuntime}'s threads; each
 * element's update depends on nothing else, so results are identical for any thread count.
 */
public final class AdamW {
    /** Suffix of the first-moment entries in {@link #state()}, as PyTorch names the state. */
    public static final String EXP_AVG = ".exp_avg";
    /** Suffix of the second-moment entries in {@link #state()}. */
    public static final String EXP_AVG_SQ = ".exp_avg_sq";

    private static final FloatKernels KERNELS = FloatKernels.preferred();
    /** Elements per parallel work item. */
    private static final int CHUNK = 16384;

    private final AdamWConfig config;
    private final List<Slot> slots = new ArrayList<>();
    private final List<long[]> chunks = new ArrayList<>();   // {slot index, from, length}
    private long steps;

    /** One parameter with its moments. */
    private record Slot(String name, Tensor param, Tensor expAvg, Tensor expAvgSq, int group) {
    }

    /**
     * @param config hyperparameters and the weight-decay rule
     * @param parameters f32 contiguous parameters by name; the optimizer keeps these tensors and updates them in
     *     place at each {@link #step}
     * @throws IllegalArgumentException naming a parameter that is null, not f32 or a view
     */
    public AdamW(AdamWConfig config, Map<String, Tensor> parameters) {
        if (config == null) {
            throw new IllegalArgumentException("AdamW: config is null, expected an AdamWConfig");
        }
        if (parameters == null || parameters.isEmpty()) {
            throw new IllegalArgumentException("AdamW: parameters is " + (parameters == null ? "null" : "empty")
                    + ", expected at least one parameter");
        }
        this.config = config;
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            String name = e.getKey();
            Tensor p = e.getValue();
            requireF32("AdamW", "parameter", name, p);
            slots.add(new Slot(name, p, Tensor.allocate(DType.F32, p.shape()), Tensor.allocate(DType.F32, p.shape()),
                    config.group(name, p)));
        }
        for (int s = 0; s < slots.size(); s++) {
            long n = slots.get(s).param.numel();
            for (long from = 0; from < n; from += CHUNK) {
                chunks.add(new long[] {s, from, Math.min(CHUNK, n - from)});
            }
        }
    }

    /** @return the hyperparameters */
    public AdamWConfig config() {
        return config;
    }

    /** @return the number of steps taken (PyTorch's {@code state['step']}) */
    public long steps() {
        return steps;
    }

    /**
     * @param name a parameter's name
     * @return whether weight decay applies to it
     * @throws IllegalArgumentException if the optimizer has no such parameter
     */
    public boolean decays(String name) {
        return AdamWConfig.groupDecays(slot("decays", name).group);
    }

    /**
     * One AdamW step on every parameter.
     *
     * @param gradients f32 gradients with exactly the parameters' names and shapes (read, not changed)
     * @param lr this step's learning rate, finite and at least 0
     * @throws IllegalArgumentException naming a missing, extra or mis-shaped gradient, or a bad lr
     */
    public void step(Map<String, Tensor> gradients, double lr) {
        requireMatching("AdamW.step", "gradients", gradients);
        long t = steps + 1;
        FloatArray[] hyper = config.hyperparameters(lr, t);   // validates lr with the kernels' own messages
        MemorySegment[] grads = new MemorySegment[slots.size()];
        for (int s = 0; s < slots.size(); s++) {
            grads[s] = gradients.get(slots.get(s).name).segment();
        }
        CpuRuntime.parallelForRange(chunks.size(), 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long[] chunk = chunks.get(c);
                Slot slot = slots.get((int) chunk[0]);
                update(slot.param.segment(), slot.expAvg.segment(), slot.expAvgSq.segment(), grads[(int) chunk[0]],
                        hyper[slot.group], chunk[1], (int) chunk[2]);
            }
        });
        steps = t;
    }

    /**
     * The kernel's update over elements [from, from + len) of f32 parameters {@code p} with moments {@code m},
     * {@code v} and gradient {@code g}, in place; shared with {@link ShardedAdamW} so that both do the same
     * arithmetic.
     */
    static void update(MemorySegment p, MemorySegment m, MemorySegment v, MemorySegment g, FloatArray hyper,
            long from, int len) {
        // vectorised (FloatKernels): the per-element MemorySegment accesses of a plain loop here took most of a
        // 32-clip GPU training step's host time (JFR, BENCHMARKS.md session 8); the same bits either way
        KERNELS.adamW(p, m, v, g, from, len, new AdamWCoefficients(hyper.get(AdamWKernels.DECAY),
                hyper.get(AdamWKernels.BETA1), hyper.get(AdamWKernels.BETA2), hyper.get(AdamWKernels.ONE_MINUS_BETA1),
                hyper.get(AdamWKernels.ONE_MINUS_BETA2), hyper.get(AdamWKernels.EPS),
                hyper.get(AdamWKernels.STEP_SIZE), hyper.get(AdamWKernels.BC2_SQRT)));
    }

    /**
     * The live moments, keyed {@code <name>.exp_avg} and {@code <name>.exp_avg_sq} in parameter order; for saving.
     * The tensors belong to the optimizer: do not close or change them.
     *
     * @return an unmodifiable map
     */
    public Map<String, Tensor> state() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Slot s : slots) {
            out.put(s.name + EXP_AVG, s.expAvg);
            out.put(s.name + EXP_AVG_SQ, s.expAvgSq);
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * Replaces the moments and step count, for resuming; values are copied.
     *
     * @param state exactly the entries {@link #state()} has, with the parameters' shapes, f32
     * @param steps the steps already taken, at least 0
     * @throws IllegalArgumentException naming the first missing, extra or mis-shaped entry
     */
    public void loadState(Map<String, Tensor> state, long steps) {
        if (steps < 0) {
            throw new IllegalArgumentException("AdamW.loadState: steps is " + steps + ", expected at least 0");
        }
        if (state == null) {
            throw new IllegalArgumentException("AdamW.loadState: state is null, expected the moments by name");
        }
        Map<String, Tensor> expected = state();
        List<String> extra = new ArrayList<>();
        for (String name : state.keySet()) {
            if (!expected.containsKey(name)) {
                extra.add(name);
            }
        }
        if (!extra.isEmpty()) {
            throw new IllegalArgumentException("AdamW.loadState: state has " + extra.size() + " unexpected entries "
                    + firstFew(extra) + ", expected only <parameter>" + EXP_AVG + " and <parameter>" + EXP_AVG_SQ
                    + " for this optimizer's " + slots.size() + " parameters");
        }
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor got = state.get(e.getKey());
            if (got == null) {
                throw new IllegalArgumentException("AdamW.loadState: state has no entry '" + e.getKey()
                        + "', expected one shaped " + Arrays.toString(e.getValue().shape()));
            }
            requireF32("AdamW.loadState", "state entry", e.getKey(), got);
            requireShape("AdamW.loadState", "state entry", e.getKey(), got, e.getValue().shape());
        }
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            e.getValue().copyFrom(state.get(e.getKey()));
        }
        this.steps = steps;
    }

    /**
     * Checks that a map has exactly this optimizer's parameter names, with the same shapes, f32 and contiguous.
     *
     * @param op the operation, for messages
     * @param what what the map holds, for messages
     * @param tensors the map
     */
    void requireMatching(String op, String what, Map<String, Tensor> tensors) {
        if (tensors == null) {
            throw new IllegalArgumentException(op + ": " + what + " is null, expected tensors by parameter name");
        }
        for (Slot s : slots) {
            Tensor t = tensors.get(s.name);
            if (t == null) {
                throw new IllegalArgumentException(op + ": " + what + " has no entry '" + s.name
                        + "', expected one shaped " + Arrays.toString(s.param.shape()));
            }
            requireF32(op, what + " entry", s.name, t);
            requireShape(op, what + " entry", s.name, t, s.param.shape());
        }
        if (tensors.size() != slots.size()) {
            List<String> extra = new ArrayList<>();
            for (String name : tensors.keySet()) {
                if (slots.stream().noneMatch(s -> s.name.equals(name))) {
                    extra.add(name);
                }
            }
            throw new IllegalArgumentException(op + ": " + what + " has " + tensors.size() + " entries, expected "
                    + slots.size() + " (the parameters'); unexpected: " + firstFew(extra));
        }
    }

    private Slot slot(String op, String name) {
        for (Slot s : slots) {
            if (s.name.equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("AdamW." + op + ": no parameter named '" + name + "', expected one of "
                + firstFew(slots.stream().map(Slot::name).toList()));
    }

    static void requireF32(String op, String what, String name, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + what + " '" + name + "' is null, expected an f32 tensor");
        }
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + what + " '" + name + "' is " + t.dtype()
                    + ", expected " + DType.F32);
        }
    }

    static void requireShape(String op, String what, String name, Tensor t, int[] shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(op + ": " + what + " '" + name + "' has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
        }
    }

    static String firstFew(List<String> names) {
        int show = Math.min(5, names.size());
        String head = names.subList(0, show).toString();
        return names.size() > show ? head + " and " + (names.size() - show) + " more" : head;
    }
}

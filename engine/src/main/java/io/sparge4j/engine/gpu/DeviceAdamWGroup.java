package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * AdamW over a group of f32 device parameters with a learning rate per step (a schedule), with
 * {@code torch.optim.AdamW}'s semantics as {@link DeviceAdamW} (the same {@link AdamWKernels}): decoupled weight
 * decay {@code p *= 1 - lr wd}, {@code m = b1 m + (1 - b1) g}, {@code v = b2 v + (1 - b2) g^2},
 * {@code p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)}. One step enqueues one kernel per parameter
 * in one graph and sends the step's eight scalars once (computed in float64 on the host); nothing is read back.
 * The moments live on the device; {@link #firstMoments()} and {@link #secondMoments()} give them for checkpoints and
 * {@link #load} puts saved ones back.
 */
public final class DeviceAdamWGroup implements AutoCloseable {
    private final DeviceSession session;
    private final List<DeviceTensor> params;
    private final List<DeviceTensor> m = new ArrayList<>();
    private final List<DeviceTensor> v = new ArrayList<>();
    private final FloatArray hyper = new FloatArray(AdamWKernels.HYPER_SIZE);
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private long steps;
    private boolean closed;

    /**
     * @param params f32 device parameters of one session, updated in place by {@link #step}; at least one
     * @param beta1 in [0, 1) (PyTorch: 0.9)
     * @param beta2 in [0, 1) (PyTorch: 0.999)
     * @param eps finite, above 0 (PyTorch: 1e-8)
     * @param weightDecay finite, at least 0 (PyTorch's AdamW: 0.01)
     */
    public DeviceAdamWGroup(List<DeviceTensor> params, double beta1, double beta2, double eps, double weightDecay) {
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException("DeviceAdamWGroup: params is " + (params == null ? "null" : "empty")
                    + ", expected at least one device tensor");
        }
        Op op = Op.of("DeviceAdamWGroup", params.get(0));
        for (int i = 0; i < params.size(); i++) {
            op.f32("params[" + i + "]", params.get(i));
        }
        AdamWKernels.hyperparameters(0, beta1, beta2, eps, weightDecay, 1, hyper);
        this.session = op.session;
        this.params = List.copyOf(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        try {
            for (DeviceTensor p : params) {
                m.add(session.zeros(p.shape()));
                v.add(session.zeros(p.shape()));
            }
            session.adopt(hyper);
        } catch (RuntimeException e) {
            m.forEach(DeviceTensor::close);
            v.forEach(DeviceTensor::close);
            throw e;
        }
    }

    /**
     * One step over every parameter.
     *
     * @param grads f32 gradients, one per parameter in order, each shaped like it
     * @param lr this step's learning rate, finite and at least 0
     */
    public void step(List<DeviceTensor> grads, double lr) {
        check("step");
        Op op = Op.of("DeviceAdamWGroup.step", params.get(0));
        if (grads == null || grads.size() != params.size()) {
            throw op.fail("grads", grads == null ? null : grads.size() + " tensors", params.size()
                    + " tensors, one per parameter");
        }
        AdamWKernels.hyperparameters(lr, beta1, beta2, eps, weightDecay, steps + 1, hyper);
        for (int i = 0; i < params.size(); i++) {
            DeviceTensor p = params.get(i);
            FloatArray g = op.f32("grads[" + i + "]", grads.get(i));
            if (!Arrays.equals(grads.get(i).shape(), p.shape())) {
                throw op.fail("grads[" + i + "]'s shape", Arrays.toString(grads.get(i).shape()),
                        Arrays.toString(p.shape()) + " (params[" + i + "]'s)");
            }
            int n = (int) p.numel();
            op.graph.task("adamW" + i, AdamWKernels::adamW, new KernelContext(), op.f32("params[" + i + "]", p), g,
                    (FloatArray) m.get(i).array(), (FloatArray) v.get(i).array(), hyper, n);
            op.grid("adamW" + i, ActivationKernels.grid(Math.max(1, n)));
        }
        session.copyIn("DeviceAdamWGroup.step", hyper);
        op.run();
        steps++;
    }

    /** @return the steps taken (the next step's bias correction uses steps() + 1) */
    public long steps() {
        return steps;
    }

    /** @return the first moments, one per parameter, owned by the optimizer */
    public List<DeviceTensor> firstMoments() {
        check("firstMoments");
        return List.copyOf(m);
    }

    /** @return the second moments, one per parameter, owned by the optimizer */
    public List<DeviceTensor> secondMoments() {
        check("secondMoments");
        return List.copyOf(v);
    }

    /**
     * Puts saved state back (resuming a run).
     *
     * @param first the first moments, one per parameter, f32, each with its parameter's element count
     * @param second the second moments, likewise
     * @param stepsTaken the steps the state has seen, at least 0
     */
    public void load(List<Tensor> first, List<Tensor> second, long stepsTaken) {
        check("load");
        if (first == null || second == null || first.size() != params.size() || second.size() != params.size()) {
            throw new IllegalArgumentException("DeviceAdamWGroup.load: got " + (first == null ? "null" : first.size())
                    + " first and " + (second == null ? "null" : second.size()) + " second moments, expected "
                    + params.size() + " of each");
        }
        if (stepsTaken < 0) {
            throw new IllegalArgumentException("DeviceAdamWGroup.load: stepsTaken is " + stepsTaken
                    + ", expected >= 0");
        }
        replace(m, first, "first");
        replace(v, second, "second");
        steps = stepsTaken;
    }

    private void replace(List<DeviceTensor> state, List<Tensor> host, String which) {
        for (int i = 0; i < params.size(); i++) {
            Tensor t = host.get(i);
            if (t == null || t.numel() != params.get(i).numel()) {
                throw new IllegalArgumentException("DeviceAdamWGroup.load: " + which + " moment " + i + " has "
                        + (t == null ? "null" : t.numel() + " elements") + ", expected " + params.get(i).numel());
            }
        }
        for (int i = 0; i < params.size(); i++) {
            DeviceTensor up = session.upload(host.get(i).reshape(params.get(i).shape()));
            state.get(i).close();
            state.set(i, up);
        }
    }

    /** Frees the moments (not the parameters); closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        m.forEach(DeviceTensor::close);
        v.forEach(DeviceTensor::close);
        if (session.isOpen()) {
            session.disown(hyper);
        }
    }

    private void check(String what) {
        if (closed) {
            throw new IllegalStateException("DeviceAdamWGroup." + what + ": the optimizer is closed, expected an open"
                    + " one");
        }
    }
}

package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceAdamWGroup;
import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW over every parameter of a {@link DeviceWanStore}, on the device ({@link DeviceAdamWGroup}: the semantics of
 * {@code torch.optim.AdamW}, one kernel per parameter, the learning rate given per step for a schedule), with
 * {@code torch.nn.utils.clip_grad_norm_} before it: the global norm is a device reduction and the clipping reads it
 * there, so a step reads nothing back unless {@link #clipGradNorm} is asked for the norm.
 *
 * <p>A parameter that got no gradient since {@link DeviceWanStore#zeroGrads} steps with a zero gradient (PyTorch
 * skips such a parameter; with the whole DiT in the graph every parameter gets one).
 */
public final class DeviceWanOptimizer implements AutoCloseable {
    private final DeviceWanStore store;
    private final List<String> names;
    private final DeviceAdamWGroup adam;

    /**
     * @param store the parameters, stepped in place
     * @param beta1 in [0, 1) (PyTorch: 0.9)
     * @param beta2 in [0, 1) (PyTorch: 0.999)
     * @param eps above 0 (PyTorch: 1e-8)
     * @param weightDecay at least 0 (PyTorch's AdamW: 0.01)
     */
    public DeviceWanOptimizer(DeviceWanStore store, double beta1, double beta2, double eps, double weightDecay) {
        if (store == null) {
            throw new IllegalArgumentException("DeviceWanOptimizer: store is null, expected a DeviceWanStore");
        }
        this.store = store;
        this.names = List.copyOf(store.names());
        List<DeviceTensor> params = new ArrayList<>();
        names.forEach(n -> params.add(store.param(n)));
        this.adam = new DeviceAdamWGroup(params, beta1, beta2, eps, weightDecay);
    }

    /**
     * Scales every gradient so that their global L2 norm is at most {@code maxNorm}, as
     * {@code clip_grad_norm_(params, maxNorm)}.
     *
     * @param maxNorm the largest norm kept, above 0
     * @param readNorm whether to read the norm before clipping back (one wait for the device); else NaN is returned
     * @return the global norm before clipping, or NaN when not read
     */
    public double clipGradNorm(double maxNorm, boolean readNorm) {
        List<DeviceTensor> grads = new ArrayList<>(store.gradients().values());
        if (grads.isEmpty()) {
            return 0;
        }
        try (DeviceTensor sumSquares = DeviceGradients.sumOfSquares(grads)) {
            DeviceGradients.clipByNorm(grads, sumSquares, maxNorm);
            if (!readNorm) {
                return Double.NaN;
            }
            try (Tensor host = sumSquares.toHost()) {
                return Math.sqrt(host.getFloat(0));
            }
        }
    }

    /**
     * @return the global L2 norm of the gradients, read back (one wait for the device)
     */
    public double gradNorm() {
        List<DeviceTensor> grads = new ArrayList<>(store.gradients().values());
        if (grads.isEmpty()) {
            return 0;
        }
        try (DeviceTensor sumSquares = DeviceGradients.sumOfSquares(grads);
             Tensor host = sumSquares.toHost()) {
            return Math.sqrt(host.getFloat(0));
        }
    }

    /**
     * One AdamW step over every parameter with the store's gradients (missing ones as zeros).
     *
     * @param lr this step's learning rate
     */
    public void step(double lr) {
        List<DeviceTensor> grads = new ArrayList<>();
        List<DeviceTensor> zeros = new ArrayList<>();
        try {
            for (String n : names) {
                DeviceTensor g = store.grad(n);
                if (g == null) {
                    g = store.session().zeros(store.param(n).shape());
                    zeros.add(g);
                }
                grads.add(g);
            }
            adam.step(grads, lr);
        } finally {
            zeros.forEach(DeviceTensor::close);
        }
    }

    /** @return the steps taken */
    public long steps() {
        return adam.steps();
    }

    /**
     * @return the first and second moments read back under {@code exp_avg.<name>} and {@code exp_avg_sq.<name>}
     *     (PyTorch's state names), in the parameters' host shapes, for a checkpoint; new tensors the caller closes
     */
    public Map<String, Tensor> downloadState() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<DeviceTensor> m = adam.firstMoments();
        List<DeviceTensor> v = adam.secondMoments();
        try {
            for (int i = 0; i < names.size(); i++) {
                String n = names.get(i);
                int[] shape = hostShape(n);
                out.put("exp_avg." + n, read(m.get(i), shape));
                out.put("exp_avg_sq." + n, read(v.get(i), shape));
            }
            return out;
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
    }

    /**
     * Puts saved moments back (resume).
     *
     * @param state {@code exp_avg.<name>} and {@code exp_avg_sq.<name>} for every parameter, as
     *              {@link #downloadState} wrote them
     * @param stepsTaken the steps the state has seen
     */
    public void loadState(Map<String, Tensor> state, long stepsTaken) {
        List<Tensor> m = new ArrayList<>();
        List<Tensor> v = new ArrayList<>();
        for (String n : names) {
            Tensor a = state.get("exp_avg." + n);
            Tensor b = state.get("exp_avg_sq." + n);
            if (a == null || b == null) {
                throw new IllegalArgumentException("DeviceWanOptimizer.loadState: state lacks exp_avg." + n + " or "
                        + "exp_avg_sq." + n + ", expected both for every parameter");
            }
            m.add(a);
            v.add(b);
        }
        adam.load(m, v, stepsTaken);
    }

    private int[] hostShape(String name) {
        return store.hostShape(name);
    }

    private static Tensor read(DeviceTensor t, int[] shape) {
        try (Tensor flat = t.toHost()) {
            return flat.reshape(shape).copy();
        }
    }

    /** Frees the moments (not the parameters). */
    @Override
    public void close() {
        adam.close();
    }
}

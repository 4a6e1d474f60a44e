package io.sparge4j.engine.gpu;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * AdamW on one f32 device parameter, with PyTorch's semantics ({@code torch.optim.AdamW}: decoupled weight decay,
 * bias-corrected moments), through {@link AdamWKernels}. The moments live on the device next to the parameter; each
 * {@link #step} sends only the step's eight scalars (computed in float64 on the host) and updates the parameter in
 * place, reading nothing back. {@link #close} frees the moments (not the parameter).
 */
public final class DeviceAdamW implements AutoCloseable {
    private final DeviceTensor param;
    private final DeviceTensor m;
    private final DeviceTensor v;
    private final FloatArray hyper = new FloatArray(AdamWKernels.HYPER_SIZE);
    private final double lr;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private long steps;
    private boolean closed;

    /**
     * @param param f32 device parameter, updated in place by {@link #step}
     * @param lr learning rate, finite and at least 0
     * @param beta1 in [0, 1) (PyTorch: 0.9)
     * @param beta2 in [0, 1) (PyTorch: 0.999)
     * @param eps finite, above 0 (PyTorch: 1e-8)
     * @param weightDecay finite, at least 0 (PyTorch's AdamW: 0.01)
     */
    public DeviceAdamW(DeviceTensor param, double lr, double beta1, double beta2, double eps, double weightDecay) {
        Op op = Op.of("DeviceAdamW", param);
        op.f32("param", param);
        // validates the hyperparameters once, here, with the kernels' own messages
        AdamWKernels.hyperparameters(lr, beta1, beta2, eps, weightDecay, 1, hyper);
        this.param = param;
        this.lr = lr;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = op.session.zeros(param.shape());
        this.v = op.session.zeros(param.shape());
        op.session.adopt(hyper);
    }

    /**
     * One step: {@code param -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * param)} in AdamW's decoupled form.
     *
     * @param grad f32 gradient shaped like the parameter
     */
    public void step(DeviceTensor grad) {
        if (closed) {
            throw new IllegalStateException("DeviceAdamW.step: the optimizer is closed, expected an open one");
        }
        Op op = Op.of("DeviceAdamW.step", param);
        FloatArray p = op.f32("param", param);
        FloatArray g = op.f32("grad", grad);
        op.shape("grad", grad, param.shape());
        AdamWKernels.hyperparameters(lr, beta1, beta2, eps, weightDecay, steps + 1, hyper);
        op.session.copyIn("DeviceAdamW.step", hyper);
        int n = (int) param.numel();
        op.graph.task("adamW", AdamWKernels::adamW, new KernelContext(), p, g, (FloatArray) m.array(),
                (FloatArray) v.array(), hyper, n);
        op.grid("adamW", ActivationKernels.grid(Math.max(1, n)));
        op.run();
        steps++;
    }

    /** @return the steps taken */
    public long steps() {
        return steps;
    }

    /** Frees the moments; closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        m.close();
        v.close();
        if (param.session().isOpen()) {
            param.session().disown(hyper);
        }
    }
}

package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;

/**
 * Overwrites an existing f32 device tensor's values, keeping its identity, for holders that others reference (an
 * optimizer steps the very tensors a model reads, so a checkpoint load must write into them, not replace them).
 */
public final class DeviceCopies {
    private DeviceCopies() {
    }

    /**
     * @param src f32 values, with dst's element count
     * @param dst f32, overwritten in place
     */
    public static void copyInto(DeviceTensor src, DeviceTensor dst) {
        Op op = Op.of("DeviceCopies.copyInto", dst);
        FloatArray da = op.f32("dst", dst);
        FloatArray sa = op.f32("src", src);
        if (src.numel() != dst.numel()) {
            throw op.fail("src's shape", Arrays.toString(src.shape()), dst.numel() + " elements (dst "
                    + Arrays.toString(dst.shape()) + ")");
        }
        int n = (int) dst.numel();
        op.graph.task("copy", TensorKernels::copy, new KernelContext(), sa, 0, da, 0, n);
        op.grid("copy", ActivationKernels.grid(Math.max(1, n)));
        op.run();
    }

    /**
     * Uploads host values into an existing device tensor (through a temporary).
     *
     * @param host f32 values, with dst's element count
     * @param dst f32, overwritten in place
     */
    public static void uploadInto(Tensor host, DeviceTensor dst) {
        if (host == null || dst == null) {
            throw new IllegalArgumentException("DeviceCopies.uploadInto: " + (host == null ? "host" : "dst")
                    + " is null, expected a tensor");
        }
        try (DeviceTensor tmp = dst.session().upload(host)) {
            copyInto(tmp, dst);
        }
    }
}

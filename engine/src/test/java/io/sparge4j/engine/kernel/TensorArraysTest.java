package io.sparge4j.engine.kernel;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import org.junit.jupiter.api.Test;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Engine tensors wrap into kernel arrays without copying, and kernels write through to the tensor. */
class TensorArraysTest {

    @Test
    void kernelWritesThroughToTheTensor() {
        int n = 777;
        Tensor x = Tensor.randn(11L, n);
        Tensor y = Tensor.randn(12L, n);
        float[] x0 = x.toFloatArray();
        float[] y0 = y.toFloatArray();
        FloatArray xa = TensorArrays.floatArray(x);
        FloatArray ya = TensorArrays.floatArray(y);
        assertEquals(y.segment().address(), ya.getSegment().address());
        WorkerGrid1D grid = new WorkerGrid1D(800);
        grid.setLocalWork(32, 1, 1);
        new KernelEmulator().execute(grid, ctx -> PortabilityKernels.saxpy(ctx, -0.5f, xa, ya, n));
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            expected[i] = -0.5 * x0[i] + y0[i];
        }
        // one fused rounding per element
        assertClose(expected, y.toFloatArray(), 1e-6, 1e-6, "saxpy through a tensor");
    }

    @Test
    void halfTensorsShareBits() {
        Tensor t = Tensor.randn(13L, 5, 7).to(DType.F16);
        HalfFloatArray h = TensorArrays.halfFloatArray(t);
        assertEquals(35, h.getSize());
        float[] values = t.toFloatArray();
        for (int i = 0; i < 35; i++) {
            assertEquals(values[i], h.get(i));
        }
        Tensor b = Tensor.randn(14L, 9).to(DType.BF16);
        BFloat16Array ba = TensorArrays.bfloat16Array(b);
        ba.set(2, 3f);
        assertEquals(3f, b.getFloat(2));
    }

    @Test
    void wrongDtypeIsRejected() {
        Tensor t = Tensor.randn(15L, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> TensorArrays.intArray(t));
        assertEquals("TensorArrays.intArray: t has dtype f32, expected i32", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TensorArrays.byteArray(t));
        assertEquals("TensorArrays.byteArray: t dtype is f32, expected u8 or bool", e.getMessage());
    }
}

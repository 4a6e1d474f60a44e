package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.annotations.Parallel;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.TypeAnnotation;
import java.util.List;
import java.util.Random;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Loop-style kernels run as plain Java, and their {@code @Parallel} loops are visible in the class file. */
class LoopKernelTest {

    /** A 2D loop-style kernel: {@code c = a + b} over an m x n matrix. */
    static void addMatrices(FloatArray a, FloatArray b, FloatArray c, int m, int n) {
        for (@Parallel int i = 0; i < m; i++) {
            for (@Parallel int j = 0; j < n; j++) {
                c.set(i * n + j, a.get(i * n + j) + b.get(i * n + j));
            }
        }
    }

    @Test
    void runsAsPlainJava() {
        Random rnd = new Random(21);
        int m = 7;
        int n = 13;
        FloatArray a = new FloatArray(m * n);
        FloatArray b = new FloatArray(m * n);
        FloatArray c = new FloatArray(m * n);
        c.init(Float.NaN);
        double[] expected = new double[m * n];
        for (int i = 0; i < m * n; i++) {
            a.set(i, (float) rnd.nextGaussian());
            b.set(i, (float) rnd.nextGaussian());
            expected[i] = (double) a.get(i) + b.get(i);
        }
        addMatrices(a, b, c, m, n);
        // one float add per element
        assertClose(expected, c.toHeapArray(), 1e-7, 1e-7, "addMatrices");
    }

    @Test
    void parallelLoopsAreRecordedAsTypeAnnotations() throws IOException {
        byte[] bytes;
        try (InputStream in = LoopKernelTest.class.getResourceAsStream("LoopKernelTest.class")) {
            bytes = in.readAllBytes();
        }
        ClassModel model = ClassFile.of().parse(bytes);
        MethodModel method = model.methods().stream()
                .filter(mm -> mm.methodName().equalsString("addMatrices")).findFirst().orElseThrow();
        CodeModel code = method.code().orElseThrow();
        List<TypeAnnotation> annotations = code.findAttribute(Attributes.runtimeVisibleTypeAnnotations())
                .orElseThrow().annotations();
        long parallelLocals = annotations.stream()
                .filter(t -> t.targetInfo() instanceof TypeAnnotation.LocalVarTarget)
                .filter(t -> t.annotation().className().equalsString("Lio/sparge4j/kernels/annotations/Parallel;"))
                .count();
        assertEquals(2, parallelLocals, "two @Parallel loop variables");
    }
}

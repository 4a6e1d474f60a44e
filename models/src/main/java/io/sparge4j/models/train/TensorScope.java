package io.sparge4j.models.train;

import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Owns the tensors a forward or backward pass allocates, so that they are freed together (in reverse order) when
 * the pass is done with them. Views need not be registered: closing a view does nothing.
 */
final class TensorScope implements AutoCloseable {
    private final List<AutoCloseable> owned = new ArrayList<>();

    /** Registers a tensor, a result record or any closeable, and returns it. */
    <T> T own(T t) {
        switch (t) {
            case null -> {
            }
            case Linear.LinearGrads g -> ownAll(g.dx(), g.dWeight(), g.dBias());
            case Norms.NormGrads g -> ownAll(g.dx(), g.dWeight(), g.dBias());
            case Elementwise.ModulateGrads g -> ownAll(g.dx(), g.dShift(), g.dScale());
            case Elementwise.GatedAddGrads g -> ownAll(g.dx(), g.dGate(), g.dy());
            case Tensor[] ts -> ownAll(ts);
            case AutoCloseable c -> owned.add(c);
            default -> throw new IllegalArgumentException("TensorScope: cannot own a " + t.getClass().getName()
                    + ", expected a tensor, a gradient record or an AutoCloseable");
        }
        return t;
    }

    private void ownAll(Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null) {
                owned.add(t);
            }
        }
    }

    /** Frees everything registered, newest first. */
    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException("TensorScope: closing " + owned.get(i) + " failed", e);
            }
        }
        owned.clear();
    }
}

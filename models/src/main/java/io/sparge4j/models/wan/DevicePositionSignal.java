package io.sparge4j.models.wan;

import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Objects;

/**
 * A model's {@link AbsolutePosition} signal on a device: built on the host and uploaded once for a token layout (grid,
 * rows, first token), then reused by every forward of that layout until the layout changes or this closes. Owned by
 * the model or parameter store that runs the forwards.
 */
public final class DevicePositionSignal implements AutoCloseable {
    private final DeviceSession session;
    private final AbsolutePosition position;
    private Layout layout;
    private DeviceTensor signal;

    /** The rows the uploaded signal covers. */
    private record Layout(Rope.Grid grid, int rows, int dim, int first) {
    }

    /**
     * @param session where the tokens live
     * @param position the model's signal
     */
    public DevicePositionSignal(DeviceSession session, AbsolutePosition position) {
        this.session = Objects.requireNonNull(session, "DevicePositionSignal: session is null");
        this.position = Objects.requireNonNull(position, "DevicePositionSignal: position is null");
    }

    /**
     * @param tokens f32 (rows, dim): a slice of one clip's tokens from {@code first}, or a batch of whole clips one
     *     after another (first 0); row r takes the signal of token (first + r) mod the grid's tokens
     * @param grid the token grid
     * @param first the grid token of row 0
     * @return a new tensor, tokens plus the signal; {@code tokens} itself (not a copy) for
     *     {@link AbsolutePosition#NONE}
     */
    public DeviceTensor addTo(DeviceTensor tokens, Rope.Grid grid, int first) {
        if (position == AbsolutePosition.NONE) {
            return tokens;
        }
        Layout wanted = new Layout(grid, tokens.dim(0), tokens.dim(1), first);
        if (!wanted.equals(layout)) {
            close();
            try (Tensor host = position.rows(grid, wanted.dim(), wanted.rows(), first)) {
                signal = session.upload(host);
            }
            layout = wanted;
        }
        return DeviceElementwise.add(tokens, signal);
    }

    /** Frees the uploaded signal; a later {@link #addTo} uploads it again. */
    @Override
    public void close() {
        if (signal != null) {
            signal.close();
            signal = null;
            layout = null;
        }
    }
}

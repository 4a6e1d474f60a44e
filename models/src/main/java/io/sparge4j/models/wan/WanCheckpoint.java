package io.sparge4j.models.wan;

import io.sparge4j.engine.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * A loaded model directory: its configuration, which config keys took defaults, and its weights by original
 * Wan name. Closing it frees the weights.
 *
 * @param config the configuration read from config.json
 * @param configDefaults config keys that were missing, as {@code key=value} (see {@link WanConfigReader.Result})
 * @param weights tensors by original name, in {@link WanParameters#expected} order
 */
public record WanCheckpoint(WanConfig config, List<String> configDefaults, Map<String, Tensor> weights)
        implements AutoCloseable {
    // The defaults list is copied; the weights map is kept as given (the loader returns it unmodifiable).
    public WanCheckpoint {
        configDefaults = List.copyOf(configDefaults);
    }

    /** Frees every weight tensor now. */
    @Override
    public void close() {
        weights.values().forEach(Tensor::close);
    }
}

package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceCopies;
import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.DevicePositionSignal;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanParameters;
import io.sparge4j.models.wan.WanWeights;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Wan2.1 DiT's trainable parameters and their gradients on the device, under the original Wan2.1 names, for
 * {@link DeviceWanGraph} and {@link DeviceWanOptimizer}: uploaded once from the host map of the issue-7 contract,
 * downloaded (in the host shapes) when a checkpoint is written.
 *
 * <p>On the device a few tensors take the shape the device ops read (the values are the same, row-major): the patch
 * embedding's Conv3d weight is the (dim, in_dim * pt * ph * pw) matrix, each {@code modulation} drops its leading 1.
 * A gradient has its parameter's device shape; a missing gradient means zeros (as in PyTorch after
 * {@code zero_grad(set_to_none=True)}), so {@link #zeroGrads} frees them.
 */
public final class DeviceWanStore implements AutoCloseable {
    private static final String OP = "DeviceWanStore";

    private final DeviceSession session;
    private final WanConfig config;
    private final Map<String, DeviceTensor> params = new LinkedHashMap<>();
    private final Map<String, int[]> hostShapes = new LinkedHashMap<>();
    private final Map<String, DeviceTensor> grads = new LinkedHashMap<>();
    private DevicePositionSignal positionSignal;
    /** After {@link #dropBlocks}: a block's parameters are on the device only while mounted. */
    private boolean blockwise;
    private boolean closed;

    private DeviceWanStore(DeviceSession session, WanConfig config) {
        this.session = session;
        this.config = config;
    }

    /**
     * Checks and uploads every parameter.
     *
     * @param session the device
     * @param config the model's configuration
     * @param host every parameter under its Wan2.1 name (see {@link WanParameters#expected}), f32; read, not kept
     * @return the store, owned by the caller
     * @throws IllegalArgumentException naming every missing, unexpected, mis-shaped or non-f32 parameter
     */
    public static DeviceWanStore upload(DeviceSession session, WanConfig config, Map<String, Tensor> host) {
        if (session == null || config == null || host == null) {
            throw new IllegalArgumentException(OP + ".upload: " + (session == null ? "session" : config == null
                    ? "config" : "host") + " is null, expected a value");
        }
        WanWeights.check(config, host);
        List<String> notF32 = new ArrayList<>();
        host.forEach((name, t) -> {
            if (t.dtype() != DType.F32) {
                notF32.add(name + " " + t.dtype());
            }
        });
        if (!notF32.isEmpty()) {
            throw new IllegalArgumentException(OP + ".upload: parameters " + notF32 + " are not f32, expected every "
                    + "trainable parameter in f32 (convert with Tensor.to(DType.F32))");
        }
        DeviceWanStore store = new DeviceWanStore(session, config);
        try {
            for (String name : WanParameters.expected(config).keySet()) {
                Tensor t = host.get(name);
                store.hostShapes.put(name, t.shape());
                store.params.put(name, session.upload(t.reshape(deviceShape(name, t.shape()))));
            }
            return store;
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** The shape the device ops read: patch embedding as a matrix, modulations without their leading 1. */
    static int[] deviceShape(String name, int[] hostShape) {
        if (name.equals("patch_embedding.weight")) {
            int cols = 1;
            for (int i = 1; i < hostShape.length; i++) {
                cols *= hostShape[i];
            }
            return new int[] {hostShape[0], cols};
        }
        if (name.endsWith("modulation") && hostShape.length == 3) {
            return new int[] {hostShape[1], hostShape[2]};
        }
        return hostShape.clone();
    }

    /** @return the device the store lives on */
    public DeviceSession session() {
        return session;
    }

    /** @return the model's configuration */
    public WanConfig config() {
        return config;
    }

    /** @return the parameter names, in {@link WanParameters#expected} order (also of blocks not on the device) */
    public Set<String> names() {
        return Collections.unmodifiableSet(hostShapes.keySet());
    }

    /**
     * @param name a Wan2.1 parameter name
     * @return the parameter on the device (its device shape), owned by the store
     */
    public DeviceTensor param(String name) {
        check("param");
        DeviceTensor t = params.get(name);
        if (t == null) {
            if (blockwise && hostShapes.containsKey(name)) {
                throw new IllegalStateException(OP + ".param: " + name + " is not on the device (its block is not"
                        + " mounted), expected block parameters only between mount and unmount");
            }
            throw new IllegalArgumentException(OP + ".param: no parameter " + name + ", expected one of the "
                    + hostShapes.size() + " names of WanParameters.expected");
        }
        return t;
    }

    /**
     * @param name a parameter name
     * @return its shape on the host (the Wan2.1 checkpoint's)
     */
    public int[] hostShape(String name) {
        check("hostShape");
        int[] shape = hostShapes.get(name);
        if (shape == null) {
            throw new IllegalArgumentException(OP + ".hostShape: no parameter " + name + ", expected one of the "
                    + hostShapes.size() + " names of WanParameters.expected");
        }
        return shape.clone();
    }

    /**
     * @return every parameter on the device by name, in order (a read-only view; the tensors belong to the store);
     *     after {@link #dropBlocks}, the blocks' only while mounted
     */
    public Map<String, DeviceTensor> parameters() {
        check("parameters");
        return Collections.unmodifiableMap(params);
    }

    /**
     * @param name a parameter name
     * @return its accumulated gradient (owned by the store), or null when none was added since {@link #zeroGrads}
     */
    public DeviceTensor grad(String name) {
        check("grad");
        param(name);
        return grads.get(name);
    }

    /** @return the gradients added since {@link #zeroGrads}, by name (a read-only view) */
    public Map<String, DeviceTensor> gradients() {
        check("gradients");
        return Collections.unmodifiableMap(grads);
    }

    /**
     * Adds a gradient into the parameter's accumulated one (in place on the device); the first one since
     * {@link #zeroGrads} is kept as a view of {@code g} (no copy), so the caller must not modify {@code g} afterwards
     * (closing it is fine).
     *
     * @param name the parameter's name
     * @param g f32, with the parameter's element count
     */
    void addGrad(String name, DeviceTensor g) {
        DeviceTensor p = param(name);
        if (g.numel() != p.numel()) {
            throw new IllegalArgumentException(OP + ".addGrad: the gradient of " + name + " has shape "
                    + Arrays.toString(g.shape()) + ", expected " + p.numel() + " elements (" + Arrays.toString(
                    p.shape()) + ")");
        }
        DeviceTensor acc = grads.get(name);
        if (acc == null) {
            grads.put(name, g.reshape(p.shape()));
        } else {
            DeviceGradients.accumulate(1f, g, acc);
        }
    }

    /** Frees every gradient: the next backward starts from zeros. */
    public void zeroGrads() {
        check("zeroGrads");
        grads.values().forEach(DeviceTensor::close);
        grads.clear();
    }

    /**
     * @return every parameter read back in its host shape (the Wan2.1 checkpoint layout), in order, new tensors
     *     owned by the caller
     */
    public Map<String, Tensor> download() {
        check("download");
        return read(params);
    }

    /**
     * @return every gradient added since {@link #zeroGrads}, read back in its parameter's host shape; a parameter
     *     that got none is absent
     */
    public Map<String, Tensor> downloadGrads() {
        check("downloadGrads");
        return read(grads);
    }

    private Map<String, Tensor> read(Map<String, DeviceTensor> from) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, DeviceTensor> e : from.entrySet()) {
                try (Tensor flat = e.getValue().toHost()) {
                    out.put(e.getKey(), flat.reshape(hostShapes.get(e.getKey())).copy());
                }
            }
            return out;
        } catch (RuntimeException ex) {
            out.values().forEach(Tensor::close);
            throw ex;
        }
    }

    // ---------------------------------------------------------------- blocks off the device (full sharding)

    /**
     * Frees every block's parameters and gradients on the device: from now on block i's parameters are there only
     * between {@link #mount} and {@link #unmount} (FSDP-style full sharding keeps one or two blocks whole), and
     * {@link #uploadFrom} and {@link #downloadInto} move only what is on the device.
     */
    public void dropBlocks() {
        check("dropBlocks");
        blockwise = true;
        for (String name : List.copyOf(params.keySet())) {
            if (WanGraph.blockOf(name) >= 0) {
                params.remove(name).close();
                DeviceTensor g = grads.remove(name);
                if (g != null) {
                    g.close();
                }
            }
        }
    }

    /**
     * Uploads one block's parameters (after {@link #dropBlocks}).
     *
     * @param block the block
     * @param host every parameter of the block ({@code blocks.i.*}) in its host shape, f32; read, not kept
     * @throws IllegalArgumentException if a parameter is missing, foreign or mis-shaped
     * @throws IllegalStateException if the blocks are on the device anyway, or this block is mounted
     */
    public void mount(int block, Map<String, Tensor> host) {
        check("mount");
        if (!blockwise) {
            throw new IllegalStateException(OP + ".mount: every block is on the device, expected dropBlocks first");
        }
        List<String> names = blockNames(block);
        if (host == null || !host.keySet().equals(Set.copyOf(names))) {
            throw new IllegalArgumentException(OP + ".mount: block " + block + " got " + (host == null ? null
                    : new java.util.TreeSet<>(host.keySet())) + ", expected exactly its parameters " + names);
        }
        if (params.containsKey(names.getFirst())) {
            throw new IllegalStateException(OP + ".mount: block " + block + " is mounted, expected unmount first");
        }
        try {
            for (String name : names) {
                Tensor t = host.get(name);
                if (t.dtype() != DType.F32 || !Arrays.equals(t.shape(), hostShapes.get(name))) {
                    throw new IllegalArgumentException(OP + ".mount: " + name + " is " + t.dtype() + " "
                            + Arrays.toString(t.shape()) + ", expected f32 " + Arrays.toString(hostShapes.get(name)));
                }
                params.put(name, session.upload(t.reshape(deviceShape(name, t.shape()))));
            }
        } catch (RuntimeException | Error e) {
            unmount(block);
            throw e;
        }
    }

    /**
     * Frees one block's parameters on the device (its gradients stay until {@link #takeGrads} or
     * {@link #zeroGrads}).
     *
     * @param block the block
     */
    public void unmount(int block) {
        check("unmount");
        for (String name : blockNames(block)) {
            DeviceTensor t = params.remove(name);
            if (t != null) {
                t.close();
            }
        }
    }

    /**
     * @param block the block
     * @return its gradients added since {@link #zeroGrads}, read back in host shapes and removed from the device
     */
    public Map<String, Tensor> takeGrads(int block) {
        check("takeGrads");
        Map<String, DeviceTensor> mine = new LinkedHashMap<>();
        for (String name : blockNames(block)) {
            DeviceTensor g = grads.remove(name);
            if (g != null) {
                mine.put(name, g);
            }
        }
        try {
            return read(mine);
        } finally {
            mine.values().forEach(DeviceTensor::close);
        }
    }

    /**
     * Uploads every block again from the host and keeps them on the device, as before {@link #dropBlocks}.
     *
     * @param host every parameter, f32, host shapes (only the blocks' are read)
     */
    public void restoreBlocks(Map<String, Tensor> host) {
        check("restoreBlocks");
        if (!blockwise) {
            return;
        }
        WanWeights.check(config, host);
        Map<String, DeviceTensor> all = new LinkedHashMap<>();
        for (String name : hostShapes.keySet()) {
            DeviceTensor t = params.remove(name);
            all.put(name, t != null ? t : session.upload(host.get(name).reshape(deviceShape(name,
                    hostShapes.get(name)))));
        }
        params.putAll(all);   // WanParameters.expected order again
        blockwise = false;
    }

    private List<String> blockNames(int block) {
        List<String> names = hostShapes.keySet().stream().filter(n -> WanGraph.blockOf(n) == block).toList();
        if (names.isEmpty()) {
            throw new IllegalArgumentException(OP + ": block " + block + " is not in this model's "
                    + config.numLayers() + " blocks");
        }
        return names;
    }

    /**
     * Copies the device parameters into the caller's host tensors, in place (for a checkpoint writer holding the
     * host map).
     *
     * @param host a map with every parameter, f32, host shapes
     */
    public void downloadInto(Map<String, Tensor> host) {
        check("downloadInto");
        WanWeights.check(config, host);
        for (Map.Entry<String, DeviceTensor> e : params.entrySet()) {
            try (Tensor flat = e.getValue().toHost()) {
                host.get(e.getKey()).copyFrom(flat.reshape(hostShapes.get(e.getKey())));
            }
        }
    }

    /**
     * Overwrites every device parameter's values with the host's, in place (after a checkpoint was loaded);
     * gradients are kept.
     *
     * @param host a map with every parameter, f32, host shapes
     */
    public void uploadFrom(Map<String, Tensor> host) {
        check("uploadFrom");
        WanWeights.check(config, host);
        for (Map.Entry<String, DeviceTensor> e : params.entrySet()) {
            // in place: an optimizer holds these very tensors
            DeviceCopies.uploadInto(host.get(e.getKey()), e.getValue());
        }
    }

    /** Frees the parameters and gradients; closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (positionSignal != null) {
            positionSignal.close();
        }
        grads.values().forEach(DeviceTensor::close);
        grads.clear();
        params.values().forEach(DeviceTensor::close);
        params.clear();
    }

    /** @return the config's absolute position signal on this store's device, uploaded once per token layout */
    public DevicePositionSignal positionSignal() {
        check("positionSignal");
        if (positionSignal == null) {
            positionSignal = new DevicePositionSignal(session, config.absolutePosition());
        }
        return positionSignal;
    }

    private void check(String what) {
        if (closed) {
            throw new IllegalStateException(OP + "." + what + ": the store is closed, expected an open one");
        }
    }
}

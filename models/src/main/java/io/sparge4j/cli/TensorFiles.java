package io.sparge4j.cli;

import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.io.TensorInfo;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/** Reads the named tensors the attention commands take, with messages that name the flag and the file. */
final class TensorFiles {
    private TensorFiles() {
    }

    /**
     * Loads a floating-point rank-4 tensor as f32.
     *
     * @param option the flag that named the file, e.g. "--q"
     * @param path the safetensors file
     * @param name the tensor's name in it, e.g. "q"
     * @param layoutName the expected layout, for messages: "(B,H,N,d)" or "(B,N,H,d)"
     * @return the tensor, owned by the caller
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if the tensor is missing, not floating point or not rank 4
     */
    static Tensor loadFloat4(String option, Path path, String name, String layoutName) throws IOException {
        try (SafetensorsFile file = open(option, path)) {
            TensorInfo info = require(option, file, name, "a tensor '" + name + "' of shape " + layoutName
                    + " in f32, f16 or bf16");
            if (!info.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException(option + " " + path + ": tensor '" + name + "' has dtype "
                        + info.dtype() + ", expected f32, f16 or bf16");
            }
            if (info.shape().length != 4) {
                throw new IllegalArgumentException(option + " " + path + ": tensor '" + name + "' has shape "
                        + Arrays.toString(info.shape()) + ", expected 4 dimensions " + layoutName);
            }
            return file.load(name, DType.F32);
        }
    }

    /**
     * Loads a block mask tensor {@code mask}, u8 or bool, of the given shape.
     *
     * @param option the flag, "--mask"
     * @param path the file
     * @param expected (B, H, nq, nk)
     * @param why how the expected shape follows from the inputs, for the message
     * @return the tensor in its stored dtype
     * @throws IOException if the file cannot be read
     */
    static Tensor loadMask(String option, Path path, int[] expected, String why) throws IOException {
        try (SafetensorsFile file = open(option, path)) {
            TensorInfo info = require(option, file, "mask", "a tensor 'mask' (u8 or bool) of shape (B,H,nq,nk)");
            if (info.dtype() != DType.U8 && info.dtype() != DType.BOOL) {
                throw new IllegalArgumentException(option + " " + path + ": tensor 'mask' has dtype " + info.dtype()
                        + ", expected u8 or bool");
            }
            if (!Arrays.equals(info.shape(), expected)) {
                throw new IllegalArgumentException(option + " " + path + ": tensor 'mask' has shape "
                        + Arrays.toString(info.shape()) + ", expected " + Arrays.toString(expected) + " (B,H,nq,nk) "
                        + why);
            }
            return file.load("mask");
        }
    }

    /**
     * Loads a floating-point tensor of the given rank as f32: the one named {@code name}, or the file's only tensor.
     *
     * @param option the flag, for messages
     * @param path the file
     * @param name the preferred tensor name
     * @param rank the expected number of dimensions
     * @param shapeName the expected shape, for messages, e.g. "(L, text_dim)"
     * @return the tensor, owned by the caller
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if no such tensor exists, or it is not floating point or not of that rank
     */
    static Tensor loadFloat(String option, Path path, String name, int rank, String shapeName) throws IOException {
        try (SafetensorsFile file = open(option, path)) {
            String chosen = file.contains(name) || file.size() != 1 ? name : file.names().iterator().next();
            TensorInfo info = require(option, file, chosen, "a tensor '" + name + "' of shape " + shapeName
                    + " in f32, f16 or bf16 (or a file holding one tensor)");
            if (!info.dtype().isFloatingPoint() || info.shape().length != rank) {
                throw new IllegalArgumentException(option + " " + path + ": tensor '" + chosen + "' is "
                        + info.dtype() + " " + Arrays.toString(info.shape()) + ", expected f32, f16 or bf16 of shape "
                        + shapeName);
            }
            return file.load(chosen, DType.F32);
        }
    }

    private static SafetensorsFile open(String option, Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new NoSuchFileException(option + " " + path + ": no such file");
        }
        return SafetensorsFile.open(path);
    }

    private static TensorInfo require(String option, SafetensorsFile file, String name, String expected) {
        if (!file.contains(name)) {
            throw new IllegalArgumentException(option + " " + file.path() + ": no tensor named '" + name + "' (it holds "
                    + (file.names().isEmpty() ? "none" : String.join(", ", file.names())) + "), expected " + expected);
        }
        return file.info(name);
    }
}

package io.sparge4j.engine.compute;

/** The source language a kernel is generated in. */
public enum Dialect {
    /** CUDA C++ for NVRTC, self-contained (no headers). */
    CUDA,
    /** OpenCL C 1.2 (runs on 2.x/3.0 devices too). */
    OPENCL
}

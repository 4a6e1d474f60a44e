/**
 * {@code sparge selftest}: the portability and GEMM kernels run through the task-graph API on one backend
 * (emulator, CUDA or OpenCL) and are compared with float64 references, with per-kernel tolerances stated in
 * {@link io.sparge4j.engine.selftest.SelfTest}. One {@link io.sparge4j.engine.selftest.SelfTestResult} per
 * kernel: pass or fail, the path the kernel took, the largest errors and the time.
 */
package io.sparge4j.engine.selftest;

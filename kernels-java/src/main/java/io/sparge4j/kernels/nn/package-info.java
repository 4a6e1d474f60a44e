/**
 * GPU kernels for the Wan2.1 DiT's non-attention operations, in f32, forward and backward: LayerNorm and RMSNorm
 * ({@link io.sparge4j.kernels.nn.NormKernels}), GELU and SiLU ({@link io.sparge4j.kernels.nn.ActivationKernels}),
 * adaLN modulation and the gated residual ({@link io.sparge4j.kernels.nn.ModulationKernels}), column sums for
 * the parameter gradients ({@link io.sparge4j.kernels.nn.ColumnSumKernels}), 3D RoPE
 * ({@link io.sparge4j.kernels.nn.RopeKernels}, tables from {@link io.sparge4j.kernels.nn.RopeTables}) and the
 * AdamW step ({@link io.sparge4j.kernels.nn.AdamWKernels}).
 *
 * <p>Each kernel has the semantics of the engine's CPU op of the same name ({@code io.sparge4j.engine.ops}). They
 * are KernelContext kernels (static methods the engine's JIT compiles to CUDA C or OpenCL C, or runs on the
 * emulator); each class documents its launch grid and has static helpers that build it. Every kernel guards its
 * edges and loops over its grid (grid-stride), so any grid at least one work-group large computes everything.
 * Row reductions use sub-group shuffles and a small local array; every work-item of a group reaches them.
 * Parameter gradients (weights, biases, shift, scale, gate) are column sums done deterministically in two
 * steps, partial sums per chunk of rows and then a sum over the chunks, with no atomics: the same inputs give
 * bit-identical results on every run.
 */
package io.sparge4j.kernels.nn;

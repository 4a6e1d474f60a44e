/**
 * Device kernels that build SpargeAttention2's block mask: block mean pooling ({@link
 * io.sparge4j.kernels.attention.BlockPoolingKernels}), the pooled score softmax ({@link
 * io.sparge4j.kernels.attention.PooledSoftmaxKernels}), the hybrid Top-k + Top-p selection ({@link
 * io.sparge4j.kernels.attention.BlockSelectKernels}) and the CSR lists of kept blocks with their transpose ({@link
 * io.sparge4j.kernels.attention.BlockListKernels}).
 *
 * <p>The reference semantics are the engine's CPU classes {@code PooledAttentionMap}, {@code BlockSelector} and
 * {@code BlockMask}: given the same pooled probabilities, the device mask equals the CPU mask exactly.
 */
package io.sparge4j.kernels.attention;

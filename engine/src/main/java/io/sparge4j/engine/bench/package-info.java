/**
 * The attention benchmark harness behind {@code sparge attention-bench}: dense against block-sparse attention,
 * forward and backward, on structured random inputs, with the mask's cost and a float64 accuracy check.
 * Library users call {@link io.sparge4j.engine.bench.AttentionBench#run} directly.
 */
package io.sparge4j.engine.bench;

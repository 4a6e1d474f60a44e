/**
 * The pieces of a task graph: the serializable kernel references {@link io.sparge4j.kernels.tasks.Task1} to
 * {@link io.sparge4j.kernels.tasks.Task15} (a method reference such as {@code PortabilityKernels::saxpy} becomes
 * one), and the frozen description of tasks ({@link io.sparge4j.kernels.tasks.TaskSpec}) and data transfers
 * ({@link io.sparge4j.kernels.tasks.Transfer}) that an {@link io.sparge4j.kernels.ImmutableTaskGraph} hands to
 * the executor.
 */
package io.sparge4j.kernels.tasks;

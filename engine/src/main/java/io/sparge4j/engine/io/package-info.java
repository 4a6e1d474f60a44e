/**
 * Reading and writing tensors in the safetensors format: {@link io.sparge4j.engine.io.SafetensorsFile}
 * memory-maps and validates a file, {@link io.sparge4j.engine.io.Safetensors} writes one atomically.
 */
package io.sparge4j.engine.io;

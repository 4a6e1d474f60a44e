/**
 * Backend discovery: which compute backends (CPU, CUDA, OpenCL) this machine offers, and their devices.
 *
 * <p>The CUDA driver and OpenCL are reached through {@code java.lang.foreign} downcalls, with no JNI and
 * no native build; the JVM needs {@code --enable-native-access=ALL-UNNAMED}. Start at
 * {@link io.sparge4j.engine.device.Backends#discover()}.
 */
package io.sparge4j.engine.device;

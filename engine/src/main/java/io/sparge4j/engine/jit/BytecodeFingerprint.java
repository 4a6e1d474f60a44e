package io.sparge4j.engine.jit;

import java.lang.classfile.CodeElement;
import java.lang.classfile.attribute.CodeAttribute;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.InvokeDynamicInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.classfile.instruction.NewMultiArrayInstruction;
import java.lang.classfile.instruction.NewObjectInstruction;
import java.lang.classfile.instruction.NewReferenceArrayInstruction;
import java.lang.classfile.instruction.TypeCheckInstruction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A method's bytecode as the cache key must see it: the code bytes and, resolved, every constant-pool entry they
 * refer to. The code bytes alone name constants by pool index, so two versions of a class whose pools differ at
 * the same index (a field, a called method or a literal swapped) would hash alike.
 */
final class BytecodeFingerprint {
    private BytecodeFingerprint() {
    }

    /** @return the SHA-256 of the code bytes and of the resolved pool entries, in hex */
    static String of(CodeAttribute code) {
        StringBuilder pool = new StringBuilder();
        for (CodeElement e : code) {
            String resolved = resolved(e);
            if (resolved != null) {
                pool.append(resolved).append('\n');
            }
        }
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(code.codeArray());
            sha.update(pool.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** @return the pool entry an instruction names, as text, or null when it names none */
    private static String resolved(CodeElement e) {
        return switch (e) {
            case ConstantInstruction c -> "constant " + constant(c.constantValue());
            case FieldInstruction f -> "field " + f.owner().asInternalName() + "." + f.name().stringValue() + ":"
                    + f.type().stringValue();
            case InvokeInstruction i -> "method " + i.owner().asInternalName() + "." + i.name().stringValue()
                    + i.type().stringValue();
            case InvokeDynamicInstruction d -> "indy " + d.invokedynamic();
            case TypeCheckInstruction t -> "type " + t.type().asInternalName();
            case NewObjectInstruction n -> "new " + n.className().asInternalName();
            case NewReferenceArrayInstruction n -> "new array " + n.componentType().asInternalName();
            case NewMultiArrayInstruction n -> "new arrays " + n.arrayType().asInternalName();
            default -> null;
        };
    }

    /** Floats and doubles by their bits, so that -0.0 and 0.0 (or NaN payloads) stay apart. */
    private static String constant(Object v) {
        return switch (v) {
            case Float f -> "F" + Integer.toHexString(Float.floatToRawIntBits(f));
            case Double d -> "D" + Long.toHexString(Double.doubleToRawLongBits(d));
            case null -> "null";
            default -> v.getClass().getSimpleName() + " " + v;
        };
    }
}

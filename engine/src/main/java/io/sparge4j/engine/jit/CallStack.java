package io.sparge4j.engine.jit;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;

/**
 * The methods being translated, innermost first: the kernel, then the helpers inlined into it. Errors name the
 * innermost method's line and bytecode offset and the lines of the calls it was inlined through.
 */
final class CallStack implements Iterable<MethodFrame> {
    private final Deque<MethodFrame> frames = new ArrayDeque<>();
    private int frameIds;

    /** @return the id of the next frame: 0 for the kernel, which also keeps its labels and temporaries plain */
    int nextId() {
        return frameIds++;
    }

    void push(MethodFrame frame) {
        frames.push(frame);
    }

    void pop() {
        frames.pop();
    }

    /** @return the innermost method, or null before the kernel is entered */
    MethodFrame peek() {
        return frames.peek();
    }

    boolean isEmpty() {
        return frames.isEmpty();
    }

    int size() {
        return frames.size();
    }

    @Override
    public Iterator<MethodFrame> iterator() {
        return frames.iterator();
    }

    /** @return an error at the current instruction of the innermost method, naming the calls it is inlined in */
    KernelCompileException error(String reason) {
        MethodFrame f = frames.peek();
        if (f == null) {
            return new KernelCompileException("?", "?", null, -1, -1, reason);
        }
        StringBuilder where = new StringBuilder(reason);
        boolean first = true;
        for (MethodFrame outer : frames) {
            if (!first) {
                where.append(" (inlined into ").append(outer.javaName()).append(" line ").append(outer.line)
                        .append(')');
            }
            first = false;
        }
        return new KernelCompileException(f.owner.getName(), f.methodName, f.sourceFile, f.pc, f.line,
                where.toString());
    }
}

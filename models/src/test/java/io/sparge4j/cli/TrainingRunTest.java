package io.sparge4j.cli;

import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.train.BlockParameters;
import io.sparge4j.models.train.BlockwiseTask;
import io.sparge4j.models.train.MicroBatch;
import io.sparge4j.models.train.StepResult;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The metrics wrapper of a training run keeps a block-wise task one, passing every block-wise call on. */
class TrainingRunTest {

    /** Records the BlockwiseTask calls that reach it. */
    private static final class Recording implements BlockwiseTask {
        final List<String> calls = new ArrayList<>();

        @Override
        public Map<String, Tensor> parameters() {
            return Map.of();
        }

        @Override
        public StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients) {
            calls.add("computeGradients");
            return new StepResult(2.5, 7, Map.of("sparsity", 0.9));
        }

        @Override
        public int blockOf(String name) {
            calls.add("blockOf " + name);
            return 3;
        }

        @Override
        public int blocks() {
            calls.add("blocks");
            return 4;
        }

        @Override
        public void readBlocksFrom(BlockParameters source) {
            calls.add("readBlocksFrom");
        }

        @Override
        public void shardFrozen(Communicator comm, CollectiveQueue queue) {
            calls.add("shardFrozen");
        }

        @Override
        public void unshardFrozen() {
            calls.add("unshardFrozen");
        }

        @Override
        public boolean releaseBlocks() {
            calls.add("releaseBlocks");
            return true;
        }
    }

    @Test
    void aWrappedBlockwiseTaskPassesEveryBlockwiseCallOn() {
        Recording inner = new Recording();
        BlockwiseTask wrapped = assertInstanceOf(BlockwiseTask.class,
                TrainingRun.withMetrics(inner, Map.of("topk", 0.03)));
        assertEquals(3, wrapped.blockOf("blocks.3.ffn.0.weight"));
        assertEquals(4, wrapped.blocks());
        wrapped.readBlocksFrom(null);
        wrapped.shardFrozen(null, null);
        wrapped.unshardFrozen();
        assertTrue(wrapped.releaseBlocks());
        StepResult r = wrapped.computeGradients(new MicroBatch(0, 0, 1, 11), Map.of());
        assertEquals(List.of("blockOf blocks.3.ffn.0.weight", "blocks", "readBlocksFrom", "shardFrozen",
                "unshardFrozen", "releaseBlocks", "computeGradients"), inner.calls);
        assertEquals(Map.of("sparsity", 0.9, "topk", 0.03), r.metrics());
    }

    /** A default method of BlockwiseTask that the wrapper does not override would silently do nothing. */
    @Test
    void theWrapperOverridesEveryMethodOfBlockwiseTask() {
        Class<?> wrapper = TrainingRun.withMetrics(new Recording(), Map.of()).getClass();
        for (Method m : BlockwiseTask.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            try {
                Method impl = wrapper.getMethod(m.getName(), m.getParameterTypes());
                assertTrue(!impl.isDefault(), wrapper.getSimpleName() + " inherits the default " + m.getName()
                        + " instead of passing it on");
            } catch (NoSuchMethodException e) {
                throw new AssertionError(wrapper.getSimpleName() + " lacks " + m, e);
            }
        }
    }
}

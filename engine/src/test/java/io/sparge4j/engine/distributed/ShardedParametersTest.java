package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * ZeRO-style sharding over {@link InProcessCommunicator} ranks: shard then gather gives back the parameters
 * bit-exactly; reduce-scatter gives each rank its shard of the float64 mean of the ranks' gradients; and a few
 * Adam steps on the shards, gathered, equal the same steps on the unsharded parameters with the mean gradient.
 *
 * <p>Tolerances: gradient means within 2^-23 relative of float64 plus 1e-30 (one f32 rounding of the mean, as the
 * in-process reduce-scatter computes it; NCCL's ring sum would differ by a few ulps). Adam: parameters within 1e-6
 * absolute after three steps of learning rate 1e-2 (both sides run the same f32 update on mean gradients that agree
 * to an ulp; Adam's m / sqrt(v) is insensitive to that).
 */
class ShardedParametersTest {
    /** 31 elements in all: padding is 1, 2 and 1 elements for world sizes 2, 3 and 4. */
    private static Map<String, Tensor> params(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> p = new LinkedHashMap<>(); // deliberately not in name order
        p.put("w2", random(rng, 2, 5));
        p.put("b1", random(rng, 5));
        p.put("w1", random(rng, 5, 3));
        p.put("a.scale", random(rng, 1));
        return p;
    }

    private static Tensor random(SplittableRandom rng, int... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setFloat(i, (float) rng.nextDouble(-2, 2));
        }
        return t;
    }

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void shardThenGatherGivesBackTheParameters(int world) {
        Map<String, Tensor> params = params(3);
        List<Map<String, Tensor>> gathered = InProcessCommunicator.runRanks(world, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm)) {
                assertEquals(31, s.totalSize());
                assertEquals((31 + world - 1) / world, s.shardSize());
                assertEquals((long) comm.rank() * s.shardSize(), s.shardOffset());
                assertEquals(List.of("a.scale", "b1", "w1", "w2"), s.layout().stream().map(ShardedParameters.Entry::name)
                        .toList(), "layout in name order");
                return s.gather(comm);
            }
        });
        for (int r = 0; r < world; r++) {
            assertEquals(params.keySet(), gathered.get(r).keySet());
            for (var e : params.entrySet()) {
                Tensor got = gathered.get(r).get(e.getKey());
                assertArrayEquals(e.getValue().shape(), got.shape(), e.getKey());
                assertArrayEquals(e.getValue().toFloatArray(), got.toFloatArray(), "rank " + r + " " + e.getKey());
            }
        }
    }

    @Test
    void eachShardHoldsItsSliceOfTheNameOrderedFlatBufferWithZeroPadding() {
        Map<String, Tensor> params = params(4);
        // The flat buffer written out by hand from the name order a.scale (1), b1 (5), w1 (15), w2 (10).
        float[] flat = new float[32];
        int at = 0;
        for (String name : new String[] {"a.scale", "b1", "w1", "w2"}) {
            float[] v = params.get(name).toFloatArray();
            System.arraycopy(v, 0, flat, at, v.length);
            at += v.length;
        }
        for (int r = 0; r < 4; r++) {
            try (ShardedParameters s = ShardedParameters.shard(params, r, 4)) {
                float[] expected = new float[8];
                System.arraycopy(flat, 8 * r, expected, 0, 8);
                assertArrayEquals(expected, s.shard().toFloatArray(), "rank " + r);
            }
        }
    }

    /** Rank r's gradients: the same names and shapes, different values per rank. */
    private static Map<String, Tensor> grads(Map<String, Tensor> params, long seed, int rank) {
        SplittableRandom rng = new SplittableRandom(seed * 100 + rank);
        Map<String, Tensor> g = new LinkedHashMap<>();
        for (var e : params.entrySet()) {
            g.put(e.getKey(), random(rng, e.getValue().shape()));
        }
        return g;
    }

    /** The float64 mean over ranks of each gradient, laid out flat in name order. */
    private static double[] meanGradient(Map<String, Tensor> params, long seed, int world) {
        double[] mean = new double[31];
        for (int r = 0; r < world; r++) {
            Map<String, Tensor> g = grads(params, seed, r);
            int at = 0;
            for (String name : new String[] {"a.scale", "b1", "w1", "w2"}) {
                double[] v = g.get(name).toDoubleArray();
                for (int i = 0; i < v.length; i++) {
                    mean[at + i] += v[i] / world;
                }
                at += v.length;
            }
        }
        return mean;
    }

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void reduceScatterGivesEachRankItsShardOfTheMeanGradient(int world) {
        Map<String, Tensor> params = params(5);
        double[] mean = meanGradient(params, 9, world);
        List<float[]> shards = InProcessCommunicator.runRanks(world, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm);
                 Tensor g = s.reduceScatterGradients(comm, grads(params, 9, comm.rank()))) {
                return g.toFloatArray();
            }
        });
        int size = (31 + world - 1) / world;
        for (int r = 0; r < world; r++) {
            assertEquals(size, shards.get(r).length);
            for (int i = 0; i < size; i++) {
                long flat = (long) r * size + i;
                double expected = flat < 31 ? mean[(int) flat] : 0;
                double got = shards.get(r)[i];
                if (!(Math.abs(got - expected) <= 0x1p-23 * Math.abs(expected) + 1e-30)) {
                    fail("rank " + r + " element " + flat + ": got " + got + ", float64 mean " + expected);
                }
            }
        }
    }

    /** Units for the FSDP-style tests: "a.scale" and "b1" in unit "", w1 in "w1", w2 in "w2". */
    private static String unitOf(String name) {
        return name.startsWith("w") ? name : "";
    }

    /**
     * With units, every unit is split over the ranks on its own (slices of ceil(unit size / world)): gather and
     * gatherUnit give the parameters back bit for bit; the pieces cover every parameter element exactly once over
     * the ranks and point at the element the shard holds; two reduceScatterUnit calls add up to twice the float64
     * mean of that unit's gradients, in the unit's range only.
     */
    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void unitsAreShardedGatheredAndReduceScatteredOneAtATime(int world) {
        Map<String, Tensor> params = params(11);
        double[] mean = meanGradient(params, 13, world);   // flat in name order: a.scale 0, b1 1-5, w1 6-20, w2 21-30
        Map<String, int[]> flatStart = Map.of("a.scale", new int[] {0}, "b1", new int[] {1}, "w1", new int[] {6},
                "w2", new int[] {21});
        List<float[]> accumulated = InProcessCommunicator.runRanks(world, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm, ShardedParametersTest::unitOf)) {
                assertEquals(List.of("", "w1", "w2"), s.units());
                assertEquals(List.of("a.scale", "b1"), s.unitNames(""));
                int slices = (6 + world - 1) / world + (15 + world - 1) / world + (10 + world - 1) / world;
                assertEquals(slices, s.shardSize());
                assertThrows(IllegalStateException.class, s::shardOffset);
                float[] shard = s.shard().toFloatArray();
                for (ShardedParameters.Piece piece : s.pieces()) {
                    float[] whole = params.get(piece.name()).toFloatArray();
                    for (int i = 0; i < piece.length(); i++) {
                        assertEquals(whole[(int) piece.paramOffset() + i], shard[piece.shardOffset() + i], 0f,
                                piece + " element " + i);
                    }
                }
                Map<String, Tensor> all = s.gather(comm);
                Map<String, Tensor> w1 = s.gatherUnit(comm, "w1");
                assertEquals(List.of("w1"), List.copyOf(w1.keySet()));
                assertArrayEquals(params.get("w1").toFloatArray(), w1.get("w1").toFloatArray());
                for (var e : params.entrySet()) {
                    assertArrayEquals(e.getValue().toFloatArray(), all.get(e.getKey()).toFloatArray(), e.getKey());
                }
                Map<String, Tensor> g = grads(params, 13, comm.rank());
                try (Tensor acc = Tensor.zeros(s.shardSize())) {
                    for (int twice = 0; twice < 2; twice++) {
                        s.reduceScatterUnit(comm, "w1", Map.of("w1", g.get("w1")), acc);
                    }
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> s.reduceScatterUnit(comm, "w1", g, acc));
                    assertTrue(e.getMessage().contains("not parameters of unit 'w1'"), e.getMessage());
                    return acc.toFloatArray();
                }
            }
        });
        int[] covered = new int[31];
        for (int r = 0; r < world; r++) {
            try (ShardedParameters s = ShardedParameters.shard(params, r, world, ShardedParametersTest::unitOf)) {
                float[] acc = accumulated.get(r);
                boolean[] inW1 = new boolean[acc.length];
                for (ShardedParameters.Piece piece : s.pieces()) {
                    int flat = flatStart.get(piece.name())[0] + (int) piece.paramOffset();
                    for (int i = 0; i < piece.length(); i++) {
                        covered[flat + i]++;
                        if (piece.name().equals("w1")) {
                            inW1[piece.shardOffset() + i] = true;
                            double want = 2 * mean[flat + i];
                            double got = acc[piece.shardOffset() + i];
                            assertTrue(Math.abs(got - want) <= 0x1p-22 * Math.abs(want) + 1e-30,
                                    "rank " + r + " w1 element " + (flat + i - 6) + ": " + got + " vs " + want);
                        }
                    }
                }
                for (int i = 0; i < acc.length; i++) {
                    if (!inW1[i]) {
                        assertEquals(0f, acc[i], "rank " + r + " shard element " + i + " is outside unit w1");
                    }
                }
            }
        }
        assertTrue(Arrays.stream(covered).allMatch(n -> n == 1), Arrays.toString(covered));
    }

    /** Adam on f32 arrays, written here so the test does not depend on any optimizer in models. */
    private static final class Adam {
        static final float LR = 1e-2f;
        static final float B1 = 0.9f;
        static final float B2 = 0.999f;
        static final float EPS = 1e-8f;
        final float[] m;
        final float[] v;
        int step;

        Adam(int n) {
            m = new float[n];
            v = new float[n];
        }

        void step(float[] p, float[] g) {
            step++;
            float c1 = 1 - (float) Math.pow(B1, step);
            float c2 = 1 - (float) Math.pow(B2, step);
            for (int i = 0; i < p.length; i++) {
                m[i] = B1 * m[i] + (1 - B1) * g[i];
                v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
                p[i] -= LR * (m[i] / c1) / ((float) Math.sqrt(v[i] / c2) + EPS);
            }
        }
    }

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void adamStepsOnShardsEqualUnshardedStepsOnTheMeanGradient(int world) {
        Map<String, Tensor> params = params(7);
        int steps = 3;
        List<Map<String, Tensor>> results = InProcessCommunicator.runRanks(world, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm)) {
                Adam adam = new Adam(s.shardSize()); // optimizer state only for this shard
                for (int t = 0; t < steps; t++) {
                    try (Tensor g = s.reduceScatterGradients(comm, grads(params, 100 + t, comm.rank()))) {
                        float[] p = s.shard().toFloatArray();
                        adam.step(p, g.toFloatArray());
                        s.shard().copyFrom(p);
                    }
                }
                return s.gather(comm);
            }
        });
        // Unsharded: the whole flat parameter vector, the float64 mean gradient rounded to f32 once.
        float[] p = new float[31];
        int at = 0;
        for (String name : new String[] {"a.scale", "b1", "w1", "w2"}) {
            float[] v = params.get(name).toFloatArray();
            System.arraycopy(v, 0, p, at, v.length);
            at += v.length;
        }
        Adam adam = new Adam(31);
        for (int t = 0; t < steps; t++) {
            double[] mean = meanGradient(params, 100 + t, world);
            float[] g = new float[31];
            for (int i = 0; i < 31; i++) {
                g[i] = (float) mean[i];
            }
            adam.step(p, g);
        }
        for (int r = 0; r < world; r++) {
            at = 0;
            for (String name : new String[] {"a.scale", "b1", "w1", "w2"}) {
                float[] got = results.get(r).get(name).toFloatArray();
                float[] before = params.get(name).toFloatArray();
                for (int i = 0; i < got.length; i++, at++) {
                    assertTrue(got[i] != before[i], "the steps moved " + name + "[" + i + "]");
                    if (!(Math.abs(got[i] - p[at]) <= 1e-6)) {
                        fail("rank " + r + " " + name + "[" + i + "]: sharded Adam gives " + got[i]
                                + ", unsharded gives " + p[at]);
                    }
                }
            }
        }
    }

    @Test
    void badArgumentsAreReported() {
        Map<String, Tensor> params = params(1);
        var bf = assertThrows(IllegalArgumentException.class,
                () -> ShardedParameters.shard(Map.of("x", Tensor.allocate(DType.BF16, 3)), 0, 1));
        assertTrue(bf.getMessage().contains("parameter 'x' is bf16 [3], expected an f32 tensor"), bf.getMessage());
        var rank = assertThrows(IllegalArgumentException.class, () -> ShardedParameters.shard(params, 2, 2));
        assertTrue(rank.getMessage().contains("rank 2 of world size 2"), rank.getMessage());
        var empty = assertThrows(IllegalArgumentException.class, () -> ShardedParameters.shard(Map.of(), 0, 1));
        assertTrue(empty.getMessage().contains("params is empty"), empty.getMessage());

        var missing = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(1, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm)) {
                Map<String, Tensor> g = grads(params, 1, 0);
                g.remove("w1");
                return s.reduceScatterGradients(comm, g);
            }
        }));
        assertTrue(missing.getMessage().contains("gradient 'w1' is missing, expected f32 [5, 3]"), missing.getMessage());
        var shape = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(1, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm)) {
                Map<String, Tensor> g = grads(params, 1, 0);
                g.put("b1", Tensor.allocate(DType.F32, 6));
                return s.reduceScatterGradients(comm, g);
            }
        }));
        assertTrue(shape.getMessage().contains("gradient 'b1' is f32 [6], expected f32 [5]"), shape.getMessage());
        var extra = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(1, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, comm)) {
                Map<String, Tensor> g = grads(params, 1, 0);
                g.put("stray", Tensor.allocate(DType.F32, 1));
                return s.reduceScatterGradients(comm, g);
            }
        }));
        assertTrue(extra.getMessage().contains("[stray] that are not parameters"), extra.getMessage());
        var group = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.runRanks(2, comm -> {
            try (ShardedParameters s = ShardedParameters.shard(params, 0, 1)) {
                return s.gather(comm);
            }
        }));
        assertTrue(group.getMessage().contains("expected rank 0 of 1"), group.getMessage());
    }
}

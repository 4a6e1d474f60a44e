package io.sparge4j.engine.distributed;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every collective of {@link InProcessCommunicator} for world sizes 1 to 4 against a direct computation over all
 * ranks' inputs (float64 for reductions), then the argument errors.
 *
 * <p>Tolerances: f32 reductions within 2^-23 relative of the float64 result (the communicator rounds once), bf16
 * within 2^-8 relative (one bf16 rounding); copies (allGather, allToAll, broadcast) and integer reductions exact.
 */
class InProcessCommunicatorTest {
    private static final double F32_RTOL = 0x1p-23;
    private static final double BF16_RTOL = 0x1p-8;

    /** Rank r's input: values drawn from a generator seeded by (seed, r); products stay near 1. */
    private static Tensor input(long seed, int rank, DType dtype, boolean forProduct, int... shape) {
        SplittableRandom rng = new SplittableRandom(seed * 1000 + rank);
        Tensor t = Tensor.allocate(dtype, shape);
        for (long i = 0; i < t.numel(); i++) {
            if (!dtype.isFloatingPoint()) {
                t.setLong(i, rng.nextLong(-1000, 1000));
            } else {
                t.setFloat(i, (float) (forProduct ? rng.nextDouble(0.5, 2) : rng.nextDouble(-3, 3)));
            }
        }
        return t;
    }

    private static double reduce(double[] perRank, ReduceOp op) {
        double v = perRank[0];
        for (int r = 1; r < perRank.length; r++) {
            v = switch (op) {
                case SUM, AVG -> v + perRank[r];
                case PROD -> v * perRank[r];
                case MAX -> Math.max(v, perRank[r]);
                case MIN -> Math.min(v, perRank[r]);
            };
        }
        return op == ReduceOp.AVG ? v / perRank.length : v;
    }

    /** The float64 reduction of element i over the ranks' inputs (read as doubles, so independent of the code). */
    private static double expected(Tensor[] inputs, long i, ReduceOp op) {
        double[] column = new double[inputs.length];
        for (int r = 0; r < inputs.length; r++) {
            column[r] = inputs[r].dtype().isFloatingPoint() ? inputs[r].getFloat(i) : inputs[r].getLong(i);
        }
        return reduce(column, op);
    }

    private static void assertNear(double expected, double got, double rtol, String what) {
        double tol = rtol * Math.abs(expected) + 1e-30;
        if (!(Math.abs(got - expected) <= tol)) {
            fail(what + ": got " + got + ", expected " + expected + " within " + tol);
        }
    }

    private static Tensor[] inputs(int world, long seed, DType dtype, boolean forProduct, int... shape) {
        Tensor[] in = new Tensor[world];
        for (int r = 0; r < world; r++) {
            in[r] = input(seed, r, dtype, forProduct, shape);
        }
        return in;
    }

    // ---------------------------------------------------------------- allReduce

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allReduceF32MatchesFloat64ReductionForEveryOp(int world) {
        for (ReduceOp op : ReduceOp.values()) {
            Tensor[] in = inputs(world, 17 + op.ordinal(), DType.F32, op == ReduceOp.PROD, 5, 7);
            List<Tensor> out = InProcessCommunicator.runRanks(world, c -> {
                Tensor buffer = in[c.rank()].copy();
                c.allReduce(buffer, op);
                return buffer;
            });
            for (int r = 0; r < world; r++) {
                for (long i = 0; i < 35; i++) {
                    assertNear(expected(in, i, op), out.get(r).getFloat(i), F32_RTOL, op + " rank " + r + " element " + i);
                }
            }
        }
    }

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allReduceBf16AndIntegersMatchDirectReduction(int world) {
        Tensor[] bf = inputs(world, 5, DType.BF16, false, 3, 11);
        Tensor[] ints = inputs(world, 6, DType.I32, false, 13);
        Tensor[] longs = inputs(world, 7, DType.I64, false, 2, 3);
        List<Tensor[]> out = InProcessCommunicator.runRanks(world, c -> {
            Tensor a = bf[c.rank()].copy();
            Tensor b = ints[c.rank()].copy();
            Tensor d = longs[c.rank()].copy();
            c.allReduce(a, ReduceOp.SUM);
            c.allReduce(b, ReduceOp.SUM);
            c.allReduce(d, ReduceOp.MIN);
            return new Tensor[] {a, b, d};
        });
        for (int r = 0; r < world; r++) {
            assertEquals(DType.BF16, out.get(r)[0].dtype());
            for (long i = 0; i < 33; i++) {
                assertNear(expected(bf, i, ReduceOp.SUM), out.get(r)[0].getFloat(i), BF16_RTOL, "bf16 sum " + i);
            }
            for (long i = 0; i < 13; i++) {
                assertEquals((long) expected(ints, i, ReduceOp.SUM), out.get(r)[1].getLong(i), "i32 sum " + i);
            }
            for (long i = 0; i < 6; i++) {
                assertEquals((long) expected(longs, i, ReduceOp.MIN), out.get(r)[2].getLong(i), "i64 min " + i);
            }
        }
    }

    // ---------------------------------------------------------------- allGather

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allGatherStacksEveryRanksInputInRankOrder(int world) {
        for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.I64, DType.U8}) {
            Tensor[] in = inputs(world, 23 + dtype.ordinal(), dtype, false, 3, 2, 5);
            List<Tensor> out = InProcessCommunicator.runRanks(world, c -> {
                Tensor o = Tensor.allocate(dtype, 3 * world, 2, 5);
                c.allGather(in[c.rank()], o);
                return o;
            });
            for (int r = 0; r < world; r++) {
                for (int src = 0; src < world; src++) {
                    for (long i = 0; i < 30; i++) {
                        assertEquals(in[src].getLong(i), out.get(r).getLong(src * 30L + i), dtype + " rank " + r);
                        assertEquals(in[src].getFloat(i), out.get(r).getFloat(src * 30L + i), dtype + " rank " + r);
                    }
                }
            }
        }
    }

    @Test
    void allGatherInPlaceWhereTheInputIsThisRanksRowsOfTheOutput() {
        int world = 3;
        Tensor[] in = inputs(world, 31, DType.F32, false, 4, 3);
        List<Tensor> out = InProcessCommunicator.runRanks(world, c -> {
            Tensor o = Tensor.allocate(DType.F32, 4 * world, 3);
            Tensor mine = o.narrow(4 * c.rank(), 4);
            mine.copyFrom(in[c.rank()]);
            c.allGather(mine, o);
            return o;
        });
        for (int r = 0; r < world; r++) {
            for (int src = 0; src < world; src++) {
                assertArrayEquals(in[src].toFloatArray(), out.get(r).narrow(4 * src, 4).toFloatArray());
            }
        }
    }

    // ---------------------------------------------------------------- reduceScatter

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void reduceScatterGivesEachRankItsRowsOfTheReduction(int world) {
        for (ReduceOp op : ReduceOp.values()) {
            Tensor[] in = inputs(world, 41 + op.ordinal(), DType.F32, op == ReduceOp.PROD, 2 * world, 3);
            List<Tensor> out = InProcessCommunicator.runRanks(world, c -> {
                Tensor o = Tensor.allocate(DType.F32, 2, 3);
                c.reduceScatter(in[c.rank()], o, op);
                return o;
            });
            for (int r = 0; r < world; r++) {
                for (long i = 0; i < 6; i++) {
                    assertNear(expected(in, r * 6L + i, op), out.get(r).getFloat(i), F32_RTOL,
                            op + " rank " + r + " element " + i);
                }
            }
        }
    }

    // ---------------------------------------------------------------- allToAll

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allToAllSendsChunkJToRankJ(int world) {
        for (DType dtype : new DType[] {DType.F32, DType.F16, DType.I32, DType.U8}) {
            int n = 2;
            Tensor[] in = inputs(world, 53 + dtype.ordinal(), dtype, false, n * world, 3);
            List<Tensor> out = InProcessCommunicator.runRanks(world, c -> {
                Tensor o = Tensor.allocate(dtype, n * world, 3);
                c.allToAll(in[c.rank()], o);
                return o;
            });
            for (int j = 0; j < world; j++) {
                for (int src = 0; src < world; src++) {
                    for (int row = 0; row < n; row++) {
                        for (int col = 0; col < 3; col++) {
                            assertEquals(in[src].get(j * n + row, col), out.get(j).get(src * n + row, col),
                                    dtype + ": rank " + j + " from rank " + src);
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- broadcast, barrier

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void broadcastCopiesTheRootsBufferEverywhere(int world) {
        for (int root = 0; root < world; root++) {
            int rootRank = root;
            Tensor[] in = inputs(world, 61 + root, DType.BF16, false, 4, 4);
            List<Tensor> out = InProcessCommunicator.runRanks(world, c -> {
                Tensor b = in[c.rank()].copy();
                c.broadcast(b, rootRank);
                return b;
            });
            for (int r = 0; r < world; r++) {
                assertArrayEquals(in[root].toFloatArray(), out.get(r).toFloatArray(), "root " + root + " rank " + r);
            }
        }
    }

    @ParameterizedTest(name = "world {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void barrierReturnsOnlyOnceEveryRankHasArrived(int world) {
        AtomicInteger arrived = new AtomicInteger();
        List<Integer> seen = InProcessCommunicator.runRanks(world, c -> {
            try {
                Thread.sleep(20L * c.rank()); // later ranks arrive later
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            arrived.incrementAndGet();
            c.barrier();
            return arrived.get();
        });
        for (int s : seen) {
            assertEquals(world, s);
        }
    }

    @Test
    void ranksAndWorldSizeAreReported() {
        List<int[]> ids = InProcessCommunicator.runRanks(3, c -> new int[] {c.rank(), c.worldSize()});
        for (int r = 0; r < 3; r++) {
            assertArrayEquals(new int[] {r, 3}, ids.get(r));
        }
    }

    // ---------------------------------------------------------------- errors

    private static IllegalArgumentException failsOnEveryRank(int world, java.util.function.Consumer<Communicator> body) {
        AtomicInteger failed = new AtomicInteger();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InProcessCommunicator.runRanks(world, c -> {
                    try {
                        body.accept(c);
                    } catch (IllegalArgumentException ex) {
                        failed.incrementAndGet();
                        throw ex;
                    }
                    return null;
                }));
        assertEquals(world, failed.get(), "every rank throws the argument error, none is left waiting");
        return e;
    }

    private static void assertMessage(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' should contain '" + p + "'");
        }
    }

    @Test
    void shapeMismatchAcrossRanksIsReported() {
        var e = failsOnEveryRank(2, c -> c.allReduce(Tensor.allocate(DType.F32, c.rank() == 1 ? 5 : 4), ReduceOp.SUM));
        assertMessage(e, "allReduce", "rank 1's buffer", "[5]", "rank 0's is f32 [4]");
        var d = failsOnEveryRank(3, c -> c.allGather(Tensor.allocate(c.rank() == 2 ? DType.BF16 : DType.F32, 2),
                Tensor.allocate(DType.F32, 6)));
        assertMessage(d, "allGather", "rank 2's input", "bf16");
    }

    @Test
    void dimensionZeroNotDivisibleByWorldSizeIsReported() {
        var e = failsOnEveryRank(3, c -> c.allToAll(Tensor.allocate(DType.F32, 4, 2), Tensor.allocate(DType.F32, 4, 2)));
        assertMessage(e, "allToAll", "[4, 2]", "divisible by the world size 3");
        var r = failsOnEveryRank(2, c -> c.reduceScatter(Tensor.allocate(DType.F32, 5, 2), Tensor.allocate(DType.F32, 2, 2),
                ReduceOp.SUM));
        assertMessage(r, "reduceScatter", "input is f32 [5, 2]", "expected f32 [4, 2]");
        var g = failsOnEveryRank(2, c -> c.allGather(Tensor.allocate(DType.F32, 3), Tensor.allocate(DType.F32, 5)));
        assertMessage(g, "allGather", "output is f32 [5]", "expected f32 [6]");
    }

    @Test
    void rootOutOfRangeOrDifferentPerRankIsReported() {
        var e = failsOnEveryRank(2, c -> c.broadcast(Tensor.allocate(DType.F32, 3), 2));
        assertMessage(e, "broadcast", "root is 2", "[0, 2)");
        var n = failsOnEveryRank(2, c -> c.broadcast(Tensor.allocate(DType.F32, 3), -1));
        assertMessage(n, "root is -1");
        var d = failsOnEveryRank(3, c -> c.broadcast(Tensor.allocate(DType.F32, 3), c.rank() == 2 ? 1 : 0));
        assertMessage(d, "rank 2 named root 1", "rank 0 named 0");
    }

    @Test
    void allToAllWithOneTensorAsInputAndOutputIsReported() {
        var e = failsOnEveryRank(2, c -> {
            Tensor t = Tensor.allocate(DType.F32, 4, 2);
            c.allToAll(t, t);
        });
        assertMessage(e, "allToAll", "input and output share memory");
        var overlap = failsOnEveryRank(2, c -> {
            Tensor t = Tensor.allocate(DType.F32, 6, 2);
            c.allToAll(t.narrow(0, 4), t.narrow(2, 4));
        });
        assertMessage(overlap, "share memory");
    }

    @Test
    void otherMisuseIsReported() {
        assertMessage(failsOnEveryRank(2, c -> {
            if (c.rank() == 0) {
                c.allReduce(Tensor.allocate(DType.F32, 2), ReduceOp.SUM);
            } else {
                c.broadcast(Tensor.allocate(DType.F32, 2), 0);
            }
        }), "rank 1 called broadcast while rank 0 called allReduce(SUM)");
        assertMessage(failsOnEveryRank(2, c -> c.allReduce(Tensor.allocate(DType.I32, 2), ReduceOp.AVG)),
                "AVG on i32");
        assertMessage(failsOnEveryRank(2, c -> c.allReduce(Tensor.allocate(DType.BOOL, 2), ReduceOp.MAX)),
                "cannot reduce dtype bool");
        assertMessage(failsOnEveryRank(2, c -> c.allReduce(c.rank() == 1 ? null : Tensor.allocate(DType.F32, 2),
                ReduceOp.SUM)), "rank 1's buffer is null");
        assertMessage(failsOnEveryRank(2, c -> c.allToAll(Tensor.allocate(DType.F32, 4), Tensor.allocate(DType.F16, 4))),
                "output is f16 [4]", "expected f32 [4]");
        var w = assertThrows(IllegalArgumentException.class, () -> InProcessCommunicator.group(0));
        assertMessage(w, "worldSize is 0");
    }

    @Test
    void aFailingRankIsRethrownAndDoesNotLeaveTheOthersWaiting() {
        long start = System.nanoTime();
        var e = assertThrows(ArithmeticException.class, () -> InProcessCommunicator.runRanks(3, c -> {
            if (c.rank() == 1) {
                throw new ArithmeticException("rank 1 gave up");
            }
            c.barrier(); // ranks 0 and 2 would wait for rank 1 forever
            return null;
        }));
        assertEquals("rank 1 gave up", e.getMessage());
        assertTrue(System.nanoTime() - start < 30_000_000_000L, "the waiting ranks were released, not timed out");
        assertEquals(2, e.getSuppressed().length, "the released ranks' failures are attached");
    }

    @Test
    void aRankThatNeverArrivesTimesOutInsteadOfHanging() {
        var e = assertThrows(IllegalStateException.class, () -> InProcessCommunicator.runRanks(2, Duration.ofMillis(500),
                c -> {
                    if (c.rank() == 0) {
                        c.barrier();
                    }
                    return null;
                }));
        assertMessage(e, "rank 0 waited more than", "barrier");
    }

    @Test
    void aClosedCommunicatorRefusesCollectives() {
        InProcessCommunicator c = InProcessCommunicator.group(1).getFirst();
        c.close();
        var e = assertThrows(IllegalStateException.class, c::barrier);
        assertMessage(e, "barrier", "after close()");
    }
}

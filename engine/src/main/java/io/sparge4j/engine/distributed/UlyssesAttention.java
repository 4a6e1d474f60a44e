package io.sparge4j.engine.distributed;

import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.ops.Check;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Sequence-parallel SpargeAttention2, DeepSpeed-Ulysses style: every rank holds a contiguous slice of the tokens
 * for all heads; an all-to-all turns that into all tokens for {@code H / worldSize} heads; {@link SparseAttention}
 * runs on those heads over the full sequence; a second all-to-all brings the output back to the token split.
 *
 * <p>Layouts (P = world size, r = this rank, h = H / P):
 * <ul>
 *   <li>{@link AttentionLayout#BHND}: local q is (B, H, Nq / P, d), holding tokens [r Nq / P, (r + 1) Nq / P) of
 *       every head; k and v are (B, H, Nk / P, d), keys [r Nk / P, (r + 1) Nk / P).</li>
 *   <li>{@link AttentionLayout#BNHD}: the same slices as (B, Nq / P, H, d) and (B, Nk / P, H, d).</li>
 *   <li>The output is f32 in q's local layout and shape, this rank's tokens; logsumexp is f32 (B, H, Nq / P).</li>
 * </ul>
 * Every rank must hold a slice of the same size, so Nq and Nk divide by P (see {@link #tokenSlice}), and H divides
 * by P. The block grid covers the full sequence, so block boundaries do not depend on P.
 *
 * <p>Each head's mask is built from that head's pooled q and k over the full sequence and its attention runs on
 * one rank, so the result is the single-process {@link SparseAttention#forward} on the full tensors, head by head.
 * The exchanges move bytes in the inputs' dtype (f32, bf16 or f16); memory per rank is about three copies of the
 * local q, k, v plus the head-split full-sequence tensors.
 */
public final class UlyssesAttention {
    private static final String OP = "UlyssesAttention";

    private UlyssesAttention() {
    }

    /**
     * This rank's output.
     *
     * @param out attention output for this rank's tokens, f32, in q's local layout and shape
     * @param logsumexp natural-log logsumexp over the kept keys for this rank's tokens, f32 (B, H, Nq / P)
     * @param selection the mask of this rank's heads [r h, (r + 1) h) over the full sequence, with its statistics
     */
    public record Result(Tensor out, Tensor logsumexp, SparseAttention.Selection selection) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            logsumexp.close();
        }
    }

    /**
     * Runs sequence-parallel sparse attention; every rank of {@code comm} calls it together with its own slices.
     *
     * @param comm the ranks that share the sequence
     * @param q this rank's query tokens for all heads, in {@code config.layout()}
     * @param k this rank's key tokens for all heads
     * @param v this rank's value tokens, k's shape
     * @param config as for {@link SparseAttention#forward}; in mode {@link MaskMode#MASK} the mask is the full
     *     (B, H, nq, nk) block mask, the same on every rank
     * @return this rank's output tokens, logsumexp and its heads' mask
     * @throws IllegalArgumentException if H does not divide by the world size, or the ranks' slices differ in size,
     *     dtype, head dim or layout (every rank throws the same error, after one small all-gather of the sizes); a
     *     rank whose own q, k, v are inconsistent throws before that all-gather, and the other ranks then wait in it
     */
    public static Result forward(Communicator comm, Tensor q, Tensor k, Tensor v, SparseAttention.Config config) {
        if (comm == null) {
            throw new IllegalArgumentException(OP + ": comm is null, expected a Communicator");
        }
        if (config == null) {
            throw new IllegalArgumentException(OP + ": config is null, expected a SparseAttention.Config");
        }
        Local dims = Local.of(q, k, v, config.layout());
        dims.checkAcrossRanks(comm); // a collective, so that every rank fails together on a bad split
        int world = comm.worldSize();
        int rank = comm.rank();
        int heads = dims.heads / world;
        int nq = dims.queries * world;
        int nk = dims.keys * world;

        SparseAttention.Config local = config;
        Tensor headMask = null;
        try (Tensor fullQ = toHeadSplit(comm, q, dims, dims.queries);
             Tensor fullK = toHeadSplit(comm, k, dims, dims.keys);
             Tensor fullV = toHeadSplit(comm, v, dims, dims.keys)) {
            if (config.mode() == MaskMode.MASK) {
                Check.shape(OP, "config.mask", config.mask(), dims.batch, dims.heads, -1, -1);
                headMask = headsOfMask(config.mask(), rank * heads, heads);
                local = config.withMask(headMask);
            }
            try (SparseAttention.Result r = SparseAttention.forward(fullQ, fullK, fullV, local)) {
                Layout out = new Layout(config.layout(), dims.batch, dims.heads, dims.queries, dims.headDim);
                Tensor localOut = toTokenSplit(comm, r.out(), out);
                Layout lse = new Layout(AttentionLayout.BHND, dims.batch, dims.heads, dims.queries, 1);
                Tensor localLse = toTokenSplit(comm, r.logsumexp().reshape(dims.batch, heads, nq, 1), lse);
                return new Result(localOut, localLse.reshape(dims.batch, dims.heads, dims.queries), r.selection());
            }
        } finally {
            if (headMask != null) {
                headMask.close();
            }
        }
    }

    /**
     * The gradients of a loss with respect to this rank's q, k and v, through the forward's masks: the backward of
     * {@link #forward}, called by every rank together. The upstream gradient, the forward's output and logsumexp go
     * to the head split as q did (q, k and v are exchanged again instead of being kept), {@link SparseAttention#backward}
     * runs on this rank's heads over the full sequence, and the gradients come back to the token split. As the
     * forward, this equals single-process {@link SparseAttention#backward} on the full tensors, head by head.
     *
     * @param comm the forward's ranks
     * @param q this rank's query tokens, as given to the forward
     * @param k this rank's key tokens, as given to the forward
     * @param v this rank's value tokens, as given to the forward
     * @param dOut gradient with respect to this rank's output, shaped like it (f32, or q's dtype)
     * @param forward this rank's forward result
     * @param config the forward's config
     * @return dq, dk, dv for this rank's tokens, f32, shaped like q, k, v
     */
    public static Attention.Gradients backward(Communicator comm, Tensor q, Tensor k, Tensor v, Tensor dOut,
            Result forward, SparseAttention.Config config) {
        if (comm == null || config == null || forward == null) {
            throw new IllegalArgumentException(OP + ".backward: comm, forward and config are required, got " + comm
                    + ", " + forward + ", " + config);
        }
        Local dims = Local.of(q, k, v, config.layout());
        Check.shape(OP + ".backward", "dOut", dOut, q.shape());
        Check.shape(OP + ".backward", "forward.out", forward.out(), q.shape());
        int world = comm.worldSize();
        int heads = dims.heads / world;
        Local lseDims = new Local(AttentionLayout.BHND, DType.F32, dims.batch, dims.heads, dims.queries, dims.queries,
                1);
        Tensor headMask = null;
        try (Tensor fullQ = toHeadSplit(comm, q, dims, dims.queries);
             Tensor fullK = toHeadSplit(comm, k, dims, dims.keys);
             Tensor fullV = toHeadSplit(comm, v, dims, dims.keys);
             Tensor fullOut = toHeadSplit(comm, forward.out(), dims, dims.queries);
             Tensor fullDOut = toHeadSplit(comm, dOut, dims, dims.queries);
             Tensor fullLse = toHeadSplit(comm, forward.logsumexp().reshape(dims.batch, dims.heads, dims.queries, 1),
                     lseDims, dims.queries)) {
            SparseAttention.Config local = config;
            if (config.mode() == MaskMode.MASK) {
                headMask = headsOfMask(config.mask(), comm.rank() * heads, heads);
                local = config.withMask(headMask);
            }
            SparseAttention.Result heads4 = new SparseAttention.Result(fullOut,
                    fullLse.reshape(dims.batch, heads, dims.queries * world), forward.selection());
            try (Attention.Gradients g = SparseAttention.backward(fullDOut, fullQ, fullK, fullV, heads4, local)) {
                Layout qLocal = new Layout(config.layout(), dims.batch, dims.heads, dims.queries, dims.headDim);
                Layout kLocal = new Layout(config.layout(), dims.batch, dims.heads, dims.keys, dims.headDim);
                Tensor dq = toTokenSplit(comm, g.dq(), qLocal);
                Tensor dk = null;
                try {
                    dk = toTokenSplit(comm, g.dk(), kLocal);
                    return new Attention.Gradients(dq, dk, toTokenSplit(comm, g.dv(), kLocal));
                } catch (RuntimeException | Error e) {
                    dq.close();
                    if (dk != null) {
                        dk.close();
                    }
                    throw e;
                }
            }
        } finally {
            if (headMask != null) {
                headMask.close();
            }
        }
    }

    /**
     * Rank {@code rank}'s slice of a full-sequence tensor: the tokens [rank N / P, (rank + 1) N / P), all heads.
     *
     * @param full (B, H, N, d) or (B, N, H, d) as {@code layout} says
     * @param layout the tensor's layout
     * @param rank the rank whose slice to copy
     * @param worldSize P; N must divide by it
     * @return a new tensor in the same layout and dtype holding that slice
     */
    public static Tensor tokenSlice(Tensor full, AttentionLayout layout, int rank, int worldSize) {
        Check.rank(OP, "full", full, 4);
        Check.positive(OP, "worldSize", worldSize);
        Check.that(rank >= 0 && rank < worldSize, OP, "rank", rank, "in [0, " + worldSize + ")");
        boolean bhnd = layout == AttentionLayout.BHND;
        int tokens = full.dim(bhnd ? 2 : 1);
        if (tokens % worldSize != 0) {
            throw new IllegalArgumentException(OP + ": the sequence length " + tokens + " is not divisible by the world"
                    + " size " + worldSize + ", expected a multiple of " + worldSize + " (every rank holds N / P tokens)");
        }
        int n = tokens / worldSize;
        int[] shape = full.shape();
        shape[bhnd ? 2 : 1] = n;
        Tensor slice = Tensor.allocate(full.dtype(), shape);
        long row = (long) full.dim(3) * full.dtype().byteSize();
        if (bhnd) {
            for (int bh = 0; bh < full.dim(0) * full.dim(1); bh++) {
                MemorySegment.copy(full.segment(), ((long) bh * tokens + (long) rank * n) * row, slice.segment(),
                        (long) bh * n * row, n * row);
            }
        } else {
            long tokenBytes = full.dim(2) * row;
            for (int b = 0; b < full.dim(0); b++) {
                MemorySegment.copy(full.segment(), ((long) b * tokens + (long) rank * n) * tokenBytes,
                        slice.segment(), (long) b * n * tokenBytes, n * tokenBytes);
            }
        }
        return slice;
    }

    // ---------------------------------------------------------------- the exchanges

    /** Where row (b, head, token) of a 4-D attention tensor starts, in rows of d elements. */
    private record Layout(AttentionLayout layout, int batch, int heads, int tokens, int headDim) {
        long row(int b, int head, int token) {
            return layout == AttentionLayout.BHND
                    ? ((long) b * heads + head) * tokens + token
                    : ((long) b * tokens + token) * heads + head;
        }

        int[] shape() {
            return layout == AttentionLayout.BHND ? new int[] {batch, heads, tokens, headDim}
                    : new int[] {batch, tokens, heads, headDim};
        }
    }

    /**
     * Local (all heads, n tokens) to (h heads, all P n tokens). Chunk j of the send buffer, (B, h, n) rows, holds
     * heads [j h, (j + 1) h) of this rank's tokens and goes to rank j; chunk s received holds rank s's tokens.
     */
    private static Tensor toHeadSplit(Communicator comm, Tensor local, Local dims, int tokens) {
        int world = comm.worldSize();
        int h = dims.heads / world;
        Layout from = new Layout(dims.layout, dims.batch, dims.heads, tokens, dims.headDim);
        Layout to = new Layout(dims.layout, dims.batch, h, tokens * world, dims.headDim);
        long rowBytes = (long) dims.headDim * local.dtype().byteSize();
        try (Tensor send = Tensor.allocate(local.dtype(), world, dims.batch, h, tokens, dims.headDim);
             Tensor received = Tensor.allocate(local.dtype(), world, dims.batch, h, tokens, dims.headDim)) {
            long w = 0;
            for (int j = 0; j < world; j++) {
                for (int b = 0; b < dims.batch; b++) {
                    for (int i = 0; i < h; i++) {
                        for (int t = 0; t < tokens; t++, w++) {
                            copyRow(local, from.row(b, j * h + i, t), send, w, rowBytes);
                        }
                    }
                }
            }
            comm.allToAll(send, received);
            Tensor full = Tensor.allocate(local.dtype(), to.shape());
            long rd = 0;
            for (int s = 0; s < world; s++) {
                for (int b = 0; b < dims.batch; b++) {
                    for (int i = 0; i < h; i++) {
                        for (int t = 0; t < tokens; t++, rd++) {
                            copyRow(received, rd, full, to.row(b, i, s * tokens + t), rowBytes);
                        }
                    }
                }
            }
            return full;
        }
    }

    /**
     * The inverse of {@link #toHeadSplit}: (h heads, all tokens) in {@code headSplit} to this rank's tokens of all
     * heads, laid out as {@code local} says.
     */
    private static Tensor toTokenSplit(Communicator comm, Tensor headSplit, Layout local) {
        int world = comm.worldSize();
        int h = local.heads / world;
        int n = local.tokens;
        Layout from = new Layout(local.layout, local.batch, h, n * world, local.headDim);
        long rowBytes = (long) local.headDim * headSplit.dtype().byteSize();
        try (Tensor send = Tensor.allocate(headSplit.dtype(), world, local.batch, h, n, local.headDim);
             Tensor received = Tensor.allocate(headSplit.dtype(), world, local.batch, h, n, local.headDim)) {
            long w = 0;
            for (int j = 0; j < world; j++) {
                for (int b = 0; b < local.batch; b++) {
                    for (int i = 0; i < h; i++) {
                        for (int t = 0; t < n; t++, w++) {
                            copyRow(headSplit, from.row(b, i, j * n + t), send, w, rowBytes);
                        }
                    }
                }
            }
            comm.allToAll(send, received);
            Tensor out = Tensor.allocate(headSplit.dtype(), local.shape());
            long rd = 0;
            for (int s = 0; s < world; s++) {
                for (int b = 0; b < local.batch; b++) {
                    for (int i = 0; i < h; i++) {
                        for (int t = 0; t < n; t++, rd++) {
                            copyRow(received, rd, out, local.row(b, s * h + i, t), rowBytes);
                        }
                    }
                }
            }
            return out;
        }
    }

    private static void copyRow(Tensor src, long srcRow, Tensor dst, long dstRow, long rowBytes) {
        MemorySegment.copy(src.segment(), srcRow * rowBytes, dst.segment(), dstRow * rowBytes, rowBytes);
    }

    /** Heads [first, first + count) of a (B, H, nq, nk) block mask, as a new tensor of the same dtype. */
    private static Tensor headsOfMask(Tensor mask, int first, int count) {
        int batch = mask.dim(0);
        int heads = mask.dim(1);
        long perHead = (long) mask.dim(2) * mask.dim(3) * mask.dtype().byteSize();
        Tensor part = Tensor.allocate(mask.dtype(), batch, count, mask.dim(2), mask.dim(3));
        for (int b = 0; b < batch; b++) {
            MemorySegment.copy(mask.segment(), ((long) b * heads + first) * perHead, part.segment(),
                    (long) b * count * perHead, count * perHead);
        }
        return part;
    }

    // ---------------------------------------------------------------- argument checks

    /** This rank's sizes, read from q and k in the config's layout. */
    private record Local(AttentionLayout layout, DType dtype, int batch, int heads, int queries, int keys,
            int headDim) {
        static Local of(Tensor q, Tensor k, Tensor v, AttentionLayout layout) {
            Check.floating(OP, "q", q);
            Check.rank(OP, "q", q, 4);
            Check.notNull(OP, "k", k);
            Check.rank(OP, "k", k, 4);
            Check.dtype(OP, "k", k, q.dtype());
            Check.notNull(OP, "v", v);
            Check.dtype(OP, "v", v, q.dtype());
            Check.sameShape(OP, "k", k, "v", v);
            boolean bhnd = layout == AttentionLayout.BHND;
            int heads = q.dim(bhnd ? 1 : 2);
            int[] kShape = bhnd ? new int[] {q.dim(0), heads, -1, q.dim(3)} : new int[] {q.dim(0), -1, heads, q.dim(3)};
            Check.shape(OP, "k", k, kShape);
            return new Local(layout, q.dtype(), q.dim(0), heads, q.dim(bhnd ? 2 : 1), k.dim(bhnd ? 2 : 1), q.dim(3));
        }

        /** Gathers every rank's sizes and checks that they agree and that the heads split evenly. */
        void checkAcrossRanks(Communicator comm) {
            int world = comm.worldSize();
            int[] mine = {batch, heads, queries, keys, headDim, dtype.ordinal(), layout.ordinal()};
            int[] all;
            try (Tensor local = Tensor.ofInts(mine, 1, mine.length);
                 Tensor gathered = Tensor.allocate(DType.I32, world, mine.length)) {
                comm.allGather(local, gathered);
                all = gathered.toIntArray();
            }
            String[] names = {"batch size", "heads", "query tokens", "key tokens", "head dim", "dtype", "layout"};
            for (int r = 0; r < world; r++) {
                for (int f = 0; f < mine.length; f++) {
                    int got = all[r * mine.length + f];
                    int first = all[f];
                    if (got != first) {
                        throw new IllegalArgumentException(OP + ": rank " + r + " has " + names[f] + " "
                                + describe(f, got) + ", rank 0 has " + describe(f, first) + ", expected the same on"
                                + " every rank" + (f == 2 || f == 3 ? " (each rank holds an equal slice of the"
                                + " sequence, so its length must divide by the world size " + world + ")" : ""));
                    }
                }
            }
            if (heads % world != 0) {
                throw new IllegalArgumentException(OP + ": q heads is " + heads + ", expected a multiple of the world"
                        + " size " + world + " (each rank attends over heads / worldSize heads)");
            }
        }

        private static String describe(int field, int value) {
            return switch (field) {
                case 5 -> DType.values()[value].toString();
                case 6 -> AttentionLayout.values()[value].toString();
                default -> String.valueOf(value);
            };
        }
    }
}

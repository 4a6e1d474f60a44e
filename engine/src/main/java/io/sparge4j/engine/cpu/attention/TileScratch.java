package io.sparge4j.engine.cpu.attention;

/** Per-thread work buffers for one tile task, grown on demand and reused across tiles and calls. */
final class TileScratch {
    private static final ThreadLocal<TileScratch> LOCAL = ThreadLocal.withInitial(TileScratch::new);

    float[] scores = new float[0];
    float[] scoreGrads = new float[0];
    float[] acc = new float[0];
    float[] acc2 = new float[0];
    float[] rowMax = new float[0];
    float[] rowSum = new float[0];
    float[] alpha = new float[0];
    /** A task's own packed operand tile (the query tile of the forward, the value tile of dK/dV). */
    float[] tile = new float[0];
    /** Staged block rows (see {@link TilePacker#stage}). */
    float[] stage = new float[0];

    private TileScratch() {
    }

    /** @return this thread's buffers, each large enough for tiles of {@code sh} */
    static TileScratch forShape(AttentionShape sh) {
        TileScratch s = LOCAL.get();
        int qt = sh.queryTile();
        int kt = sh.keyTile();
        int dp = sh.paddedDim();
        int tile = qt * kt;
        int accSize = Math.max(qt, kt) * dp;
        if (s.scores.length < tile) {
            s.scores = new float[tile];
            s.scoreGrads = new float[tile];
        }
        if (s.acc.length < accSize) {
            s.acc = new float[accSize];
            s.acc2 = new float[accSize];
            s.tile = new float[accSize];
        }
        if (s.rowMax.length < qt) {
            s.rowMax = new float[qt];
            s.rowSum = new float[qt * TileMath.SUM_STRIDE];
            s.alpha = new float[qt];
        }
        int stageSize = Math.max(Math.min(sh.queryBlock(), sh.queryLen()), Math.min(sh.keyBlock(), sh.keyLen()))
                * sh.headDim();
        if (s.stage.length < stageSize) {
            s.stage = new float[stageSize];
        }
        return s;
    }
}

package io.sparge4j.models.wan;

import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link AbsolutePosition}: the sine-cosine table's layout checked at hand-picked tokens and channels (values within
 * 1e-6, f32 rounding of float64 sines), every pair on the unit circle, every token's row distinct; the spellings
 * and the widths it refuses.
 */
class AbsolutePositionTest {
    @Test
    void sincosTablePutsFramesRowsAndColumnsInTheirChannelGroups() {
        int dim = 64;   // rows and columns 2 * (64 / 6) = 20 channels each, frames 24
        Rope.Grid grid = new Rope.Grid(3, 4, 5);
        try (Tensor table = AbsolutePosition.SINCOS.table(grid, dim)) {
            assertEquals(List.of(60, 64), List.of(table.dim(0), table.dim(1)));
            float[] t = table.toFloatArray();
            int token = (2 * 4 + 3) * 5 + 4;   // frame 2, row 3, column 4
            int row = token * dim;
            assertEquals(Math.sin(2), t[row], 1e-6, "frame group, first sine: w = 1");
            assertEquals(Math.cos(2), t[row + 12], 1e-6, "frame group, first cosine");
            assertEquals(Math.sin(2 * Math.pow(10000, -1.0 / 12)), t[row + 1], 1e-6, "frame group, second sine");
            assertEquals(Math.sin(3), t[row + 24], 1e-6, "row group, first sine");
            assertEquals(Math.cos(3 * Math.pow(10000, -9.0 / 10)), t[row + 24 + 19], 1e-6, "row group, last cosine");
            assertEquals(Math.sin(4), t[row + 44], 1e-6, "column group, first sine");
            assertEquals(Math.cos(4 * Math.pow(10000, -3.0 / 10)), t[row + 44 + 13], 1e-6, "column group");
            Set<String> rows = new HashSet<>();
            for (int k = 0; k < 60; k++) {
                int[][] groups = {{0, 24}, {24, 20}, {44, 20}};
                for (int[] g : groups) {
                    for (int i = 0; i < g[1] / 2; i++) {
                        double s = t[k * dim + g[0] + i];
                        double c = t[k * dim + g[0] + g[1] / 2 + i];
                        assertEquals(1, s * s + c * c, 1e-5, "token " + k + " pair " + i + " of group " + g[0]);
                    }
                }
                float[] one = new float[dim];
                System.arraycopy(t, k * dim, one, 0, dim);
                rows.add(java.util.Arrays.toString(one));
            }
            assertEquals(60, rows.size(), "every token has its own position row");
        }
    }

    @Test
    void everyEntryMatchesTheFormulaInFloat64() {
        int dim = 96;   // rows and columns 2 * (96 / 6) = 32 channels each, frames 32
        Rope.Grid grid = new Rope.Grid(3, 5, 7);
        int[][] groups = {{0, 32}, {32, 32}, {64, 32}};   // {first channel, width}: frames, rows, columns
        try (Tensor table = AbsolutePosition.SINCOS.table(grid, dim)) {
            float[] t = table.toFloatArray();
            for (int f = 0; f < 3; f++) {
                for (int r = 0; r < 5; r++) {
                    for (int c = 0; c < 7; c++) {
                        int row = ((f * 5 + r) * 7 + c) * dim;
                        int[] position = {f, r, c};
                        for (int g = 0; g < 3; g++) {
                            int half = groups[g][1] / 2;
                            for (int i = 0; i < half; i++) {
                                double angle = position[g] * Math.pow(10000.0, -(double) i / half);
                                String where = "frame " + f + " row " + r + " column " + c + " group " + g + " i " + i;
                                assertEquals(Math.sin(angle), t[row + groups[g][0] + i], 1e-6, where);
                                assertEquals(Math.cos(angle), t[row + groups[g][0] + half + i], 1e-6, where);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void noneAddsNothingAndSincosAddsTheTable() {
        Rope.Grid grid = new Rope.Grid(2, 2, 3);
        try (Tensor tokens = Tensor.randn(5, 12, 8); Tensor before = tokens.copy();
             Tensor table = AbsolutePosition.SINCOS.table(grid, 8)) {
            assertNull(AbsolutePosition.NONE.table(grid, 8));
            AbsolutePosition.NONE.addTo(tokens, grid);
            assertEquals(java.util.Arrays.toString(before.toFloatArray()), java.util.Arrays.toString(
                    tokens.toFloatArray()), "none leaves the tokens alone");
            AbsolutePosition.SINCOS.addTo(tokens, grid);
            float[] b = before.toFloatArray();
            float[] p = table.toFloatArray();
            float[] a = tokens.toFloatArray();
            for (int i = 0; i < a.length; i++) {
                assertEquals(b[i] + p[i], a[i], 1e-6, "element " + i);
            }
        }
    }

    @Test
    void spellingsAndWidthsAreChecked() {
        assertEquals(AbsolutePosition.SINCOS, AbsolutePosition.parse("sincos"));
        assertEquals(AbsolutePosition.NONE, AbsolutePosition.parse("none"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AbsolutePosition.parse("learned"));
        assertTrue(e.getMessage().contains("'learned'") && e.getMessage().contains("sincos"), e.getMessage());
        assertNull(AbsolutePosition.SINCOS.unsupportedWidth(6));
        assertNull(AbsolutePosition.NONE.unsupportedWidth(3));
        String odd = AbsolutePosition.SINCOS.unsupportedWidth(66 + 1);
        assertTrue(odd != null && odd.contains("67") && odd.contains("even"), odd);
        e = assertThrows(IllegalArgumentException.class, () -> WanConfig.tiny(4, 1, 1, 3, true)
                .withAbsolutePosition(AbsolutePosition.SINCOS));
        assertTrue(e.getMessage().contains("dim 4") && e.getMessage().contains("at least 6"), e.getMessage());
    }
}

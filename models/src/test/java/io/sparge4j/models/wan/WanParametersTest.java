package io.sparge4j.models.wan;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class WanParametersTest {
    @Test
    void shapesFollowTheReference() {
        Map<String, int[]> p = WanParameters.expected(WanConfig.WAN_1_3B);
        assertArrayEquals(new int[] {1536, 16, 1, 2, 2}, p.get("patch_embedding.weight"));
        assertArrayEquals(new int[] {1536, 4096}, p.get("text_embedding.0.weight"));
        assertArrayEquals(new int[] {1536, 256}, p.get("time_embedding.0.weight"));
        assertArrayEquals(new int[] {9216}, p.get("time_projection.1.bias"));
        assertArrayEquals(new int[] {1, 6, 1536}, p.get("blocks.29.modulation"));
        assertArrayEquals(new int[] {1536}, p.get("blocks.29.self_attn.norm_k.weight"));
        assertArrayEquals(new int[] {1536}, p.get("blocks.0.norm3.bias"));
        assertArrayEquals(new int[] {8960, 1536}, p.get("blocks.3.ffn.0.weight"));
        assertArrayEquals(new int[] {1536, 8960}, p.get("blocks.3.ffn.2.weight"));
        assertArrayEquals(new int[] {1, 2, 1536}, p.get("head.modulation"));
        assertArrayEquals(new int[] {64, 1536}, p.get("head.head.weight"));
        assertFalse(p.containsKey("blocks.30.modulation"));
        // 12 embedding tensors, 27 per block, 3 head tensors.
        assertEquals(12 + 30 * 27 + 3, p.size());
    }

    @Test
    void countMatchesAClosedForm() {
        for (WanConfig c : List.of(WanConfig.WAN_1_3B, WanConfig.WAN_14B)) {
            long d = c.dim();
            long f = c.ffnDim();
            long embed = d * c.inDim() * 4 + d + d * c.textDim() + d + d * d + d + d * c.freqDim() + d + d * d + d
                    + 6 * d * d + 6 * d;
            long attention = 4 * (d * d + d) + 2 * d;
            long block = 6 * d + 2 * attention + 2 * d + (f * d + f) + (d * f + d);
            long head = 2 * d + (4L * c.outDim()) * d + 4L * c.outDim();
            assertEquals(embed + c.numLayers() * block + head, WanParameters.count(c));
        }
        // The 1.3B model has about 1.42 billion parameters.
        assertEquals(1.42e9, WanParameters.count(WanConfig.WAN_1_3B), 0.01e9);
    }

    @Test
    void optionalNormsFollowTheConfig() {
        WanConfig none = new WanConfig(32, 64, 4, 2, 4, 4, 8, 4, 16, List.of(1, 2, 2), 1e-6, false, false, false,
                List.of(4, 8, 8));
        Map<String, int[]> p = WanParameters.expected(none);
        assertFalse(p.keySet().stream().anyMatch(n -> n.contains("norm")), p.keySet().toString());
        assertEquals(12 + 2 * 21 + 3, p.size());
    }
}

package io.sparge4j.models.wan;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WanNamesTest {
    /**
     * Every parameter of a one-block diffusers WanTransformer3DModel (module paths written out from diffusers'
     * transformer_wan.py) next to its original Wan name.
     */
    static Map<String, String> diffusersToOriginal(int block) {
        Map<String, String> m = new LinkedHashMap<>();
        String b = "blocks." + block + ".";
        m.put("patch_embedding.weight", "patch_embedding.weight");
        m.put("patch_embedding.bias", "patch_embedding.bias");
        m.put("condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight");
        m.put("condition_embedder.time_embedder.linear_1.bias", "time_embedding.0.bias");
        m.put("condition_embedder.time_embedder.linear_2.weight", "time_embedding.2.weight");
        m.put("condition_embedder.time_embedder.linear_2.bias", "time_embedding.2.bias");
        m.put("condition_embedder.time_proj.weight", "time_projection.1.weight");
        m.put("condition_embedder.time_proj.bias", "time_projection.1.bias");
        m.put("condition_embedder.text_embedder.linear_1.weight", "text_embedding.0.weight");
        m.put("condition_embedder.text_embedder.linear_1.bias", "text_embedding.0.bias");
        m.put("condition_embedder.text_embedder.linear_2.weight", "text_embedding.2.weight");
        m.put("condition_embedder.text_embedder.linear_2.bias", "text_embedding.2.bias");
        m.put(b + "scale_shift_table", b + "modulation");
        for (String[] attn : new String[][] {{"attn1", "self_attn"}, {"attn2", "cross_attn"}}) {
            for (String[] proj : new String[][] {{"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"to_out.0", "o"}}) {
                m.put(b + attn[0] + "." + proj[0] + ".weight", b + attn[1] + "." + proj[1] + ".weight");
                m.put(b + attn[0] + "." + proj[0] + ".bias", b + attn[1] + "." + proj[1] + ".bias");
            }
            m.put(b + attn[0] + ".norm_q.weight", b + attn[1] + ".norm_q.weight");
            m.put(b + attn[0] + ".norm_k.weight", b + attn[1] + ".norm_k.weight");
        }
        // diffusers numbers the block norms in call order: its norm2 is the original norm3.
        m.put(b + "norm2.weight", b + "norm3.weight");
        m.put(b + "norm2.bias", b + "norm3.bias");
        m.put(b + "ffn.net.0.proj.weight", b + "ffn.0.weight");
        m.put(b + "ffn.net.0.proj.bias", b + "ffn.0.bias");
        m.put(b + "ffn.net.2.weight", b + "ffn.2.weight");
        m.put(b + "ffn.net.2.bias", b + "ffn.2.bias");
        m.put("scale_shift_table", "head.modulation");
        m.put("proj_out.weight", "head.head.weight");
        m.put("proj_out.bias", "head.head.bias");
        return m;
    }

    @Test
    void everyDiffusersNameMapsToItsOriginalAndBack() {
        for (int block : new int[] {0, 7, 29}) {
            Map<String, String> m = diffusersToOriginal(block);
            for (Map.Entry<String, String> e : m.entrySet()) {
                assertEquals(e.getValue(), WanNames.toOriginal(e.getKey()), e.getKey());
                assertEquals(e.getKey(), WanNames.toDiffusers(e.getValue()), e.getValue());
                assertEquals(e.getValue(), WanNames.toOriginal(WanNames.COMFY_PREFIX + e.getKey()));
            }
        }
    }

    @Test
    void theMapCoversExactlyTheExpectedParameters() {
        WanConfig c = WanConfig.tiny(32, 4, 1, 4, false);
        assertEquals(WanParameters.expected(c).keySet(), new java.util.HashSet<>(diffusersToOriginal(0).values()));
    }

    @Test
    void originalAndUnknownNamesStayAsTheyAre() {
        for (String name : WanParameters.expected(WanConfig.tiny(32, 4, 2, 4, false)).keySet()) {
            assertEquals(name, WanNames.toOriginal(name), name);
        }
        for (String name : new String[] {"foo.bar", "blocks.0.attn3.to_q.weight", "blocks.x.attn1.to_q.weight",
                "norm_out.linear.weight", "blocks.0.norm1", "attn1.to_q.weight"}) {
            assertEquals(name, WanNames.toOriginal(name), name);
            assertFalse(WanNames.isDiffusersName(name), name);
        }
        assertTrue(WanNames.isDiffusersName("blocks.3.attn2.to_out.0.bias"));
        assertEquals("blocks.3.norm3", WanNames.toOriginal("blocks.3.norm2"));
    }
}

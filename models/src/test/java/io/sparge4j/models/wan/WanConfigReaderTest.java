package io.sparge4j.models.wan;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WanConfigReaderTest {
    /** The config.json of Wan-AI/Wan2.1-T2V-1.3B as released (the reference leaves patch_size etc. out). */
    private static final String WAN_1_3B_RELEASED = """
            {
              "_class_name": "WanModel",
              "_diffusers_version": "0.30.0",
              "dim": 1536,
              "eps": 1e-06,
              "ffn_dim": 8960,
              "freq_dim": 256,
              "in_dim": 16,
              "model_type": "t2v",
              "num_heads": 12,
              "num_layers": 30,
              "out_dim": 16,
              "text_len": 512
            }
            """;

    /** A diffusers WanTransformer3DModel config for the 14B model. */
    private static final String WAN_14B_DIFFUSERS = """
            {
              "_class_name": "WanTransformer3DModel",
              "_diffusers_version": "0.33.0.dev0",
              "added_kv_proj_dim": null,
              "attention_head_dim": 128,
              "cross_attn_norm": true,
              "eps": 1e-06,
              "ffn_dim": 13824,
              "freq_dim": 256,
              "image_dim": null,
              "in_channels": 16,
              "num_attention_heads": 40,
              "num_layers": 40,
              "out_channels": 16,
              "patch_size": [1, 2, 2],
              "qk_norm": "rms_norm_across_heads",
              "rope_max_seq_len": 1024,
              "text_dim": 4096
            }
            """;

    @Test
    void releasedWanConfigGivesThePresetAndNamesTheDefaults() {
        WanConfigReader.Result r = WanConfigReader.parse(WAN_1_3B_RELEASED, "config.json");
        assertEquals(WanConfig.WAN_1_3B, r.config());
        assertEquals(List.of("text_dim=4096", "patch_size=(1, 2, 2)", "qk_norm=true", "cross_attn_norm=true",
                "pixel_space=false", "vae_stride=(4, 8, 8)"), r.defaulted());
        assertTrue(r.describeDefaults().startsWith("defaults used: text_dim=4096"), r.describeDefaults());
    }

    @Test
    void diffusersConfigMapsHeadsTimesHeadDimAndChannels() {
        WanConfigReader.Result r = WanConfigReader.parse(WAN_14B_DIFFUSERS, "config.json");
        assertEquals(WanConfig.WAN_14B, r.config());
        assertEquals(List.of("text_len=512", "pixel_space=false", "vae_stride=(4, 8, 8)"), r.defaulted());
    }

    @Test
    void diffusersNullOutChannelsMeansInChannelsAndNullQkNormMeansNone() {
        String json = """
                {"num_attention_heads": 2, "attention_head_dim": 16, "in_channels": 3, "out_channels": null,
                 "qk_norm": null, "num_layers": 1, "ffn_dim": 64, "text_dim": 8, "freq_dim": 16}
                """;
        WanConfig c = WanConfigReader.parse(json, "c.json").config();
        assertEquals(32, c.dim());
        assertEquals(2, c.numHeads());
        assertEquals(3, c.inDim());
        assertEquals(3, c.outDim());
        assertEquals(false, c.qkNorm());
    }

    @Test
    void emptyObjectIsThe13BPresetWithEveryKeyDefaulted() {
        WanConfigReader.Result r = WanConfigReader.parse("{}", "c.json");
        assertEquals(WanConfig.WAN_1_3B, r.config());
        assertEquals(15, r.defaulted().size(), r.defaulted().toString());
        assertTrue(r.defaulted().containsAll(List.of("dim=1536", "ffn_dim=8960", "num_heads=12", "num_layers=30",
                "eps=1.0E-6")), r.defaulted().toString());
    }

    @Test
    void unknownKeysOfAnyTypeAreIgnored() {
        String json = """
                {"dim": 64, "num_heads": 4, "ffn_dim": 128, "num_layers": 2, "in_dim": 4, "out_dim": 4,
                 "text_dim": 32, "text_len": 16, "freq_dim": 32, "patch_size": [1, 2, 2], "eps": 1e-6,
                 "qk_norm": true, "cross_attn_norm": true, "pixel_space": false, "vae_stride": [4, 8, 8],
                 "_class_name": "WanModel", "model_type": "t2v", "window_size": [-1, -1],
                 "nested": {"dim": "not this one"}, "something": null, "flag": "yes"}
                """;
        WanConfigReader.Result r = WanConfigReader.parse(json, "c.json");
        assertEquals(WanConfig.tiny(64, 4, 2, 4, false), r.config());
        assertEquals(List.of(), r.defaulted());
        assertEquals("no defaults used", r.describeDefaults());
    }

    @Test
    void pixelSpaceModelsDefaultToUnitVaeStride() {
        WanConfigReader.Result r = WanConfigReader.parse("{\"pixel_space\": true, \"in_dim\": 3, \"out_dim\": 3}",
                "c.json");
        assertEquals(List.of(1, 1, 1), r.config().vaeStride());
        assertTrue(r.defaulted().contains("vae_stride=(1, 1, 1)"), r.defaulted().toString());
    }

    @Test
    void toJsonReadsBackWithNoDefaults() {
        for (WanConfig c : List.of(WanConfig.WAN_1_3B, WanConfig.WAN_14B, WanConfig.tiny(48, 3, 2, 3, true),
                new WanConfig(40, 96, 5, 3, 2, 5, 24, 7, 18, List.of(2, 1, 3), 3.5e-5, false, false, false,
                        List.of(2, 4, 4)), WanConfig.tiny(48, 3, 2, 3, true)
                        .withAbsolutePosition(AbsolutePosition.SINCOS))) {
            WanConfigReader.Result r = WanConfigReader.parse(WanConfigReader.toJson(c), "saved");
            assertEquals(c, r.config());
            assertEquals(List.of(), r.defaulted());
        }
    }

    /** Missing means Wan's own architecture, and is not a default worth listing; none is not written out. */
    @Test
    void absolutePositionIsReadWhereGivenAndNoneOtherwise() {
        WanConfigReader.Result r = WanConfigReader.parse("{\"absolute_position\": \"sincos\"}", "c.json");
        assertEquals(AbsolutePosition.SINCOS, r.config().absolutePosition());
        WanConfigReader.Result plain = WanConfigReader.parse("{}", "c.json");
        assertEquals(AbsolutePosition.NONE, plain.config().absolutePosition());
        assertTrue(plain.defaulted().stream().noneMatch(d -> d.startsWith("absolute_position")), plain.defaulted()
                .toString());
        assertTrue(!WanConfigReader.toJson(WanConfig.WAN_1_3B).contains("absolute_position"));
        assertBad("{\"absolute_position\": \"learned\"}", "'absolute_position'", "\"learned\"", "\"sincos\"");
        assertBad("{\"absolute_position\": true}", "'absolute_position'", "true", "\"none\"");
        assertBad("{\"dim\": 45, \"num_heads\": 5, \"absolute_position\": \"sincos\"}", "dim 45", "sincos",
                "at least 6");
    }

    /** As the absolute position: missing means Wan's own text path; written only when not none, and read back. */
    @Test
    void textModulationIsReadWhereGivenWrittenWhereNotNoneAndNoneOtherwise() {
        WanConfigReader.Result r = WanConfigReader.parse("{\"text_modulation\": \"pooled\"}", "c.json");
        assertEquals(TextModulation.POOLED, r.config().textModulation());
        WanConfigReader.Result plain = WanConfigReader.parse("{}", "c.json");
        assertEquals(TextModulation.NONE, plain.config().textModulation());
        assertTrue(plain.defaulted().stream().noneMatch(d -> d.startsWith("text_modulation")), plain.defaulted()
                .toString());
        assertTrue(!WanConfigReader.toJson(WanConfig.WAN_1_3B).contains("text_modulation"));
        WanConfig both = WanConfig.WAN_1_3B.withAbsolutePosition(AbsolutePosition.SINCOS)
                .withTextModulation(TextModulation.POOLED);
        assertEquals(both, WanConfigReader.parse(WanConfigReader.toJson(both), "c.json").config());
        assertBad("{\"text_modulation\": \"mean\"}", "'text_modulation'", "\"mean\"", "\"pooled\"");
        assertBad("{\"text_modulation\": 1}", "'text_modulation'", "1", "\"none\"");
    }

    @Test
    void badValuesNameFileKeyValueAndExpectation() {
        assertBad("{\"dim\": \"abc\"}", "'dim'", "\"abc\"", "positive integer");
        assertBad("{\"dim\": 1.5}", "'dim'", "1.5", "positive integer");
        assertBad("{\"num_layers\": -3}", "'num_layers'", "-3", "positive integer");
        assertBad("{\"ffn_dim\": 99999999999}", "'ffn_dim'", "99999999999", "positive integer");
        assertBad("{\"eps\": 0}", "'eps'", "0", "positive finite number");
        assertBad("{\"eps\": \"1e-6\"}", "'eps'", "\"1e-6\"", "positive finite number");
        assertBad("{\"qk_norm\": \"rms_norm\"}", "'qk_norm'", "\"rms_norm\"", "rms_norm_across_heads");
        assertBad("{\"cross_attn_norm\": 1}", "'cross_attn_norm'", "1", "true or false");
        assertBad("{\"patch_size\": [1, 2]}", "'patch_size'", "[1,2]", "three positive integers");
        assertBad("{\"vae_stride\": [4, 0, 8]}", "'vae_stride'", "[4,0,8]", "three positive integers");
        assertBad("{\"patch_size\": 2}", "'patch_size'", "2", "three positive integers");
        assertBad("[1, 2]", "top level", "[1,2]", "JSON object");
        assertBad("{\"dim\": 64,", "not valid JSON", "line", "JSON object");
        // Both spellings present and disagreeing.
        assertBad("{\"dim\": 1536, \"num_attention_heads\": 12, \"attention_head_dim\": 64}", "'dim'", "1536", "768");
        assertBad("{\"num_heads\": 12, \"num_attention_heads\": 16}", "'num_heads'", "12", "16");
        // Well-typed but inconsistent: WanConfig's own check, with the file and the defaults named.
        assertBad("{\"dim\": 100, \"num_heads\": 12}", "dim 100", "num_heads 12", "defaulted");
    }

    @Test
    void readNamesTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        Files.writeString(file, "{\"text_len\": true}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WanConfigReader.read(file));
        assertTrue(e.getMessage().startsWith(file.toString() + ": key 'text_len' is true"), e.getMessage());
        Files.writeString(file, WAN_1_3B_RELEASED);
        assertEquals(WanConfig.WAN_1_3B, WanConfigReader.read(file).config());
    }

    private static void assertBad(String json, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WanConfigReader.parse(json, "my/config.json"), json);
        assertTrue(e.getMessage().startsWith("my/config.json: "), e.getMessage());
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
        }
    }
}

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model_test_util.h"

namespace sb {
namespace {

using test::expect_error;

const char* kClassic = R"({
  "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 131072,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "tie_word_embeddings": false,
  "hidden_act": "silu", "torch_dtype": "bfloat16"})";

const char* kNewLayout = R"({
  "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
  "rms_norm_eps": 1e-05, "max_position_embeddings": 131072,
  "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "dtype": "bfloat16"})";

void expect_same(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
}

TEST(Config, ClassicLayoutMatchesLlama31Preset) {
  ModelConfig parsed = parse_config_json(kClassic, "classic.json");
  EXPECT_EQ(parsed.head_dim, 128);  // hidden_size / num_attention_heads
  EXPECT_EQ(parsed.rope_scaling.type, "llama3");
  expect_same(parsed, preset_config("llama3.1-8b"));
}

TEST(Config, NewLayoutMatchesClassic) {
  expect_same(parse_config_json(kNewLayout, "new.json"), parse_config_json(kClassic, "classic.json"));
}

TEST(Config, DefaultsAndScalars) {
  ModelConfig c = parse_config_json(R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 96, "num_hidden_layers": 1, "num_attention_heads": 4, "eos_token_id": 7,
      "rope_scaling": null, "head_dim": null, "max_position_embeddings": 4096.0})", "min.json");
  EXPECT_EQ(c.num_kv_heads, 4);  // absent => num_attention_heads
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{7});
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_EQ(c.rope_theta, 10000.0);  // transformers' default
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.bos_token_id, -1);
  // A rope_type of "default" (old "type" key) means no scaling.
  ModelConfig d = parse_config_json(R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 96, "num_hidden_layers": 1, "num_attention_heads": 4,
      "rope_scaling": {"type": "default"}})", "d.json");
  EXPECT_EQ(d.rope_scaling.type, "none");
}

TEST(Config, ErrorsNameFileAndKey) {
  nlohmann::json base = nlohmann::json::parse(kClassic);
  auto without = [&](const char* key) {
    nlohmann::json j = base;
    j.erase(key);
    return j.dump();
  };
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = base;
    j[key] = value;
    return j.dump();
  };
  expect_error([&] { parse_config_json(without("hidden_size"), "my/config.json"); }, {"my/config.json", "hidden_size", "missing"});
  expect_error([&] { parse_config_json(without("vocab_size"), "c.json"); }, {"c.json", "vocab_size"});
  expect_error([&] { parse_config_json(with("hidden_size", "4096"), "c.json"); }, {"c.json", "hidden_size", "integer"});
  expect_error([&] { parse_config_json(with("num_hidden_layers", 3.5), "c.json"); }, {"num_hidden_layers", "integer"});
  expect_error([&] { parse_config_json(with("rope_theta", "big"), "c.json"); }, {"c.json", "rope_theta", "number"});
  expect_error([&] { parse_config_json(with("tie_word_embeddings", 1), "c.json"); }, {"tie_word_embeddings"});
  expect_error([&] { parse_config_json(with("eos_token_id", nlohmann::json::array({1, "x"})), "c.json"); },
               {"eos_token_id"});
  expect_error([&] { parse_config_json(with("model_type", "mistral"), "c.json"); }, {"c.json", "mistral", "llama"});
  expect_error([&] { parse_config_json(without("model_type"), "c.json"); }, {"c.json", "model_type"});
  expect_error([&] { parse_config_json(with("hidden_act", "gelu"), "c.json"); }, {"hidden_act", "gelu"});
  expect_error([&] { parse_config_json(with("attention_bias", true), "c.json"); }, {"attention_bias"});
  expect_error([&] { parse_config_json(with("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}), "c.json"); },
               {"c.json", "rope_scaling", "yarn"});
  nlohmann::json partial = base["rope_scaling"];
  partial.erase("low_freq_factor");
  expect_error([&] { parse_config_json(with("rope_scaling", partial), "c.json"); }, {"rope_scaling", "low_freq_factor"});
  expect_error([&] { parse_config_json(with("num_attention_heads", 5), "c.json"); },
               {"c.json", "head_dim", "hidden_size (4096)", "num_attention_heads (5)"});
  expect_error([&] { parse_config_json("{not json", "broken.json"); }, {"broken.json", "JSON"});
  expect_error([&] { parse_config_json("[1, 2]", "list.json"); }, {"list.json", "object"});
  expect_error([] { load_config_json("/nonexistent/starbench/config.json"); }, {"/nonexistent/starbench/config.json"});
}

TEST(Config, PresetsAreValidWithRealShapes) {
  for (const std::string& name : preset_names()) {
    ModelConfig c = preset_config(name);
    EXPECT_EQ(c.name, name);
    EXPECT_NO_THROW(validate_config(c)) << name;
  }
  // Parameter counts of the published checkpoints.
  EXPECT_EQ(preset_config("llama3-8b").parameter_count(), 8030261248);
  EXPECT_EQ(preset_config("llama3.1-8b").parameter_count(), 8030261248);
  EXPECT_EQ(preset_config("llama3.1-70b").parameter_count(), 70553706496);
  // meta-llama/Llama-3.1-405B: 811706777600 bytes of bf16 weights (model.safetensors.index.json total_size).
  EXPECT_EQ(preset_config("llama3.1-405b").parameter_count(), 405853388800);
  EXPECT_EQ(preset_config("llama3-8b-gradient-1048k").parameter_count(), 8030261248);

  ModelConfig g = preset_config("llama3-8b-gradient-1048k");
  EXPECT_EQ(g.rope_theta, 3580165449.0);
  EXPECT_EQ(g.max_position_embeddings, 1048576);
  EXPECT_EQ(g.rope_scaling.type, "none");
  ModelConfig l3 = preset_config("llama3-8b");
  EXPECT_EQ(l3.max_position_embeddings, 8192);
  EXPECT_EQ(l3.rope_scaling.type, "none");
  ModelConfig l405 = preset_config("llama3.1-405b");
  EXPECT_EQ(l405.num_layers, 126);
  EXPECT_EQ(l405.num_heads, 128);
  EXPECT_EQ(l405.num_kv_heads, 8);
  EXPECT_EQ(l405.rope_scaling.type, "llama3");
  EXPECT_EQ(l405.rope_scaling.factor, 8.0);
  EXPECT_EQ(l405.max_position_embeddings, 131072);
  ModelConfig tiny = preset_config("tiny");
  EXPECT_EQ(tiny.vocab_size, 512);
  EXPECT_EQ(tiny.hidden_size, 128);
  EXPECT_EQ(tiny.intermediate_size, 384);
  EXPECT_EQ(tiny.num_layers, 2);
  EXPECT_EQ(tiny.num_heads, 4);
  EXPECT_EQ(tiny.num_kv_heads, 2);
  EXPECT_EQ(tiny.head_dim, 32);
  EXPECT_EQ(tiny.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_EQ(tiny.max_position_embeddings, 1 << 20);
  EXPECT_FALSE(tiny.tie_word_embeddings);
  expect_error([] { preset_config("llama2-7b"); }, {"llama2-7b", "llama3-8b", "tiny"});
}

TEST(Config, ParameterCountAndFlopsFromShapes) {
  ModelConfig c = preset_config("tiny");
  // Counted by hand: embedding 512*128, per layer 2 norms + q 128*128 + k,v 64*128 each
  // + o 128*128 + 3 MLP 384*128, final norm, untied head.
  const int64_t per_layer = 2 * 128 + 128 * 128 + 2 * 64 * 128 + 128 * 128 + 3 * 384 * 128;
  EXPECT_EQ(c.parameter_count(), 2 * 512 * 128 + 2 * per_layer + 128);
  EXPECT_EQ(c.dense_flops_per_token(), 2.0 * (2 * (per_layer - 2 * 128) + 512 * 128));
  c.tie_word_embeddings = true;
  EXPECT_EQ(c.parameter_count(), 512 * 128 + 2 * per_layer + 128);
  EXPECT_EQ(c.dense_flops_per_token(), 2.0 * (2 * (per_layer - 2 * 128) + 512 * 128));  // head still multiplies
  // Llama-3-8B: ~15 GFLOP per token (2 x 7.5e9 non-embedding matrix weights).
  EXPECT_NEAR(preset_config("llama3-8b").dense_flops_per_token(), 2.0 * (8030261248 - 525336576 - 65 * 4096), 1.0);
}

TEST(Config, ValidateNamesTheBadValues) {
  auto broken = [](auto change) {
    ModelConfig c = preset_config("tiny");
    change(c);
    return c;
  };
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.num_kv_heads = 3; })); },
               {"num_attention_heads (4)", "num_key_value_heads (3)"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.head_dim = 33; })); }, {"head_dim", "33"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.hidden_size = 0; })); }, {"hidden_size", "0"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.num_layers = -1; })); }, {"num_hidden_layers", "-1"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.rms_norm_eps = 0; })); }, {"rms_norm_eps"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.eos_token_ids = {512}; })); }, {"eos_token_id", "512"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.rope_scaling.high_freq_factor = 1.0; })); },
               {"low_freq_factor", "high_freq_factor"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.rope_scaling.type = "yarn"; })); }, {"yarn"});
  expect_error([&] { validate_config(broken([](ModelConfig& c) { c.name = "mine"; c.vocab_size = 0; })); },
               {"'mine'", "vocab_size"});
}

// Float64 re-derivation written from the Llama 3.1 paper's description (scale by
// wavelength band in the frequency domain), independent of config.cpp's structure.
std::vector<double> rederived_inverse_frequencies(const ModelConfig& c) {
  std::vector<double> out;
  for (int64_t i = 0; i < c.head_dim / 2; ++i) {
    double f = std::exp(-std::log(c.rope_theta) * double(2 * i) / double(c.head_dim));
    if (c.rope_scaling.type == "llama3") {
      const RopeScaling& s = c.rope_scaling;
      const double L = double(s.original_max_position_embeddings);
      const double rotations = L * f / (2 * std::numbers::pi);  // turns over the original context
      if (rotations < s.low_freq_factor) {
        f /= s.factor;
      } else if (rotations <= s.high_freq_factor) {
        const double t = (rotations - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = f * (t + (1 - t) / s.factor);
      }
    }
    out.push_back(f);
  }
  return out;
}

TEST(Config, RopeFrequenciesMatchFloat64Rederivation) {
  for (const std::string& name : preset_names()) {
    ModelConfig c = preset_config(name);
    std::vector<double> got = rope_inverse_frequencies(c), want = rederived_inverse_frequencies(c);
    ASSERT_EQ(got.size(), size_t(c.head_dim / 2)) << name;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-14 * want[i]) << name << " i=" << i;
  }
  // llama3 scaling changes the tiny preset's low and medium frequencies and leaves the highest alone.
  ModelConfig tiny = preset_config("tiny");
  std::vector<double> scaled = rope_inverse_frequencies(tiny);
  tiny.rope_scaling.type = "none";
  std::vector<double> plain = rope_inverse_frequencies(tiny);
  EXPECT_EQ(scaled[0], plain[0]);
  EXPECT_EQ(scaled[1], plain[1]);
  EXPECT_NE(scaled[2], plain[2]);
  EXPECT_DOUBLE_EQ(scaled.back(), plain.back() / 8.0);
}

}  // namespace
}  // namespace sb

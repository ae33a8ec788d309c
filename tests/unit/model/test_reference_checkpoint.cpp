// The committed HF reference data (tests/reference/, made by make_reference.py
// with transformers): the checkpoint opens through the real loader, and the
// reference files are consistent with it. The forward-pass comparison against
// the stored logits lives with the engine tests.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace sb {
namespace {

const std::string kData = std::string(STARBENCH_SOURCE_DIR) + "/tests/reference/data";

nlohmann::json reference_summary() {
  std::ifstream in(kData + "/reference.json");
  EXPECT_TRUE(in.good()) << kData << "/reference.json";
  return nlohmann::json::parse(in);
}

TEST(ReferenceCheckpoint, OpensWithTinyConfigAndShards) {
  auto checkpoint = Checkpoint::open(kData + "/tiny-llama3");
  const ModelConfig& c = checkpoint->config();
  EXPECT_EQ(c.name, "tiny-llama3");
  // The tiny preset is this model, except for how far positions may go.
  ModelConfig tiny = preset_config("tiny");
  EXPECT_EQ(c.vocab_size, tiny.vocab_size);
  EXPECT_EQ(c.hidden_size, tiny.hidden_size);
  EXPECT_EQ(c.intermediate_size, tiny.intermediate_size);
  EXPECT_EQ(c.num_layers, tiny.num_layers);
  EXPECT_EQ(c.num_heads, tiny.num_heads);
  EXPECT_EQ(c.num_kv_heads, tiny.num_kv_heads);
  EXPECT_EQ(c.head_dim, tiny.head_dim);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(rope_inverse_frequencies(c), rope_inverse_frequencies(tiny));

  std::vector<std::string> shards = checkpoint->shard_files();
  EXPECT_GE(shards.size(), 2u);
  for (const std::string& shard : shards) EXPECT_NE(shard.find("-of-"), std::string::npos) << shard;
  EXPECT_EQ(checkpoint->tensor_names().size(), expected_weight_shapes(c).size());

  ModelWeightSpecs specs = checkpoint_weight_specs(checkpoint);  // checks every name and shape
  ASSERT_EQ(specs.layers.size(), 2u);
  EXPECT_EQ(specs.embed.shape, (std::vector<int64_t>{512, 128}));
  EXPECT_EQ(specs.lm_head.shape, (std::vector<int64_t>{512, 128}));
  EXPECT_NE(specs.lm_head.mapped_data, specs.embed.mapped_data);
  EXPECT_EQ(specs.layers[1].q_proj.shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(specs.layers[1].k_proj.shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(specs.layers[1].v_proj.shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(specs.layers[1].o_proj.shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(specs.layers[1].down_proj.shape, (std::vector<int64_t>{128, 384}));
  for (const auto& [name, shape] : expected_weight_shapes(c)) {
    WeightSpec w = checkpoint->weight(name, shape);
    EXPECT_EQ(w.mapped_dtype, DType::BF16) << name;
  }
  // make_reference.py draws norm weights in [0.9, 1.1]: a sanity check on the bytes.
  auto final_norm = SafetensorsFile::open(specs.final_norm.file);
  for (float v : tensor_to_float(*final_norm->find("model.norm.weight"))) {
    EXPECT_GE(v, 0.89f);
    EXPECT_LE(v, 1.11f);
  }
}

TEST(ReferenceCheckpoint, BothConfigLayoutsParseTheSame) {
  ModelConfig written = load_config_json(kData + "/tiny-llama3/config.json");
  for (const char* other : {"/config_classic.json", "/config_rope_parameters.json"}) {
    ModelConfig c = load_config_json(kData + other);
    EXPECT_EQ(c.head_dim, written.head_dim) << other;
    EXPECT_EQ(c.rope_theta, written.rope_theta) << other;
    EXPECT_EQ(c.rope_scaling.type, written.rope_scaling.type) << other;
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, written.rope_scaling.original_max_position_embeddings);
    EXPECT_EQ(c.eos_token_ids, written.eos_token_ids) << other;
    EXPECT_EQ(rope_inverse_frequencies(c), rope_inverse_frequencies(written)) << other;
  }
}

TEST(ReferenceCheckpoint, RopeFrequenciesMatchTheScript) {
  // make_reference.py's float64 llama3 frequencies, which it checked against HF's
  // own (float32) ones to 1e-7.
  std::vector<double> script = reference_summary()["inv_freq"].get<std::vector<double>>();
  std::vector<double> ours = rope_inverse_frequencies(load_config_json(kData + "/tiny-llama3/config.json"));
  ASSERT_EQ(script.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], script[i], 1e-15 * script[i]) << i;
}

TEST(ReferenceCheckpoint, ReferenceFilesAreConsistent) {
  nlohmann::json summary = reference_summary();
  for (const auto& [key, check] : summary["checks"].items())
    if (key != "star_C80_B40_A40_differs_from_global")  // a wrong expectation of the first run: see README
      EXPECT_TRUE(check["ok"].get<bool>()) << key << ": " << check["detail"];

  auto global = SafetensorsFile::open(kData + "/global_reference.safetensors");
  const SafetensorsTensor* tokens = global->find("tokens");
  const SafetensorsTensor* logits = global->find("logits");
  const SafetensorsTensor* query = global->find("query_logits");
  const SafetensorsTensor* generated = global->find("generated");
  ASSERT_TRUE(tokens && logits && query && generated);
  EXPECT_EQ(tokens->shape, std::vector<int64_t>{96});
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{96, 512}));
  EXPECT_EQ(query->shape, (std::vector<int64_t>{16, 512}));
  EXPECT_EQ(generated->shape, std::vector<int64_t>{8});
  std::vector<float> token_values = tensor_to_float(*tokens);
  std::vector<int64_t> json_tokens = summary["results"]["global"]["tokens"].get<std::vector<int64_t>>();
  for (size_t i = 0; i < token_values.size(); ++i) {
    EXPECT_EQ(token_values[i], std::floor(token_values[i]));
    EXPECT_EQ(int64_t(token_values[i]), json_tokens[i]);
  }
  std::vector<float> all = tensor_to_float(*logits), q = tensor_to_float(*query);
  EXPECT_TRUE(std::equal(q.begin(), q.end(), all.begin() + 80 * 512));

  // One block covering the context is global attention.
  auto one_block = SafetensorsFile::open(kData + "/star_C80_B80_A80.safetensors");
  std::vector<float> star = tensor_to_float(*one_block->find("logits"));
  ASSERT_EQ(star.size(), q.size());
  for (size_t i = 0; i < q.size(); ++i) ASSERT_NEAR(star[i], q[i], 1e-5f * (1 + std::abs(q[i]))) << i;

  for (const auto& [name, result] : summary["results"].items()) {
    if (name == "global") continue;
    auto file = SafetensorsFile::open(kData + "/" + result["file"].get<std::string>());
    const int64_t C = result["context_len"].get<int64_t>();
    EXPECT_EQ(file->find("logits")->shape, (std::vector<int64_t>{96 - C, 512})) << name;
    std::vector<float> gen = tensor_to_float(*file->find("generated"));
    EXPECT_EQ(std::vector<int64_t>(gen.begin(), gen.end()), result["generated"].get<std::vector<int64_t>>()) << name;
  }
}

}  // namespace
}  // namespace sb

#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "model/weights.h"
#include "model_test_util.h"

namespace sb {
namespace {

using test::expect_error;
using test::RawTensor;
using test::TempDir;

// A 1-layer model small enough to write in a test.
const char* kConfig = R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 4, "intermediate_size": 6,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 2,
  "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": TIED})";

std::string config_text(bool tied) {
  std::string text = kConfig;
  text.replace(text.find("TIED"), 4, tied ? "true" : "false");
  return text;
}

// Every tensor of the config, as bf16 with element i of tensor t holding (t + 1) * (1 + (i % 8) / 8),
// exact in bf16.
std::vector<RawTensor> model_tensors(const ModelConfig& config) {
  std::vector<RawTensor> tensors;
  int t = 0;
  for (const auto& [name, shape] : expected_weight_shapes(config)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<uint16_t> bits;
    for (int64_t i = 0; i < n; ++i) bits.push_back(f32_to_bf16(float(t + 1) * (1.f + float(i % 8) / 8.f)));
    tensors.push_back({name, "BF16", shape, test::bf16_bytes(bits)});
    ++t;
  }
  return tensors;
}

void write_sharded(const TempDir& dir, const std::vector<RawTensor>& tensors, size_t split) {
  std::vector<RawTensor> first(tensors.begin(), tensors.begin() + long(split)), second(tensors.begin() + long(split), tensors.end());
  test::write_bytes(dir.file("model-00001-of-00002.safetensors"), test::safetensors_bytes(first));
  test::write_bytes(dir.file("model-00002-of-00002.safetensors"), test::safetensors_bytes(second));
  nlohmann::json map;
  for (const RawTensor& t : first) map[t.name] = "model-00001-of-00002.safetensors";
  for (const RawTensor& t : second) map[t.name] = "model-00002-of-00002.safetensors";
  test::write_text(dir.file("model.safetensors.index.json"),
                   nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump());
}

TEST(Checkpoint, SingleFileAndSpecsPointIntoTheMap) {
  TempDir dir;
  test::write_text(dir.file("config.json"), config_text(false));
  ModelConfig config = parse_config_json(config_text(false), "x");
  std::vector<RawTensor> tensors = model_tensors(config);
  test::write_bytes(dir.file("model.safetensors"), test::safetensors_bytes(tensors));

  auto checkpoint = Checkpoint::open(dir.path() + "/");
  EXPECT_EQ(checkpoint->config().name, std::filesystem::path(dir.path()).filename().string());
  EXPECT_EQ(checkpoint->shard_files(), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(checkpoint->tensor_names().size(), tensors.size());

  ModelWeightSpecs specs = checkpoint_weight_specs(checkpoint);
  ASSERT_EQ(specs.layers.size(), 1u);
  EXPECT_EQ(specs.keep_alive.get(), checkpoint.get());
  const WeightSpec& k = specs.layers[0].k_proj;
  EXPECT_FALSE(k.is_synthetic());
  EXPECT_EQ(k.mapped_dtype, DType::BF16);
  EXPECT_EQ(k.shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(specs.lm_head.name, "lm_head.weight");
  EXPECT_NE(specs.lm_head.mapped_data, specs.embed.mapped_data);
  // Values: k_proj is tensor index 3 (embed, input norm, q, k).
  uint16_t bits;
  std::memcpy(&bits, static_cast<const char*>(k.mapped_data) + 2 * 5, 2);
  EXPECT_EQ(bf16_to_f32(bits), 4.f * 1.625f);
  // The specs outlive the caller's handle: keep_alive holds the map.
  const void* data = specs.embed.mapped_data;
  checkpoint.reset();
  std::memcpy(&bits, data, 2);
  EXPECT_EQ(bf16_to_f32(bits), 1.f);
}

TEST(Checkpoint, ShardedViaIndex) {
  TempDir dir;
  test::write_text(dir.file("config.json"), config_text(false));
  std::vector<RawTensor> tensors = model_tensors(parse_config_json(config_text(false), "x"));
  write_sharded(dir, tensors, 4);
  auto checkpoint = Checkpoint::open(dir.path());
  EXPECT_EQ(checkpoint->shard_files().size(), 2u);
  ModelWeightSpecs specs = checkpoint_weight_specs(checkpoint);
  EXPECT_NE(specs.embed.file, specs.lm_head.file);
  EXPECT_NE(specs.embed.file.find("model-00001-of-00002.safetensors"), std::string::npos);
  EXPECT_NE(specs.lm_head.file.find("model-00002-of-00002.safetensors"), std::string::npos);
}

TEST(Checkpoint, TiedEmbeddingsNeedNoHead) {
  TempDir dir;
  test::write_text(dir.file("config.json"), config_text(true));
  ModelConfig config = parse_config_json(config_text(true), "x");
  std::vector<RawTensor> tensors = model_tensors(config);
  for (const RawTensor& t : tensors) ASSERT_NE(t.name, "lm_head.weight");
  test::write_bytes(dir.file("model.safetensors"), test::safetensors_bytes(tensors));
  ModelWeightSpecs specs = checkpoint_weight_specs(Checkpoint::open(dir.path()));
  EXPECT_EQ(specs.lm_head.mapped_data, specs.embed.mapped_data);
  EXPECT_EQ(specs.lm_head.shape, specs.embed.shape);
}

TEST(Checkpoint, ErrorsNameFilesAndTensors) {
  TempDir dir;
  expect_error([&] { Checkpoint::open(dir.file("nope")); }, {"nope", "does not exist"});
  expect_error([&] { Checkpoint::open(dir.path()); }, {dir.path(), "config.json"});
  test::write_text(dir.file("config.json"), config_text(false));
  expect_error([&] { Checkpoint::open(dir.path()); }, {"model.safetensors"});

  ModelConfig config = parse_config_json(config_text(false), "x");
  std::vector<RawTensor> tensors = model_tensors(config);

  {  // a shard listed in the index but missing
    TempDir sharded;
    test::write_text(sharded.file("config.json"), config_text(false));
    write_sharded(sharded, tensors, 4);
    std::filesystem::remove(sharded.file("model-00002-of-00002.safetensors"));
    expect_error([&] { Checkpoint::open(sharded.path()); },
                 {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "missing"});
  }
  {  // a tensor mapped to a shard that lacks it
    TempDir sharded;
    test::write_text(sharded.file("config.json"), config_text(false));
    write_sharded(sharded, tensors, 4);
    nlohmann::json index = {{"weight_map", {}}};
    for (const RawTensor& t : tensors) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
    test::write_text(sharded.file("model.safetensors.index.json"), index.dump());
    expect_error([&] { Checkpoint::open(sharded.path()); },
                 {"model.embed_tokens.weight", "model-00002-of-00002.safetensors", "no such tensor"});
  }
  {  // a tensor absent from the checkpoint
    TempDir single;
    test::write_text(single.file("config.json"), config_text(false));
    std::vector<RawTensor> fewer = tensors;
    fewer.erase(fewer.begin() + 2);  // q_proj
    test::write_bytes(single.file("model.safetensors"), test::safetensors_bytes(fewer));
    auto checkpoint = Checkpoint::open(single.path());
    expect_error([&] { checkpoint_weight_specs(checkpoint); },
                 {single.path(), "model.layers.0.self_attn.q_proj.weight", "[4, 4]"});
  }
  {  // a tensor of the wrong shape
    TempDir single;
    test::write_text(single.file("config.json"), config_text(false));
    std::vector<RawTensor> wrong = tensors;
    wrong[3].shape = {4, 2};  // k_proj stored transposed
    test::write_bytes(single.file("model.safetensors"), test::safetensors_bytes(wrong));
    auto checkpoint = Checkpoint::open(single.path());
    expect_error([&] { checkpoint_weight_specs(checkpoint); },
                 {"model.safetensors", "model.layers.0.self_attn.k_proj.weight", "[4, 2]", "[2, 4]"});
  }
  {  // a config the model cannot run
    TempDir bad;
    std::string text = config_text(false);
    text.replace(text.find("\"num_key_value_heads\": 1"), 24, "\"num_key_value_heads\": 3");
    test::write_text(bad.file("config.json"), text);
    expect_error([&] { Checkpoint::open(bad.path()); }, {"num_key_value_heads (3)"});
  }
}

TEST(SyntheticWeights, DeterministicPerNameAndSeed) {
  ModelConfig config = preset_config("tiny");
  ModelWeightSpecs a = synthetic_weight_specs(config, 7), b = synthetic_weight_specs(config, 7),
                   c = synthetic_weight_specs(config, 8);
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_TRUE(a.embed.is_synthetic());
  EXPECT_EQ(a.layers[1].q_proj.seed, b.layers[1].q_proj.seed);
  EXPECT_NE(a.layers[1].q_proj.seed, c.layers[1].q_proj.seed);
  EXPECT_NE(a.layers[0].q_proj.seed, a.layers[1].q_proj.seed);
  EXPECT_NE(a.layers[0].q_proj.seed, a.layers[0].k_proj.seed);
  EXPECT_EQ(a.layers[0].q_proj.seed, synthetic_seed(7, "model.layers.0.self_attn.q_proj.weight"));
  EXPECT_EQ(a.lm_head.name, "lm_head.weight");
  EXPECT_NE(a.lm_head.seed, a.embed.seed);
  EXPECT_EQ(a.layers[0].down_proj.shape, (std::vector<int64_t>{128, 384}));
  EXPECT_EQ(a.layers[0].attn_norm.offset, 1.f);
  // Same shapes as a checkpoint of this config would need.
  auto shapes = expected_weight_shapes(config);
  EXPECT_EQ(shapes.front().first, "model.embed_tokens.weight");
  EXPECT_EQ(shapes.back().first, "lm_head.weight");
  EXPECT_EQ(shapes.size(), 2u + 9u * 2u + 1u);

  // Values: uniform in [-1, 1) times scale; variance of a linear output ~ 1 for unit inputs.
  const WeightSpec& q = a.layers[0].q_proj;
  double sum_sq = 0;
  for (int64_t i = 0; i < q.numel(); ++i) {
    double v = double(synthetic_value(q.seed, uint64_t(i))) * q.scale + q.offset;
    ASSERT_LE(std::abs(v), std::sqrt(3.0 / 128.0) + 1e-6);
    sum_sq += v * v;
  }
  EXPECT_NEAR(sum_sq / double(q.numel()) * 128.0, 1.0, 0.05);  // fan_in * E[w^2]
  // FNV-1a of the name differs for names that differ in one character.
  EXPECT_NE(synthetic_seed(0, "model.layers.1.mlp.up_proj.weight"), synthetic_seed(0, "model.layers.2.mlp.up_proj.weight"));
  // A config that cannot run is refused before specs are made.
  config.num_kv_heads = 3;
  expect_error([&] { synthetic_weight_specs(config, 1); }, {"num_key_value_heads"});
}

}  // namespace
}  // namespace sb

// A host GPU's shard of the real shapes: tensor split (heads and MLP columns over G GPUs,
// KV heads replicated when fewer than G) and layer split (contiguous ranges); refusals that name the counts.
#include <gtest/gtest.h>

#include <string>

#include "engine/model_shard.h"
#include "model/config.h"
#include "model/weights.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(ModelShard, ShardsCoverEveryHeadAndColumnOnce) {
  for (const char* name : {"llama3.1-8b", "llama3.1-70b", "llama3.1-405b"}) {
    const ModelConfig config = preset_config(name);
    for (int gpus : {1, 2, 4, 8}) {
      int64_t q_heads = 0, ffn = 0;
      for (int index = 0; index < gpus; ++index) {
        const ModelShard shard = make_tensor_shard(config, index, gpus);
        EXPECT_EQ(shard.q_head_begin, q_heads) << name << " " << gpus;
        EXPECT_EQ(shard.ffn_begin, ffn) << name << " " << gpus;
        q_heads += shard.q_heads;
        ffn += shard.ffn_size;
        EXPECT_EQ(shard.kv_heads, config.num_kv_heads / gpus) << name << " " << gpus;
        const ModelConfig local = shard_config(config, shard);
        EXPECT_NO_THROW(validate_config(local));
        EXPECT_EQ(local.hidden_size, config.hidden_size);
        EXPECT_EQ(local.head_dim, config.head_dim);
      }
      EXPECT_EQ(q_heads, config.num_heads);
      EXPECT_EQ(ffn, config.intermediate_size);
    }
  }
}

TEST(ModelShard, ShardWeightsHaveTheShardShapes) {
  const ModelConfig config = preset_config("llama3.1-70b");
  const ModelShard shard = make_tensor_shard(config, 1, 4);
  const ModelWeightSpecs local = shard_weight_specs(synthetic_weight_specs(config, 1), config, shard);
  const LayerWeightSpecs& layer = local.layers.at(3);
  EXPECT_EQ(layer.q_proj.shape, (std::vector<int64_t>{16 * 128, 8192}));
  EXPECT_EQ(layer.k_proj.shape, (std::vector<int64_t>{2 * 128, 8192}));
  EXPECT_EQ(layer.o_proj.shape, (std::vector<int64_t>{8192, 16 * 128}));
  EXPECT_EQ(layer.gate_proj.shape, (std::vector<int64_t>{7168, 8192}));
  EXPECT_EQ(layer.down_proj.shape, (std::vector<int64_t>{8192, 7168}));
  EXPECT_EQ(layer.o_proj.first_index, uint64_t(16 * 128));  // columns [2048, 4096) of row 0
  EXPECT_EQ(layer.o_proj.source_row_stride, 64 * 128);
  EXPECT_EQ(local.embed.shape, (std::vector<int64_t>{128256, 8192}));  // replicated
  // The per-GPU weights are a quarter of the layers' plus the replicated embedding, head and norms.
  const ModelConfig local_config = shard_config(config, shard);
  EXPECT_LT(local_config.parameter_count(), config.parameter_count() / 4 + 2 * 128256 * 8192 + 200000);
}

TEST(ModelShard, RefusalsNameTheCounts) {
  const ModelConfig config = preset_config("llama3.1-70b");  // 64 query / 8 KV heads
  try {
    make_tensor_shard(config, 0, 3);
    FAIL() << "64 heads over 3 GPUs accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("64 query heads"), std::string::npos) << error.what();
  }
  // 16 GPUs: each of the 8 KV heads replicated on 2 of them.
  const ModelShard shard = make_tensor_shard(config, 5, 16);
  EXPECT_EQ(shard.kv_heads, 1);
  EXPECT_EQ(shard.kv_head_begin, 2);
  EXPECT_EQ(shard.kv_replication, 2);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

TEST(ModelShard, LayerShardsAreContiguousRangesFirstGpusTakingTheRest) {
  const ModelConfig config = preset_config("llama3.1-70b");  // 80 layers
  int64_t next = 0;
  for (int index = 0; index < 3; ++index) {
    const ModelShard shard = make_layer_shard(config, index, 3);
    EXPECT_EQ(shard.layer_begin, next);
    EXPECT_EQ(shard.layers, index < 2 ? 27 : 26);
    EXPECT_EQ(shard.q_heads, 64);  // whole layers
    const ModelConfig local = shard_config(config, shard);
    EXPECT_EQ(local.num_layers, shard.layers);
    EXPECT_EQ(local.num_kv_heads, 8);
    const ModelWeightSpecs weights = shard_weight_specs(synthetic_weight_specs(config, 3), config, shard);
    ASSERT_EQ(int64_t(weights.layers.size()), shard.layers);
    EXPECT_EQ(weights.layers.front().q_proj.name,
              "model.layers." + std::to_string(shard.layer_begin) + ".self_attn.q_proj.weight");
    next += shard.layers;
  }
  EXPECT_EQ(next, 80);
  EXPECT_THROW(make_layer_shard(preset_config("tiny"), 0, 3), Error);  // 2 layers over 3 GPUs
}

}  // namespace
}  // namespace sb

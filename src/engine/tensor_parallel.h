#pragma once
// Megatron-style tensor parallelism inside a host of G GPUs: GPU i of the host
// holds query heads [i Hq/G, (i+1) Hq/G), their KV heads, and columns
// [i I/G, (i+1) I/G) of the MLP. q/k/v and gate/up are column-parallel (a
// slice of their rows), o and down row-parallel (a slice of their columns),
// each followed by one all-reduce over the host. Norms, the embedding and the
// lm_head are replicated. The shard's ModelConfig is the model one GPU runs:
// the attention methods allocate KV and buffers from it and never know that
// the heads are split.
//
// KV heads: with G <= Hkv each GPU holds Hkv/G of them (G must divide Hkv);
// with G > Hkv (G a multiple of Hkv) each KV head is replicated on G/Hkv GPUs,
// each holding one (as vLLM and TensorRT-LLM do), recorded as kv_replication.
#include <cstdint>

#include "model/config.h"
#include "model/weights.h"

namespace sb {

class Comm;

struct TensorShard {
  int index = 0;  // this GPU's index in its host
  int count = 1;  // GPUs per host (1: the whole model)
  int64_t q_head_begin = 0, q_heads = 0;
  int64_t kv_head_begin = 0, kv_heads = 0;
  int64_t ffn_begin = 0, ffn_size = 0;
  int kv_replication = 1;  // GPUs holding each KV head

  bool whole() const { return count == 1; }
};

// Throws sb::Error naming the model, the counts and what would work when the
// heads or the MLP cannot be split over `count` GPUs.
TensorShard make_tensor_shard(const ModelConfig& config, int index, int count);
// The config of the model one GPU of the shard runs (its heads and MLP columns).
ModelConfig shard_config(const ModelConfig& config, const TensorShard& shard);
// The shard's slices of every weight (views: no element copied).
ModelWeightSpecs shard_weight_specs(const ModelWeightSpecs& weights, const ModelConfig& config,
                                    const TensorShard& shard);

// What the Transformer needs to run as one GPU of a tensor-split host.
struct TensorParallel {
  TensorShard shard;     // whole() by default: no split
  Comm* host = nullptr;  // the host's communicator (its all-reduces); may be null when whole()
};

}  // namespace sb

#pragma once
// The part of a host's model one of its G GPUs runs (docs/DESIGN.md, "Hosts of
// several GPUs"). The shard's ModelConfig is the model that GPU runs: the
// attention methods allocate KV and buffers from it and never know the model
// is split.
//
// Tensor split (Megatron-style): GPU i holds query heads [i Hq/G, (i+1) Hq/G),
// their KV heads and MLP columns [i I/G, (i+1) I/G) of every layer; q/k/v and
// gate/up are column-parallel (a slice of their rows), o and down row-parallel
// (a slice of their columns), each followed by one all-reduce over the host.
// KV heads: with G <= Hkv each GPU holds Hkv/G of them (G must divide Hkv);
// with G > Hkv (a multiple of Hkv) each is replicated on G/Hkv GPUs.
//
// Layer split (the Star Attention reference implementation's hosts, HF
// device_map): GPU i holds a contiguous range of layers, whole, and that
// range's KV; it runs them on the hidden states GPU i - 1 hands it, so one GPU
// of a host works at a time. Layers are dealt as evenly as possible, the first
// GPUs taking one more.
//
// Both: norms, the embedding and the lm_head are replicated.
#include <cstdint>

#include "comm/host_layout.h"
#include "model/config.h"
#include "model/weights.h"

namespace sb {

class Comm;

struct ModelShard {
  int index = 0;  // this GPU's index in its host
  int count = 1;  // GPUs per host (1: the whole model)
  bool by_layers = false;  // layer split (else tensor split)
  int64_t q_head_begin = 0, q_heads = 0;
  int64_t kv_head_begin = 0, kv_heads = 0;
  int64_t ffn_begin = 0, ffn_size = 0;
  int64_t layer_begin = 0, layers = 0;
  int kv_replication = 1;  // GPUs holding each KV head (tensor split)

  bool whole() const { return count == 1; }
  bool tensor_split() const { return count > 1 && !by_layers; }
  bool layer_split() const { return count > 1 && by_layers; }
};

// Throws sb::Error naming the model, the counts and what would work when the
// heads or the MLP cannot be split over `count` GPUs.
ModelShard make_tensor_shard(const ModelConfig& config, int index, int count);
// Throws sb::Error when the model has fewer layers than GPUs.
ModelShard make_layer_shard(const ModelConfig& config, int index, int count);
// The shard of GPU `index` of a host of `count` under `split`.
ModelShard make_model_shard(const ModelConfig& config, HostSplit split, int index, int count);
// The config of the model one GPU of the shard runs (its heads, MLP columns and layers).
ModelConfig shard_config(const ModelConfig& config, const ModelShard& shard);
// The shard's slices of every weight (views: no element copied).
ModelWeightSpecs shard_weight_specs(const ModelWeightSpecs& weights, const ModelConfig& config,
                                    const ModelShard& shard);

// What the Transformer needs to run as one GPU of a host of several.
struct HostShard {
  ModelShard shard;      // whole() by default: no split
  Comm* host = nullptr;  // the host's communicator (all-reduces, hand-offs); may be null when whole()
};

}  // namespace sb

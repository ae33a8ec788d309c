#pragma once
// The Llama-3 forward pass, written once against Backend. How a layer's
// attention is computed (and which KV it keeps) is the caller's business: the
// attention methods pass a LayerAttention.
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "engine/model_shard.h"
#include "model/config.h"
#include "model/weights.h"

namespace sb {

class LayerAttention {
 public:
  virtual ~LayerAttention() = default;
  // q [T, Hq, d] and k [T, Hkv, d] are already rotated; v [T, Hkv, d].
  // Writes the attention output of the T tokens into out [T, Hq, d].
  virtual void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) = 0;
};

class Transformer {
 public:
  // Uploads every weight through the backend (the specs may view mmapped files).
  // With a tensor split (engine/model_shard.h) only the shard's slices.
  Transformer(const ModelConfig& config, Backend& backend, const ModelWeightSpecs& weights,
              int64_t mlp_chunk_tokens = 8192, HostShard host_shard = {});

  // The model this GPU runs: the shard's heads and MLP columns (tensor split)
  // or layers (layer split), what the attention methods allocate KV from;
  // else the whole model. A layer split's attend() gets the shard's layer
  // indices (0 = its first layer).
  const ModelConfig& config() const { return config_; }
  const ModelConfig& full_config() const { return full_config_; }
  const ModelShard& shard() const { return host_shard_.shard; }
  Backend& backend() const { return backend_; }

  // Runs every layer on `tokens` at `positions`; returns the residual stream
  // after the last layer, [T, hidden] (before the final norm).
  Tensor forward(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                 LayerAttention& attention);
  // Tokens run through the layers since the last reset (GEMM rows per layer).
  int64_t forwarded_tokens() const { return forwarded_tokens_; }
  void reset_forwarded_tokens() { forwarded_tokens_ = 0; }
  // Final RMSNorm of rows of the residual stream.
  Tensor final_norm(const Tensor& hidden);
  // LM head on normed hidden rows: [T, vocab].
  Tensor logits(const Tensor& normed_hidden);

  // Bytes of weights in the backend's format, for memory plans.
  static size_t weight_bytes(const ModelConfig& config, DType dtype);
  // Activation bytes of one forward over `tokens` tokens (excluding KV caches).
  static size_t activation_bytes(const ModelConfig& config, int64_t tokens, int64_t mlp_chunk_tokens, DType dtype);

 private:
  struct Layer {
    Tensor attn_norm, q_proj, k_proj, v_proj, o_proj, mlp_norm, gate_proj, up_proj, down_proj;
  };
  // The row-parallel projection's partial sums into x over the host: x +=
  // sum over the host's GPUs of partial_i (each GPU wrote x + partial_0 or partial_i).
  void reduce_residual(Tensor& x);
  // Layer split: receives x from the previous GPU of the host, or sends it to the next.
  void hand_off(Tensor& x, bool receive);

  ModelConfig full_config_, config_;
  HostShard host_shard_;
  Backend& backend_;
  int64_t mlp_chunk_tokens_;
  Tensor embed_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  float attention_scale_;
  int64_t forwarded_tokens_ = 0;
};

}  // namespace sb

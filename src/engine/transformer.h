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

// The softmax scale of Llama's attention, 1 / sqrt(head_dim): every
// LayerAttention of the methods (and calibrate's timed calls) uses it.
float attention_scale(int64_t head_dim);

class LayerAttention {
 public:
  virtual ~LayerAttention() = default;
  // q [T, Hq, d] and k [T, Hkv, d] are already rotated; v [T, Hkv, d].
  // Writes the attention output of the T tokens into out [T, Hq, d].
  virtual void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) = 0;
  // Called just before q and k are rotated, with the same views (q [T, Hq, d],
  // k and v [T, Hkv, d]) holding the pre-RoPE projections: APB's compressor
  // scores tokens from them (attention/apb_method.h). Must not change them.
  virtual void before_rope(int /*layer*/, const Tensor& /*q*/, const Tensor& /*k*/, const Tensor& /*v*/) {}
};

class Transformer {
 public:
  // Tokens per MLP chunk unless a caller asks otherwise: the MLP's
  // [T, intermediate] activations are the largest buffers of a long prefill,
  // so a forward runs its MLP over at most this many tokens at a time. Memory
  // plans made before a model exists and calibrate's timed shapes use it too.
  static constexpr int64_t kMlpChunkTokens = 8192;

  // Uploads every weight through the backend (the specs may view mmapped files).
  // With a split host (engine/model_shard.h) only the shard's slices or layers.
  Transformer(const ModelConfig& config, Backend& backend, const ModelWeightSpecs& weights,
              int64_t mlp_chunk_tokens = kMlpChunkTokens, HostShard host_shard = {});

  // The model this GPU runs: the shard's heads and MLP columns (tensor split)
  // or layers (layer split), what the attention methods allocate KV from;
  // else the whole model. A layer split's attend() gets the shard's layer
  // indices (0 = its first layer).
  const ModelConfig& config() const { return config_; }
  const ModelConfig& full_config() const { return full_config_; }
  const ModelShard& shard() const { return host_shard_.shard; }
  Backend& backend() const { return backend_; }
  int64_t mlp_chunk_tokens() const { return mlp_chunk_tokens_; }

  // Runs every layer on `tokens` at `positions`; returns the residual stream
  // after the last layer, [T, hidden] (before the final norm).
  Tensor forward(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                 LayerAttention& attention);
  // The same over token ids and positions already in the backend's memory
  // (I32 [T]; a decoding step replayed from a graph reads its new ones there).
  // Token ids are checked on the device (the backend reports a bad one at its
  // next synchronize). Forwards of at most kFusedTokens tokens run the fused
  // ops (Backend::rmsnorm_matmul, rmsnorm_swiglu) and allocate nothing but
  // what those ops need.
  Tensor forward(const Tensor& token_ids, const Tensor& position_ids, LayerAttention& attention);
  static constexpr int64_t kFusedTokens = 16;
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
  int64_t forwarded_tokens_ = 0;
};

}  // namespace sb

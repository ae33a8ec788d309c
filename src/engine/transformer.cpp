#include "engine/transformer.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "comm/comm.h"
#include "util/error.h"

namespace sb {

float attention_scale(int64_t head_dim) { return float(1.0 / std::sqrt(double(head_dim))); }

Transformer::Transformer(const ModelConfig& config, Backend& backend, const ModelWeightSpecs& full_weights,
                         int64_t mlp_chunk_tokens, HostShard host_shard)
    : full_config_(config),
      config_(shard_config(config, host_shard.shard)),
      host_shard_(host_shard),
      backend_(backend),
      mlp_chunk_tokens_(std::max<int64_t>(1, mlp_chunk_tokens)) {
  validate_config(full_config_);
  validate_config(config_);
  SB_REQUIRE(host_shard_.shard.whole() ||
                 (host_shard_.host != nullptr && host_shard_.host->size() == host_shard_.shard.count &&
                  host_shard_.host->rank() == host_shard_.shard.index),
             "model shard {} of {} needs its host's communicator (got {})", host_shard_.shard.index,
             host_shard_.shard.count,
             host_shard_.host ? fmt::format("rank {} of {}", host_shard_.host->rank(), host_shard_.host->size())
                              : std::string("none"));
  SB_REQUIRE(int64_t(full_weights.layers.size()) == full_config_.num_layers, "weights have {} layers, config {}",
             full_weights.layers.size(), full_config_.num_layers);
  const ModelWeightSpecs weights = shard_weight_specs(full_weights, full_config_, host_shard_.shard);
  embed_ = backend_.upload(weights.embed);
  final_norm_ = backend_.upload(weights.final_norm);
  // Tied checkpoints name no lm_head tensor; the spec then is the embedding's.
  lm_head_ = weights.lm_head.name == weights.embed.name && weights.lm_head.mapped_data == weights.embed.mapped_data &&
                     weights.lm_head.seed == weights.embed.seed
                 ? embed_
                 : backend_.upload(weights.lm_head);
  layers_.reserve(weights.layers.size());
  for (const LayerWeightSpecs& spec : weights.layers) {
    layers_.push_back({backend_.upload(spec.attn_norm), backend_.upload(spec.q_proj), backend_.upload(spec.k_proj),
                       backend_.upload(spec.v_proj), backend_.upload(spec.o_proj), backend_.upload(spec.mlp_norm),
                       backend_.upload(spec.gate_proj), backend_.upload(spec.up_proj),
                       backend_.upload(spec.down_proj)});
  }
  backend_.set_rope_frequencies(rope_inverse_frequencies(config_));
}

Tensor Transformer::forward(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                            LayerAttention& attention) {
  const int64_t num_tokens = int64_t(tokens.size());
  SB_REQUIRE(num_tokens > 0, "forward pass over zero tokens");
  SB_REQUIRE(positions.size() == tokens.size(), "{} tokens but {} positions", tokens.size(), positions.size());
  for (int32_t token : tokens) {
    SB_REQUIRE(token >= 0 && token < config_.vocab_size, "token id {} is outside the vocabulary [0, {})", token,
               config_.vocab_size);
  }
  Tensor token_ids = backend_.from_host(DType::I32, {num_tokens}, tokens.data());
  Tensor position_ids = backend_.from_host(DType::I32, {num_tokens}, positions.data());
  return forward(token_ids, position_ids, attention);
}

Tensor Transformer::forward(const Tensor& token_ids, const Tensor& position_ids, LayerAttention& attention) {
  const int64_t num_tokens = token_ids.numel();
  SB_REQUIRE(num_tokens > 0 && token_ids.dtype() == DType::I32 && position_ids.dtype() == DType::I32 &&
                 position_ids.numel() == num_tokens,
             "forward pass: token ids {} and positions {} must be I32 [T], T > 0", token_ids.describe(),
             position_ids.describe());
  forwarded_tokens_ += num_tokens;
  const int64_t hidden = config_.hidden_size, head_dim = config_.head_dim;
  const int64_t q_heads = config_.num_heads, kv_heads = config_.num_kv_heads;
  const DType act = backend_.act_dtype();
  const float eps = float(config_.rms_norm_eps);
  const bool fused = num_tokens <= kFusedTokens;

  Tensor x = backend_.empty(act, {num_tokens, hidden});
  if (host_shard_.shard.layer_split() && host_shard_.shard.index > 0) {
    hand_off(x, /*receive=*/true);  // the residual stream after the previous GPU's layers
  } else {
    backend_.embedding(embed_, token_ids, x);
  }
  // Tensor split: GPU 0 of the host adds its partial products to x, the others
  // write theirs over x, and the all-reduce sums them: x + the unsplit product.
  const bool adds_to_residual = !host_shard_.shard.tensor_split() || host_shard_.shard.index == 0;

  Tensor normed = fused ? Tensor() : backend_.empty(act, {num_tokens, hidden});
  Tensor q = backend_.empty(act, {num_tokens, q_heads * head_dim});
  Tensor k = backend_.empty(act, {num_tokens, kv_heads * head_dim});
  Tensor v = backend_.empty(act, {num_tokens, kv_heads * head_dim});
  Tensor attn_out = backend_.empty(act, {num_tokens, q_heads, head_dim});
  const int64_t chunk = std::min(mlp_chunk_tokens_, num_tokens);
  Tensor gate = backend_.empty(act, {chunk, config_.intermediate_size});
  Tensor up = fused ? Tensor() : backend_.empty(act, {chunk, config_.intermediate_size});

  for (int layer = 0; layer < int(layers_.size()); ++layer) {
    const Layer& w = layers_[layer];
    if (fused) {
      backend_.rmsnorm_matmul(x, w.attn_norm, eps, {&w.q_proj, &w.k_proj, &w.v_proj}, {&q, &k, &v});
    } else {
      backend_.rmsnorm(x, w.attn_norm, eps, normed);
      backend_.matmul(normed, w.q_proj, q);
      backend_.matmul(normed, w.k_proj, k);
      backend_.matmul(normed, w.v_proj, v);
    }
    Tensor q_heads_view = q.reshape({num_tokens, q_heads, head_dim});
    Tensor k_heads_view = k.reshape({num_tokens, kv_heads, head_dim});
    Tensor v_heads_view = v.reshape({num_tokens, kv_heads, head_dim});
    attention.before_rope(layer, q_heads_view, k_heads_view, v_heads_view);
    backend_.rope(q_heads_view, position_ids);
    backend_.rope(k_heads_view, position_ids);
    attention.attend(layer, q_heads_view, k_heads_view, v_heads_view, attn_out);
    backend_.matmul(attn_out.reshape({num_tokens, q_heads * head_dim}), w.o_proj, x, adds_to_residual);
    reduce_residual(x);

    if (fused) {  // one chunk: the MLP up to the down projection in one op
      backend_.rmsnorm_swiglu(x, w.mlp_norm, eps, w.gate_proj, w.up_proj, gate);
      backend_.matmul(gate, w.down_proj, x, adds_to_residual);
      reduce_residual(x);
      continue;
    }
    backend_.rmsnorm(x, w.mlp_norm, eps, normed);
    // The MLP's [T, intermediate] activations are the largest buffers of a
    // long prefill; chunking the tokens bounds them.
    for (int64_t begin = 0; begin < num_tokens; begin += chunk) {
      int64_t end = std::min(num_tokens, begin + chunk);
      Tensor gate_rows = gate.rows(0, end - begin), up_rows = up.rows(0, end - begin);
      Tensor x_rows = x.rows(begin, end);
      backend_.matmul(normed.rows(begin, end), w.gate_proj, gate_rows);
      backend_.matmul(normed.rows(begin, end), w.up_proj, up_rows);
      backend_.swiglu(gate_rows, up_rows, gate_rows);
      backend_.matmul(gate_rows, w.down_proj, x_rows, adds_to_residual);
    }
    reduce_residual(x);
  }
  if (host_shard_.shard.layer_split()) {
    // On to the next GPU's layers; the last GPU's result is every GPU's.
    if (host_shard_.shard.index + 1 < host_shard_.shard.count) hand_off(x, /*receive=*/false);
    host_shard_.host->broadcast(x, host_shard_.shard.count - 1);
  }
  return x;
}

void Transformer::reduce_residual(Tensor& x) {
  if (host_shard_.shard.tensor_split()) host_shard_.host->all_reduce_sum(x);
}

void Transformer::hand_off(Tensor& x, bool receive) {
  // One point-to-point transfer between neighbours in the host, as a ring step
  // whose other direction is empty (it matches on every Comm).
  Comm& host = *host_shard_.host;
  const int index = host_shard_.shard.index;
  Tensor nothing = x.rows(0, 0);
  if (receive) {
    host.ring_start(nothing, index - 1, x, index - 1);
  } else {
    host.ring_start(x, index + 1, nothing, index + 1);
  }
  host.ring_wait();
}

Tensor Transformer::final_norm(const Tensor& hidden) {
  Tensor normed = backend_.empty(backend_.act_dtype(), hidden.shape());
  backend_.rmsnorm(hidden, final_norm_, float(config_.rms_norm_eps), normed);
  return normed;
}

Tensor Transformer::logits(const Tensor& normed_hidden) {
  Tensor out = backend_.empty(backend_.act_dtype(), {normed_hidden.dim(0), config_.vocab_size});
  backend_.matmul(normed_hidden, lm_head_, out);
  return out;
}

size_t Transformer::weight_bytes(const ModelConfig& config, DType dtype) {
  return size_t(config.parameter_count()) * dtype_size(dtype);
}

size_t Transformer::activation_bytes(const ModelConfig& config, int64_t tokens, int64_t mlp_chunk_tokens,
                                     DType dtype) {
  const int64_t chunk = std::min(mlp_chunk_tokens, tokens);
  const int64_t per_token = 2 * config.hidden_size + 2 * config.num_heads * config.head_dim +
                            2 * config.num_kv_heads * config.head_dim;
  return size_t(tokens * per_token + 2 * chunk * config.intermediate_size) * dtype_size(dtype);
}

}  // namespace sb

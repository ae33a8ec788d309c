#pragma once
// The attention methods (global, ring, star), written once against Backend and
// Comm. Phase 1 (context encoding) differs per method; phase 2 (query and each
// generated token) is shared: every rank attends with the query to the context
// KV it holds, the query rank (the last rank) also to the query/generated
// tokens' own KV, and the partial results are merged by log-sum-exp.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/duo_pattern.h"
#include "attention/layout.h"
#include "attention/method_settings.h"
#include "comm/comm.h"
#include "engine/kv_cache.h"
#include "engine/transformer.h"

namespace sb {

class AttentionMethod {
 public:
  // keep_tail_kv false: the subclass allocates its own tail storage (duo keeps it per kind).
  AttentionMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens,
                  bool keep_tail_kv = true);
  virtual ~AttentionMethod() = default;
  virtual std::string name() const = 0;

  // Phase 1. Every rank is given the whole context (token ids are cheap) and
  // encodes its own share, keeping that share's KV.
  virtual void encode_context(const std::vector<int32_t>& context) = 0;
  // The query tokens, told before encode_context: APB's hosts put them into
  // their anchors (apb_method.h); every other method ignores them. Phase 2
  // still takes the query from encode_query.
  virtual void set_query(const std::vector<int32_t>& /*query*/) {}
  // Phase 2: tokens that follow everything encoded so far. Returns their final
  // residual rows [T, hidden], identical on every rank.
  Tensor encode_query(const std::vector<int32_t>& tokens);

  int query_rank() const { return comm_.size() - 1; }
  int64_t context_len() const { return context_len_; }
  int64_t local_context_tokens() const { return context_kv_.empty() ? 0 : context_kv_.length(0); }
  // Bytes of this rank's preallocated KV storage (context, tail and any other kind).
  virtual size_t kv_cache_bytes() const { return context_kv_.bytes() + tail_kv_.bytes(); }

 protected:
  virtual void allocate_context_kv(int64_t local_tokens);
  // Phase 2's attention of one forward (the shared distributed query attention;
  // duo routes its two kinds of heads differently).
  virtual std::unique_ptr<LayerAttention> make_query_attention();
  // The same for one decoding token whose position lives in device memory
  // (`positions`, I32 [1]): KV rows written by position, the tail attended to
  // under a causal-by-position mask, so that the step replays from a graph.
  virtual std::unique_ptr<LayerAttention> make_decode_attention(const Tensor& positions);
  // What fixes a decoding step's shapes besides the method itself (duo: its
  // streaming heads' held rows, until the window is full); a new key captures anew.
  virtual uint64_t decode_step_key() const { return 0; }

  Transformer& model_;
  Comm& comm_;
  int64_t context_len_;
  int64_t max_tail_tokens_;
  KvCache context_kv_;  // this rank's share of the context
  KvCache tail_kv_;     // query + generated tokens, on the query rank only
  int64_t tail_len_ = 0;

 private:
  class QueryAttention;
  // One decoding token through the replayable step (Backend::make_step_replay).
  Tensor decode_step(int32_t token, int32_t position);
  // The backend's step replay (nullptr: decode op by op as before; see
  // CudaBackend's STARBENCH_DECODE=legacy). Destroyed before the caches it reads.
  std::unique_ptr<StepReplay> replay_;
  bool replay_made_ = false;
  Tensor step_values_;  // I32 [2]: the decoding token and its position
};

}  // namespace sb

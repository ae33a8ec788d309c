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
#include "comm/comm.h"
#include "engine/kv_cache.h"
#include "engine/transformer.h"

namespace sb {

struct MethodSettings {
  std::string name = "global";  // global | ring | star
  int64_t block_size = 0;       // star: 0 -> ceil(context / ranks)
  int64_t anchor_size = -1;     // star: -1 -> block size
  // Star ablations (the paper's section on the anchor block): which tokens form
  // the anchor ("first": the context's first tokens; "previous": the tokens just
  // before the block) and which position ids they get ("original": their own
  // positions, 0..A-1 for the first tokens; "adjacent": the A positions just
  // before the block).
  std::string anchor_source = "first";
  std::string anchor_positions = "original";
  // Star: how a rank gets the anchor (recompute | once | sent | auto; see
  // star_method.h). Ring: how the context is sharded (zigzag | contiguous).
  std::string anchor_mode = "auto";
  std::string ring_layout = "zigzag";
  // DuoAttention head pattern: required by duo, turns star into star + duo;
  // global and ring ignore it.
  std::shared_ptr<const DuoPattern> duo = nullptr;
};

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

  Transformer& model_;
  Comm& comm_;
  int64_t context_len_;
  int64_t max_tail_tokens_;
  KvCache context_kv_;  // this rank's share of the context
  KvCache tail_kv_;     // query + generated tokens, on the query rank only
  int64_t tail_len_ = 0;

 private:
  class QueryAttention;
};

}  // namespace sb

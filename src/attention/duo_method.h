#pragma once
// DuoAttention (Xiao et al., arXiv 2410.10819) as a method, alone and with
// Star Attention. A head pattern (duo_pattern.h) splits each layer's KV heads:
// retrieval heads attend to every earlier token and keep a full KV cache;
// streaming heads attend, at position i, to keys j <= i with j < sink or
// i - j < recent, and keep only those (StreamingKvCache, sink + recent rows).
//
//   duo        one rank. Phase 1: retrieval heads causal over the context
//              (cuDNN / flash), streaming heads with the streaming mask
//              (O(sink + recent) keys per query); phase 2 and decoding by the
//              same rule.
//   star+duo   phase 1 is Star Attention unchanged, but every rank keeps only
//              the retrieval heads' block KV; the query rank also takes its
//              streaming heads' sink (the anchor's first `sink` rows, which
//              every block's forward computes) and the last `recent` context
//              positions (its own last block's rows). In phase 2 retrieval heads
//              do what star does (every rank's KV, log-sum-exp merge on the query
//              rank: only their partials are gathered); streaming heads run on
//              the query rank alone, on absolute positions, and need no merge.
#include <memory>

#include "attention/duo_pattern.h"
#include "attention/global_method.h"
#include "attention/method.h"
#include "attention/star_method.h"
#include "engine/streaming_kv_cache.h"

namespace sb {

// The per-kind state both duo methods keep beside AttentionMethod's caches
// (whose context and tail KV hold the retrieval heads only).
struct DuoState {
  // holds_streaming: this rank keeps the streaming heads' cache (the query rank).
  DuoState(std::shared_ptr<const DuoPattern> pattern, const ModelConfig& config, Backend& backend,
           bool holds_streaming);
  std::shared_ptr<const DuoPattern> pattern;
  DuoHeads heads;
  StreamingKvCache streaming;  // the query rank's streaming heads
};

// Global's phase 1 (the whole context on one rank) with duo's attention.
class DuoMethod : public GlobalMethod {
 public:
  DuoMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens,
            std::shared_ptr<const DuoPattern> pattern);
  std::string name() const override { return "duo"; }
  size_t kv_cache_bytes() const override { return AttentionMethod::kv_cache_bytes() + duo_.streaming.bytes(); }
  const StreamingKvCache& streaming_kv() const { return duo_.streaming; }

 protected:
  void allocate_context_kv(int64_t local_tokens) override;
  std::unique_ptr<LayerAttention> make_prefill_attention() override;
  std::unique_ptr<LayerAttention> make_query_attention() override;
  std::unique_ptr<LayerAttention> make_decode_attention(const Tensor& positions) override;
  uint64_t decode_step_key() const override;

 private:
  DuoState duo_;
};

class StarDuoMethod : public StarMethod {
 public:
  // anchor_mode: recompute or once (sent reads the anchor from rank 0's
  // context KV, which star + duo keeps for the retrieval heads only).
  StarDuoMethod(Transformer& model, Comm& comm, StarLayout layout, int64_t max_tail_tokens,
                std::shared_ptr<const DuoPattern> pattern, AnchorMode anchor_mode);
  size_t kv_cache_bytes() const override { return AttentionMethod::kv_cache_bytes() + duo_.streaming.bytes(); }
  const StreamingKvCache& streaming_kv() const { return duo_.streaming; }

 protected:
  void allocate_context_kv(int64_t local_tokens) override;
  std::unique_ptr<LayerAttention> make_query_attention() override;
  std::unique_ptr<LayerAttention> make_decode_attention(const Tensor& positions) override;
  uint64_t decode_step_key() const override;
  void observe_phase1_kv(int layer, const Tensor& k, const Tensor& v, int64_t anchor_tokens,
                         TokenRange blocks) override;

 private:
  DuoState duo_;
};

// Checks what star + duo needs (anchor = the first tokens at their own
// positions; sink <= anchor; the window's positions on the query rank; the
// anchor computed, not sent: --anchor-mode auto resolves to once) and builds
// it; throws sb::Error with the reason otherwise.
std::unique_ptr<AttentionMethod> make_star_duo_method(Transformer& model, Comm& comm, const MethodPlan& plan,
                                                      int64_t max_tail_tokens, const MethodSettings& settings);

// The KV bytes of one rank under a pattern: retrieval heads keep
// `retrieval_tokens` rows (context share + tail), streaming heads sink + recent
// (on the query rank; 0 elsewhere). For memory plans.
size_t duo_kv_bytes(const DuoPattern& pattern, int64_t retrieval_tokens, bool holds_streaming, int64_t head_dim,
                    DType dtype);

}  // namespace sb

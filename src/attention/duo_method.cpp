#include "attention/duo_method.h"

#include <cmath>
#include <numeric>

#include "attention/duo_shard.h"
#include "attention/query_attention.h"
#include "util/error.h"

namespace sb {
namespace {

// One kind's heads of a layer: q packed to those heads, an output buffer for
// them (`out` itself when they are every head) and their lse.
struct KindOutput {
  Tensor q, out, lse;
  KindOutput(Backend& backend, const HeadSelection& q_heads, const Tensor& q_full, Tensor& out_full)
      : q(q_heads.packed(backend, q_full)),
        out(q_heads.is_all() ? out_full : backend.empty(out_full.dtype(), q.shape())),
        lse(backend.empty(DType::F32, {q.dim(0), q.dim(1)})) {}
  void unpack(Backend& backend, const HeadSelection& q_heads, Tensor& out_full) const {
    if (!q_heads.is_all()) q_heads.scatter(backend, out_full, 0, out, 0, out.dim(0));
  }
};

// Streaming heads of one forward that follows everything the cache has seen:
// their K/V go into the streaming cache, their queries attend under the
// streaming mask (O(sink + recent) keys each).
void attend_streaming(Backend& backend, DuoState& duo, int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                      Tensor& out) {
  const HeadSelection& q_heads = duo.heads.streaming_q[size_t(layer)];
  if (q_heads.empty()) return;
  const StreamingKvCache::Keys keys = duo.streaming.extend(layer, k, v);
  KindOutput streaming(backend, q_heads, q, out);
  backend.attention(streaming.q, keys.k, keys.v, keys.mask, attention_scale(q.dim(2)), streaming.out, streaming.lse);
  streaming.unpack(backend, q_heads, out);
}

// attend_streaming for one decoding token at a device position: its row goes
// to its ring slot by position and the query heads read the held rows in
// place (no packing: attention_blocks reads and writes their heads of q/out).
void attend_streaming_at(Backend& backend, DuoState& duo, int layer, const Tensor& q, const Tensor& k,
                         const Tensor& v, const Tensor& positions, Tensor& out, Tensor& lse) {
  const HeadSelection& q_heads = duo.heads.streaming_q[size_t(layer)];
  if (q_heads.empty()) return;
  const StreamingKvCache::Keys keys = duo.streaming.extend_at(layer, k, v, positions);
  backend.attention_blocks(q, {{keys.k, keys.v, keys.mask}}, q_heads.heads(), attention_scale(q.dim(2)), out, lse);
}

// Duo's phase 1 on one rank: retrieval heads causal over the context (their
// KV kept whole), streaming heads under the streaming mask.
class DuoPrefillAttention : public LayerAttention {
 public:
  DuoPrefillAttention(Backend& backend, DuoState& duo, KvCache& context)
      : backend_(backend), duo_(duo), context_(context) {}

  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    context_.append(layer, k, v, 0, k.dim(0));  // the retrieval heads' rows
    const HeadSelection& q_heads = duo_.heads.retrieval_q[size_t(layer)];
    if (!q_heads.empty()) {
      const Tensor keys = context_.keys(layer), values = context_.values(layer);
      KindOutput retrieval(backend_, q_heads, q, out);
      backend_.attention(retrieval.q, keys, values, AttentionMask::bottom_right(q.dim(0), keys.dim(0)),
                         attention_scale(q.dim(2)), retrieval.out, retrieval.lse);
      retrieval.unpack(backend_, q_heads, out);
    }
    attend_streaming(backend_, duo_, layer, q, k, v, out);
  }

 private:
  Backend& backend_;
  DuoState& duo_;
  KvCache& context_;
};

// Phase 2 of duo and star + duo: retrieval heads through the shared query
// attention (every rank's KV, merged on the query rank; only their partials
// travel), streaming heads on the query rank alone; the full output is then
// sent to every rank.
class DuoQueryAttention : public LayerAttention {
 public:
  // positions defined: one decoding token at that device position (context_len: the tail's first position).
  DuoQueryAttention(Backend& backend, Comm& comm, DuoState& duo, const KvCache& context, KvCache& tail, int root,
                    Tensor positions = Tensor(), int64_t context_len = 0)
      : backend_(backend), comm_(comm), duo_(duo), context_(context), tail_(tail), root_(root),
        positions_(std::move(positions)), context_len_(context_len) {}

  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    if (positions_.defined()) {
      attend_decoding(layer, q, k, v, out);
      return;
    }
    const bool is_root = comm_.rank() == root_;
    const HeadSelection& q_heads = duo_.heads.retrieval_q[size_t(layer)];
    if (!q_heads.empty()) {
      KindOutput retrieval(backend_, q_heads, q, out);
      attend_held_kv(backend_, layer, retrieval.q, k, v, context_.empty() ? nullptr : &context_,
                     is_root ? &tail_ : nullptr, attention_scale(q.dim(2)), retrieval.out, retrieval.lse);
      if (comm_.size() > 1) merge_on_root(backend_, comm_, retrieval.out, retrieval.lse, root_);
      if (is_root) retrieval.unpack(backend_, q_heads, out);
    } else if (is_root) {
      tail_.append(layer, k, v, 0, k.dim(0));  // no heads: keeps the tail's length in step
    }
    if (is_root) attend_streaming(backend_, duo_, layer, q, k, v, out);
    if (comm_.size() > 1) comm_.broadcast(out, root_);
  }

 private:
  // A decoding token by position. One rank: both kinds read and write their
  // heads of q/out in place. Several (star + duo): the retrieval heads' partials
  // are packed for the merge on the root, as in attend().
  void attend_decoding(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) {
    const bool is_root = comm_.rank() == root_;
    const HeadSelection& q_heads = duo_.heads.retrieval_q[size_t(layer)];
    const KvCache* context = context_.empty() ? nullptr : &context_;
    KvCache* tail = is_root ? &tail_ : nullptr;
    Tensor lse = backend_.empty(DType::F32, {q.dim(0), q.dim(1)});
    if (q_heads.empty()) {
      if (is_root) tail_.append_at(layer, k, v, positions_, context_len_);  // keeps the tail's length in step
    } else if (comm_.size() == 1) {
      attend_held_kv_at(backend_, layer, q, k, v, context, tail, positions_, context_len_,
                        q_heads.is_all() ? std::vector<int64_t>() : q_heads.heads(), attention_scale(q.dim(2)), out, lse);
    } else {
      KindOutput retrieval(backend_, q_heads, q, out);
      attend_held_kv_at(backend_, layer, retrieval.q, k, v, context, tail, positions_, context_len_, {},
                        attention_scale(q.dim(2)), retrieval.out, retrieval.lse);
      merge_on_root(backend_, comm_, retrieval.out, retrieval.lse, root_);
      if (is_root) retrieval.unpack(backend_, q_heads, out);
    }
    if (is_root) attend_streaming_at(backend_, duo_, layer, q, k, v, positions_, out, lse);
    if (comm_.size() > 1) comm_.broadcast(out, root_);
  }

  Backend& backend_;
  Comm& comm_;
  DuoState& duo_;
  const KvCache& context_;
  KvCache& tail_;
  int root_;
  Tensor positions_;
  int64_t context_len_;
};

uint64_t streaming_rows_key(const DuoState& duo, int64_t num_layers) {
  uint64_t key = 1469598103934665603ull;
  for (int layer = 0; layer < int(num_layers); ++layer)
    key = (key ^ uint64_t(duo.streaming.empty() ? 0 : duo.streaming.rows(layer))) * 1099511628211ull;
  return key;
}

}  // namespace

DuoState::DuoState(std::shared_ptr<const DuoPattern> pattern_in, const ModelConfig& config, Backend& backend,
                   bool holds_streaming)
    : pattern(std::move(pattern_in)), heads(*pattern, config.num_heads) {
  SB_REQUIRE(pattern->num_layers == config.num_layers && pattern->num_kv_heads == config.num_kv_heads,
             "duo pattern {} is {} layers x {} KV heads but model {} has {} layers x {} KV heads", pattern->source,
             pattern->num_layers, pattern->num_kv_heads, config.name, config.num_layers, config.num_kv_heads);
  if (holds_streaming) {
    streaming = StreamingKvCache(backend, heads.streaming_kv, config.head_dim, pattern->sink, pattern->recent);
  }
}

// ---- duo --------------------------------------------------------------------------

DuoMethod::DuoMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens,
                     std::shared_ptr<const DuoPattern> pattern)
    : GlobalMethod(model, comm, context_len, max_tail_tokens, /*keep_tail_kv=*/false),
      duo_(shard_duo_pattern(std::move(pattern), model.shard()), model.config(), model.backend(), /*holds_streaming=*/true) {
  tail_kv_ = KvCache(model.backend(), max_tail_tokens, duo_.heads.retrieval_kv, model.config().head_dim);
}

void DuoMethod::allocate_context_kv(int64_t local_tokens) {
  context_kv_ = KvCache(model_.backend(), local_tokens, duo_.heads.retrieval_kv, model_.config().head_dim);
}

std::unique_ptr<LayerAttention> DuoMethod::make_prefill_attention() {
  return std::make_unique<DuoPrefillAttention>(model_.backend(), duo_, context_kv_);
}

std::unique_ptr<LayerAttention> DuoMethod::make_query_attention() {
  return std::make_unique<DuoQueryAttention>(model_.backend(), comm_, duo_, context_kv_, tail_kv_, query_rank());
}

std::unique_ptr<LayerAttention> DuoMethod::make_decode_attention(const Tensor& positions) {
  return std::make_unique<DuoQueryAttention>(model_.backend(), comm_, duo_, context_kv_, tail_kv_, query_rank(),
                                             positions, context_len_);
}

uint64_t DuoMethod::decode_step_key() const { return streaming_rows_key(duo_, model_.config().num_layers); }

// ---- star + duo --------------------------------------------------------------------

StarDuoMethod::StarDuoMethod(Transformer& model, Comm& comm, StarLayout layout, int64_t max_tail_tokens,
                             std::shared_ptr<const DuoPattern> pattern, AnchorMode anchor_mode)
    : StarMethod(model, comm, layout, max_tail_tokens, AnchorSource::First, AnchorPositions::Original, anchor_mode,
                 /*keep_tail_kv=*/false),
      duo_(shard_duo_pattern(std::move(pattern), model.shard()), model.config(), model.backend(), comm.rank() == comm.size() - 1) {
  if (comm.rank() == query_rank()) {
    tail_kv_ = KvCache(model.backend(), max_tail_tokens, duo_.heads.retrieval_kv, model.config().head_dim);
  }
}

void StarDuoMethod::allocate_context_kv(int64_t local_tokens) {
  // Phase 1 keeps the retrieval heads' block KV only: the streaming heads'
  // context KV is needed nowhere but in the query rank's sink and window.
  context_kv_ = KvCache(model_.backend(), local_tokens, duo_.heads.retrieval_kv, model_.config().head_dim);
}

void StarDuoMethod::observe_phase1_kv(int layer, const Tensor& k, const Tensor& v, int64_t anchor_tokens,
                                      TokenRange blocks) {
  if (comm_.rank() != query_rank() || duo_.heads.streaming_kv[size_t(layer)].empty()) return;
  // The anchor is the first tokens at their own positions: its first rows are
  // the sink (the cache ignores sink positions it already holds). Block 0 has
  // no anchor: its own first rows are the sink.
  if (anchor_tokens > 0) duo_.streaming.take(layer, k, v, 0, std::min(anchor_tokens, duo_.pattern->sink), 0);
  duo_.streaming.take(layer, k, v, anchor_tokens, blocks.size(), blocks.begin);
}

std::unique_ptr<LayerAttention> StarDuoMethod::make_query_attention() {
  return std::make_unique<DuoQueryAttention>(model_.backend(), comm_, duo_, context_kv_, tail_kv_, query_rank());
}

std::unique_ptr<LayerAttention> StarDuoMethod::make_decode_attention(const Tensor& positions) {
  return std::make_unique<DuoQueryAttention>(model_.backend(), comm_, duo_, context_kv_, tail_kv_, query_rank(),
                                             positions, context_len_);
}

uint64_t StarDuoMethod::decode_step_key() const { return streaming_rows_key(duo_, model_.config().num_layers); }

std::unique_ptr<AttentionMethod> make_star_duo_method(Transformer& model, Comm& comm, const MethodPlan& plan,
                                                      int64_t max_tail_tokens, const MethodSettings& settings) {
  const DuoPattern& pattern = *settings.duo;
  const StarLayout& layout = plan.star;
  SB_REQUIRE(settings.anchor_source == AnchorSource::First && settings.anchor_positions == AnchorPositions::Original,
             "star + duo needs the anchor to be the first tokens at their own positions (its first rows are the "
             "streaming heads' sink); --anchor-source {} / --anchor-positions {} are not supported with --duo-pattern",
             setting_name(settings.anchor_source), setting_name(settings.anchor_positions));
  // A plan made before the pattern was given may hold sent, which star + duo cannot honour.
  check_anchor_mode(plan.anchor_mode, settings.anchor_source, settings.anchor_positions, /*duo=*/true);
  const int64_t sink_source = layout.num_blocks() > 1 ? layout.anchor_size : layout.block_size;
  SB_REQUIRE(pattern.sink <= sink_source,
             "star + duo: the duo sink ({} tokens) must lie inside the anchor ({} tokens), which every block's "
             "forward computes: use --anchor-size >= {} or --duo-sink <= {}",
             pattern.sink, sink_source, pattern.sink, sink_source);
  // The first query token (position C) sees the window positions
  // [max(sink, C - recent + 1), C): the query rank must hold them.
  const int query_rank = comm.size() - 1;
  const int64_t first_held = layout.block(layout.blocks_of(query_rank).begin).begin;
  const int64_t first_needed = std::max(pattern.sink, layout.context_len - pattern.recent + 1);
  SB_REQUIRE(first_held <= first_needed,
             "star + duo: the streaming heads' window (the last {} context positions, from {}) must lie on the query "
             "rank, which holds positions {} to {}: use a larger --block-size or a smaller --duo-recent",
             pattern.recent, first_needed, first_held, layout.context_len - 1);
  return std::make_unique<StarDuoMethod>(model, comm, layout, max_tail_tokens, settings.duo, plan.anchor_mode);
}

size_t duo_kv_bytes(const DuoPattern& pattern, int64_t retrieval_tokens, bool holds_streaming, int64_t head_dim,
                    DType dtype) {
  size_t bytes = KvCache::bytes_needed(1, retrieval_tokens, pattern.retrieval_count(), head_dim, dtype);
  if (holds_streaming) {
    bytes += KvCache::bytes_needed(1, pattern.sink + pattern.recent, pattern.streaming_count(), head_dim, dtype);
  }
  return bytes;
}

}  // namespace sb

#include "experiment/progress.h"

#include <algorithm>

#include "attention/apb_compressor.h"

#include "util/duration.h"
#include "util/error.h"

namespace sb {
namespace {

// Matmul FLOPs of one token through one layer: q, k, v, o projections and the MLP's gate, up, down.
double layer_matmul_flops_per_token(const ModelConfig& c) {
  const double hidden = double(c.hidden_size), q = double(c.num_heads * c.head_dim),
               kv = double(c.num_kv_heads * c.head_dim), inter = double(c.intermediate_size);
  return 2.0 * (hidden * q + 2.0 * hidden * kv + q * hidden + 3.0 * hidden * inter);
}

// Attention FLOPs per visible (query, key) pair and query head, as Backend::count_attention counts them.
double attention_flops_per_pair(const ModelConfig& c) { return 4.0 * double(c.head_dim); }

double causal_pairs(int64_t tokens) { return AttentionMask::causal(0).visible_pairs(tokens, tokens); }

// Query heads per KV head of one kind in a layer of a duo pattern.
double duo_query_heads(const ModelConfig& config, const DuoPattern& pattern, int64_t layer, bool retrieval) {
  int64_t kv_heads = 0;
  for (int64_t head = 0; head < pattern.num_kv_heads; ++head) kv_heads += pattern.is_retrieval(layer, head) == retrieval;
  return double(kv_heads * (config.num_heads / std::max<int64_t>(1, config.num_kv_heads)));
}

// Ring: every query chunk of the rank attends to each chunk up to its own (its own causally), one ring step each.
double ring_pairs(const RingLayout& layout, int rank) {
  double pairs = 0;
  for (int64_t q_chunk : layout.chunks_of(rank)) {
    const int64_t q_len = layout.chunk(q_chunk).size();
    for (int64_t k_chunk = 0; k_chunk <= q_chunk; ++k_chunk) {
      pairs += k_chunk == q_chunk ? causal_pairs(q_len) : double(q_len) * double(layout.chunk(k_chunk).size());
    }
  }
  return pairs;
}

struct TokensAndPairs {
  double tokens = 0, pairs = 0;  // forwarded tokens; visible pairs per query head and layer
};

// Star: the rank's forward passes (star_method.cpp) and their attention calls.
TokensAndPairs star_work(const MethodPlan& plan, int rank) {
  const StarLayout& layout = plan.star;
  const TokenRange owned = layout.blocks_of(rank);
  const int64_t anchor = layout.anchor_size;
  TokensAndPairs work;
  if (plan.anchor_mode == AnchorMode::Recompute) {
    // Per block one causal pass over [anchor; block] (block 0 without the anchor).
    for (int64_t block = owned.begin; block < owned.end; ++block) {
      const int64_t rows = (block == 0 ? 0 : anchor) + layout.block(block).size();
      work.tokens += double(rows);
      work.pairs += causal_pairs(rows);
    }
    return work;
  }
  // Once / sent: one pass over [anchor (unless held or received); blocks]: the
  // anchor causal, block 0 causal, the others bottom-right over [anchor; block].
  const bool sent = plan.anchor_mode == AnchorMode::Sent && plan.ranks > 1 && anchor > 0;
  const int64_t computed_anchor = (owned.begin > 0 && !sent) ? anchor : 0;
  work.tokens = double(computed_anchor + layout.tokens_of(rank));
  work.pairs = causal_pairs(computed_anchor);
  for (int64_t block = owned.begin; block < owned.end; ++block) {
    const int64_t size = layout.block(block).size();
    work.pairs += block == 0 || anchor == 0 ? causal_pairs(size)
                                            : AttentionMask::bottom_right(size, anchor + size).visible_pairs(
                                                  size, anchor + size);
  }
  return work;
}

// APB on host `rank`: [anchor; block] through the model and the compressor
// (fc1's three parts and fc2, when it passes rows), the causal attention over
// [anchor; block], and the block rows' attention to the earlier hosts' passing rows.
struct ApbWork {
  double tokens = 0, pairs = 0, compressor_flops = 0;
};
ApbWork apb_work(const ModelConfig& config, const RunSpec& spec, int rank) {
  const ApbLayout& layout = spec.plan.apb;
  const int64_t block = layout.blocks.block(rank).size(), rows = layout.anchor_rows(rank, spec.query_len) + block;
  ApbWork work;
  work.tokens = double(rows);
  work.pairs = causal_pairs(rows) + double(block) * double(rank * layout.passing);
  if (layout.passing > 0) {
    const double hidden =
        double(spec.method.apb.compressor ? spec.method.apb.compressor->hidden() : kApbRandomHidden);
    const double inputs = double((config.num_heads + 2 * config.num_kv_heads) * config.head_dim);
    work.compressor_flops =
        2.0 * double(rows) * hidden * (inputs + double(config.num_kv_heads)) * double(config.num_layers);
  }
  return work;
}

// Context tokens the query rank attends to in phase 2 (per query head and layer).
double query_rank_context_tokens(const MethodPlan& plan) {
  switch (plan.method) {
    case Method::Ring:
      return double(plan.ring.tokens_of(plan.ranks - 1));
    case Method::Star:
      return double(plan.star.tokens_of(plan.ranks - 1));
    case Method::Apb:
      return double(plan.apb.blocks.block(plan.ranks - 1).size());
    default:
      return double(plan.context_len);
  }
}

}  // namespace

WorkCount expected_context_work(const ModelConfig& config, const RunSpec& spec, int rank) {
  const MethodPlan& plan = spec.plan;
  WorkCount work;
  if (rank < 0 || rank >= plan.ranks || plan.context_len == 0) return work;
  const double layers = double(config.num_layers), heads = double(config.num_heads);
  double tokens = 0, pairs_per_head = 0;  // pairs per query head and layer (all heads alike)
  double duo_pairs = 0;                   // duo: pairs summed over layers and query heads
  double extra_matmul_flops = 0;          // apb: the compressor's
  switch (plan.method) {
    case Method::Global:
      tokens = double(plan.context_len);
      pairs_per_head = causal_pairs(plan.context_len);
      break;
    case Method::Ring:
      tokens = double(plan.ring.tokens_of(rank));
      pairs_per_head = ring_pairs(plan.ring, rank);
      break;
    case Method::Star: {
      const TokensAndPairs star = star_work(plan, rank);
      tokens = star.tokens;
      pairs_per_head = star.pairs;
      break;
    }
    case Method::Apb: {
      const ApbWork apb = apb_work(config, spec, rank);
      tokens = apb.tokens;
      pairs_per_head = apb.pairs;
      extra_matmul_flops = apb.compressor_flops;
      break;
    }
    case Method::Duo: {
      SB_REQUIRE(spec.method.duo != nullptr, "duo's expected work needs its head pattern");
      const DuoPattern& pattern = *spec.method.duo;
      const int64_t c = plan.context_len;
      tokens = double(c);
      const double streaming = AttentionMask::streaming(0, pattern.sink, pattern.recent).visible_pairs(c, c);
      for (int64_t layer = 0; layer < config.num_layers; ++layer) {
        duo_pairs += duo_query_heads(config, pattern, layer, true) * causal_pairs(c) +
                     duo_query_heads(config, pattern, layer, false) * streaming;
      }
      break;
    }
  }
  work.matmul_flops = tokens * layers * layer_matmul_flops_per_token(config) + extra_matmul_flops;
  work.attention_flops = attention_flops_per_pair(config) *
                         (plan.method == Method::Duo ? duo_pairs : pairs_per_head * heads * layers);
  return work;
}

double expected_run_work(const ModelConfig& config, const RunSpec& spec) {
  double busiest = 0;
  for (int rank = 0; rank < spec.plan.ranks; ++rank) {
    const WorkCount work = expected_context_work(config, spec, rank);
    busiest = std::max(busiest, work.matmul_flops + work.attention_flops);
  }
  // Phase 2 on the query rank: the query, then generate - 1 single tokens,
  // each followed by the LM head's last row; every head attends to the
  // context it holds (none mask), then to the tail so far (causal).
  const double layers = double(config.num_layers), heads = double(config.num_heads);
  const double query = double(spec.query_len), held = query_rank_context_tokens(spec.plan);
  const double steps = double(std::max<int64_t>(0, spec.generate - 1));
  auto tail_pairs = [&](double context_keys) {
    return query * context_keys + causal_pairs(spec.query_len) + steps * (context_keys + query) +
           steps * (steps + 1) / 2;
  };
  double pairs = heads * layers * tail_pairs(held);  // summed over heads and layers
  const MethodSettings& method = spec.method;
  if (method.duo && (method.method == Method::Duo || method.method == Method::Star)) {
    // Streaming heads hold the context's sink and recent window; the query
    // sees them and itself under the streaming mask, a decoded token the
    // cache's rows (sink + window, itself included).
    const DuoPattern& pattern = *method.duo;
    const int64_t cached = std::min<int64_t>(int64_t(held), pattern.sink + pattern.recent);
    const double streaming_pairs =
        AttentionMask::streaming(cached, pattern.sink, pattern.recent).visible_pairs(spec.query_len,
                                                                                   cached + spec.query_len) +
        steps * std::min(double(pattern.sink + pattern.recent), held + query + steps);
    pairs = 0;
    for (int64_t layer = 0; layer < config.num_layers; ++layer) {
      pairs += duo_query_heads(config, pattern, layer, true) * tail_pairs(held) +
               duo_query_heads(config, pattern, layer, false) * streaming_pairs;
    }
  }
  const double lm_head = 2.0 * double(config.hidden_size) * double(config.vocab_size) * (1.0 + steps);
  const double tail = (query + steps) * layers * layer_matmul_flops_per_token(config) + lm_head +
                      attention_flops_per_pair(config) * pairs;
  return double(spec.warmup + spec.repeats) * (busiest + tail);
}

std::optional<double> eta_seconds(double elapsed_s, double done_work, double remaining_work) {
  if (!(done_work > 0)) return std::nullopt;
  return elapsed_s * std::max(0.0, remaining_work) / done_work;
}

SweepProgress::SweepProgress(std::vector<double> work, Clock clock)
    : work_(std::move(work)), settled_(work_.size(), false), clock_(std::move(clock)) {
  for (double value : work_) remaining_ += value;
  start_s_ = run_start_s_ = now();
}

double SweepProgress::now() const {
  if (clock_) return clock_();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void SweepProgress::update(size_t index, double work) {
  if (index >= work_.size() || settled_[index]) return;
  remaining_ += work - work_[index];
  work_[index] = work;
}

void SweepProgress::begin(size_t) {
  run_start_s_ = now();
  running_ = true;
}

void SweepProgress::end(size_t index) {
  running_ = false;
  if (index >= work_.size() || settled_[index]) return;
  settled_[index] = true;
  done_ += work_[index];
  remaining_ -= work_[index];
  paced_s_ = now() - start_s_;
}

void SweepProgress::skip(size_t index) {
  if (index >= work_.size() || settled_[index]) return;
  settled_[index] = true;
  remaining_ -= work_[index];
}

double SweepProgress::run_seconds() const { return now() - run_start_s_; }

std::optional<double> SweepProgress::expected_seconds(size_t index) const {
  if (index >= work_.size()) return std::nullopt;
  return eta_seconds(paced_s_, done_, work_[index]);
}

std::optional<double> SweepProgress::eta_s() const {
  std::optional<double> seconds = eta_seconds(paced_s_, done_, remaining_);
  // The run under way has been at it since it began (its work is still ahead in `remaining_`).
  if (seconds && running_) *seconds = std::max(0.0, *seconds - run_seconds());
  return seconds;
}

std::string SweepProgress::eta() const {
  const std::optional<double> seconds = eta_s();
  return seconds ? format_duration(*seconds) : std::string("-");
}

}  // namespace sb

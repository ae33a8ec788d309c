#include "experiment/runner.h"

#include <algorithm>

#include "attention/apb_compressor.h"
#include "attention/duo_method.h"
#include "attention/duo_shard.h"
#include "attention/method_factory.h"
#include "attention/star_method.h"
#include "engine/model_shard.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

// The longest token sequence one rank runs through the model in phase 1, the
// context tokens it keeps, and the rows of the method's own KV buffers.
struct RankShare {
  int64_t forward_tokens = 0;
  int64_t kept_tokens = 0;
  int64_t kv_buffer_rows = 0;  // ring: two [K; V] transfer buffers; star: [anchor; block] scratch, anchor receipts;
                               // apb: the passing blocks sent and received
};

// Per-kind KV (duo, star + duo) or every head's.
size_t kv_bytes_planned(const ModelConfig& config, const RunSpec& spec, const RankShare& share, int64_t tail,
                        DType dtype) {
  const MethodSettings& method = spec.method;
  if (method.duo && (method.method == Method::Duo || method.method == Method::Star)) {
    return duo_kv_bytes(*method.duo, share.kept_tokens + tail, /*holds_streaming=*/true, config.head_dim, dtype);
  }
  return KvCache::bytes_needed(config.num_layers, share.kept_tokens + tail, config.num_kv_heads, config.head_dim,
                               dtype);
}

RankShare largest_share(const MethodPlan& plan) {
  if (plan.method == Method::Ring) {
    const int64_t most = plan.ring.max_tokens_per_rank();
    return {most, most, plan.ranks > 1 ? 2 * 2 * most : 0};
  }
  if (plan.method == Method::Star) {
    const StarLayout& layout = plan.star;
    if (plan.anchor_mode == AnchorMode::Recompute) {
      return {layout.max_sequence_len(), layout.max_tokens_per_rank(), 0};
    }
    const int64_t anchor = layout.anchor_size;
    const bool sent = plan.anchor_mode == AnchorMode::Sent && plan.ranks > 1 && anchor > 0;
    int64_t forward = 0;
    for (int rank = 0; rank < plan.ranks; ++rank) {
      const bool computes_anchor = !sent && layout.blocks_of(rank).begin > 0;
      forward = std::max(forward, layout.tokens_of(rank) + (computes_anchor ? anchor : 0));
    }
    const int64_t scratch = anchor > 0 ? 2 * (anchor + layout.block_size) : 0;
    return {forward, layout.max_tokens_per_rank(), scratch + (sent ? 2 * 2 * anchor : 0)};
  }
  return {plan.context_len, plan.context_len, 0};
}

// APB: the longest [anchor; block] of a host, its block's KV, and the passing
// blocks' buffers (this host's K and V, every host's received).
RankShare apb_share(const RunSpec& spec) {
  const ApbLayout& layout = spec.plan.apb;
  int64_t forward = 0;
  for (int rank = 0; rank < spec.plan.ranks; ++rank) {
    forward = std::max(forward, layout.anchor_rows(rank, spec.query_len) + layout.blocks.block(rank).size());
  }
  const int64_t passing_rows = layout.passing > 0 ? 2 * layout.passing * (1 + spec.plan.ranks) : 0;
  return {forward, layout.blocks.block_size, passing_rows};
}

// APB's compressor: its weights, and per forward its [rows, hidden] activations,
// scores and pooled scores [rows, Hkv], the selected rows, the passing attention's partials.
size_t apb_compressor_bytes(const ModelConfig& config, const RunSpec& spec, int64_t forward_tokens, DType dtype) {
  if (spec.method.method != Method::Apb || spec.plan.apb.passing == 0) return 0;
  const int64_t hidden = spec.method.apb.compressor ? spec.method.apb.compressor->hidden() : kApbRandomHidden;
  size_t bytes = ApbCompressor::weight_bytes(config, hidden, dtype);
  bytes += size_t(forward_tokens * (hidden + 2 * config.num_kv_heads)) * dtype_size(dtype);
  bytes += size_t(config.num_kv_heads * spec.plan.apb.passing) * 4;
  bytes += size_t(forward_tokens * config.num_heads) * (size_t(config.head_dim) * dtype_size(dtype) + 4);
  return bytes;
}

// Greedy next token from the last row of a forward pass.
int64_t next_token_after(Transformer& model, const Tensor& hidden) {
  Tensor normed = model.final_norm(hidden.rows(hidden.dim(0) - 1, hidden.dim(0)));
  return model.backend().argmax_rows(model.logits(normed)).at(0);
}

}  // namespace

namespace {

// One GPU's plan: `shard` of each host's model.
size_t planned_bytes_of_shard(const ModelConfig& full_config, const RunSpec& spec, DType dtype,
                              int64_t mlp_chunk_tokens, const ModelShard& shard) {
  const ModelConfig config = shard_config(full_config, shard);
  RunSpec local_spec = spec;
  local_spec.method.duo = shard_duo_pattern(spec.method.duo, shard);
  const RankShare share = spec.plan.method == Method::Apb ? apb_share(spec) : largest_share(spec.plan);
  const int64_t tail = spec.query_len + spec.generate;
  const int64_t kv_row = config.num_kv_heads * config.head_dim;
  const int64_t forward_tokens = std::max(share.forward_tokens, tail);
  size_t bytes = Transformer::weight_bytes(config, dtype);
  bytes += kv_bytes_planned(config, local_spec, share, tail, dtype);
  bytes += Transformer::activation_bytes(config, forward_tokens, mlp_chunk_tokens, dtype);
  if (spec.method.duo) {
    // Heads packed by kind: q and out of one kind, its K/V, the streaming keys' copy.
    bytes += size_t(forward_tokens * (2 * config.num_heads * config.head_dim + 4 * kv_row)) * dtype_size(dtype);
  }
  bytes += size_t(share.kv_buffer_rows * kv_row) * dtype_size(dtype);
  bytes += apb_compressor_bytes(config, spec, forward_tokens, dtype);
  // Attention partials (out + lse, twice for merges) and the query's logits.
  bytes += size_t(2 * forward_tokens * config.num_heads * (config.head_dim + 1)) * 4;
  bytes += size_t(spec.query_len * config.vocab_size) * 4;
  return bytes;
}

// The smallest number of GPUs per host above `from` whose split leaves weights
// that fit `capacity` on one GPU (0: none up to `most`).
int gpus_per_host_fitting_weights(const ModelConfig& config, HostSplit split, DType dtype, size_t capacity, int from,
                                  int most) {
  for (int gpus = from + 1; gpus <= most; ++gpus) {
    try {
      // GPU 0 holds the most (the layer split gives it any extra layer).
      if (Transformer::weight_bytes(shard_config(config, make_model_shard(config, split, 0, gpus)), dtype) <
          capacity) {
        return gpus;
      }
    } catch (const Error&) {
      // the model does not split over this many GPUs: try the next count
    }
  }
  return 0;
}

}  // namespace

size_t Runner::planned_bytes_per_rank(const ModelConfig& config, const RunSpec& spec, DType dtype,
                                      int64_t mlp_chunk_tokens, int gpus_per_host, HostSplit split) {
  // Shards differ in which heads or layers they hold (and, under a duo
  // pattern, in how many heads keep their whole KV): the plan is the largest.
  size_t most = 0;
  for (int index = 0; index < gpus_per_host; ++index) {
    most = std::max(most, planned_bytes_of_shard(config, spec, dtype, mlp_chunk_tokens,
                                                 make_model_shard(config, split, index, gpus_per_host)));
  }
  return most;
}

std::string memory_plan_problem(const ModelConfig& config, const RunSpec& spec, size_t capacity, DType dtype,
                                const std::string& device, int64_t mlp_chunk_tokens, int gpus_per_host,
                                int max_gpus_per_host, HostSplit split) {
  const size_t planned =
      Runner::planned_bytes_per_rank(config, spec, dtype, mlp_chunk_tokens, gpus_per_host, split);
  const size_t weights =
      Transformer::weight_bytes(shard_config(config, make_model_shard(config, split, 0, gpus_per_host)), dtype);
  if (capacity == 0 || planned <= capacity) return "";
  const bool one_host = runs_on_one_rank(spec.method.method);
  auto gib = [](size_t bytes) { return double(bytes) / double(1ull << 30); };
  const std::string what = fmt::format(
      "{} with a {}-token context on {} of {} needs about {:.1f} GiB per GPU, {:.1f} GiB of it weights, but {} has "
      "{:.1f} GiB available",
      setting_name(spec.method.method), spec.context_len,
      HostLayout{spec.plan.ranks, gpus_per_host, split}.describe(), config.name, gib(planned), gib(weights), device,
      gib(capacity));
  if (weights >= capacity) {
    // More ranks (hosts) cannot help: every host holds the whole model.
    const int most = max_gpus_per_host > 0 ? max_gpus_per_host : int(config.num_heads);
    const int fitting = gpus_per_host_fitting_weights(config, split, dtype, capacity, gpus_per_host, most);
    return fitting > 0 ? fmt::format("{}: the weights alone do not fit one GPU, so split each host's model over more "
                                     "GPUs: --gpus-per-host {} or more (the ranks a multiple of it)",
                                     what, fitting)
                       : fmt::format("{}: the weights alone do not fit one GPU and no layout of this machine fits "
                                     "them (hosts of up to {} GPUs)",
                                     what, most);
  }
  const std::string more_gpus =
      max_gpus_per_host == 0 || gpus_per_host < max_gpus_per_host ? "more --gpus-per-host, " : "";
  return one_host ? fmt::format("{} ({} runs on one host): use {}a smaller --seq-len", what,
                                setting_name(spec.method.method), more_gpus)
                  : fmt::format("{}: use more ranks (hosts), {}a smaller --seq-len or (star) a smaller --block-size",
                                what, more_gpus);
}

void check_memory_plan(const ModelConfig& config, const RunSpec& spec, Backend& backend, int64_t mlp_chunk_tokens,
                       int gpus_per_host, int max_gpus_per_host, HostSplit split) {
  Control::agree_on([&] {
    const std::string problem =
        memory_plan_problem(config, spec, backend.memory_capacity_bytes(), backend.act_dtype(), backend.device_name(),
                            mlp_chunk_tokens, gpus_per_host, max_gpus_per_host, split);
    if (!problem.empty()) throw Error(problem);
  });
}

RunOutcome Runner::run(const RunSpec& spec, const std::vector<int32_t>& context, const std::vector<int32_t>& query,
                       const RepeatObserver& after_repeat) {
  Backend& backend = model_.backend();
  // Hosts of G GPUs (G = the model's shards): world rank r is GPU r % G of
  // host r / G. global and duo run on host 0, whose ranks come first.
  const int rank = Control::rank();
  const int gpus_per_host = model_.shard().count;
  const bool one_rank = runs_on_one_rank(spec.method.method);
  const bool participates = !one_rank || rank / gpus_per_host == 0;
  std::unique_ptr<Comm> local_comm;
  Comm* comm = &world_comm_;
  if (one_rank) {
    local_comm = make_local_comm(backend);
    comm = local_comm.get();
  }
  const int method_ranks = one_rank ? 1 : world_comm_.size();  // hosts the method runs on
  const int participants = method_ranks * gpus_per_host;         // ranks

  RunOutcome outcome;
  outcome.spec = spec;
  outcome.world_size = participants;
  outcome.vocab_size = model_.config().vocab_size;
  outcome.hidden_size = model_.config().hidden_size;

  // Settings are checked on every rank before anything is allocated.
  Control::agree_on([&] {
    SB_REQUIRE(spec.query_len > 0, "the query is empty: --query-len must be at least 1");
    SB_REQUIRE(int64_t(context.size()) == spec.context_len && int64_t(query.size()) == spec.query_len,
               "run input sizes do not match the spec");
    SB_REQUIRE(spec.repeats >= 1 && spec.warmup >= 0, "--repeats must be >= 1 and --warmup >= 0");
    SB_REQUIRE(spec.plan.method == spec.method.method && spec.plan.context_len == spec.context_len &&
                   spec.plan.ranks == method_ranks,
               "{} run of {} tokens on {} host(s): its plan was made for {} tokens on {} host(s)",
               setting_name(spec.method.method), spec.context_len, method_ranks, spec.plan.context_len,
               spec.plan.ranks);
    SB_REQUIRE(spec.method.method != Method::Duo || spec.method.duo,
               "duo needs a head pattern (--duo-pattern DIR, FILE.tsv or random:SEED)");
  });
  check_memory_plan(model_.full_config(), spec, backend, model_.mlp_chunk_tokens(), gpus_per_host, 0,
                    model_.shard().by_layers ? HostSplit::Layers : HostSplit::Tensor);

  const int64_t tail_tokens = spec.query_len + spec.generate;
  auto gather = [&](double value) {
    std::vector<double> all = Control::gather_all(value);
    all.resize(size_t(participants));
    return all;
  };
  backend.synchronize();
  backend.reset_peak();
  size_t run_peak = 0, decode_peak = 0;  // over every repeat
  auto timer = backend.make_timer();

  for (int iteration = 0; iteration < spec.warmup + spec.repeats; ++iteration) {
    const bool measured = iteration >= spec.warmup;
    const bool keep_outputs = iteration == spec.warmup;
    std::unique_ptr<AttentionMethod> method;
    if (participates) {
      method = make_method(spec.method, spec.plan, model_, *comm, tail_tokens);
      method->set_query(query);  // APB's anchors hold the query; untimed, like making the method
    }

    // Phase 1: context encoding.
    comm->reset_bytes_sent();
    backend.reset_work();
    model_.reset_forwarded_tokens();
    Control::barrier();
    double context_ms = 0;
    if (participates) {
      timer->start();
      method->encode_context(context);
      timer->stop();
      context_ms = timer->elapsed_ms();
    }
    const double context_bytes = double(comm->bytes_sent());
    const WorkCount context_work = backend.work();
    const double context_tokens = double(model_.forwarded_tokens());

    // Phase 2: the query, then greedy decoding token by token. Its own peak
    // (what DuoAttention reports as decoding memory) is taken apart.
    comm->reset_bytes_sent();
    Control::barrier();
    run_peak = std::max(run_peak, backend.peak_bytes());
    backend.reset_peak();
    double query_ms = 0, decode_ms_total = 0;
    std::vector<int64_t> generated;
    Tensor query_hidden;
    if (participates) {
      int64_t next_token = 0;
      timer->start();
      query_hidden = method->encode_query(query);
      next_token = next_token_after(model_, query_hidden);
      timer->stop();
      query_ms = timer->elapsed_ms();
      if (spec.generate > 0) generated.push_back(next_token);
      for (int64_t step = 1; step < spec.generate; ++step) {
        timer->start();
        Tensor hidden = method->encode_query({int32_t(next_token)});
        next_token = next_token_after(model_, hidden);
        timer->stop();
        decode_ms_total += timer->elapsed_ms();
        generated.push_back(next_token);
      }
    }
    const double query_bytes = double(comm->bytes_sent());
    decode_peak = std::max(decode_peak, backend.peak_bytes());
    run_peak = std::max(run_peak, decode_peak);
    const double decode_ms = spec.generate > 1 ? decode_ms_total / double(spec.generate - 1) : 0.0;

    if (measured) {
      outcome.context_ms.push_back(gather(context_ms));
      outcome.query_ms.push_back(gather(query_ms));
      outcome.decode_ms.push_back(gather(decode_ms));
    }
    if (keep_outputs) {
      outcome.context_comm_bytes = gather(context_bytes);
      outcome.query_comm_bytes = gather(query_bytes);
      outcome.kv_bytes = gather(participates ? double(method->kv_cache_bytes()) : 0.0);
      outcome.context_attention_flops = gather(context_work.attention_flops);
      outcome.context_matmul_flops = gather(context_work.matmul_flops);
      outcome.context_forward_tokens = gather(context_tokens);
      for (double tokens : gather(participates ? double(method->local_context_tokens()) : 0.0)) {
        outcome.local_context_tokens.push_back(int64_t(tokens));
      }
      if (rank == 0 && backend.computes_values()) {
        Tensor normed = model_.final_norm(query_hidden);
        outcome.query_hidden = backend.to_host_f32(normed);
        outcome.query_logits = backend.to_host_f32(model_.logits(normed));
        outcome.generated = generated;
      }
    }
    if (after_repeat) after_repeat(iteration, spec.warmup + spec.repeats, !measured);
  }
  backend.synchronize();
  outcome.peak_bytes = gather(double(std::max(run_peak, backend.peak_bytes())));
  outcome.decode_peak_bytes = gather(double(decode_peak));
  return outcome;
}

}  // namespace sb

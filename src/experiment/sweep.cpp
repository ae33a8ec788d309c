#include "experiment/sweep.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <optional>
#include <random>

#include <fmt/core.h>

#include "attention/method_settings.h"
#include "experiment/progress.h"
#include "experiment/record.h"
#include "experiment/sweep_session.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {


namespace {

// Random token ids, the same for every method at one length and seed.
std::vector<int32_t> synthetic_tokens(uint64_t seed, int64_t count, int64_t vocab_size, uint64_t stream) {
  std::mt19937_64 generator(seed * 0x9E3779B97F4A7C15ull + stream);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(vocab_size - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& token : tokens) token = pick(generator);
  return tokens;
}

// The same tokens for every rank of this process: the simulator runs all ranks
// in one process, and a 4M-token context per rank would not fit. Keeps the
// last few inputs (a sweep moves through lengths in order).
std::shared_ptr<const std::vector<int32_t>> shared_synthetic_tokens(uint64_t seed, int64_t count, int64_t vocab_size,
                                                                    uint64_t stream) {
  static std::mutex mutex;
  static std::map<std::tuple<uint64_t, int64_t, int64_t, uint64_t>, std::shared_ptr<const std::vector<int32_t>>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(seed, count, vocab_size, stream);
  if (auto found = cache.find(key); found != cache.end()) return found->second;
  if (cache.size() >= 4) cache.clear();
  auto tokens = std::make_shared<const std::vector<int32_t>>(synthetic_tokens(seed, count, vocab_size, stream));
  cache[key] = tokens;
  return tokens;
}

struct TableRow {
  RunSpec spec;
  RunRecord record;
};

void print_table(const std::vector<TableRow>& rows, int skipped, const std::string& output) {
  // Context-encoding speedup of each run over each ring layout at the same length.
  std::map<std::pair<int64_t, RingLayoutKind>, double> ring_context_ms;
  for (const TableRow& row : rows) {
    if (row.spec.method.method == Method::Ring) {
      const auto ms = row.record.numbers.find("context_ms");
      if (ms != row.record.numbers.end()) ring_context_ms[{row.spec.context_len, row.spec.method.ring_layout}] = ms->second;
    }
  }
  auto speedup = [&](const TableRow& row, RingLayoutKind layout) {
    auto ring = ring_context_ms.find({row.spec.context_len, layout});
    const auto found = row.record.numbers.find("context_ms");
    const double ms = found == row.record.numbers.end() ? 0.0 : found->second;
    return ring != ring_context_ms.end() && ms > 0 ? fmt::format("{:.2f}x", ring->second / ms) : std::string("-");
  };
  fmt::print("\n{:<26} {:>8} {:>5} {:>7} {:>7} {:>11} {:>10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>6} {:>9}\n",
             "method", "seq_len", "ranks", "block", "anchor", "context_ms", "query_ms", "dec_ms/tok", "ctx_tok/s",
             "vs_zigzag", "vs_contig", "KL", "top1", "peak_MiB");
  for (const TableRow& row : rows) {
    // A stored row may come from an older file: what it lacks shows as nan / -1.
    auto n = [&](const char* key) { return row.record.numbers.count(key) ? row.record.numbers.at(key) : NAN; };
    auto i = [&](const char* key) { return row.record.integers.count(key) ? row.record.integers.at(key) : -1; };
    const auto label = row.record.text.find("label");
    std::string kl = row.record.numbers.count("kl_vs_global") ? fmt::format("{:.2e}", n("kl_vs_global")) : "-";
    std::string top1 = row.record.numbers.count("top1_vs_global") ? fmt::format("{:.2f}", n("top1_vs_global")) : "-";
    fmt::print("{:<26} {:>8} {:>5} {:>7} {:>7} {:>11.2f} {:>10.2f} {:>10.2f} {:>12.0f} {:>9} {:>9} {:>9} {:>6} {:>9.1f}\n",
               label != row.record.text.end() ? label->second : method_label(row.spec.method), row.spec.context_len,
               ranks_label(row.record), i("block_size"), i("anchor_size"), n("context_ms"), n("query_ms"),
               n("decode_ms_per_token"), n("context_tokens_per_s"), speedup(row, RingLayoutKind::Zigzag),
               speedup(row, RingLayoutKind::Contiguous), kl, top1, n("peak_mem_bytes") / double(1 << 20));
  }
  fmt::print("{} run(s) written to {}", rows.size() - size_t(skipped), output);
  if (skipped > 0) fmt::print("; {} run(s) already there were skipped (resume): their rows are the stored ones", skipped);
  fmt::print("\n");
}

// A fixed block size fits a length when it gives every rank a block.
bool fixed_block_fits(const BlockRule& rule, int64_t seq_len, int world_size) {
  if (rule.label() != "fixed") return true;
  return rule.tokens <= seq_len && (seq_len + rule.tokens - 1) / rule.tokens >= world_size;
}

bool fixed_block_fits_some_length(const BlockRule& rule, const std::vector<int64_t>& seq_lens, int world_size) {
  return std::any_of(seq_lens.begin(), seq_lens.end(),
                     [&](int64_t seq_len) { return fixed_block_fits(rule, seq_len, world_size); });
}

template <typename Setting>
std::vector<Setting> without_repeats(const std::vector<Setting>& values) {
  std::vector<Setting> distinct;
  for (const Setting& value : values) {
    if (std::find(distinct.begin(), distinct.end(), value) == distinct.end()) distinct.push_back(value);
  }
  return distinct;
}

bool same_star_setting(const MethodSettings& a, const MethodSettings& b) {
  return a.block_rule.tokens == b.block_rule.tokens && a.block_rule.divisor == b.block_rule.divisor &&
         a.anchor_size == b.anchor_size && a.anchor_source == b.anchor_source &&
         a.anchor_positions == b.anchor_positions && a.anchor_mode == b.anchor_mode;
}

// Two star runs of one length and one block rule that resolve to the same sizes
// and anchor (an anchor of -1 and the block's size given as tokens) run once.
// Runs of two rules are two runs even where their blocks agree (C/16 and a
// fixed 65536 at 1M tokens): the rule is the setting asked for, and their keys
// and identities name it (issue 20, item 16).
bool same_star_run(const RunSpec& a, const RunSpec& b) {
  return a.context_len == b.context_len && a.method.block_rule.tokens == b.method.block_rule.tokens &&
         a.method.block_rule.divisor == b.method.block_rule.divisor &&
         a.plan.star.block_size == b.plan.star.block_size &&
         a.plan.star.anchor_size == b.plan.star.anchor_size && a.method.anchor_source == b.method.anchor_source &&
         a.method.anchor_positions == b.method.anchor_positions && a.plan.anchor_mode == b.plan.anchor_mode;
}

}  // namespace

std::vector<MethodSettings> method_variants(const SweepSettings& settings) {
  SB_REQUIRE(!settings.methods.empty(), "--method lists no method");
  SB_REQUIRE(!settings.ring_layouts.empty(), "--ring-layout lists no layout");
  SB_REQUIRE(!settings.apb.anchors.empty() && !settings.apb.passings.empty(),
             "--apb-anchor and --apb-passing list no size");
  // Star's grid is checked whether or not star runs (a bad value is a mistake either way).
  std::vector<MethodSettings> star_grid;
  for (const BlockRule& rule : settings.block_rules) {
    for (int64_t anchor : settings.anchor_sizes) {
      check_star_sizes(rule.tokens, anchor);
      for (AnchorSource source : settings.anchor_sources) {
        for (AnchorPositions positions : settings.anchor_positions) {
          for (AnchorMode mode : settings.anchor_modes) {
            MethodSettings star;
            star.method = Method::Star;
            star.block_rule = rule;
            star.anchor_size = anchor;
            star.anchor_source = source;
            star.anchor_positions = positions;
            star.anchor_mode = resolve_anchor_mode(mode, source, positions, settings.duo.enabled());
            const bool repeated = std::any_of(star_grid.begin(), star_grid.end(), [&](const MethodSettings& other) {
              return same_star_setting(other, star);
            });
            if (!repeated) star_grid.push_back(star);
          }
        }
      }
    }
  }
  std::vector<Method> methods = without_repeats(settings.methods);
  std::stable_partition(methods.begin(), methods.end(), [](Method method) { return method == Method::Global; });
  std::vector<MethodSettings> variants;
  for (Method method : methods) {
    if (method == Method::Star) {
      variants.insert(variants.end(), star_grid.begin(), star_grid.end());
    } else if (method == Method::Apb) {
      for (const ApbSize& anchor : without_repeats(settings.apb.anchors)) {
        for (const ApbSize& passing : without_repeats(settings.apb.passings)) {
          MethodSettings apb;
          apb.method = Method::Apb;
          apb.apb.anchor = anchor;
          apb.apb.passing = passing;
          apb.apb.query_in_anchor = settings.apb.query_in_anchor;
          apb.apb.source = settings.apb.compressor;
          variants.push_back(apb);
        }
      }
    } else if (method == Method::Ring) {
      for (RingLayoutKind layout : without_repeats(settings.ring_layouts)) {
        MethodSettings ring;
        ring.method = Method::Ring;
        ring.ring_layout = layout;
        variants.push_back(ring);
      }
    } else {
      MethodSettings other;
      other.method = method;
      variants.push_back(other);
    }
  }
  return variants;
}

std::vector<RunSpec> expand_grid(const SweepSettings& settings, int world_size) {
  SB_REQUIRE(!settings.seq_lens.empty(), "--seq-len lists no length");
  SB_REQUIRE(settings.query_len >= 1, "the query is empty: --query-len must be at least 1 (got {})",
             settings.query_len);
  SB_REQUIRE(settings.generate >= 0, "--generate must be >= 0 (got {})", settings.generate);
  SB_REQUIRE(settings.repeats >= 1, "--repeats must be >= 1 (got {})", settings.repeats);
  SB_REQUIRE(settings.warmup >= 0, "--warmup must be >= 0 (got {})", settings.warmup);
  const std::vector<MethodSettings> variants = method_variants(settings);

  std::vector<RunSpec> runs;
  for (int64_t seq_len : settings.seq_lens) {
    SB_REQUIRE(seq_len >= 1, "--seq-len {} is not a positive context length", seq_len);
    for (const MethodSettings& method : variants) {
      const bool star = method.method == Method::Star;
      if (star && !fixed_block_fits(method.block_rule, seq_len, world_size) &&
          fixed_block_fits_some_length(method.block_rule, settings.seq_lens, world_size)) {
        continue;  // a fixed block too large for this length, not for the sweep: skipped here (documented)
      }
      RunSpec spec;
      spec.method = method;
      spec.plan = plan_method(method, seq_len, world_size);  // a length the method cannot serve is refused here
      spec.context_len = seq_len;
      spec.query_len = settings.query_len;
      spec.generate = settings.generate;
      spec.repeats = settings.repeats;
      spec.warmup = settings.warmup;
      spec.seed = settings.seed;
      const bool repeated = star && std::any_of(runs.begin(), runs.end(), [&](const RunSpec& other) {
                              return other.method.method == Method::Star && same_star_run(other, spec);
                            });
      if (!repeated) runs.push_back(spec);
    }
  }
  return runs;
}

int run_sweep(const SweepSettings& settings) {
  if (!settings.tasks.empty() || !settings.task_file.empty()) return run_task_sweep(settings);
  // The methods run between hosts: star's blocks and ring's shards are per host.
  std::vector<RunSpec> runs = Control::agree_on(
      [&] { return expand_grid(settings, make_host_layout(Control::size(), settings.hosts).hosts); });
  SweepSession session(settings, settings.methods);
  for (RunSpec& spec : runs) session.give_method_inputs(spec.method);
  session.start(runs);
  const bool root = session.root();
  auto sweep_run = [](const RunSpec& spec, size_t index) {
    const std::string input = fmt::format("seq_len={}", spec.context_len);
    return SweepRun{spec, "", input, input, index};
  };
  if (root) {
    const ModelConfig& config = session.config();
    // `simulate` runs this sweep on the simulator's backend, which computes no values.
    const bool simulated = !session.backend().computes_values();
    const HostLayout& layout = session.layout();
    fmt::print(stderr, "starbench {}: {} ({} layers, hidden {}), backend {} on {}, {} rank(s){}, {} run(s) -> {}\n",
               simulated ? "simulate" : "run", config.name, config.num_layers, config.hidden_size,
               session.backend().name(), session.backend().device_name(), Control::size(),
               layout.gpus_per_host > 1 ? " as " + layout.describe() : std::string(), runs.size(), settings.output);
    // Each run's expected work weights the ETA; a run the file holds costs nothing (a hint here: one with
    // the same params_key but another identity runs anew, and the session re-estimates a run as it starts).
    std::vector<double> work;
    for (size_t index = 0; index < runs.size(); ++index) {
      const bool stored = settings.resume && !session.stored_run(session.key(sweep_run(runs[index], index))).empty();
      work.push_back(stored ? 0.0 : expected_run_work(config, runs[index]));
    }
    session.plan_progress(std::move(work), /*announce_every_start=*/true);
  }

  const int64_t vocab_size = session.config().vocab_size;
  std::vector<TableRow> table;
  int skipped = 0, executed = 0;
  for (size_t index = 0; index < runs.size(); ++index) {
    const RunSpec& spec = runs[index];
    const std::string label = method_label(spec.method);
    const std::shared_ptr<const std::vector<int32_t>> context_tokens =
        shared_synthetic_tokens(spec.seed, spec.context_len, vocab_size, 1);
    const std::shared_ptr<const std::vector<int32_t>> query_tokens =
        shared_synthetic_tokens(spec.seed + uint64_t(spec.context_len), spec.query_len, vocab_size, 2);
    SweepResult result = session.run(sweep_run(spec, index), *context_tokens, *query_tokens);
    if (result.stored) {
      ++skipped;
      if (!root) continue;
      fmt::print(stderr, "[{}/{}] {} seq_len={} already in {}: skipped\n", index + 1, runs.size(), label,
                 spec.context_len, settings.output);
      // The table shows the stored run, so that a resumed sweep's table is the whole sweep's.
      table.push_back({spec, std::move(result.record)});
      continue;
    }
    ++executed;
    if (!root) continue;
    RunRecord& record = result.record;
    record.run_id = session.append(record);
    const std::optional<Fidelity>& fidelity = result.fidelity;
    fmt::print(stderr, "[{}/{}] {:<6} seq_len={:<8} ranks={} context {:.2f} ms, query {:.2f} ms{}  (ETA {})\n",
               index + 1, runs.size(), label, spec.context_len, ranks_label(record),
               record.numbers.at("context_ms"), record.numbers.at("query_ms"),
               fidelity ? fmt::format(", KL {:.2e}, top1 {:.2f}", fidelity->kl_divergence, fidelity->top1_agreement)
                        : std::string(),
               session.eta());
    table.push_back({spec, std::move(record)});
  }
  session.report_resume();
  if (root) print_table(table, skipped, settings.output);
  Control::barrier();
  return executed;
}

}  // namespace sb

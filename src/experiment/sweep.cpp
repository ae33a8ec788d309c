#include "experiment/sweep.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <optional>
#include <random>

#include <fmt/core.h>

#include "attention/layout.h"
#include "attention/method.h"
#include "attention/star_method.h"
#include "comm/comm.h"
#include "experiment/fidelity.h"
#include "experiment/host_setup.h"
#include "experiment/record.h"
#include "experiment/runner.h"
#include "io/results_store.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(seconds / 3600), std::fmod(seconds, 3600) / 60);
}

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

// "ring(zigzag)", "star[sent]", "star+previous[recompute]": the table's method column.
std::string run_label(const RunSpec& spec) {
  if (spec.method == "ring") return fmt::format("ring({})", spec.ring_layout);
  if (spec.method != "star") return spec.method;
  std::string label = spec.duo ? "star+duo" : "star";
  if (spec.anchor_source != "first") label += "+" + spec.anchor_source;
  if (spec.anchor_positions != "original") label += "+" + spec.anchor_positions;
  return label + "[" + spec.anchor_mode + "]";
}

void print_table(const std::vector<TableRow>& rows, int skipped, const std::string& output) {
  // Context-encoding speedup of each run over each ring layout at the same length.
  std::map<std::pair<int64_t, std::string>, double> ring_context_ms;
  for (const TableRow& row : rows) {
    if (row.spec.method == "ring") {
      ring_context_ms[{row.spec.context_len, row.spec.ring_layout}] = row.record.numbers.at("context_ms");
    }
  }
  auto speedup = [&](const TableRow& row, const char* layout) {
    auto ring = ring_context_ms.find({row.spec.context_len, layout});
    const double ms = row.record.numbers.at("context_ms");
    return ring != ring_context_ms.end() && ms > 0 ? fmt::format("{:.2f}x", ring->second / ms) : std::string("-");
  };
  fmt::print("\n{:<26} {:>8} {:>5} {:>7} {:>7} {:>11} {:>10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>6} {:>9}\n",
             "method", "seq_len", "ranks", "block", "anchor", "context_ms", "query_ms", "decode_ms", "ctx_tok/s",
             "vs_zigzag", "vs_contig", "KL", "top1", "peak_MiB");
  for (const TableRow& row : rows) {
    const auto& n = row.record.numbers;
    const auto& i = row.record.integers;
    std::string kl = n.count("kl_vs_global") ? fmt::format("{:.2e}", n.at("kl_vs_global")) : "-";
    std::string top1 = n.count("top1_vs_global") ? fmt::format("{:.2f}", n.at("top1_vs_global")) : "-";
    fmt::print("{:<26} {:>8} {:>5} {:>7} {:>7} {:>11.2f} {:>10.2f} {:>10.2f} {:>12.0f} {:>9} {:>9} {:>9} {:>6} {:>9.1f}\n",
               run_label(row.spec), row.spec.context_len, ranks_label(row.record), i.at("block_size"), i.at("anchor_size"),
               n.at("context_ms"), n.at("query_ms"), n.at("decode_ms_per_token"), n.at("context_tokens_per_s"),
               speedup(row, "zigzag"), speedup(row, "contiguous"), kl, top1, n.at("peak_mem_bytes") / double(1 << 20));
  }
  fmt::print("{} run(s) written to {}", rows.size(), output);
  if (skipped > 0) fmt::print("; {} run(s) already there were skipped (resume)", skipped);
  fmt::print("\n");
}

}  // namespace

std::vector<std::string> methods_global_first(const std::vector<std::string>& methods) {
  std::vector<std::string> ordered;
  if (std::find(methods.begin(), methods.end(), "global") != methods.end()) ordered.push_back("global");
  for (const std::string& method : methods) {
    if (std::find(ordered.begin(), ordered.end(), method) == ordered.end()) ordered.push_back(method);
  }
  return ordered;
}

std::vector<StarSetting> star_settings(const SweepSettings& settings) {
  std::vector<StarSetting> grid;
  for (const std::string& block : settings.block_sizes) {
    const BlockRule rule = parse_block_rule(block);
    for (int64_t anchor : settings.anchor_sizes) {
      check_star_sizes(rule.tokens, anchor);  // the block is non-negative once parsed; the anchor is checked here
      for (const std::string& source : settings.anchor_sources) {
        for (const std::string& positions : settings.anchor_positions) {
          SB_REQUIRE(source == "first" || source == "previous",
                     "star: --anchor-source '{}' is not one of first, previous", source);
          SB_REQUIRE(positions == "original" || positions == "adjacent",
                     "star: --anchor-positions '{}' is not one of original, adjacent", positions);
          for (const std::string& mode : settings.anchor_modes) {
            const std::string resolved = resolve_anchor_mode(mode, source, positions, settings.duo.enabled());
            const bool duplicate = std::any_of(grid.begin(), grid.end(), [&](const StarSetting& other) {
              return other.block_rule.tokens == rule.tokens && other.block_rule.divisor == rule.divisor &&
                     other.anchor_size == anchor && other.anchor_source == source &&
                     other.anchor_positions == positions && other.anchor_mode == resolved;
            });
            if (!duplicate) grid.push_back({rule, anchor, source, positions, resolved});
          }
        }
      }
    }
  }
  return grid;
}

bool is_known_method(const std::string& method) {
  const std::vector<std::string> known = method_names();
  return std::find(known.begin(), known.end(), method) != known.end();
}

std::vector<std::string> ring_layouts(const SweepSettings& settings) {
  std::vector<std::string> layouts;
  for (const std::string& layout : settings.ring_layouts) {
    SB_REQUIRE(layout == "zigzag" || layout == "contiguous", "ring: --ring-layout '{}' is not one of zigzag, contiguous",
               layout);
    if (std::find(layouts.begin(), layouts.end(), layout) == layouts.end()) layouts.push_back(layout);
  }
  SB_REQUIRE(!layouts.empty(), "--ring-layout lists no layout");
  return layouts;
}

namespace {

// A fixed block size fits a length when it gives every rank a block.
bool fixed_block_fits(const BlockRule& rule, int64_t seq_len, int world_size) {
  if (rule.label() != "fixed") return true;
  return rule.tokens <= seq_len && (seq_len + rule.tokens - 1) / rule.tokens >= world_size;
}

bool fixed_block_fits_some_length(const BlockRule& rule, const std::vector<int64_t>& seq_lens, int world_size) {
  return std::any_of(seq_lens.begin(), seq_lens.end(),
                     [&](int64_t seq_len) { return fixed_block_fits(rule, seq_len, world_size); });
}

}  // namespace

std::vector<RunSpec> expand_grid(const SweepSettings& settings, int world_size) {
  SB_REQUIRE(!settings.methods.empty(), "--method lists no method");
  SB_REQUIRE(!settings.seq_lens.empty(), "--seq-len lists no length");
  for (const std::string& method : settings.methods) {
    SB_REQUIRE(is_known_method(method), "unknown attention method '{}' (valid: global, ring, star, duo)", method);
  }
  SB_REQUIRE(settings.query_len >= 1, "the query is empty: --query-len must be at least 1 (got {})",
             settings.query_len);
  SB_REQUIRE(settings.generate >= 0, "--generate must be >= 0 (got {})", settings.generate);
  SB_REQUIRE(settings.repeats >= 1, "--repeats must be >= 1 (got {})", settings.repeats);
  SB_REQUIRE(settings.warmup >= 0, "--warmup must be >= 0 (got {})", settings.warmup);
  const std::vector<std::string> methods = methods_global_first(settings.methods);
  const std::vector<StarSetting> star_grid = star_settings(settings);
  const std::vector<std::string> layouts = ring_layouts(settings);

  std::vector<RunSpec> runs;
  for (int64_t seq_len : settings.seq_lens) {
    SB_REQUIRE(seq_len >= 1, "--seq-len {} is not a positive context length", seq_len);
    for (const std::string& method : methods) {
      RunSpec spec;
      spec.method = method;
      spec.context_len = seq_len;
      spec.query_len = settings.query_len;
      spec.generate = settings.generate;
      spec.repeats = settings.repeats;
      spec.warmup = settings.warmup;
      spec.seed = settings.seed;
      if (method == "star") {
        for (const StarSetting& setting : star_grid) {
          const int64_t block = setting.block_rule.resolve(seq_len, world_size);
          if (!fixed_block_fits(setting.block_rule, seq_len, world_size) &&
              fixed_block_fits_some_length(setting.block_rule, settings.seq_lens, world_size)) {
            continue;  // a fixed block too large for this length, not for the sweep: skipped here (documented)
          }
          StarLayout layout = make_star_layout(seq_len, block, setting.anchor_size, world_size);
          spec.block_size = layout.block_size;
          spec.anchor_size = layout.anchor_size;
          spec.block_rule = setting.block_rule.label();
          spec.anchor_source = setting.anchor_source;
          spec.anchor_positions = setting.anchor_positions;
          spec.anchor_mode = setting.anchor_mode;
          bool duplicate = std::any_of(runs.begin(), runs.end(), [&](const RunSpec& other) {
            return other.method == "star" && other.context_len == seq_len && other.block_size == spec.block_size &&
                   other.anchor_size == spec.anchor_size && other.anchor_source == spec.anchor_source &&
                   other.anchor_positions == spec.anchor_positions && other.anchor_mode == spec.anchor_mode;
          });
          if (!duplicate) runs.push_back(spec);
        }
      } else if (method == "ring") {
        for (const std::string& layout : layouts) {
          make_ring_layout(seq_len, world_size, layout);  // a context too short for the layout is refused here
          spec.ring_layout = layout;
          runs.push_back(spec);
        }
      } else {
        runs.push_back(spec);
      }
    }
  }
  return runs;
}

int run_sweep(const SweepSettings& settings) {
  if (!settings.tasks.empty()) return run_task_sweep(settings);
  const bool root = Control::is_root();
  const int world_size = Control::size();

  std::vector<RunSpec> runs;
  std::string problem;
  try {
    // The methods run between hosts: star's blocks and ring's shards are per host.
    runs = expand_grid(settings, make_host_layout(world_size, settings.hosts).hosts);
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);

  // Rank 0 alone writes HDF5; an unwritable path ends every rank here, before
  // the model is loaded.
  std::optional<ResultsStore> store;
  problem.clear();
  if (root) {
    try {
      store.emplace(ResultsStore::open(settings.output));
    } catch (const Error& error) {
      problem = error.what();
    }
  }
  Control::agree(problem.empty(), problem);

  ModelConfig config = resolve_model_config(settings.model);
  const HostLayout layout = resolve_host_layout(settings.hosts, config);
  const std::shared_ptr<const DuoPattern> duo = resolve_duo_pattern(settings.duo, config, settings.methods);
  for (RunSpec& spec : runs) {
    if (spec.method == "duo" || spec.method == "star") spec.duo = duo;
  }
  std::unique_ptr<Backend> backend = create_backend(settings.backend);
  // Refuse a grid that cannot fit before the weights are allocated.
  for (const RunSpec& spec : runs) {
    check_memory_plan(config, spec, layout.hosts, *backend, 8192, layout.gpus_per_host, max_gpus_per_host(*backend),
                      layout.split);
  }
  HostModel host = load_host_model(settings.model, config, *backend, layout);
  Transformer* model = host.model.get();
  Runner runner(*model, *host.comms.between);
  RunContext context{config.name,           backend->name(), backend->device_name(), world_size,
                     backend->provenance(), !backend->computes_values(), gather_placement(*backend)};
  context.hosts = layout;

  if (root) {
    fmt::print(stderr, "starbench run: {} ({} layers, hidden {}), backend {} on {}, {} rank(s) as {}, {} run(s) -> {}\n",
               config.name, config.num_layers, config.hidden_size, backend->name(), backend->device_name(),
               world_size, layout.describe(), runs.size(), settings.output);
  }

  std::map<int64_t, RunOutcome> references;  // context length -> global's outputs on that input
  std::vector<TableRow> table;
  int skipped = 0, executed = 0;
  const auto sweep_start = std::chrono::steady_clock::now();
  for (size_t index = 0; index < runs.size(); ++index) {
    const RunSpec& spec = runs[index];
    const std::string key = params_key(spec, context);

    int64_t already_done = 0;
    if (root && settings.resume) {
      std::vector<std::string> matches = store->find_by_params_key(key);
      already_done = matches.empty() ? 0 : 1;
      if (already_done && spec.method == "global" && backend->computes_values()) {
        references[spec.context_len] = reference_outputs_from_record(store->read(matches.back()));
      }
    }
    already_done = Control::broadcast_ints({already_done}, 0).at(0);
    if (already_done) {
      ++skipped;
      if (root) fmt::print(stderr, "[{}/{}] {} seq_len={} already in {}: skipped\n", index + 1, runs.size(),
                           run_label(spec), spec.context_len, settings.output);
      continue;
    }

    const std::shared_ptr<const std::vector<int32_t>> context_tokens =
        shared_synthetic_tokens(spec.seed, spec.context_len, config.vocab_size, 1);
    const std::shared_ptr<const std::vector<int32_t>> query_tokens = shared_synthetic_tokens(
        spec.seed + uint64_t(spec.context_len), spec.query_len, config.vocab_size, 2);
    RunOutcome outcome = runner.run(spec, *context_tokens, *query_tokens);
    ++executed;

    if (root) {
      std::optional<Fidelity> fidelity;
      if (!backend->computes_values()) {
        // Simulated: no values, so no fidelity to compute.
      } else if (spec.method == "global") {
        references[spec.context_len] = outcome;
      } else {
        if (!references.count(spec.context_len)) {
          // A global run stored by an earlier job (say, on one GPU) is the reference too.
          RunSpec global_spec = spec;
          global_spec.method = "global";
          global_spec.duo.reset();
          std::vector<std::string> matches = store->find_by_params_key(params_key(global_spec, context));
          if (!matches.empty()) {
            references[spec.context_len] = reference_outputs_from_record(store->read(matches.back()));
          }
        }
        if (auto found = references.find(spec.context_len); found != references.end()) {
          const RunOutcome& reference = found->second;
          fidelity = compare_outputs(reference.query_logits, outcome.query_logits, outcome.vocab_size,
                                     reference.query_hidden, outcome.query_hidden, reference.generated,
                                     outcome.generated);
        }
      }
      RunRecord record = make_run_record(outcome, context, fidelity ? &*fidelity : nullptr);
      record.run_id = store->append(record);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
      const double eta = elapsed / double(executed) * double(runs.size() - index - 1);
      fmt::print(stderr, "[{}/{}] {:<6} seq_len={:<8} ranks={} context {:.2f} ms, query {:.2f} ms{}  (ETA {})\n",
                 index + 1, runs.size(), run_label(spec), spec.context_len, ranks_label(record),
                 record.numbers.at("context_ms"), record.numbers.at("query_ms"),
                 fidelity ? fmt::format(", KL {:.2e}, top1 {:.2f}", fidelity->kl_divergence, fidelity->top1_agreement)
                          : std::string(),
                 format_duration(eta));
      table.push_back({spec, std::move(record)});
    }
  }
  if (root) print_table(table, skipped, settings.output);
  Control::barrier();
  return executed;
}

}  // namespace sb

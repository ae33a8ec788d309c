#include <algorithm>
#include "attention/duo_pattern.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "util/error.h"

namespace sb {
namespace {

namespace fs = std::filesystem;
constexpr const char* kPatternFile = "full_attention_heads.tsv";

struct Grid {
  std::vector<double> values;
  int64_t rows = 0, columns = 0;
};

// np.loadtxt(path, delimiter="\t"): one row per non-empty line, tab-separated numbers.
Grid read_tsv(const std::string& path) {
  std::ifstream file(path);
  SB_REQUIRE(file.good(), "duo pattern {}: cannot open the file", path);
  Grid grid;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(file, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    int64_t columns = 0;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, '\t')) {
      const size_t start = field.find_first_not_of(' '), stop = field.find_last_not_of(' ');
      const std::string text = start == std::string::npos ? std::string() : field.substr(start, stop - start + 1);
      size_t used = 0;
      double value = 0;
      try {
        value = std::stod(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      SB_REQUIRE(!text.empty() && used == text.size() && std::isfinite(value),
                 "duo pattern {}: line {} column {}: '{}' is not a number", path, line_number, columns + 1, text);
      grid.values.push_back(value);
      ++columns;
    }
    SB_REQUIRE(grid.rows == 0 || columns == grid.columns,
               "duo pattern {}: line {} has {} columns but the lines before it {} (one row per layer, one column per "
               "KV head)",
               path, line_number, columns, grid.columns);
    grid.columns = columns;
    ++grid.rows;
  }
  SB_REQUIRE(grid.rows > 0, "duo pattern {}: no rows", path);
  return grid;
}

// sink_size / recent_size of a pattern directory's config.json; -1 when absent.
std::pair<int64_t, int64_t> read_window(const std::string& path) {
  std::ifstream file(path);
  if (!file.good()) return {-1, -1};
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(file);
  } catch (const std::exception& error) {
    fail("duo pattern {}: not valid JSON ({})", path, error.what());
  }
  auto number = [&](const char* key) -> int64_t {
    auto found = config.find(key);
    if (found == config.end() || found->is_null()) return -1;
    SB_REQUIRE(found->is_number_integer(), "duo pattern {}: {} is not an integer", path, key);
    return found->get<int64_t>();
  };
  return {number("sink_size"), number("recent_size")};
}

// Uniform gates in [0, 1) from a seed, the same on every platform.
// Every layer gets the same gates, (j + 0.5) / heads for j = 0..heads-1, in a seeded
// order of its own: a sparsity then splits every layer alike (one attention shape per
// kind, so cuDNN plans and tunes once per length), while which heads stream differs.
std::vector<double> random_gates(uint64_t seed, int64_t layers, int64_t heads) {
  std::mt19937_64 generator(seed);
  std::vector<double> gates;
  gates.reserve(size_t(layers * heads));
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<double> row(static_cast<size_t>(heads));
    for (int64_t j = 0; j < heads; ++j) row[size_t(j)] = (double(j) + 0.5) / double(heads);
    std::shuffle(row.begin(), row.end(), generator);
    gates.insert(gates.end(), row.begin(), row.end());
  }
  return gates;
}

}  // namespace

double duo_threshold_for_sparsity(std::vector<double> alphas, double sparsity) {
  SB_REQUIRE(!std::isnan(sparsity), "duo sparsity is not a number");
  if (sparsity >= 1) return 2.0;   // above every (clipped) gate: every head streams
  if (sparsity <= 0) return -1.0;  // below every gate: none does
  SB_REQUIRE(!alphas.empty(), "duo pattern has no gates");
  std::sort(alphas.begin(), alphas.end());
  const double position = sparsity * double(alphas.size() - 1);
  const size_t below = size_t(std::floor(position));
  const size_t above = std::min(below + 1, alphas.size() - 1);
  return alphas[below] + (position - double(below)) * (alphas[above] - alphas[below]);
}

DuoPattern load_duo_pattern(const DuoOptions& options, const ModelConfig& config) {
  SB_REQUIRE(options.enabled(), "no duo pattern given (--duo-pattern)");
  SB_REQUIRE(std::isnan(options.threshold) || std::isnan(options.sparsity),
             "--duo-threshold and --duo-sparsity both given: pass one (the sparsity decides the threshold)");
  DuoPattern pattern;
  pattern.source = options.pattern;
  int64_t sink = options.sink, recent = options.recent;
  std::string window_origin = "--duo-sink/--duo-recent";
  Grid grid;
  const std::string random_prefix = "random:";
  if (options.pattern.rfind(random_prefix, 0) == 0) {
    const std::string seed_text = options.pattern.substr(random_prefix.size());
    size_t used = 0;
    uint64_t seed = 0;
    try {
      seed = std::stoull(seed_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SB_REQUIRE(!seed_text.empty() && used == seed_text.size(),
               "--duo-pattern {}: random:SEED needs an unsigned integer seed", options.pattern);
    grid.rows = config.num_layers;
    grid.columns = config.num_kv_heads;
    grid.values = random_gates(seed, grid.rows, grid.columns);
    SB_REQUIRE(sink >= 0 && recent >= 0,
               "--duo-pattern {} has no config.json: pass --duo-sink and --duo-recent (DuoAttention's released "
               "patterns use sink 128, recent 256)",
               options.pattern);
  } else {
    std::string tsv = options.pattern;
    std::error_code error;
    if (fs::is_directory(options.pattern, error)) {
      tsv = (fs::path(options.pattern) / kPatternFile).string();
      SB_REQUIRE(fs::exists(tsv, error), "--duo-pattern {}: the directory has no {}", options.pattern, kPatternFile);
      const std::string config_path = (fs::path(options.pattern) / "config.json").string();
      const auto [file_sink, file_recent] = read_window(config_path);
      if (sink < 0) sink = file_sink;
      if (recent < 0) recent = file_recent;
      window_origin = fmt::format("sink_size/recent_size in {} (or --duo-sink/--duo-recent)", config_path);
    } else {
      SB_REQUIRE(fs::exists(options.pattern, error), "--duo-pattern {}: no such file or directory", options.pattern);
      SB_REQUIRE(sink >= 0 && recent >= 0,
                 "--duo-pattern {} is a bare .tsv: pass --duo-sink and --duo-recent (a pattern directory's "
                 "config.json holds them as sink_size and recent_size)",
                 options.pattern);
    }
    grid = read_tsv(tsv);
    SB_REQUIRE(grid.rows == config.num_layers && grid.columns == config.num_kv_heads,
               "duo pattern {} is {} layers x {} KV heads but model {} has {} layers x {} KV heads", tsv, grid.rows,
               grid.columns, config.name, config.num_layers, config.num_kv_heads);
  }
  SB_REQUIRE(sink >= 0, "duo pattern {}: no sink size: {}", options.pattern, window_origin);
  SB_REQUIRE(recent >= 1, "duo pattern {}: no recent size (it must be >= 1): {}", options.pattern, window_origin);
  pattern.num_layers = grid.rows;
  pattern.num_kv_heads = grid.columns;
  pattern.sink = sink;
  pattern.recent = recent;
  pattern.alphas = grid.values;
  for (double& alpha : pattern.alphas) alpha = std::clamp(alpha, 0.0, 1.0);  // as DuoAttention's load_attn_pattern
  if (!std::isnan(options.sparsity)) {
    pattern.requested_sparsity = options.sparsity;
    pattern.threshold = duo_threshold_for_sparsity(pattern.alphas, options.sparsity);
  } else {
    pattern.threshold = std::isnan(options.threshold) ? 0.5 : options.threshold;
  }
  pattern.retrieval.resize(pattern.alphas.size());
  for (size_t i = 0; i < pattern.alphas.size(); ++i) pattern.retrieval[i] = pattern.alphas[i] >= pattern.threshold;
  return pattern;
}

int64_t DuoPattern::streaming_count() const {
  int64_t count = 0;
  for (uint8_t is_retrieval : retrieval) count += is_retrieval ? 0 : 1;
  return count;
}

HeadSelection DuoPattern::retrieval_heads(int64_t layer) const {
  std::vector<int64_t> heads;
  for (int64_t head = 0; head < num_kv_heads; ++head) {
    if (is_retrieval(layer, head)) heads.push_back(head);
  }
  return HeadSelection(std::move(heads), num_kv_heads);
}

HeadSelection DuoPattern::streaming_heads(int64_t layer) const {
  std::vector<int64_t> heads;
  for (int64_t head = 0; head < num_kv_heads; ++head) {
    if (!is_retrieval(layer, head)) heads.push_back(head);
  }
  return HeadSelection(std::move(heads), num_kv_heads);
}

std::string DuoPattern::describe() const {
  return fmt::format("{} ({} layers x {} KV heads): {} of {} KV heads streaming (sparsity {:.3f}), sink {}, recent {}",
                     source, num_layers, num_kv_heads, streaming_count(), num_layers * num_kv_heads, sparsity(), sink,
                     recent);
}

DuoHeads::DuoHeads(const DuoPattern& pattern, int64_t num_heads) {
  const int64_t group = num_heads / std::max<int64_t>(1, pattern.num_kv_heads);
  for (int64_t layer = 0; layer < pattern.num_layers; ++layer) {
    retrieval_kv.push_back(pattern.retrieval_heads(layer));
    streaming_kv.push_back(pattern.streaming_heads(layer));
    retrieval_q.push_back(retrieval_kv.back().expand(group));
    streaming_q.push_back(streaming_kv.back().expand(group));
  }
}

}  // namespace sb

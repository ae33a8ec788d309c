// The DuoAttention flags, shared by `run` and `forward`.
#include <cmath>
#include <string>

#include "attention/duo_pattern.h"
#include "cli/commands.h"

namespace sb {
namespace {

// Refused at parse time rather than replaced later: a value outside the range
// (or NaN) would otherwise be taken from config.json or clipped silently.
double parsed_number(const std::string& text, bool& ok) {
  size_t used = 0;
  double value = NAN;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    ok = false;
    return value;
  }
  ok = used == text.size();
  return value;
}

const CLI::Validator kFraction(
    [](std::string& text) -> std::string {
      bool ok = false;
      const double value = parsed_number(text, ok);
      if (!ok || !(value >= 0.0 && value <= 1.0))
        return "'" + text + "' is not a fraction in [0, 1] (the share of KV heads that stream)";
      return "";
    },
    "FRACTION in [0, 1]", "fraction");
const CLI::Validator kFinite(
    [](std::string& text) -> std::string {
      bool ok = false;
      const double value = parsed_number(text, ok);
      if (!ok || !std::isfinite(value)) return "'" + text + "' is not a finite number";
      return "";
    },
    "FINITE", "finite");
const CLI::Validator kTokenCount(
    [](std::string& text) -> std::string {
      bool ok = false;
      const double value = parsed_number(text, ok);
      if (!ok || !(value >= 0.0) || value != std::floor(value))
        return "'" + text + "' is not a number of tokens (an integer >= 0)";
      return "";
    },
    "TOKENS >= 0", "tokens");

}  // namespace

const CLI::Validator& non_negative_tokens() { return kTokenCount; }

void add_duo_options(CLI::App& command, DuoOptions& options) {
  command.add_option("--duo-pattern", options.pattern,
                     "DuoAttention head pattern for duo and star (star + duo): a directory with "
                     "full_attention_heads.tsv and config.json (configs/duo/...), a bare .tsv, or random:SEED "
                     "(seeded gates, for timing)");
  command.add_option("--duo-sink", options.sink, "Attention-sink tokens of streaming heads (default: config.json)")
      ->check(kTokenCount);
  command.add_option("--duo-recent", options.recent, "Recent-window tokens of streaming heads (default: config.json)")
      ->check(kTokenCount);
  command.add_option("--duo-threshold", options.threshold, "Retrieval head iff its gate >= this (default 0.5)")
      ->check(kFinite);
  command.add_option("--duo-sparsity", options.sparsity,
                     "Instead of a threshold: the fraction of KV heads that stream (threshold = that quantile of "
                     "the gates)")
      ->check(kFraction);
}

}  // namespace sb

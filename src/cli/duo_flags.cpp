// The DuoAttention flags, shared by `run` and `forward`.
#include "attention/duo_pattern.h"
#include "cli/commands.h"

namespace sb {

void add_duo_options(CLI::App& command, DuoOptions& options) {
  command.add_option("--duo-pattern", options.pattern,
                     "DuoAttention head pattern for duo and star (star + duo): a directory with "
                     "full_attention_heads.tsv and config.json (configs/duo/...), a bare .tsv, or random:SEED "
                     "(seeded gates, for timing)");
  command.add_option("--duo-sink", options.sink, "Attention-sink tokens of streaming heads (default: config.json)");
  command.add_option("--duo-recent", options.recent, "Recent-window tokens of streaming heads (default: config.json)");
  command.add_option("--duo-threshold", options.threshold, "Retrieval head iff its gate >= this (default 0.5)");
  command.add_option("--duo-sparsity", options.sparsity,
                     "Instead of a threshold: the fraction of KV heads that stream (threshold = that quantile of "
                     "the gates)");
}

}  // namespace sb

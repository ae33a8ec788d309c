// The host flags (hosts of several GPUs), shared by run, forward, simulate and calibrate.
#include <map>

#include "cli/commands.h"
#include "comm/host_layout.h"

namespace sb {

void add_host_options(CLI::App& command, HostOptions& options) {
  command
      .add_option("--gpus-per-host", options.gpus_per_host,
                  "GPUs (ranks) per host: the methods run between hosts, a host's consecutive ranks share its model "
                  "(on one node); the rank count must be a multiple of it")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  const std::map<std::string, HostSplit> splits = {{"tensor", HostSplit::Tensor}, {"layers", HostSplit::Layers}};
  command
      .add_option("--host-split", options.split,
                  "How a host's GPUs share its model: tensor (heads and MLP columns split, all-reduce after o_proj "
                  "and down_proj) | layers (contiguous layer ranges, hidden states handed GPU to GPU, one GPU at a "
                  "time: the Star Attention reference implementation's hosts)")
      ->transform(CLI::CheckedTransformer(splits))
      ->default_str("tensor");
}

}  // namespace sb

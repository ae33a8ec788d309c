#include "comm/host_layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"

namespace sb {

std::string host_split_name(HostSplit split) { return split == HostSplit::Tensor ? "tensor" : "layers"; }

HostSplit parse_host_split(const std::string& name) {
  if (name == "tensor") return HostSplit::Tensor;
  if (name == "layers") return HostSplit::Layers;
  fail("--host-split '{}' is not one of tensor, layers", name);
}

std::vector<int> HostLayout::ranks_of_host(int host) const {
  std::vector<int> ranks;
  for (int index = 0; index < gpus_per_host; ++index) ranks.push_back(rank_of(host, index));
  return ranks;
}

std::vector<int> HostLayout::ranks_of_index(int index) const {
  std::vector<int> ranks;
  for (int host = 0; host < hosts; ++host) ranks.push_back(rank_of(host, index));
  return ranks;
}

std::string HostLayout::describe() const {
  if (gpus_per_host == 1) return fmt::format("{} host(s) of 1 GPU", hosts);
  return fmt::format("{} host(s) x {} GPUs ({} split)", hosts, gpus_per_host, host_split_name(split));
}

HostLayout make_host_layout(int world_size, const HostOptions& options) {
  SB_REQUIRE(options.gpus_per_host >= 1, "--gpus-per-host {} is not a number of GPUs (>= 1)", options.gpus_per_host);
  SB_REQUIRE(world_size % options.gpus_per_host == 0,
             "{} rank(s) do not make hosts of {} GPUs: --gpus-per-host {} needs a rank count that is a multiple of "
             "{} (one rank per GPU)",
             world_size, options.gpus_per_host, options.gpus_per_host, options.gpus_per_host);
  HostLayout layout;
  layout.gpus_per_host = options.gpus_per_host;
  layout.hosts = world_size / options.gpus_per_host;
  layout.split = options.split;
  return layout;
}

std::string host_node_problem(const HostLayout& layout, const std::vector<std::string>& node_of_rank) {
  for (int host = 0; host < layout.hosts; ++host) {
    const std::vector<int> ranks = layout.ranks_of_host(host);
    std::vector<std::string> nodes;
    for (int rank : ranks) nodes.push_back(rank < int(node_of_rank.size()) ? node_of_rank[size_t(rank)] : "?");
    for (const std::string& node : nodes) {
      if (node != nodes.front()) {
        return fmt::format(
            "host {} of {} GPUs would be ranks {} on nodes {}: a host's GPUs must be on one node (start the ranks "
            "with a multiple of {} per node, e.g. Slurm --ntasks-per-node={})",
            host, layout.gpus_per_host, fmt::join(ranks, ", "), fmt::join(nodes, ", "), layout.gpus_per_host,
            layout.gpus_per_host);
      }
    }
  }
  return "";
}

}  // namespace sb

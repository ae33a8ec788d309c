#pragma once
// A host is a group of GPUs (one rank each): the world is hosts x G ranks, a
// host's ranks consecutive (host h holds ranks [hG, (h+1)G)) and on one node.
// The attention methods run between hosts exactly as they ran between one-GPU
// ranks: the ranks of the same index in every host form the communicator
// between hosts; the ranks of one host form the communicator inside it (the
// all-reduces of the tensor split, the hand-offs of the layer split).
#include <memory>
#include <string>
#include <vector>

#include "comm/comm.h"

namespace sb {

// How a host's GPUs share the model.
enum class HostSplit {
  Tensor,  // Megatron-style: heads and MLP columns over the GPUs, an all-reduce after o_proj and down_proj
  Layers,  // the reference implementation's hosts: contiguous layer ranges, one GPU at a time
};
std::string host_split_name(HostSplit split);  // "tensor" | "layers"
// Throws sb::Error naming the value and the valid ones.
HostSplit parse_host_split(const std::string& name);

// What the command line asks for (--gpus-per-host, --host-split).
struct HostOptions {
  int gpus_per_host = 1;
  HostSplit split = HostSplit::Tensor;
};

struct HostLayout {
  int hosts = 1;
  int gpus_per_host = 1;
  HostSplit split = HostSplit::Tensor;

  int world_size() const { return hosts * gpus_per_host; }
  int host_of(int rank) const { return rank / gpus_per_host; }
  int index_in_host(int rank) const { return rank % gpus_per_host; }
  int rank_of(int host, int index) const { return host * gpus_per_host + index; }
  // World ranks of host h, in index order.
  std::vector<int> ranks_of_host(int host) const;
  // World ranks of GPU index i in every host, in host order: a communicator between hosts.
  std::vector<int> ranks_of_index(int index) const;
  // "2x4 (tensor)" for people; "1" GPU per host reads as the rank count.
  std::string describe() const;
};

// Throws sb::Error for G < 1 or a world that is not a multiple of G (naming both).
HostLayout make_host_layout(int world_size, const HostOptions& options);

// "" when every host's ranks share one node; otherwise a message naming the
// first host whose ranks straddle nodes, its ranks and their nodes.
// node_of_rank[r]: the node (host name) of world rank r.
std::string host_node_problem(const HostLayout& layout, const std::vector<std::string>& node_of_rank);

// A rank's two communicators (docs/DESIGN.md, "Hosts of several GPUs"), made
// by make_host_comms (comm/comm_factory.h).
struct HostComms {
  std::unique_ptr<Comm> between;  // the ranks of this rank's index in every host (what the methods use)
  std::unique_ptr<Comm> within;   // the ranks of this rank's host (all-reduces, layer hand-offs)
};

}  // namespace sb

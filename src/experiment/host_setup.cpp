#include "experiment/host_setup.h"

#include <cstdlib>

#include "backend/backend_factory.h"
#include "comm/comm_factory.h"
#include "engine/model_shard.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

void check_host_split(const HostLayout& layout, const ModelConfig& config) {
  for (int index = 0; index < layout.gpus_per_host; ++index) {
    make_model_shard(config, layout.split, index, layout.gpus_per_host);
  }
}

int max_gpus_per_host(const Backend& backend) {
  for (const auto& [key, value] : backend.provenance()) {
    if (key == "gpus_per_node") return std::atoi(value.c_str());
  }
  return backend.name() == "cuda" ? visible_gpu_count() : 0;
}

HostLayout resolve_host_layout(const HostOptions& options, const ModelConfig& config) {
  HostLayout layout;
  std::string problem;
  try {
    layout = make_host_layout(Control::size(), options);
    check_host_split(layout, config);
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);
  // Collective on every rank, whatever G: the nodes of every rank.
  const std::vector<std::string> nodes = Control::gather_all_strings(Control::host_name());
  problem = host_node_problem(layout, nodes);
  Control::agree(problem.empty(), problem);
  return layout;
}

HostModel load_host_model(const ModelChoice& choice, const ModelConfig& config, Backend& backend,
                          const HostLayout& layout) {
  HostModel host;
  host.comms = make_host_comms(backend, layout, Control::rank());
  HostShard host_shard;
  host_shard.shard =
      make_model_shard(config, layout.split, layout.index_in_host(Control::rank()), layout.gpus_per_host);
  host_shard.host = host.comms.within.get();
  host.model = load_model(choice, config, backend, host_shard);
  return host;
}

}  // namespace sb

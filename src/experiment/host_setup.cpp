#include "experiment/host_setup.h"

#include <cstdlib>

#include "engine/tensor_parallel.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

void check_host_split(const HostLayout& layout, const ModelConfig& config) {
  SB_REQUIRE(layout.split == HostSplit::Tensor || layout.gpus_per_host == 1,
             "--host-split layers is not implemented yet: use --host-split tensor (the default)");
  for (int index = 0; index < layout.gpus_per_host; ++index) make_tensor_shard(config, index, layout.gpus_per_host);
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
  TensorParallel tensor_parallel;
  tensor_parallel.shard = make_tensor_shard(config, layout.index_in_host(Control::rank()), layout.gpus_per_host);
  tensor_parallel.host = host.comms.within.get();
  host.model = load_model(choice, config, backend, tensor_parallel);
  return host;
}

}  // namespace sb

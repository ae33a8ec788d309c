#pragma once
// Runs one RunSpec on every rank: builds the method, times context encoding,
// query encoding and each decode step between barriers, and collects every
// rank's numbers on rank 0.
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "comm/comm.h"
#include "attention/method.h"
#include "comm/host_layout.h"
#include "engine/transformer.h"
#include "experiment/run_spec.h"

namespace sb {

// Called on every rank after each repeat of a run (warm-up ones too):
// iteration in [0, warmup + repeats), the count, whether it was a warm-up.
using RepeatObserver = std::function<void(int iteration, int iterations, bool warmup)>;

class Runner {
 public:
  // between_hosts: the communicator the methods use (the ranks of this GPU's
  // index in every host; every rank when hosts are one GPU). The GPUs per host
  // are the model's shards (Transformer::shard).
  Runner(Transformer& model, Comm& between_hosts) : model_(model), world_comm_(between_hosts) {}
  // Collective: every rank calls it with the same spec (planned for this
  // job's ranks) and tokens.
  RunOutcome run(const RunSpec& spec, const std::vector<int32_t>& context, const std::vector<int32_t>& query,
                 const RepeatObserver& after_repeat = {});

  // Bytes one GPU needs for this spec's plan (weights, KV shares,
  // activations) on hosts of `gpus_per_host` GPUs split by `split` (`config`
  // is the whole model's; the largest shard's); checked before anything large
  // is allocated.
  static size_t planned_bytes_per_rank(const ModelConfig& config, const RunSpec& spec, DType dtype,
                                       int64_t mlp_chunk_tokens, int gpus_per_host = 1,
                                       HostSplit split = HostSplit::Tensor);

 private:
  Transformer& model_;
  Comm& world_comm_;
};

// Checks a plan against the backend's capacity on every rank; a plan that
// cannot fit ends all ranks with the numbers and advice that can work, before
// allocation: more GPUs per host when the weights alone do not fit one GPU
// (up to max_gpus_per_host, a node's GPUs; 0: unknown), more hosts or a
// shorter context when the rest does not.
void check_memory_plan(const ModelConfig& config, const RunSpec& spec, Backend& backend, int64_t mlp_chunk_tokens,
                       int gpus_per_host = 1, int max_gpus_per_host = 0, HostSplit split = HostSplit::Tensor);
// The refusal check_memory_plan agrees on ("" when the plan fits `capacity`
// bytes, or the capacity is unknown: 0).
std::string memory_plan_problem(const ModelConfig& config, const RunSpec& spec, size_t capacity, DType dtype,
                                const std::string& device, int64_t mlp_chunk_tokens, int gpus_per_host = 1,
                                int max_gpus_per_host = 0, HostSplit split = HostSplit::Tensor);

}  // namespace sb

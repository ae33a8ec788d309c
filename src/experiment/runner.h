#pragma once
// Runs one RunSpec on every rank: builds the method, times context encoding,
// query encoding and each decode step between barriers, and collects every
// rank's numbers on rank 0.
#include <functional>
#include <vector>

#include "backend/backend.h"
#include "comm/comm.h"
#include "attention/method.h"
#include "engine/transformer.h"
#include "experiment/run_spec.h"

namespace sb {

// Called on every rank after each repeat of a run (warm-up ones too):
// iteration in [0, warmup + repeats), the count, whether it was a warm-up.
using RepeatObserver = std::function<void(int iteration, int iterations, bool warmup)>;

class Runner {
 public:
  Runner(Transformer& model, Comm& world_comm) : model_(model), world_comm_(world_comm) {}
  // Collective: every rank calls it with the same spec (planned for this
  // job's ranks) and tokens.
  RunOutcome run(const RunSpec& spec, const std::vector<int32_t>& context, const std::vector<int32_t>& query,
                 const RepeatObserver& after_repeat = {});

  // Bytes one rank needs for this spec's plan (weights, KV shares,
  // activations); checked before anything large is allocated.
  static size_t planned_bytes_per_rank(const ModelConfig& config, const RunSpec& spec, DType dtype,
                                       int64_t mlp_chunk_tokens);

 private:
  Transformer& model_;
  Comm& world_comm_;
};

// Checks a plan against the backend's capacity on every rank; a plan that
// cannot fit ends all ranks with the numbers, before allocation.
void check_memory_plan(const ModelConfig& config, const RunSpec& spec, Backend& backend, int64_t mlp_chunk_tokens);

}  // namespace sb

#pragma once
// One run of the benchmark: a method on one input, repeated.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/method_settings.h"

namespace sb {

struct RunSpec {
  MethodSettings method;  // as the sweep asked (block rule, anchor size as given; anchor mode resolved)
  MethodPlan plan;        // the method resolved for this context and the job's ranks (plan_method): what
                          // the method, the memory plan and the record use
  int64_t context_len = 0;
  int64_t query_len = 0;
  int64_t generate = 0;
  int repeats = 3;
  int warmup = 1;
  uint64_t seed = 1234;
  std::string task;     // empty for timing runs
  int64_t sample = -1;  // task sample index
};

// Per-rank, per-repeat measurements and the outputs of the first repeat.
struct RunOutcome {
  RunSpec spec;
  int world_size = 1;  // ranks that took part (1 for global)
  std::vector<std::vector<double>> context_ms, query_ms, decode_ms;  // [repeat][rank]; decode per token
  std::vector<double> context_comm_bytes, query_comm_bytes;        // [rank], one repeat
  std::vector<double> peak_bytes;                                   // [rank]
  std::vector<double> decode_peak_bytes;  // [rank]: peak during phase 2 (query + decoding)
  std::vector<double> kv_bytes;           // [rank]: the method's preallocated KV storage
  // Phase 1 work each rank issued (one repeat): what explains its time.
  std::vector<double> context_attention_flops, context_matmul_flops, context_forward_tokens;  // [rank]
  std::vector<int64_t> local_context_tokens;                        // [rank]
  // Outputs of the first measured repeat, identical on all ranks (held on rank 0).
  std::vector<float> query_logits;  // [query_len, vocab]
  std::vector<float> query_hidden;  // [query_len, hidden], after the final norm
  std::vector<int64_t> generated;   // greedy tokens after the query
  int64_t vocab_size = 0, hidden_size = 0;
};

}  // namespace sb

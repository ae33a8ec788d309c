#pragma once
// One run of the benchmark: a method on one input, repeated.
#include <cstdint>
#include <string>
#include <vector>

namespace sb {

struct RunSpec {
  std::string method = "global";
  int64_t context_len = 0;
  int64_t query_len = 0;
  int64_t generate = 0;
  int64_t block_size = 0;    // star: 0 -> ceil(context / ranks)
  int64_t anchor_size = -1;  // star: -1 -> block size
  std::string anchor_source = "first";       // star ablations, see MethodSettings
  std::string anchor_positions = "original";
  std::string anchor_mode = "auto";          // star: recompute | once | sent (resolved by the sweeps)
  std::string block_rule;                    // star: how block_size was chosen ("C/ranks", "C/4", "fixed")
  std::string ring_layout = "zigzag";        // ring: zigzag | contiguous
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
  int64_t block_size = 0, anchor_size = 0;  // resolved (star), else 0
  std::string anchor_mode;                   // resolved (star), else empty
  std::vector<std::vector<double>> context_ms, query_ms, decode_ms;  // [repeat][rank]; decode per token
  std::vector<double> context_comm_bytes, query_comm_bytes;        // [rank], one repeat
  std::vector<double> peak_bytes;                                   // [rank]
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

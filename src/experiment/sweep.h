#pragma once
// A sweep: the grid methods x context lengths x (star) block x anchor, run in
// order with global first at each length (the fidelity reference), appended to
// an HDF5 results file, skipping runs the file already holds (resume).
#include <cstdint>
#include <string>
#include <vector>

#include "attention/method_settings.h"
#include "comm/host_layout.h"
#include "experiment/model_loader.h"
#include "experiment/run_spec.h"

namespace sb {

struct SweepSettings {
  ModelChoice model;
  std::string backend = "auto";
  HostOptions hosts;  // --gpus-per-host, --host-split: the methods run between hosts
  std::vector<Method> methods = {Method::Global, Method::Ring, Method::Star};
  std::vector<int64_t> seq_lens = {256, 512, 1024};
  int64_t query_len = 16;
  int64_t generate = 4;
  // Star's grid (block rule x anchor x source x positions x mode) and ring's layouts.
  std::vector<BlockRule> block_rules = {BlockRule{}};  // tokens, 0 (context / ranks) or C/k
  std::vector<int64_t> anchor_sizes = {-1};
  std::vector<AnchorSource> anchor_sources = {AnchorSource::First};
  std::vector<AnchorPositions> anchor_positions = {AnchorPositions::Original};
  std::vector<AnchorMode> anchor_modes = {AnchorMode::Auto};
  std::vector<RingLayoutKind> ring_layouts = {RingLayoutKind::Zigzag};
  DuoOptions duo;  // DuoAttention pattern for duo and star (star + duo)
  int repeats = 3;
  int warmup = 1;
  uint64_t seed = 1234;
  std::string output = "results.h5";
  bool resume = true;
  // Accuracy runs (RULER-style tasks) instead of timing runs on random tokens.
  std::vector<std::string> tasks;
  int samples = 1;
  std::string tokenizer;        // tokenizer.json; default <model dir>/tokenizer.json
  std::string words_path = "/usr/share/dict/words";
  std::string squad_path, hotpot_path;
  int64_t task_generate = 0;    // 0: RULER's per-task answer budget
  bool chat_template = false;   // wrap prompts in the Llama-3.1 instruct template
};

// "42s", "3m07s", "2h05m": progress lines' ETA.
std::string format_duration(double seconds);

// The method settings of a sweep, in sweep order: global first (the fidelity
// reference of the others), each ring layout, star's grid (block rule x anchor
// x anchor source x anchor positions x anchor mode) with anchor modes resolved
// (auto -> the default for the ablation and the duo pattern) and repeats
// removed; block rules and anchors unresolved (anchor -1 = block). Throws
// sb::Error for an empty list, a bad anchor size or an anchor mode that cannot
// serve the ablation.
std::vector<MethodSettings> method_variants(const SweepSettings& settings);

// The runs of a timing sweep's grid, planned for `world_size` ranks, in
// execution order; throws sb::Error for a bad setting. A fixed star block size
// that leaves some rank without a block at one length is skipped at that
// length when it fits another length of the sweep (scaling studies list blocks
// up to the longest context); one that fits no length is an error. Star runs
// of one length that resolve to the same sizes run once. Their duo pattern is
// not set (it needs the model's shape: the sweep session sets it).
std::vector<RunSpec> expand_grid(const SweepSettings& settings, int world_size);

// Collective. Returns the number of runs executed (not counting skipped ones).
int run_sweep(const SweepSettings& settings);
// Collective: the task grid (tasks x lengths x samples x methods); called by
// run_sweep when settings.tasks is not empty.
int run_task_sweep(const SweepSettings& settings);

}  // namespace sb

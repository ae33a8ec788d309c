#pragma once
// What a `run` (or `simulate`) sweep is asked to do, parsed once from the
// command line or a config file (src/cli): the model, the method grid, the
// input sizes, repeats, the results file and, for accuracy runs, the tasks.
#include <cstdint>
#include <string>
#include <vector>

#include "attention/duo_pattern.h"
#include "attention/method_settings.h"
#include "comm/host_layout.h"
#include "experiment/model_loader.h"
#include "metrics/task_metric.h"

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
  // Tokens, 0 (context / ranks) or C/k; by default C/4, the Star Attention paper's rule.
  std::vector<BlockRule> block_rules = {BlockRule{0, 4}};
  std::vector<int64_t> anchor_sizes = {-1};
  std::vector<AnchorSource> anchor_sources = {AnchorSource::First};
  std::vector<AnchorPositions> anchor_positions = {AnchorPositions::Original};
  std::vector<AnchorMode> anchor_modes = {AnchorMode::Auto};
  std::vector<RingLayoutKind> ring_layouts = {RingLayoutKind::Zigzag};
  DuoOptions duo;  // DuoAttention pattern for duo and star (star + duo)
  ApbOptions apb;  // APB's anchors x passing sizes, the query's place, the compressor
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
  int64_t task_generate = 0;    // 0: RULER's per-task answer budget (a task file: kTaskFileAnswerTokens)
  // A user's samples (JSONL, tasks/task_file.h) instead of generated tasks; samples 0 = every sample of it.
  std::string task_file;
  TaskMetric task_metric;       // how a task file's answers are scored
  bool chat_template = false;   // wrap prompts in the Llama-3.1 instruct template
};

}  // namespace sb

// What committing to the results store costs as the file grows, and what a
// task sweep pays with paced batches. Not a test (nothing asserted); run:
//   build/tests/bench_results_store [records=2000] [work_ms=20]
// Records look like a task sample's: ~40 attributes and 8 small datasets.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/core.h>

#include "io/paced_appender.h"
#include "io/results_store.h"

namespace {

using sb::RunRecord;

RunRecord task_like_record(int64_t i) {
  RunRecord record;
  record.text = {{"kind", "task_sample"}, {"method", i % 3 == 0 ? "global" : i % 3 == 1 ? "ring" : "star"},
                 {"task", "niah_single_1"}, {"model", "llama3.1-8b"}, {"backend", "cuda"},
                 {"device", "NVIDIA H100 80GB HBM3"}, {"version", "0.1.0"}, {"git_commit", "0123456789ab"},
                 {"date", "2026-11-22T18:00:00Z"}, {"params_key", fmt::format("sample-{}", i)},
                 {"generated_text", "The special magic number is 1234567."}, {"answers", "1234567"},
                 {"metric", "all"}, {"anchor_source", "first"}, {"anchor_positions", "original"}};
  for (const char* key : {"seq_len", "query_len", "generate", "world_size", "block_size", "anchor_size", "seed",
                          "sample", "repeats", "warmup", "prompt_tokens", "target_tokens"}) {
    record.integers[key] = i;
  }
  for (const char* key : {"context_ms", "query_ms", "decode_ms_per_token", "total_ms", "context_tokens_per_s",
                          "comm_bytes_context", "comm_bytes_query", "peak_mem_bytes", "kl_vs_global",
                          "top1_vs_global", "gen_agree_vs_global", "hidden_rel_err_vs_global", "score", "depth"}) {
    record.numbers[key] = double(i) + 0.5;
  }
  for (const char* path : {"timing/context_ms", "timing/query_ms", "timing/decode_ms", "memory/peak_bytes",
                           "comm/context_bytes", "comm/query_bytes", "layout/local_context_tokens"}) {
    RunRecord::Array array;
    array.path = path;
    array.shape = {1, 4};
    array.f64 = {1, 2, 3, 4};
    record.arrays.push_back(array);
  }
  RunRecord::Array generated;
  generated.path = "generated";
  generated.shape = {16};
  generated.i64.assign(16, 128000);
  record.arrays.push_back(generated);
  return record;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t records = argc > 1 ? std::stoll(argv[1]) : 2000;
  const int work_ms = argc > 2 ? std::stoi(argv[2]) : 20;
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("starbench_bench_store_{}", getpid());
  std::filesystem::create_directories(dir);

  // 1. One commit (copy + index rebuild + fsync + rename) at growing file sizes.
  fmt::print("| runs already stored | file MB | one commit (ms) |\n|---|---|---|\n");
  {
    sb::ResultsStore store = sb::ResultsStore::open((dir / "grow.h5").string());
    int64_t stored = 0;
    for (int64_t size : {100, 300, 1000, 3000}) {
      std::vector<RunRecord> batch;
      for (; stored < size; ++stored) batch.push_back(task_like_record(stored));
      store.append(std::move(batch));
      const auto start = std::chrono::steady_clock::now();
      store.append(task_like_record(stored++));
      const double ms = seconds_since(start) * 1e3;
      fmt::print("| {} | {:.1f} | {:.1f} |\n", size, double(std::filesystem::file_size(store.path())) / 1e6, ms);
    }
  }

  // 2. A sweep of `records` samples, `work_ms` of compute each, through the paced appender.
  {
    sb::ResultsStore store = sb::ResultsStore::open((dir / "sweep.h5").string());
    sb::PacedAppender appender(store);
    double commit_seconds = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < records; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
      const auto before = std::chrono::steady_clock::now();
      appender.add(task_like_record(i));
      commit_seconds += seconds_since(before);
    }
    const auto before = std::chrono::steady_clock::now();
    appender.flush();
    commit_seconds += seconds_since(before);
    const double total = seconds_since(start);
    fmt::print("\npaced sweep: {} records x {} ms of work: {:.1f} s wall, {:.2f} s in {} commits ({:.1f} % of wall)\n",
               records, work_ms, total, commit_seconds, appender.commits(), 100.0 * commit_seconds / total);
  }
  std::filesystem::remove_all(dir);
  return 0;
}

#pragma once
// The HDF5 results store: one group per run under /runs, an /index table with one
// row per run. Schema: docs/HDF5_SCHEMA.md.
//
// Crash safety is done at the file level because HDF5 1.10 is not crash-safe: every
// append writes into a copy of the file next to it, fsyncs it and rename()s it over
// the original. A kill at any moment leaves either the old file or the new one, so a
// run is stored whole or not at all and earlier runs are never touched.
// Rank 0 alone opens a store; one writing process per file at a time.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sb {

struct RunRecord {
  std::string run_id;                       // assigned by append() when empty: "run_000001", ...
  std::map<std::string, std::string> text;  // method, backend, model, task, version, git_commit, date, params_key ...
  std::map<std::string, int64_t> integers;  // seq_len, query_len, world_size, block_size, seed ...
  std::map<std::string, double> numbers;    // summary numbers: median times, fidelity, accuracy ...
  struct Array {
    std::string path;  // relative to the run group, may contain '/': "timing/context_ms"
    std::vector<int64_t> shape;
    // Exactly one of these holds the data (all may be empty when the shape has a 0).
    std::vector<double> f64;
    std::vector<float> f32;
    std::vector<int64_t> i64;
    std::vector<std::string> strings;  // a 1-D string array
  };
  std::vector<Array> arrays;
};

class ResultsStore {
 public:
  // Creates the file if absent; opens for append otherwise. An unwritable path, a
  // file that is not HDF5 or an HDF5 file that is not a starbench store raises
  // sb::Error naming the path. Removes temporary copies left by dead processes.
  static ResultsStore open(const std::string& path);

  // Stores the run atomically and returns its id (record.run_id, or the next free
  // "run_NNNNNN" when empty).
  std::string append(RunRecord record);
  // Stores all the runs atomically (all or none) with one copy of the file, and
  // returns their ids in order. Long sweeps batch their small records through
  // this: a copy per record makes a sweep of N runs copy O(N^2) bytes.
  std::vector<std::string> append(std::vector<RunRecord> records);
  // Complete runs, in the order they were appended.
  std::vector<std::string> run_ids() const;
  RunRecord read(const std::string& run_id) const;
  // Resume: the runs whose text attribute "params_key" equals key.
  std::vector<std::string> find_by_params_key(const std::string& key) const;
  // Resume over many runs: params_key -> run ids, from one pass over the file
  // (find_by_params_key per run would read every run's key for every run).
  std::map<std::string, std::vector<std::string>> runs_by_params_key() const;

  const std::string& path() const { return path_; }

 private:
  explicit ResultsStore(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Test hook: when set, append() calls it at each stage ("copied", "array:<i>"
// after the i-th array is written, "index", "closed", "synced", "renamed") so a
// test can kill the process at a chosen point. Not for production use.
void set_append_stage_hook(std::function<void(const std::string& stage)> hook);

}  // namespace sb

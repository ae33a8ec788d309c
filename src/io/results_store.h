#pragma once
// The HDF5 results store: one group per run under /runs, an /index table with one
// row per run. Schema: docs/HDF5_SCHEMA.md.
//
// Crash safety is done at the file level because HDF5 1.10 is not crash-safe: every
// append writes into a copy of the file next to it, fsyncs it and rename()s it over
// the original. A kill at any moment leaves either the old file or the new one, so a
// run is stored whole or not at all and earlier runs are never touched.
// Several processes may append to one file: commits take turns through an fcntl
// lock on "<file>.lock" and each copies the file as the last commit left it.
// A symlinked path is written through to its target. Rank 0 alone opens a store.
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
  // For appending. Checks up front that the file (or a symlink's target) can be
  // replaced and, if present, is a starbench store; raises sb::Error naming the
  // path and the reason otherwise. Creates nothing: the first append creates the
  // file, so a sweep refused before its first run leaves no file behind. Removes
  // temporary copies left by dead processes.
  static ResultsStore open(const std::string& path);
  // For reading only (no write checks): a present file must be a starbench store;
  // an absent one is an error when must_exist, else a store without runs.
  static ResultsStore open_for_reading(const std::string& path, bool must_exist = true);

  // Stores the run atomically and returns its id (record.run_id, or the next free
  // "run_NNNNNN" when empty).
  std::string append(RunRecord record);
  // Stores all the runs atomically (all or none) with one copy of the file, and
  // returns their ids in order. Long sweeps batch their small records through
  // this: a copy per record makes a sweep of N runs copy O(N^2) bytes.
  std::vector<std::string> append(std::vector<RunRecord> records);
  // Complete runs, in the order they were appended.
  std::vector<std::string> run_ids() const;
  // A run's attributes and datasets; throws sb::Error naming the run and the
  // dataset when a checksum (docs/HDF5_SCHEMA.md, "Integrity") does not match.
  RunRecord read(const std::string& run_id) const;
  // "" when the run reads back intact, else why not (the message read() throws).
  std::string damage(const std::string& run_id) const;
  // The runs whose text attribute "params_key" equals key.
  std::vector<std::string> find_by_params_key(const std::string& key) const;
  // params_key -> run ids, from one pass over the file.
  std::map<std::string, std::vector<std::string>> runs_by_params_key() const;
  // Resume: the runs whose text attribute `name` (e.g. "identity") equals value.
  std::vector<std::string> find_by_attribute(const std::string& name, const std::string& value) const;
  // value of the text attribute `name` -> run ids (in append order), from one
  // pass over the file (find_by_attribute per run would read every run's).
  std::map<std::string, std::vector<std::string>> runs_by_attribute(const std::string& name) const;

  const std::string& path() const { return path_; }
  // The file commits replace: path() with symlinks followed.
  const std::string& target() const { return target_; }

 private:
  ResultsStore(std::string path, std::string target) : path_(std::move(path)), target_(std::move(target)) {}
  // path(), and its target when it is a link: how messages name the file.
  std::string describe() const;
  std::string path_;
  std::string target_;
};

// The checksums the store writes: a dataset's "sha256" attribute is array_sha256
// of its data (the little-endian bytes of its values; strings: each one's
// 8-byte length then its bytes); a run's "attributes_sha256" covers its
// attributes (all but itself, complete and merged_from).
std::string array_sha256(const RunRecord::Array& array);
std::string attributes_sha256(const RunRecord& record);

// Test hook: when set, append() calls it at each stage ("copied" (or created), "array:<i>"
// after the i-th array is written, "index", "closed", "synced", "renamed") so a
// test can kill the process at a chosen point. Not for production use.
void set_append_stage_hook(std::function<void(const std::string& stage)> hook);

}  // namespace sb

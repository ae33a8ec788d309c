#pragma once
// Appends many small records to a ResultsStore at a bounded cost. Every commit
// copies the whole file (see results_store.h), so committing each record of a
// sweep of N records copies O(N^2) bytes: hours of I/O for a RULER study of
// thousands of samples. The appender queues records and commits only when the
// time since the last commit is at least last_commit_seconds / max_overhead,
// which keeps the copying under max_overhead of the wall time while the file is
// small or large. A crash loses only the queued records: they are absent from
// the file, never partial, and a resumed sweep runs them again.
#include <functional>
#include <vector>

#include "io/results_store.h"

namespace sb {

class PacedAppender {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  explicit PacedAppender(ResultsStore& store, double max_overhead = 0.05, Clock now = {});

  // Queues the record and commits the queue when a commit is due.
  void add(RunRecord record);
  // Commits whatever is queued (the end of a sweep, or a point users should see).
  void flush();
  size_t pending() const { return pending_.size(); }
  int commits() const { return commits_; }

  static bool commit_due(double seconds_since_last_commit, double last_commit_seconds, double max_overhead);

 private:
  ResultsStore& store_;
  double max_overhead_;
  Clock now_;
  std::vector<RunRecord> pending_;
  double last_commit_end_ = 0, last_commit_seconds_ = 0;
  int commits_ = 0;
};

}  // namespace sb

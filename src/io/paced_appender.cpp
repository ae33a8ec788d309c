#include "io/paced_appender.h"

#include <chrono>

#include "util/error.h"

namespace sb {

PacedAppender::PacedAppender(ResultsStore& store, double max_overhead, Clock now)
    : store_(store), max_overhead_(max_overhead), now_(std::move(now)) {
  SB_REQUIRE(max_overhead > 0 && max_overhead <= 1, "PacedAppender: max_overhead {} is not in (0, 1]", max_overhead);
  if (!now_) {
    now_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  }
  last_commit_end_ = now_();
}

bool PacedAppender::commit_due(double seconds_since_last_commit, double last_commit_seconds, double max_overhead) {
  return seconds_since_last_commit * max_overhead >= last_commit_seconds;
}

void PacedAppender::add(RunRecord record) {
  pending_.push_back(std::move(record));
  if (commit_due(now_() - last_commit_end_, last_commit_seconds_, max_overhead_)) flush();
}

void PacedAppender::flush() {
  if (pending_.empty()) return;
  const double start = now_();
  std::vector<RunRecord> batch;
  batch.swap(pending_);
  store_.append(std::move(batch));
  last_commit_end_ = now_();
  last_commit_seconds_ = last_commit_end_ - start;
  ++commits_;
}

}  // namespace sb

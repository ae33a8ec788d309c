// PacedAppender: commits keep the file-copy time under the overhead budget, and
// every queued record reaches the store whole after flush().
#include "io/paced_appender.h"

#include <gtest/gtest.h>

#include "store_test_util.h"
#include "util/error.h"

namespace sb {
namespace {

using test::ScratchDir;

RunRecord numbered(int64_t i) {
  RunRecord record;
  record.text = {{"params_key", "sample-" + std::to_string(i)}};
  record.integers = {{"sample", i}};
  return record;
}

TEST(PacedAppender, CommitIsDueOnceTheCopyCostIsWithinBudget) {
  EXPECT_TRUE(PacedAppender::commit_due(0.0, 0.0, 0.05));   // nothing committed yet: commit at once
  EXPECT_FALSE(PacedAppender::commit_due(19.0, 1.0, 0.05));  // a 1 s copy every 19 s would be > 5 %
  EXPECT_TRUE(PacedAppender::commit_due(20.0, 1.0, 0.05));
  EXPECT_TRUE(PacedAppender::commit_due(1.0, 1.0, 1.0));
}

TEST(PacedAppender, BatchesByMeasuredCommitTimeAndFlushesEverything) {
  ScratchDir dir;
  ResultsStore store = ResultsStore::open(dir.file("results.h5"));
  // A clock that advances 1 s per reading: every commit measures 1 s and every
  // add comes 1 s after the last, so at 5 % a commit is due every ~20 adds.
  double seconds = 0;
  PacedAppender appender(store, 0.05, [&] { return seconds += 1.0; });
  for (int64_t i = 0; i < 100; ++i) appender.add(numbered(i));
  EXPECT_GE(appender.commits(), 4);
  EXPECT_LE(appender.commits(), 6);
  EXPECT_LT(appender.pending(), 21u);
  EXPECT_EQ(store.run_ids().size() + appender.pending(), 100u);
  appender.flush();
  EXPECT_EQ(appender.pending(), 0u);
  const std::vector<std::string> ids = store.run_ids();
  ASSERT_EQ(ids.size(), 100u);
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(store.read(ids[size_t(i)]).integers.at("sample"), i);
  appender.flush();  // nothing pending: no commit
  EXPECT_EQ(store.run_ids().size(), 100u);
}

TEST(PacedAppender, RefusesAnOverheadOutsideZeroToOne) {
  ScratchDir dir;
  ResultsStore store = ResultsStore::open(dir.file("results.h5"));
  EXPECT_THROW(PacedAppender(store, 0.0), Error);
  EXPECT_THROW(PacedAppender(store, 1.5), Error);
}

}  // namespace
}  // namespace sb

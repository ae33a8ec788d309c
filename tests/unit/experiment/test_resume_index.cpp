// Resume's view of a results file: a stored run is taken for a new one only by
// its identity; older runs (no identity, or star runs keyed before keys named
// the block rule) are counted, never reused; task summaries are identified by
// their samples.
#include <gtest/gtest.h>

#include "experiment/record.h"
#include "experiment/run_identity.h"
#include "tests/unit/io/store_test_util.h"

namespace sb {
namespace {

RunRecord stored_run(const std::string& key, const std::string& identity, const std::string& block_rule) {
  RunRecord record;
  record.text = {{"kind", "timing"}, {"method", "star"}, {"params_key", key}};
  if (!identity.empty()) record.text["identity"] = identity;
  if (!block_rule.empty()) record.text["block_rule"] = block_rule;
  record.integers = {{"seq_len", 96}};
  return record;
}

// Star runs of a file written before keys named the block rule: their identity
// digests that key, so no run of today matches them; they are counted under
// today's key (with their own rule), as runs without identity are.
TEST(ResumeIndex, StarRunsKeyedWithoutTheBlockRuleAreCountedNotReused) {
  test::ScratchDir dir;
  ResultsStore store = ResultsStore::open(dir.file("older.h5"));
  RunContext context{"tiny", "cpu", "host", 2};
  RunSpec spec;
  spec.method.method = Method::Star;
  spec.method.block_rule = parse_block_rule("C/2");
  spec.context_len = 96;
  spec.plan = plan_method(spec.method, spec.context_len, 2);
  const std::string key = params_key(spec, context);  // ...;block_rule=C/2;anchor_source=...
  std::string legacy = key;
  legacy.erase(legacy.find(";block_rule=C/2"), std::string(";block_rule=C/2").size());
  store.append(stored_run(legacy, identity_of(legacy, spec, {}), "C/2"));  // an earlier version's C/2 run
  store.append(stored_run(legacy, identity_of(legacy, spec, {}), "fixed"));  // its fixed 48: another run today
  store.append(stored_run(key, "", "C/2"));  // today's key, but no identity
  ResumeIndex index(store);
  EXPECT_FALSE(index.reusable(identity_of(key, spec, {}), key).has_value());
  EXPECT_EQ(index.older_runs_not_reused(), 2);  // the C/2 run keyed without its rule, and the one without identity
  // A run of today's key and identity is reused.
  const std::string current = store.append(stored_run(key, identity_of(key, spec, {}), "C/2"));
  ResumeIndex again(store);
  const std::optional<RunRecord> found = again.reusable(identity_of(key, spec, {}), key);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->run_id, current);
}

// A summary's identity follows its samples: other samples (another word list,
// weights, ...) under the same key give another summary identity.
TEST(ResumeIndex, SummaryIdentityFollowsItsSamples) {
  const std::string key = "summary;model=tiny;task=vt;target=512;method=star(b=C/4,a=-1);device=cpu;node_layout=1x2";
  const std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
  EXPECT_EQ(summary_identity(key, {a, b}), summary_identity(key, {a, b}));
  EXPECT_NE(summary_identity(key, {a, b}), summary_identity(key, {a, c}));
  EXPECT_NE(summary_identity(key, {a, b}), summary_identity(key, {b, a}));
  EXPECT_NE(summary_identity(key, {a, b}), summary_identity(key, {a}));
  EXPECT_NE(summary_identity(key, {a, b}), summary_identity(key + ";metric=all", {a, b}));
  EXPECT_EQ(summary_identity(key, {a}).size(), 64u);
}

}  // namespace
}  // namespace sb

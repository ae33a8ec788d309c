// Crash safety of ResultsStore::append: a child process appending is SIGKILLed
// (a) at every stage of an append, via the stage hook, and (b) at arbitrary times
// during a loop of appends. The parent then reopens the store and checks that every
// run is whole, earlier runs are untouched and the index agrees with the runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "io/results_store.h"
#include "store_test_util.h"
#include "util/error.h"
#include "tests/support/file_bytes.h"

namespace sb {
namespace {

using test::ScratchDir;

// A run whose every value follows from `seed`, so a reader can check it whole.
RunRecord seeded_run(int64_t seed, size_t values) {
  RunRecord record;
  record.text = {{"params_key", "seed-" + std::to_string(seed)}};
  record.integers = {{"seed", seed}, {"values", int64_t(values)}};
  record.numbers = {{"mean", double(seed) + 0.5}};
  for (int part = 0; part < 3; ++part) {
    RunRecord::Array array;
    array.path = "data/part" + std::to_string(part);
    array.shape = {int64_t(values)};
    array.f64.resize(values);
    for (size_t i = 0; i < values; ++i) array.f64[i] = double(seed) * 1e6 + double(part) * 1e5 + double(i);
    record.arrays.push_back(std::move(array));
  }
  return record;
}

// Checks every stored run against its seed and the index against the runs; returns the ids.
std::vector<std::string> verify_store(const std::string& path) {
  ResultsStore store = ResultsStore::open(path);
  const std::vector<std::string> ids = store.run_ids();
  for (const std::string& id : ids) {
    RunRecord run = store.read(id);
    const int64_t seed = run.integers.at("seed");
    RunRecord expected = seeded_run(seed, size_t(run.integers.at("values")));
    EXPECT_EQ(run.text, expected.text) << id;
    EXPECT_EQ(run.numbers, expected.numbers) << id;
    EXPECT_EQ(run.arrays.size(), expected.arrays.size()) << id;
    for (const RunRecord::Array& want : expected.arrays) {
      bool found = false;
      for (const RunRecord::Array& got : run.arrays) {
        if (got.path != want.path) continue;
        found = true;
        EXPECT_EQ(got.f64, want.f64) << id << " " << want.path;
      }
      EXPECT_TRUE(found) << id << " lacks " << want.path;
    }
  }
  test::IndexTable index = test::read_index(path);
  EXPECT_EQ(index.run_id, ids);
  if (!ids.empty()) EXPECT_EQ(index.integers.at("seed").size(), ids.size());
  return ids;
}

// Forks a child that opens the store and runs `body`; the child exits 0 on success,
// 2 on an exception.
template <typename Body>
pid_t fork_child(Body&& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    try {
      body();
    } catch (...) {
      _exit(2);
    }
    _exit(0);
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child ended before it was killed";
}

using test::file_bytes;

class KilledAtStage : public ::testing::TestWithParam<std::string> {};

TEST_P(KilledAtStage, EarlierRunsIntactAndNewRunWholeOrAbsent) {
  const std::string stage = GetParam();
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  {
    ResultsStore store = ResultsStore::open(path);
    for (int64_t seed = 1; seed <= 3; ++seed) store.append(seeded_run(seed, 1000));
  }
  const std::string before = file_bytes(path);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork_child([&] {
    close(ready[0]);
    set_append_stage_hook([&](const std::string& reached) {
      if (reached != stage) return;
      const char byte = 'x';
      (void)!write(ready[1], &byte, 1);
      for (;;) pause();  // wait here for SIGKILL
    });
    ResultsStore::open(path).append(seeded_run(99, 200000));  // ~4.8 MB of arrays
  });
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "child never reached stage " << stage;
  close(ready[0]);
  kill_and_reap(child);

  // Until the rename the original file is not touched at all, byte for byte.
  if (stage != "renamed") EXPECT_TRUE(file_bytes(path) == before) << "the original file changed";
  const std::vector<std::string> ids = verify_store(path);
  std::vector<std::string> expected{"run_000001", "run_000002", "run_000003"};
  if (stage == "renamed") expected.push_back("run_000004");  // committed before the kill
  EXPECT_EQ(ids, expected);
  // Reopening removed the dead child's temporary copy; the lock file stays (the
  // kernel released the dead child's lock).
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_TRUE(entry.path().filename() == "results.h5" || entry.path().filename() == "results.h5.lock")
        << entry.path();
  // The store still takes appends, with the next id.
  EXPECT_EQ(ResultsStore::open(path).append(seeded_run(4, 10)), stage == "renamed" ? "run_000005" : "run_000004");
}

// A batch is one commit: killed after its second run is written into the copy,
// none of the batch is stored.
TEST(CrashSafety, KilledInsideABatchStoresNoneOfIt) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore::open(path).append(seeded_run(1, 1000));
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork_child([&] {
    close(ready[0]);
    set_append_stage_hook([&](const std::string& reached) {
      if (reached != "run:run_000003") return;
      const char byte = 'x';
      (void)!write(ready[1], &byte, 1);
      for (;;) pause();
    });
    ResultsStore::open(path).append(std::vector<RunRecord>{seeded_run(2, 1000), seeded_run(3, 1000), seeded_run(4, 1000)});
  });
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "child never wrote the batch's second run";
  close(ready[0]);
  kill_and_reap(child);
  EXPECT_EQ(verify_store(path), (std::vector<std::string>{"run_000001"}));
}

INSTANTIATE_TEST_SUITE_P(Stages, KilledAtStage,
                         ::testing::Values("copied", "array:0", "array:1", "index", "closed", "synced", "renamed"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == ':') c = '_';
                           return name;
                         });

TEST(CrashSafety, KilledAtArbitraryTimesDuringManyAppends) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore::open(path).append(seeded_run(0, 100));
  size_t stored = 1;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const pid_t child = fork_child([&] {
      ResultsStore store = ResultsStore::open(path);
      for (int64_t seed = 1000 * (attempt + 1);; ++seed) store.append(seeded_run(seed, 20000 + 7919 * size_t(seed % 5)));
    });
    // Different delays land the kill in different phases of an append.
    std::this_thread::sleep_for(std::chrono::milliseconds(40 + 37 * attempt));
    kill_and_reap(child);
    const std::vector<std::string> ids = verify_store(path);
    ASSERT_GE(ids.size(), stored) << "runs were lost";
    stored = ids.size();
  }
  std::printf("runs stored across kills: %zu\n", stored);
  EXPECT_GT(stored, 1u) << "the children never completed an append; the test checked nothing new";
}

}  // namespace
}  // namespace sb

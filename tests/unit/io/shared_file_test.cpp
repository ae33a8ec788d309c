// ResultsStore on a shared cluster: several processes appending to one file lose
// no run, a symlinked path is written through to its target, unwritable
// destinations are refused by open() with the reason. Only ResultsStore's public
// API is used, so these tests also build against older stores.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "io/results_store.h"
#include "store_test_util.h"
#include "util/error.h"
#include "tests/support/file_bytes.h"

namespace sb {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

RunRecord keyed_run(const std::string& key, size_t values) {
  RunRecord record;
  record.text = {{"params_key", key}};
  record.integers = {{"values", int64_t(values)}};
  RunRecord::Array array;
  array.path = "data";
  array.shape = {int64_t(values)};
  array.f64.assign(values, 1.5);
  record.arrays.push_back(array);
  return record;
}

using test::error_of;

using test::file_bytes;

// Every writer reports each append it made; all of them must be in the file.
TEST(SharedResultsFile, ConcurrentWritersLoseNoRun) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  constexpr int kWriters = 4, kRunsEach = 12;
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> children;
  for (int writer = 0; writer < kWriters; ++writer) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      char byte;
      if (read(go[0], &byte, 1) != 0) _exit(3);  // wait until every writer is forked
      try {
        ResultsStore store = ResultsStore::open(path);
        for (int run = 0; run < kRunsEach; ++run)
          store.append(keyed_run("writer" + std::to_string(writer) + "-run" + std::to_string(run), 20000));
      } catch (...) {
        _exit(2);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  close(go[0]);
  close(go[1]);  // go
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed: status " << status;
  }
  ResultsStore store = ResultsStore::open(path);
  const std::vector<std::string> ids = store.run_ids();
  std::set<std::string> keys;
  for (const std::string& id : ids) {
    const RunRecord run = store.read(id);
    EXPECT_EQ(run.arrays.at(0).f64.size(), 20000u) << id;
    keys.insert(run.text.at("params_key"));
  }
  EXPECT_EQ(ids.size(), size_t(kWriters * kRunsEach)) << "runs reported written are missing from the file";
  EXPECT_EQ(keys.size(), size_t(kWriters * kRunsEach));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "a run id was given twice";
  EXPECT_EQ(test::read_index(path).run_id, ids);
}

TEST(SharedResultsFile, SymlinkedPathIsWrittenThroughToItsTarget) {
  ScratchDir dir;
  fs::create_directories(dir.path() / "data");
  const std::string target = dir.file("data/results.h5");
  const std::string link = dir.file("results.h5");
  fs::create_symlink("data/results.h5", link);  // relative, and dangling until the first append
  ResultsStore::open(link).append(keyed_run("a", 10));
  ResultsStore::open(link).append(keyed_run("b", 10));
  EXPECT_TRUE(fs::is_symlink(link)) << "the link was replaced by a regular file";
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(target)));
  EXPECT_EQ(ResultsStore::open(target).run_ids(), (std::vector<std::string>{"run_000001", "run_000002"}));
  // A chain of links leads to the same file.
  const std::string chain = dir.file("chain.h5");
  fs::create_symlink(link, chain);
  ResultsStore::open(chain).append(keyed_run("c", 10));
  EXPECT_TRUE(fs::is_symlink(chain) && fs::is_symlink(link));
  EXPECT_EQ(ResultsStore::open(target).run_ids().size(), 3u);
  // Nothing else is left in either directory (no temporary copies).
  std::vector<std::string> top, data;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    if (!entry.is_directory()) top.push_back(entry.path().filename());
  for (const auto& entry : fs::directory_iterator(dir.path() / "data"))
    if (entry.path().filename() != "results.h5.lock") data.push_back(entry.path().filename());
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{"chain.h5", "results.h5"}));
  EXPECT_EQ(data, std::vector<std::string>{"results.h5"});
}

TEST(SharedResultsFile, ReadOnlyFileIsRefusedByOpenWithTheReason) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore::open(path).append(keyed_run("a", 10));
  ASSERT_EQ(chmod(path.c_str(), 0444), 0);
  const std::string before = file_bytes(path);
  // Refused even for root, whom the kernel would let replace it.
  const std::string message = error_of([&] { ResultsStore::open(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
  EXPECT_NE(message.find("read-only"), std::string::npos) << message;
  EXPECT_EQ(file_bytes(path), before);
  chmod(path.c_str(), 0644);
}

// Runs `body` in a child process without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH,
// so that permission bits apply to it even when the tests run as root; returns
// what it wrote to the pipe. Empty when the capabilities cannot be dropped.
template <typename Body>
std::string in_child_without_dac_override(Body&& body) {
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &header, data) != 0) _exit(2);
    for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}) data[cap / 32].effective &= ~(1u << (cap % 32));
    if (syscall(SYS_capset, &header, data) != 0) _exit(2);
    const std::string text = body();
    (void)!write(out[1], text.data(), text.size());
    _exit(0);
  }
  close(out[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
  close(out[0]);
  waitpid(pid, nullptr, 0);
  return text;
}

TEST(SharedResultsFile, MissingOrUnwritableDirectoryIsRefusedByOpenWithTheReason) {
  ScratchDir dir;
  const std::string missing = dir.file("no/such/dir/results.h5");
  std::string message = error_of([&] { ResultsStore::open(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  fs::create_directories(dir.path() / "locked");
  ASSERT_EQ(chmod((dir.path() / "locked").c_str(), 0555), 0);
  const std::string path = dir.file("locked/results.h5");
  message = in_child_without_dac_override([&] { return error_of([&] { ResultsStore::open(path); }); });
  chmod((dir.path() / "locked").c_str(), 0755);
  if (message.empty()) GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
  EXPECT_TRUE(fs::is_empty(dir.path() / "locked"));
}

}  // namespace
}  // namespace sb

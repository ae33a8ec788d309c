// FileLock: one holder at a time across processes, a bounded wait that names the
// holder, release when the holder dies; and an append that waits its turn.
#include "io/file_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "io/results_store.h"
#include "store_test_util.h"
#include "util/error.h"

namespace sb {
namespace {

using test::ScratchDir;

// A child that takes the lock, says so through the pipe, and holds it for
// hold_ms (or until killed when hold_ms < 0).
pid_t hold_lock_in_child(const std::string& lock_path, int hold_ms) {
  int ready[2];
  EXPECT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    try {
      FileLock lock = FileLock::acquire(lock_path, 10, "test");
      (void)!write(ready[1], "x", 1);
      if (hold_ms < 0) {
        for (;;) pause();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    } catch (...) {
      _exit(2);
    }
    _exit(0);
  }
  close(ready[1]);
  char byte = 0;
  EXPECT_EQ(read(ready[0], &byte, 1), 1) << "the child never took the lock";
  close(ready[0]);
  return pid;
}

TEST(FileLock, WaitIsBoundedAndNamesTheHolderAndADeadHolderReleases) {
  ScratchDir dir;
  const std::string lock_path = dir.file("results.h5.lock");
  const pid_t holder = hold_lock_in_child(lock_path, -1);
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  try {
    FileLock::acquire(lock_path, 0.3, "results file x.h5");
  } catch (const Error& error) {
    message = error.what();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.3);
  EXPECT_LT(waited, 5.0);
  EXPECT_NE(message.find("results file x.h5"), std::string::npos) << message;
  EXPECT_NE(message.find("pid " + std::to_string(holder)), std::string::npos) << message;
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  // The kernel dropped the dead holder's lock: no stale lock to clean up.
  const auto again = std::chrono::steady_clock::now();
  FileLock lock = FileLock::acquire(lock_path, 5, "test");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - again).count(), 1.0);
}

TEST(FileLock, AppendWaitsForTheHolderAndThenCommits) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore store = ResultsStore::open(path);
  const pid_t holder = hold_lock_in_child(path + ".lock", 400);
  const auto start = std::chrono::steady_clock::now();
  RunRecord record;
  record.text = {{"params_key", "k"}};
  EXPECT_EQ(store.append(record), "run_000001");
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.2);
  int status = 0;
  waitpid(holder, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(store.run_ids(), std::vector<std::string>{"run_000001"});
}

TEST(FileLock, LocksWorkOnTheTestFileSystem) {
  ScratchDir dir;
  const int fd = ::open(dir.file("probe").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(lock_support_problem(fd), "");
  ::close(fd);
}

}  // namespace
}  // namespace sb

#include "io/file_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include <fmt/core.h>

#include "util/error.h"

namespace sb {
namespace {

// fcntl's answer when the file system has no (working) record locks, as opposed
// to "another process holds it" (EACCES / EAGAIN).
bool locks_unsupported(int error) {
  return error == ENOLCK || error == ENOSYS || error == EOPNOTSUPP || error == EINVAL;
}

struct flock whole_file(short type) {
  struct flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = 0;
  range.l_len = 0;  // to the end of the file, however long
  return range;
}

// " (pid N)" of the process holding the lock (on NFS the server may not know: "").
std::string holder_description(int fd) {
  struct flock holder = whole_file(F_WRLCK);
  const bool known = fcntl(fd, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK && holder.l_pid > 0;
  return known ? " (pid " + std::to_string(holder.l_pid) + ")" : std::string();
}

constexpr double kAnnounceAfterSeconds = 1.0;

}  // namespace

std::string lock_support_problem(int fd) {
  struct flock lock = whole_file(F_WRLCK);
  if (fcntl(fd, F_SETLK, &lock) == 0) {
    struct flock unlock = whole_file(F_UNLCK);
    fcntl(fd, F_SETLK, &unlock);
    return "";
  }
  const int error = errno;
  return locks_unsupported(error) ? std::strerror(error) : "";
}

FileLock FileLock::acquire(const std::string& lock_path, double timeout_s, const std::string& what) {
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  SB_REQUIRE(fd >= 0, "{}: cannot open the lock file {}: {}", what, lock_path, std::strerror(errno));
  FileLock lock(fd);  // closes fd on every exit below
  const auto start = std::chrono::steady_clock::now();
  bool announced = false;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    struct flock request = whole_file(F_WRLCK);
    if (fcntl(fd, F_SETLK, &request) == 0) return lock;
    const int error = errno;
    if (error == EINTR) continue;
    SB_REQUIRE(error == EACCES || error == EAGAIN,
               "{}: cannot lock {}: {}{}", what, lock_path, std::strerror(error),
               locks_unsupported(error) ? " (this file system has no fcntl locks; see docs/HDF5_SCHEMA.md)" : "");
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > timeout_s) {
      fail("{}: another process{} has held the lock {} for more than {:.0f} s (a writer hung on a stalled file "
           "system?)",
           what, holder_description(fd), lock_path, timeout_s);
    }
    if (!announced && waited > kAnnounceAfterSeconds) {
      // A commit takes well under a second: say why this one waits, once.
      announced = true;
      fmt::print(stderr, "{}: waiting for the lock {}, held by another process{}; will wait up to {:.0f} s\n", what,
                 lock_path, holder_description(fd), timeout_s);
      std::fflush(stderr);
    }
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(50)) pause *= 2;
  }
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace sb

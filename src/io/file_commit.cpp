#include "io/file_commit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "io/file_lock.h"
#include "util/error.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  std::string host(name);
  for (char& c : host)
    if (c == '/') c = '_';
  return host.empty() ? "localhost" : host;
}

void write_all(int fd, const char* data, size_t size, const std::string& from, const std::string& to) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    SB_REQUIRE(written > 0, "cannot copy {} to {}: {}", from, to, std::strerror(written < 0 ? errno : ENOSPC));
    data += written;
    size -= size_t(written);
  }
}

}  // namespace

std::string resolve_symlinks(const std::string& path) {
  std::string current = path;
  for (int hops = 0; hops < 40; ++hops) {  // the kernel's own limit (ELOOP)
    struct stat info;
    if (::lstat(current.c_str(), &info) != 0 || !S_ISLNK(info.st_mode)) return current;
    std::vector<char> target(size_t(info.st_size > 0 ? info.st_size : 255) + 1);
    const ssize_t length = ::readlink(current.c_str(), target.data(), target.size());
    SB_REQUIRE(length >= 0, "cannot read the symlink {}: {}", current, std::strerror(errno));
    const fs::path next(std::string(target.data(), size_t(length)));
    current = next.is_absolute() ? next.string() : (fs::path(current).parent_path() / next).string();
  }
  fail("results file {}: too many levels of symbolic links", path);
}

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string temporary_path(const std::string& path) {
  return path + ".tmp." + host_name() + "." + std::to_string(getpid());
}

void remove_stale_temporaries(const std::string& path) {
  const std::string prefix = fs::path(path).filename().string() + ".tmp.";
  const std::string host = host_name();
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory_of(path), error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "<host>.<pid>"
    const size_t dot = rest.rfind('.');
    if (dot == std::string::npos || rest.substr(0, dot) != host) continue;
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str() + dot + 1, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (kill(pid_t(pid), 0) == -1 && errno == ESRCH) fs::remove(entry.path(), error);
  }
}

void check_replaceable(const std::string& target, const std::string& shown, bool need_locks) {
  struct stat info;
  if (::stat(target.c_str(), &info) == 0) {
    SB_REQUIRE(!S_ISDIR(info.st_mode), "results file {} is a directory", shown);
    SB_REQUIRE(S_ISREG(info.st_mode), "results file {} is not a regular file", shown);
    SB_REQUIRE((info.st_mode & 0222) != 0,
               "results file {} is read-only (mode {:04o}): {}: make it writable (chmod u+w) or choose another "
               "--output",
               shown, unsigned(info.st_mode & 07777), std::strerror(EACCES));
    // access() asks the kernel: read-only mounts (EROFS), immutable or append-only
    // files (EPERM, also for root), permission bits and ACLs (EACCES).
    if (::access(target.c_str(), W_OK) != 0) {
      const int error = errno;
      fail("cannot write results file {}: {}{}", shown, std::strerror(error),
           error == EPERM ? " (immutable or append-only? see lsattr)" : "");
    }
  } else {
    SB_REQUIRE(errno == ENOENT, "cannot access results file {}: {}", shown, std::strerror(errno));
  }
  // Every commit creates a copy beside the file and renames it over the file:
  // the directory must take new files, which only trying tells for sure.
  const std::string probe = temporary_path(target);
  ::unlink(probe.c_str());  // our host and pid: a leftover of a dead process
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  SB_REQUIRE(fd >= 0, "cannot create files in {} (the directory of results file {}): {}", directory_of(target), shown,
             std::strerror(errno));
  const std::string no_locks = need_locks ? lock_support_problem(fd) : std::string();
  ::close(fd);
  ::unlink(probe.c_str());
  SB_REQUIRE(no_locks.empty(),
             "results file {}: its file system has no fcntl locks ({}), which keep two writers of one file from "
             "losing each other's runs: mount Lustre with -o flock, run lockd for NFSv3, or set "
             "STARBENCH_RESULTS_LOCK=off (then never let two processes write the file at once)",
             shown, no_locks);
}

void copy_file_contents(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  SB_REQUIRE(in >= 0, "cannot read {}: {}", from, std::strerror(errno));
  struct stat info;
  if (::fstat(in, &info) != 0) {
    const int error = errno;
    ::close(in);
    fail("cannot read {}: {}", from, std::strerror(error));
  }
  ::unlink(to.c_str());  // this process's name: a leftover of a dead process with our pid
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 07777);
  if (out < 0) {
    const int error = errno;
    ::close(in);
    fail("cannot create {}: {}", to, std::strerror(error));
  }
  struct Closer {
    int in, out;
    ~Closer() {
      ::close(in);
      if (out >= 0) ::close(out);
    }
  } closer{in, out};
  const off_t size = info.st_size;
  off_t copied = 0;
  bool in_kernel = true;
  std::vector<char> buffer;
  while (copied < size) {
    const size_t want = size_t(std::min<off_t>(size - copied, off_t(64) << 20));
    ssize_t count;
    if (in_kernel) {
      count = ::copy_file_range(in, nullptr, out, nullptr, want, 0);
      if (count < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        in_kernel = false;  // both offsets are where the failed call found them
        continue;
      }
    } else {
      if (buffer.empty()) buffer.resize(size_t(1) << 20);
      count = ::read(in, buffer.data(), std::min(want, buffer.size()));
      if (count > 0) write_all(out, buffer.data(), size_t(count), from, to);
    }
    if (count < 0 && errno == EINTR) continue;
    SB_REQUIRE(count >= 0, "cannot copy {} to {}: {}", from, to, std::strerror(errno));
    SB_REQUIRE(count > 0, "cannot copy {} to {}: it ended after {} of {} bytes", from, to, copied, size);
    copied += count;
  }
  const int status = ::close(out);  // NFS reports deferred write errors here
  closer.out = -1;
  SB_REQUIRE(status == 0, "cannot copy {} to {}: {}", from, to, std::strerror(errno));
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  SB_REQUIRE(fd >= 0, "cannot open {} to sync it: {}", path, std::strerror(errno));
  const int status = fsync(fd);
  const int saved = errno;
  ::close(fd);
  SB_REQUIRE(status == 0, "fsync of {} failed: {}", path, std::strerror(saved));
}

}  // namespace sb

#pragma once
// An exclusive advisory lock on a lock file: the results store holds one for each
// commit, so that two processes appending to one file take turns instead of each
// renaming its own copy over the other's (which loses the first one's runs).
//
// fcntl (POSIX record) locks, not flock(): NFS (lockd for v3, in the protocol for
// v4), Lustre (mounted with -o flock), GPFS and BeeGFS (with global file locks)
// carry fcntl locks between nodes, while flock() is node-local or refused on
// several of them. POSIX locks belong to the process, not the descriptor: the lock
// file is opened only here, and closing this descriptor releases the lock (also
// when the process dies, so a killed writer never leaves a file locked).
#include <string>

namespace sb {

class FileLock {
 public:
  // Creates lock_path when absent and locks it, waiting while another process
  // holds it; after timeout_s of waiting throws sb::Error naming `what`, the lock
  // file and the holder's pid. A file system without fcntl locks is an error too
  // (see lock_support_problem).
  static FileLock acquire(const std::string& lock_path, double timeout_s, const std::string& what);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Tries to lock and unlock `fd` (a file opened for writing): "" when fcntl locks
// work there, else the reason ("Function not implemented" on Lustre mounted
// without -o flock, "No locks available" on NFSv3 without lockd).
std::string lock_support_problem(int fd);

}  // namespace sb

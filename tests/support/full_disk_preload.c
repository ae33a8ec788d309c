/* A full file system for the files under one directory, without mounting one
 * (a small tmpfs needs CAP_SYS_ADMIN, which CI containers lack):
 *
 *   LD_PRELOAD=libfull_disk_preload.so STARBENCH_FULL_DIR=/abs/dir [STARBENCH_FULL_AFTER=bytes] cmd
 *
 * Once the process has written STARBENCH_FULL_AFTER bytes (default 0) into files
 * under STARBENCH_FULL_DIR, every further write there fails with ENOSPC; a write
 * that straddles the limit is cut short first, as a real file system does. It
 * covers the calls that HDF5 (pwrite), libstdc++'s copy_file (sendfile, write)
 * and starbench's own copy (copy_file_range, write) make. Other files (stdout,
 * sockets, files elsewhere) are untouched. Used by tests/cli/disk_full.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static const char* full_dir;
static size_t full_dir_length;
static long long remaining = -1; /* bytes still allowed; -1 until read from the environment */

static int configured(void) {
  if (remaining < 0) {
    full_dir = getenv("STARBENCH_FULL_DIR");
    const char* after = getenv("STARBENCH_FULL_AFTER");
    remaining = after ? atoll(after) : 0;
    full_dir_length = full_dir ? strlen(full_dir) : 0;
    while (full_dir_length > 1 && full_dir[full_dir_length - 1] == '/') --full_dir_length;
  }
  return full_dir_length > 0;
}

static int watched(int fd) {
  if (!configured()) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t length = readlink(link, path, sizeof path - 1);
  if (length < 0) return 0;
  path[length] = '\0';
  return strncmp(path, full_dir, full_dir_length) == 0 && path[full_dir_length] == '/';
}

/* How much of `count` bytes may go to fd: all of it for other files, -1 when full. */
static long long allowance(int fd, size_t count) {
  if (!watched(fd)) return (long long)count;
  if (remaining == 0) return -1;
  return (long long)count < remaining ? (long long)count : remaining;
}

static ssize_t account(int fd, ssize_t written) {
  if (written > 0 && watched(fd)) remaining -= written;
  return written;
}

#define REAL(name) \
  static __typeof__(name)* real_##name; \
  if (!real_##name) real_##name = (__typeof__(name)*)dlsym(RTLD_NEXT, #name)

#define ALLOW_OR_FAIL(fd, count, allowed)  \
  const long long allowed = allowance(fd, count); \
  if (allowed < 0) {                            \
    errno = ENOSPC;                             \
    return -1;                                  \
  }

ssize_t write(int fd, const void* buffer, size_t count) {
  REAL(write);
  ALLOW_OR_FAIL(fd, count, allowed);
  return account(fd, real_write(fd, buffer, (size_t)allowed));
}

ssize_t pwrite(int fd, const void* buffer, size_t count, off_t offset) {
  REAL(pwrite);
  ALLOW_OR_FAIL(fd, count, allowed);
  return account(fd, real_pwrite(fd, buffer, (size_t)allowed, offset));
}

ssize_t pwrite64(int fd, const void* buffer, size_t count, off64_t offset) {
  REAL(pwrite64);
  ALLOW_OR_FAIL(fd, count, allowed);
  return account(fd, real_pwrite64(fd, buffer, (size_t)allowed, offset));
}

ssize_t writev(int fd, const struct iovec* vector, int count) {
  REAL(writev);
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += vector[i].iov_len;
  ALLOW_OR_FAIL(fd, total, allowed);
  if ((size_t)allowed < total) { /* short: write the allowed prefix of the first buffers */
    REAL(write);
    return account(fd, real_write(fd, vector[0].iov_base,
                                  (size_t)allowed < vector[0].iov_len ? (size_t)allowed : vector[0].iov_len));
  }
  return account(fd, real_writev(fd, vector, count));
}

ssize_t sendfile(int out, int in, off_t* offset, size_t count) {
  REAL(sendfile);
  ALLOW_OR_FAIL(out, count, allowed);
  return account(out, real_sendfile(out, in, offset, (size_t)allowed));
}

ssize_t sendfile64(int out, int in, off64_t* offset, size_t count) {
  REAL(sendfile64);
  ALLOW_OR_FAIL(out, count, allowed);
  return account(out, real_sendfile64(out, in, offset, (size_t)allowed));
}

ssize_t copy_file_range(int in, off64_t* in_offset, int out, off64_t* out_offset, size_t count, unsigned flags) {
  REAL(copy_file_range);
  ALLOW_OR_FAIL(out, count, allowed);
  return account(out, real_copy_file_range(in, in_offset, out, out_offset, (size_t)allowed, flags));
}

#include "util/file_digest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "util/error.h"
#include "util/sha256.h"

namespace sb {
namespace {

class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    SB_REQUIRE(fd_ >= 0, "cannot read {} (to take its digest): {}", path, std::strerror(errno));
    struct stat info {};
    SB_REQUIRE(::fstat(fd_, &info) == 0, "cannot stat {}: {}", path, std::strerror(errno));
    SB_REQUIRE(S_ISREG(info.st_mode), "{} is not a regular file", path);
    size_ = uint64_t(info.st_size);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  uint64_t size() const { return size_; }

  // Hashes bytes [offset, offset + count).
  void hash_range(Sha256& hash, uint64_t offset, uint64_t count, std::vector<char>& buffer) const {
    while (count > 0) {
      const ssize_t got = ::pread(fd_, buffer.data(), std::min<uint64_t>(count, buffer.size()), off_t(offset));
      if (got < 0 && errno == EINTR) continue;
      SB_REQUIRE(got >= 0, "cannot read {} at byte {}: {}", path_, offset, std::strerror(errno));
      SB_REQUIRE(got > 0, "{} ended at byte {} while its digest was taken (changed while read?)", path_, offset);
      hash.update(buffer.data(), size_t(got));
      offset += uint64_t(got);
      count -= uint64_t(got);
    }
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

}  // namespace

std::string file_sha256(const std::string& path) {
  const InputFile file(path);
  std::vector<char> buffer(size_t(4) << 20);
  Sha256 hash;
  file.hash_range(hash, 0, file.size(), buffer);
  return hash.finish_hex();
}

SampledDigest sampled_file_sha256(const std::string& path, uint64_t whole_file_bytes, int chunks,
                                  uint64_t chunk_bytes) {
  const InputFile file(path);
  SampledDigest digest;
  digest.size = file.size();
  std::vector<char> buffer(size_t(4) << 20);
  Sha256 hash;
  if (digest.size <= whole_file_bytes || chunks < 2 || digest.size <= uint64_t(chunks) * chunk_bytes) {
    file.hash_range(hash, 0, digest.size, buffer);
    digest.sha256 = hash.finish_hex();
    return digest;
  }
  digest.sampled = true;
  hash.update(fmt::format("sampled;size={};chunks={};chunk_bytes={};", digest.size, chunks, chunk_bytes));
  const uint64_t last = digest.size - chunk_bytes;  // the last chunk's offset
  for (int i = 0; i < chunks; ++i) {
    const uint64_t offset = uint64_t((unsigned __int128)(last) * uint64_t(i) / uint64_t(chunks - 1));
    file.hash_range(hash, offset, chunk_bytes, buffer);
  }
  digest.sha256 = hash.finish_hex();
  return digest;
}

}  // namespace sb

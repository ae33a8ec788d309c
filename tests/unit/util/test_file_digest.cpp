// File digests for run identities: whole-file SHA-256, and the sampled digest
// of large files (which chunks it reads, what it sees and what it cannot).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "util/error.h"
#include "util/file_digest.h"
#include "util/sha256.h"

namespace sb {
namespace {

class Scratch {
 public:
  Scratch() : path_(std::filesystem::temp_directory_path() / ("starbench_digest_" + std::to_string(getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~Scratch() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string file = (path_ / name).string();
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    return file;
  }

 private:
  std::filesystem::path path_;
};

std::string strided_bytes(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = char((i * 131) % 251);
  return bytes;
}

TEST(FileDigest, WholeFileIsItsSha256) {
  Scratch scratch;
  const std::string bytes = strided_bytes(10'000'000);  // more than one read buffer
  EXPECT_EQ(file_sha256(scratch.write("a", bytes)), sha256_hex(bytes));
  EXPECT_EQ(file_sha256(scratch.write("empty", "")), sha256_hex(""));
}

TEST(FileDigest, MissingFileNamesItAndTheReason) {
  try {
    file_sha256("/nonexistent/dir/weights.safetensors");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/dir/weights.safetensors"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("No such file"), std::string::npos);
  }
}

TEST(FileDigest, SmallFilesAreHashedWhole) {
  Scratch scratch;
  const std::string bytes = strided_bytes(5000);
  const SampledDigest digest = sampled_file_sha256(scratch.write("small", bytes), 8192, 4, 16);
  EXPECT_FALSE(digest.sampled);
  EXPECT_EQ(digest.sha256, sha256_hex(bytes));
  EXPECT_EQ(digest.size, 5000u);
}

// 4 chunks of 16 bytes over 10000 bytes: offsets 0, 3328, 6656, 9984 (floor(i * 9984 / 3)).
TEST(FileDigest, LargeFilesAreSampledAtEvenlySpacedChunks) {
  Scratch scratch;
  const std::string bytes = strided_bytes(10000);
  const std::string path = scratch.write("large", bytes);
  const SampledDigest digest = sampled_file_sha256(path, 1024, 4, 16);
  EXPECT_TRUE(digest.sampled);
  std::string expected = "sampled;size=10000;chunks=4;chunk_bytes=16;";
  for (size_t offset : {0, 3328, 6656, 9984}) expected += bytes.substr(offset, 16);
  EXPECT_EQ(digest.sha256, sha256_hex(expected));

  auto digest_with = [&](size_t at, char value) {
    std::string changed = bytes;
    changed[at] = value;
    return sampled_file_sha256(scratch.write("changed", changed), 1024, 4, 16).sha256;
  };
  EXPECT_NE(digest_with(3330, 'x'), digest.sha256);  // inside the second chunk
  EXPECT_NE(digest_with(9999, 'x'), digest.sha256);  // the last byte
  EXPECT_EQ(digest_with(5000, 'x'), digest.sha256);  // between chunks: not seen (documented)
  EXPECT_NE(sampled_file_sha256(scratch.write("longer", bytes + "z"), 1024, 4, 16).sha256, digest.sha256);
}

}  // namespace
}  // namespace sb

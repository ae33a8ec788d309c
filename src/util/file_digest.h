#pragma once
// Content digests of input files (weights, tokenizer, word lists, task data,
// platforms, hardware profiles) for a run's identity. docs/HDF5_SCHEMA.md
// ("Run identity") says what each covers.
#include <cstdint>
#include <string>

namespace sb {

// SHA-256 of the whole file, hex; throws sb::Error naming the file and the
// system's reason when it cannot be read.
std::string file_sha256(const std::string& path);

// The digest of a file too large to read whole for every sweep (a 140 GB
// checkpoint): files up to kWholeFileBytes are hashed whole (file_sha256);
// larger ones by SHA-256 over "sampled", the size and kSampleChunks chunks of
// kSampleChunkBytes at evenly spaced offsets (the first at 0, the last ending
// at the end of the file). A change confined to bytes between the chunks is
// not seen; new weights (training, another checkpoint) change every tensor.
struct SampledDigest {
  std::string sha256;
  uint64_t size = 0;
  bool sampled = false;  // false: the whole file was hashed
};
constexpr uint64_t kWholeFileBytes = uint64_t(256) << 20;
constexpr int kSampleChunks = 64;
constexpr uint64_t kSampleChunkBytes = uint64_t(1) << 20;
SampledDigest sampled_file_sha256(const std::string& path, uint64_t whole_file_bytes = kWholeFileBytes,
                                  int chunks = kSampleChunks, uint64_t chunk_bytes = kSampleChunkBytes);

}  // namespace sb

// The model's part of a run's identity: other weights, another config or
// another weight seed give another digest; a copy of the same checkpoint in
// another folder gives the same one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "model/config.h"
#include "model/weight_digest.h"
#include "model_test_util.h"

namespace sb {
namespace {

namespace fs = std::filesystem;
const fs::path kReference = fs::path(STARBENCH_SOURCE_DIR) / "tests/reference/data/tiny-llama3";

std::string copy_checkpoint(const test::TempDir& dir, const std::string& name) {
  const fs::path target = fs::path(dir.path()) / name / "model";
  fs::create_directories(target.parent_path());
  fs::copy(kReference, target, fs::copy_options::recursive);
  return target.string();
}

// Adds 1 to the byte `from_end` bytes before the end of the file (inside the last tensor's data).
void nudge_byte(const fs::path& file, size_t from_end) {
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(0, std::ios::end);
  const std::streamoff at = io.tellg() - std::streamoff(from_end);
  io.seekg(at);
  char byte = 0;
  io.read(&byte, 1);
  io.seekp(at);
  byte = char(byte + 1);
  io.write(&byte, 1);
}

TEST(WeightDigest, SameWeightsInAnotherFolderSameDigest) {
  test::TempDir dir;
  const ModelDigest a = checkpoint_digest(copy_checkpoint(dir, "A"));
  const ModelDigest b = checkpoint_digest(copy_checkpoint(dir, "B"));
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_EQ(a.sha256.size(), 64u);
  EXPECT_NE(a.description.find("safetensors, 4 file(s)"), std::string::npos) << a.description;
}

TEST(WeightDigest, OneChangedWeightChangesTheDigest) {
  test::TempDir dir;
  const std::string a = copy_checkpoint(dir, "A");
  const std::string b = copy_checkpoint(dir, "B");
  nudge_byte(fs::path(b) / "model-00002-of-00004.safetensors", 100);
  EXPECT_NE(checkpoint_digest(a).sha256, checkpoint_digest(b).sha256);
}

TEST(WeightDigest, ConfigChangesTheDigest) {
  test::TempDir dir;
  const std::string a = copy_checkpoint(dir, "A");
  const std::string b = copy_checkpoint(dir, "B");
  std::ofstream(fs::path(b) / "config.json", std::ios::app) << "\n";  // same values, other bytes
  EXPECT_NE(checkpoint_digest(a).sha256, checkpoint_digest(b).sha256);
}

TEST(WeightDigest, SyntheticWeightsDependOnPresetSeedAndConfig) {
  const ModelConfig tiny = preset_config("tiny");
  const std::string seed1 = synthetic_weights_digest(tiny, "tiny", 1).sha256;
  EXPECT_EQ(seed1, synthetic_weights_digest(tiny, "tiny", 1).sha256);
  EXPECT_NE(seed1, synthetic_weights_digest(tiny, "tiny", 2).sha256);
  ModelConfig other = tiny;
  other.rope_theta *= 2;
  EXPECT_NE(seed1, synthetic_weights_digest(other, "tiny", 1).sha256);
  EXPECT_NE(synthetic_weights_digest(tiny, "tiny", 1).description.find("weight seed 1"), std::string::npos);
}

}  // namespace
}  // namespace sb

// The tiny retrieval model's tokenizer (trained with the Hugging Face tokenizers
// library by tests/reference/tiny_retrieval/train.py): starbench's C++ tokenizer
// must load its tokenizer.json unchanged and give the library's ids on the
// reference strings recorded next to it (task text and a varied corpus), and
// decode them back to the text. Skipped only while the model directory is not
// committed (it is made on the GPU machine: tests/reference/README.md).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

const fs::path kModelDir = fs::path(STARBENCH_SOURCE_DIR) / "tests/reference/data/tiny-retrieval";

TEST(TinyRetrievalTokenizer, SameIdsAsTheTokenizersLibrary) {
  if (!fs::is_directory(kModelDir)) {
    GTEST_SKIP() << kModelDir.string() << " is not committed yet (made by jobs/device/train_tiny_retrieval.sh)";
  }
  const Tokenizer tokenizer = Tokenizer::load((kModelDir / "tokenizer.json").string());
  std::ifstream in(kModelDir / "tokenizer_reference.json");
  ASSERT_TRUE(in) << "tokenizer_reference.json missing next to tokenizer.json";
  const auto reference = nlohmann::json::parse(in);
  const auto& cases = reference.at("cases");
  ASSERT_GE(cases.size(), 300u);
  size_t mismatches = 0, task_text = 0;
  for (const auto& item : cases) {
    const std::string text = item.at("text").get<std::string>();
    const auto expected = item.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = tokenizer.encode(text);  // special-token text parsed, no BOS: as the library
    if (ids != expected && ++mismatches <= 5) ADD_FAILURE() << "ids differ for: " << text.substr(0, 200);
    EXPECT_EQ(tokenizer.decode(ids), text) << "round trip of: " << text.substr(0, 200);
    task_text += text.find("special magic") != std::string::npos || text.find("VAR ") != std::string::npos;
  }
  EXPECT_EQ(mismatches, 0u) << "of " << cases.size() << " strings";
  EXPECT_GE(task_text, 50u) << "the reference should hold task text";
  // The special tokens the prompts and answers use.
  EXPECT_TRUE(tokenizer.token_id("<|begin_of_text|>").has_value());
  EXPECT_TRUE(tokenizer.token_id("<|end_of_text|>").has_value());
  EXPECT_TRUE(tokenizer.token_id("<|eot_id|>").has_value());
}

}  // namespace
}  // namespace sb

// DuoAttention patterns: the released format, thresholds and sparsities as
// DuoAttention's code applies them, and refusals that name the file and shapes.
#include <gtest/gtest.h>

#include <fstream>

#include "attention/duo_pattern.h"
#include "model/config.h"
#include "tests/unit/model/model_test_util.h"
#include "util/error.h"

namespace sb {
namespace {

std::string configs_dir() { return std::string(STARBENCH_SOURCE_DIR) + "/configs/duo"; }

std::string error_of(const DuoOptions& options, const ModelConfig& config) {
  try {
    load_duo_pattern(options, config);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(DuoPattern, ThresholdForASparsityIsNumpysLinearQuantile) {
  const std::vector<double> alphas = {0.1, 0.4, 0.2, 0.9, 0.5};  // sorted: 0.1 0.2 0.4 0.5 0.9
  EXPECT_DOUBLE_EQ(duo_threshold_for_sparsity(alphas, 0.5), 0.4);
  EXPECT_DOUBLE_EQ(duo_threshold_for_sparsity(alphas, 0.3), 0.2 + 0.2 * (0.4 - 0.2));  // position 1.2
  EXPECT_DOUBLE_EQ(duo_threshold_for_sparsity(alphas, 0.99), 0.5 + 0.96 * (0.9 - 0.5));
  EXPECT_EQ(duo_threshold_for_sparsity(alphas, 1.0), 2.0);  // every head streams
  EXPECT_EQ(duo_threshold_for_sparsity(alphas, 0.0), -1.0);  // none does
}

// The released patterns (configs/duo, from mit-han-lab/duo-attention). The
// expected counts and thresholds are numpy's on the same files:
//   a = np.clip(np.loadtxt(tsv, delimiter="\t"), 0, 1); (a < 0.5).sum(); np.quantile(a, 0.5)
TEST(DuoPattern, ReleasedPatternsLoadWithTheirSinkAndRecent) {
  const ModelConfig config = preset_config("llama3-8b-gradient-1048k");
  struct Expect {
    const char* dir;
    int64_t streaming_at_half, streaming_at_sparsity_half;
    double quantile_half;
  };
  for (const Expect& e : {Expect{"Llama-3-8B-Instruct-Gradient-1048k", 48, 126, 0.9609375},
                          Expect{"Meta-Llama-3.1-8B-Instruct", 22, 128, 0.951171875}}) {
    SCOPED_TRACE(e.dir);
    DuoOptions options;
    options.pattern = configs_dir() + "/" + e.dir;
    DuoPattern pattern = load_duo_pattern(options, config);
    EXPECT_EQ(pattern.num_layers, 32);
    EXPECT_EQ(pattern.num_kv_heads, 8);
    EXPECT_EQ(pattern.sink, 128);
    EXPECT_EQ(pattern.recent, 256);
    EXPECT_EQ(pattern.threshold, 0.5);
    EXPECT_EQ(pattern.streaming_count(), e.streaming_at_half);
    for (double alpha : pattern.alphas) EXPECT_TRUE(alpha >= 0 && alpha <= 1);  // clipped, as DuoAttention loads
    options.sparsity = 0.5;
    pattern = load_duo_pattern(options, config);
    EXPECT_DOUBLE_EQ(pattern.threshold, e.quantile_half);
    EXPECT_EQ(pattern.streaming_count(), e.streaming_at_sparsity_half);
    EXPECT_EQ(pattern.requested_sparsity, 0.5);
    // Flags override the directory's window.
    options.sink = 16;
    options.recent = 64;
    pattern = load_duo_pattern(options, config);
    EXPECT_EQ(pattern.sink, 16);
    EXPECT_EQ(pattern.recent, 64);
  }
}

TEST(DuoPattern, BareTsvRandomPatternsAndTheirRules) {
  const ModelConfig config = preset_config("tiny");  // 2 layers x 2 KV heads
  test::TempDir dir;
  {
    std::ofstream tsv(dir.file("p.tsv"));
    tsv << "0.9\t-0.3\n0.25\t1.7\n";
  }
  DuoOptions options;
  options.pattern = dir.file("p.tsv");
  EXPECT_NE(error_of(options, config).find("bare .tsv: pass --duo-sink and --duo-recent"), std::string::npos)
      << error_of(options, config);
  options.sink = 2;
  options.recent = 3;
  DuoPattern pattern = load_duo_pattern(options, config);
  EXPECT_EQ(pattern.alphas, (std::vector<double>{0.9, 0.0, 0.25, 1.0}));
  EXPECT_TRUE(pattern.is_retrieval(0, 0));
  EXPECT_FALSE(pattern.is_retrieval(0, 1));
  EXPECT_FALSE(pattern.is_retrieval(1, 0));
  EXPECT_TRUE(pattern.is_retrieval(1, 1));
  EXPECT_EQ(pattern.retrieval_heads(0).heads(), std::vector<int64_t>{0});
  EXPECT_EQ(pattern.streaming_heads(1).heads(), std::vector<int64_t>{0});
  options.threshold = 0.2;
  EXPECT_EQ(load_duo_pattern(options, config).streaming_count(), 1);
  options.sparsity = 0.5;
  EXPECT_NE(error_of(options, config).find("both given"), std::string::npos);
  options.threshold = NAN;
  for (double sparsity : {0.0, -1.0}) {
    options.sparsity = sparsity;
    EXPECT_EQ(load_duo_pattern(options, config).streaming_count(), 0) << sparsity;
  }
  for (double sparsity : {1.0, 1.5}) {
    options.sparsity = sparsity;
    EXPECT_EQ(load_duo_pattern(options, config).streaming_count(), 4) << sparsity;
  }

  // random:SEED: seeded, reproducible, at the asked sparsity.
  DuoOptions random;
  random.pattern = "random:7";
  random.sink = 4;
  random.recent = 8;
  random.sparsity = 0.5;
  const ModelConfig big = preset_config("llama3-8b-gradient-1048k");
  DuoPattern a = load_duo_pattern(random, big), b = load_duo_pattern(random, big);
  EXPECT_EQ(a.retrieval, b.retrieval);
  EXPECT_EQ(a.streaming_count(), 128);
  // Every layer split alike (4 of 8 KV heads stream), though not the same heads in every layer.
  bool heads_differ = false;
  for (int64_t layer = 0; layer < big.num_layers; ++layer) {
    int streaming = 0;
    for (int64_t head = 0; head < big.num_kv_heads; ++head) {
      const bool retrieval = a.retrieval[size_t(layer * big.num_kv_heads + head)];
      streaming += retrieval ? 0 : 1;
      heads_differ |= retrieval != a.retrieval[size_t(head)];
    }
    EXPECT_EQ(streaming, 4) << "layer " << layer;
  }
  EXPECT_TRUE(heads_differ);
  random.pattern = "random:8";
  EXPECT_NE(load_duo_pattern(random, big).retrieval, a.retrieval);
  random.pattern = "random:x";
  EXPECT_NE(error_of(random, big).find("unsigned integer seed"), std::string::npos);
  random.pattern = "random:7";
  random.sink = -1;
  EXPECT_NE(error_of(random, big).find("--duo-sink and --duo-recent"), std::string::npos);
}

TEST(DuoPattern, RefusalsNameTheFileAndTheShapes) {
  const ModelConfig tiny = preset_config("tiny");
  DuoOptions options;
  options.pattern = configs_dir() + "/Meta-Llama-3.1-8B-Instruct";
  const std::string shape = error_of(options, tiny);
  EXPECT_NE(shape.find("full_attention_heads.tsv is 32 layers x 8 KV heads but model tiny has 2 layers x 2 KV heads"),
            std::string::npos)
      << shape;

  test::TempDir dir;
  {
    std::ofstream(dir.file("full_attention_heads.tsv")) << "1\t0\n0\t1\n";
    std::ofstream(dir.file("config.json")) << R"({"sink_size": 4})";
  }
  options.pattern = dir.path();
  const std::string missing = error_of(options, tiny);
  EXPECT_NE(missing.find("no recent size"), std::string::npos) << missing;
  EXPECT_NE(missing.find("config.json"), std::string::npos) << missing;
  options.recent = 8;
  EXPECT_EQ(error_of(options, tiny), "");

  {
    std::ofstream(dir.file("full_attention_heads.tsv")) << "1\t0\n0\n";
  }
  EXPECT_NE(error_of(options, tiny).find("line 2 has 1 columns"), std::string::npos) << error_of(options, tiny);
  {
    std::ofstream(dir.file("full_attention_heads.tsv")) << "1\tzero\n0\t1\n";
  }
  EXPECT_NE(error_of(options, tiny).find("'zero' is not a number"), std::string::npos);
  options.pattern = dir.file("nothing-here");
  EXPECT_NE(error_of(options, tiny).find("no such file or directory"), std::string::npos);
  options.pattern = dir.path() + "/..";
  EXPECT_NE(error_of(options, tiny).find("has no full_attention_heads.tsv"), std::string::npos);
}

}  // namespace
}  // namespace sb

// APB (attention/apb_method.h) under mpiexec with 1-4 ranks (one host a rank):
// with no anchor, the query out of it and every block passed whole it is global
// attention; with no passing block it is star with the same anchor; a mixed
// setting matches the independent float64 reference (tests/reference/
// apb_reference.py, the committed apb_C80_* cases) when the ranks are its hosts.
#include <gtest/gtest.h>

#include <filesystem>

#include "attention/apb_compressor.h"
#include "attention/apb_method.h"
#include "attention/method_factory.h"
#include "experiment/forward_pass.h"
#include "tests/mpi/collective_error.h"
#include "tests/reference/reference_data.h"
#include "tests/support/tiny_model.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

using testing::random_tokens;
using testing::relative_error;

testing::TinyModel& tiny() {
  static testing::TinyModel instance(7, /*with_world=*/true);
  return instance;
}

std::shared_ptr<const ApbCompressor> random_compressor(const ModelConfig& config, Backend& backend, uint64_t seed) {
  return std::make_shared<const ApbCompressor>(parse_apb_compressor_source("random:" + std::to_string(seed)), config,
                                               backend);
}

MethodSettings apb(const std::string& anchor, const std::string& passing, ApbQueryInAnchor query,
                   std::shared_ptr<const ApbCompressor> compressor) {
  MethodSettings settings{Method::Apb};
  settings.apb.anchor = parse_apb_size(anchor, "--apb-anchor");
  settings.apb.passing = parse_apb_size(passing, "--apb-passing");
  settings.apb.query_in_anchor = query;
  settings.apb.compressor = std::move(compressor);
  return settings;
}

ForwardOutputs run(const MethodSettings& settings, Comm& comm, const std::vector<int32_t>& context,
                   const std::vector<int32_t>& query, int64_t generate) {
  testing::TinyModel& s = tiny();
  auto method = make_method(settings, *s.model, comm, int64_t(context.size()), int64_t(query.size()) + generate);
  return run_forward_pass(*method, *s.model, context, query, generate);
}

TEST(ApbMethod, EveryBlockPassedWithoutAnchorEqualsGlobal) {
  testing::TinyModel& s = tiny();
  const int world = Control::size();
  auto compressor = random_compressor(s.config, *s.backend, 11);
  for (int64_t context_len : {int64_t(24 * world + 5), int64_t(64)}) {
    auto context = random_tokens(3 + context_len, context_len, s.config.vocab_size);
    auto query = random_tokens(4 + context_len, 5, s.config.vocab_size);
    ForwardOutputs global = run({Method::Global}, *s.local, context, query, 3);
    // l_p = l_b = ceil(C / H): C/H as a rule.
    const std::string every_row = "C/" + std::to_string(world);
    ForwardOutputs all_passed = run(apb("0", every_row, ApbQueryInAnchor::Off, compressor), *s.world, context, query, 3);
    EXPECT_LT(relative_error(global.logits, all_passed.logits), 2e-5) << "context " << context_len;
    EXPECT_LT(relative_error(global.hidden, all_passed.hidden), 2e-5) << "context " << context_len;
    EXPECT_EQ(global.generated, all_passed.generated) << "context " << context_len;
    if (world > 1) {
      // Guard: without the passing blocks it is no longer global.
      ForwardOutputs none_passed = run(apb("0", "0", ApbQueryInAnchor::Off, nullptr), *s.world, context, query, 0);
      EXPECT_GT(relative_error(global.logits, none_passed.logits), 1e-4) << "context " << context_len;
      ForwardOutputs some_passed = run(apb("0", "2", ApbQueryInAnchor::Off, compressor), *s.world, context, query, 0);
      EXPECT_GT(relative_error(none_passed.logits, some_passed.logits), 1e-5) << "context " << context_len;
    }
  }
}

TEST(ApbMethod, NoPassingBlockEqualsStarWithTheSameAnchor) {
  testing::TinyModel& s = tiny();
  const int world = Control::size();
  const int64_t context_len = 20 * world + 3;
  auto context = random_tokens(21, context_len, s.config.vocab_size);
  auto query = random_tokens(22, 6, s.config.vocab_size);
  for (int64_t anchor : {int64_t(0), int64_t(5), int64_t(12)}) {
    MethodSettings star{Method::Star, BlockRule{}, anchor};
    ForwardOutputs star_run = run(star, *s.world, context, query, 3);
    ForwardOutputs apb_run =
        run(apb(std::to_string(anchor), "0", ApbQueryInAnchor::Off, nullptr), *s.world, context, query, 3);
    EXPECT_LT(relative_error(star_run.logits, apb_run.logits), 2e-5) << "anchor " << anchor;
    EXPECT_EQ(star_run.generated, apb_run.generated) << "anchor " << anchor;
    if (world > 1) {
      // Guard: the query in the anchor changes what the later hosts encode.
      ForwardOutputs with_query =
          run(apb(std::to_string(anchor), "0", ApbQueryInAnchor::On, nullptr), *s.world, context, query, 0);
      EXPECT_GT(relative_error(star_run.logits, with_query.logits), 1e-5) << "anchor " << anchor;
    }
  }
}

TEST(ApbMethod, BadSettingsEndEveryRankWithOneMessage) {
  testing::TinyModel& s = tiny();
  const int world = Control::size();
  auto refused = [&](const MethodSettings& settings, int64_t context_len, const std::string& fragment) {
    testing::expect_collective_error([&] { make_method(settings, *s.model, *s.world, context_len, 4); }, fragment);
  };
  const int64_t context_len = 10 * world;  // blocks of 10
  refused(apb("11", "0", ApbQueryInAnchor::On, nullptr), context_len, "more than a host's block");
  refused(apb("0", "11", ApbQueryInAnchor::On, random_compressor(s.config, *s.backend, 1)), context_len,
          "a host passes at most its whole block");
  refused(apb("0", "3", ApbQueryInAnchor::On, nullptr), context_len, "needs a compressor");
  EXPECT_THROW(parse_apb_size("-3", "--apb-anchor"), Error);
  EXPECT_THROW(parse_apb_size("C/0", "--apb-passing"), Error);
  EXPECT_THROW(parse_apb_compressor_source("random:x"), Error);
  EXPECT_THROW(parse_setting<ApbQueryInAnchor>("maybe"), Error);
}

// The selection: the max-pool runs over the anchor rows too (before they are
// masked), so a high anchor score next to the block lifts the block's first rows.
TEST(ApbMethod, PoolRunsBeforeTheAnchorIsMasked) {
  Backend& backend = *tiny().backend;
  // 4 anchor rows then 8 block rows, one KV head; the anchor's last row is the
  // highest score, the block's own maximum sits at block row 6 (row 10).
  std::vector<float> values = {0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 5, 0};
  Tensor scores = backend.from_host(backend.act_dtype(), {12, 1}, values.data());
  Tensor pooled = backend.empty(backend.act_dtype(), {12, 1});
  Tensor indices = backend.empty(DType::I32, {1, 2});
  apb_select_rows(backend, scores, 4, 2, pooled, indices);
  backend.synchronize();
  const int32_t* chosen = indices.ptr<int32_t>();  // the cpu backend's memory is the host's
  // Pooled block scores: rows 4, 5 see the anchor's 9; rows 8..11 see the 5.
  // Top 2 with ties to the lower row: rows 4 and 5. Masking first would give 8, 9.
  EXPECT_EQ(chosen[0], 4);
  EXPECT_EQ(chosen[1], 5);
}

TEST(ApbMethod, MatchesIndependentFloat64Reference) {
  static testing::ReferenceModel loaded;
  const int world = Control::size();
  auto compressor = std::make_shared<const ApbCompressor>(
      parse_apb_compressor_source(testing::reference_dir() + "/apb_compressor_tiny"), loaded.model->config(),
      *loaded.backend);
  int cases_run = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::reference_dir())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("apb_C", 0) != 0 || entry.path().extension() != ".safetensors") continue;
    auto tensors = SafetensorsFile::open(entry.path().string());
    auto number = [&](const char* key) { return std::stoll(tensors->metadata().at(key)); };
    if (number("hosts") != world) continue;
    testing::ReferenceCase reference = testing::load_reference(file);
    MethodSettings settings = apb(std::to_string(number("anchor_len")), std::to_string(number("passing_len")),
                                  number("query_in_anchor") ? ApbQueryInAnchor::On : ApbQueryInAnchor::Off,
                                  compressor);
    const int64_t context_len = reference.context_len;
    std::vector<int32_t> context(reference.tokens.begin(), reference.tokens.begin() + context_len);
    std::vector<int32_t> query(reference.tokens.begin() + context_len, reference.tokens.end());
    auto method = make_method(settings, *loaded.model, loaded.world(), context_len,
                              int64_t(query.size() + reference.generated.size()));
    ForwardOutputs outputs =
        run_forward_pass(*method, *loaded.model, context, query, int64_t(reference.generated.size()));
    EXPECT_LT(testing::max_abs_difference(outputs.logits, reference.logits), 2e-3) << file;
    EXPECT_EQ(outputs.generated, reference.generated) << file;
    ++cases_run;
  }
  // The committed cases: one of 2 hosts, one of 3, four of 4.
  EXPECT_EQ(cases_run, world == 2 ? 1 : world == 3 ? 1 : world == 4 ? 4 : 0);
}

}  // namespace
}  // namespace sb

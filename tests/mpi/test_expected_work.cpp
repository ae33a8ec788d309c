// The phase-1 work each rank is expected to issue (experiment/progress.h, the
// weights of the sweep's ETA) is what the cpu backend counts on that rank,
// for ring layouts and star's anchor modes on 1-4 ranks.
#include <gtest/gtest.h>

#include "attention/apb_compressor.h"
#include "attention/method_factory.h"
#include "experiment/progress.h"
#include "tests/support/tiny_model.h"
#include "util/control.h"

namespace sb {
namespace {

testing::TinyModel& tiny() {
  static testing::TinyModel instance(5, /*with_world=*/true);
  return instance;
}

MethodSettings star(const std::string& block, int64_t anchor, AnchorMode mode) {
  MethodSettings settings{Method::Star, parse_block_rule(block), anchor};
  settings.anchor_mode = mode;
  return settings;
}

// APB with a seeded compressor (hidden 1024) and the query in or out of the anchor.
MethodSettings apb(const std::string& anchor, const std::string& passing, ApbQueryInAnchor query,
                   testing::TinyModel& s) {
  MethodSettings settings{Method::Apb};
  settings.apb.anchor = parse_apb_size(anchor, "--apb-anchor");
  settings.apb.passing = parse_apb_size(passing, "--apb-passing");
  settings.apb.query_in_anchor = query;
  static const auto compressor =
      std::make_shared<const ApbCompressor>(parse_apb_compressor_source("random:3"), s.config, *s.backend);
  settings.apb.compressor = compressor;
  return settings;
}

TEST(ExpectedWork, PhaseOneOfEveryRankIsWhatItsBackendCounts) {
  testing::TinyModel& s = tiny();
  const int world = Control::size(), rank = Control::rank();
  MethodSettings contiguous{Method::Ring};
  contiguous.ring_layout = RingLayoutKind::Contiguous;
  MethodSettings star_duo = star("0", 8, AnchorMode::Once);
  star_duo.duo = testing::duo_test_pattern({{1, 0}, {0, 1}}, 4, 8);
  const std::vector<MethodSettings> methods = {
      {Method::Ring},  contiguous, star("0", -1, AnchorMode::Sent), star("16", 8, AnchorMode::Sent),
      star("16", 8, AnchorMode::Once), star("16", 8, AnchorMode::Recompute), star("16", 0, AnchorMode::Once),
      star_duo, apb("4", "3", ApbQueryInAnchor::On, s), apb("C/8", "0", ApbQueryInAnchor::Off, s)};
  for (int64_t context_len : {int64_t(24 * world + 5), int64_t(97)}) {
    auto context = testing::random_tokens(31 + context_len, context_len, s.config.vocab_size);
    for (const MethodSettings& settings : methods) {
      RunSpec spec;
      spec.method = settings;
      spec.plan = plan_method(settings, context_len, world);
      spec.context_len = context_len;
      spec.query_len = 5;
      auto method = make_method(settings, spec.plan, *s.model, *s.world, 8);
      method->set_query(testing::random_tokens(7, spec.query_len, s.config.vocab_size));
      s.backend->reset_work();
      method->encode_context(context);
      const WorkCount counted = s.backend->work();
      const WorkCount expected = expected_context_work(s.config, spec, rank);
      const std::string what = method_label(settings) + " at " + std::to_string(context_len) + " on rank " +
                               std::to_string(rank) + " of " + std::to_string(world);
      EXPECT_NEAR(expected.matmul_flops, counted.matmul_flops, 1e-9 * counted.matmul_flops) << what;
      EXPECT_NEAR(expected.attention_flops, counted.attention_flops, 1e-9 * counted.attention_flops) << what;
      Control::barrier();
    }
  }
}

}  // namespace
}  // namespace sb

// Method settings as types: one name table per setting, parsed once, planned
// once per run, one label per run.
#include <gtest/gtest.h>

#include <string>

#include "attention/method_settings.h"
#include "util/error.h"

namespace sb {
namespace {

template <typename Setting>
void expect_names_round_trip() {
  for (const std::string& name : setting_names<Setting>()) {
    EXPECT_EQ(setting_name(parse_setting<Setting>(name)), name);
  }
}

std::string refusal(const std::function<void()>& attempt) {
  try {
    attempt();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(MethodSettings, EveryNameParsesBackToItself) {
  expect_names_round_trip<Method>();
  expect_names_round_trip<AnchorSource>();
  expect_names_round_trip<AnchorPositions>();
  expect_names_round_trip<AnchorMode>();
  expect_names_round_trip<RingLayoutKind>();
  expect_names_round_trip<ApbQueryInAnchor>();
  EXPECT_EQ(setting_names<Method>(), (std::vector<std::string>{"global", "ring", "star", "duo", "apb"}));
}

TEST(MethodSettings, AnUnknownNameIsRefusedWithTheValidOnes) {
  EXPECT_EQ(refusal([] { parse_setting<Method>("stra"); }),
            "unknown attention method 'stra' (valid: global, ring, star, duo, apb)");
  EXPECT_EQ(refusal([] { parse_setting<AnchorSource>("foo"); }),
            "star: --anchor-source 'foo' is not one of first, previous");
  EXPECT_EQ(refusal([] { parse_setting<AnchorPositions>("far"); }),
            "star: --anchor-positions 'far' is not one of original, adjacent");
  EXPECT_EQ(refusal([] { parse_setting<AnchorMode>("twice"); }),
            "star: --anchor-mode 'twice' is not one of auto, recompute, once, sent");
  EXPECT_EQ(refusal([] { parse_setting<RingLayoutKind>("spiral"); }),
            "ring: --ring-layout 'spiral' is not one of zigzag, contiguous");
  EXPECT_EQ(refusal([] { parse_setting<Method>("Global"); }).empty(), false);  // names are exact
}

TEST(MethodSettings, AutoResolvesPerAblationAndPattern) {
  using enum AnchorMode;
  EXPECT_EQ(resolve_anchor_mode(Auto, AnchorSource::First, AnchorPositions::Original, false), Sent);
  EXPECT_EQ(resolve_anchor_mode(Auto, AnchorSource::First, AnchorPositions::Original, true), Once);
  EXPECT_EQ(resolve_anchor_mode(Auto, AnchorSource::Previous, AnchorPositions::Original, false), Recompute);
  EXPECT_EQ(resolve_anchor_mode(Auto, AnchorSource::First, AnchorPositions::Adjacent, true), Recompute);
  EXPECT_EQ(resolve_anchor_mode(Once, AnchorSource::First, AnchorPositions::Original, false), Once);
  EXPECT_NE(refusal([] { resolve_anchor_mode(Once, AnchorSource::Previous, AnchorPositions::Original, false); })
                .find("use recompute"),
            std::string::npos);
  EXPECT_NE(refusal([] { resolve_anchor_mode(Sent, AnchorSource::First, AnchorPositions::Original, true); })
                .find("--anchor-mode sent is not supported"),
            std::string::npos);
}

TEST(MethodSettings, APlanResolvesTheLayoutsOnce) {
  MethodSettings star{Method::Star, parse_block_rule("C/4"), -1};
  const MethodPlan plan = plan_method(star, 1000, 2);
  EXPECT_EQ(plan.ranks, 2);
  EXPECT_EQ(plan.star.block_size, 250);
  EXPECT_EQ(plan.star.anchor_size, 250);
  EXPECT_EQ(plan.anchor_mode, AnchorMode::Sent);
  const MethodPlan global = plan_method(MethodSettings{}, 1000, 8);
  EXPECT_EQ(global.ranks, 1);  // global runs on rank 0 alone
  MethodSettings ring{Method::Ring};
  ring.ring_layout = RingLayoutKind::Contiguous;
  const MethodPlan ring_plan = plan_method(ring, 1000, 4);
  EXPECT_EQ(ring_plan.ring.kind, RingLayoutKind::Contiguous);
  EXPECT_EQ(ring_plan.ring.max_tokens_per_rank(), 250);
  EXPECT_NE(refusal([] { plan_method({Method::Star, {1000}, -1}, 1000, 2); }).find("ranks but only 1 blocks"),
            std::string::npos);
  EXPECT_NE(refusal([] { plan_method({Method::Star, {-3}, -1}, 1000, 2); }).find("negative"), std::string::npos);
  EXPECT_NE(refusal([] { plan_method({Method::Ring}, 3, 2); }).find("non-empty chunks"), std::string::npos);
}

TEST(MethodSettings, OneLabelNamesWhatDiffers) {
  EXPECT_EQ(method_label(MethodSettings{}), "global");
  EXPECT_EQ(method_label({Method::Duo}), "duo");
  MethodSettings ring{Method::Ring};
  EXPECT_EQ(method_label(ring), "ring");
  ring.ring_layout = RingLayoutKind::Contiguous;
  EXPECT_EQ(method_label(ring), "ring(contiguous)");
  MethodSettings star{Method::Star, parse_block_rule("C/4"), -1};
  EXPECT_EQ(method_label(star), "star(b=C/4,a=-1)");
  star.anchor_mode = AnchorMode::Sent;  // auto's choice: not named
  EXPECT_EQ(method_label(star), "star(b=C/4,a=-1)");
  star.anchor_mode = AnchorMode::Recompute;
  EXPECT_EQ(method_label(star), "star(b=C/4,a=-1,recompute)");
  MethodSettings ablation{Method::Star, parse_block_rule("512"), 64, AnchorSource::Previous, AnchorPositions::Adjacent,
                          AnchorMode::Recompute};  // auto's choice for the ablation
  EXPECT_EQ(method_label(ablation), "star(b=512,a=64,previous,adjacent)");
  MethodSettings duo_star{Method::Star, parse_block_rule("0"), -1};
  duo_star.duo = std::make_shared<const DuoPattern>();
  duo_star.anchor_mode = AnchorMode::Once;  // auto's choice with a pattern
  EXPECT_EQ(method_label(duo_star), "star+duo(b=C/ranks,a=-1)");
}

TEST(MethodSettings, ApbSizesAndPlan) {
  EXPECT_EQ(parse_apb_size("C/32", "--apb-anchor"), (ApbSize{0, 32}));
  EXPECT_EQ(parse_apb_size("0", "--apb-passing"), (ApbSize{0, 0}));  // none, not context / ranks
  EXPECT_EQ(parse_apb_size("C/32", "--apb-anchor").resolve(100), 4);  // rounded up
  EXPECT_EQ(refusal([] { parse_apb_size("-1", "--apb-passing"); }),
            "apb: --apb-passing '-1' is not a number of tokens (>= 0) or C/k (the context / k)");
  const ApbCompressorSource random = parse_apb_compressor_source("random:7");
  EXPECT_TRUE(random.given && random.dir.empty() && random.seed == 7);
  EXPECT_EQ(random.label(), "random:7");
  EXPECT_EQ(parse_apb_compressor_source("some/dir").dir, "some/dir");

  MethodSettings apb{Method::Apb};
  apb.apb.anchor = {8, 0};
  apb.apb.passing = {0, 16};
  const MethodPlan plan = plan_method(apb, 100, 3);
  EXPECT_EQ(plan.ranks, 3);
  EXPECT_EQ(plan.apb.blocks.block_size, 34);  // ceil(100 / 3): blocks 34, 34, 32
  EXPECT_EQ(plan.apb.blocks.block(2).size(), 32);
  EXPECT_EQ(plan.apb.passing, 7);  // ceil(100 / 16)
  EXPECT_EQ(plan.apb.anchor_rows(0, 5), 0);
  EXPECT_EQ(plan.apb.anchor_rows(1, 5), 13);  // 8 context tokens + the 5 query tokens
  EXPECT_EQ(method_label(apb), "apb(a=8,p=C/16)");
  apb.apb.query_in_anchor = ApbQueryInAnchor::Off;
  EXPECT_EQ(plan_method(apb, 100, 3).apb.anchor_rows(2, 5), 8);
  EXPECT_EQ(method_label(apb), "apb(a=8,p=C/16,query-out)");
  apb.apb.passing = {35, 0};
  EXPECT_NE(refusal([&] { plan_method(apb, 100, 3); }).find("a host passes at most its whole block"),
            std::string::npos);
  apb.apb.passing = {0, 0};
  apb.apb.anchor = {35, 0};
  EXPECT_NE(refusal([&] { plan_method(apb, 100, 3); }).find("more than a host's block of 34 tokens"),
            std::string::npos);
}

}  // namespace
}  // namespace sb

#include "attention/method_settings.h"

namespace sb {

bool runs_on_one_rank(Method method) { return method == Method::Global || method == Method::Duo; }

void check_anchor_mode(AnchorMode mode, AnchorSource source, AnchorPositions positions, bool duo) {
  const bool anchor_depends_on_block = source != AnchorSource::First || positions != AnchorPositions::Original;
  SB_REQUIRE(!(duo && mode == AnchorMode::Sent),
             "star + duo: --anchor-mode sent is not supported (rank 0 sends the anchor from its context KV, which "
             "star + duo keeps for the retrieval heads only): use once (auto's choice with --duo-pattern) or "
             "recompute");
  SB_REQUIRE(mode == AnchorMode::Auto || mode == AnchorMode::Recompute || !anchor_depends_on_block,
             "star: --anchor-mode {} needs the anchor to be the same for every block (--anchor-source first "
             "--anchor-positions original); with --anchor-source {} --anchor-positions {} use recompute",
             setting_name(mode), setting_name(source), setting_name(positions));
}

AnchorMode resolve_anchor_mode(AnchorMode mode, AnchorSource source, AnchorPositions positions, bool duo) {
  check_anchor_mode(mode, source, positions, duo);
  if (mode != AnchorMode::Auto) return mode;
  const bool anchor_depends_on_block = source != AnchorSource::First || positions != AnchorPositions::Original;
  return anchor_depends_on_block ? AnchorMode::Recompute : duo ? AnchorMode::Once : AnchorMode::Sent;
}

AnchorMode resolve_anchor_mode(const MethodSettings& settings) {
  return resolve_anchor_mode(settings.anchor_mode, settings.anchor_source, settings.anchor_positions,
                             settings.duo != nullptr);
}

MethodPlan plan_method(const MethodSettings& settings, int64_t context_len, int world_size) {
  MethodPlan plan;
  plan.method = settings.method;
  plan.context_len = context_len;
  plan.ranks = runs_on_one_rank(settings.method) ? 1 : world_size;
  if (runs_on_one_rank(settings.method)) {
    SB_REQUIRE(context_len >= 0, "negative context length {}", context_len);
    return plan;
  }
  SB_REQUIRE(context_len > 0, "{}: the context is empty (context length {})", setting_name(settings.method),
             context_len);
  if (settings.method == Method::Ring) {
    plan.ring = make_ring_layout(context_len, world_size, settings.ring_layout);
    return plan;
  }
  if (settings.method == Method::Apb) {
    plan.apb = make_apb_layout(settings.apb, context_len, world_size);
    return plan;
  }
  // Star: the block is non-negative once parsed from a name; a BlockRule made in code is checked here.
  check_star_sizes(settings.block_rule.tokens, settings.anchor_size);
  const BlockRule& rule = settings.block_rule;
  SB_REQUIRE(rule.divisor == 0 || rule.divisor >= world_size,
             "star: --block-size {} cuts the context into {} blocks, fewer than the {} ranks (each rank needs a "
             "block; C/4 is the default): use --block-size C/{} or more, or 0 (context / ranks)",
             rule.label(), rule.divisor, world_size, world_size);
  plan.star = make_star_layout(context_len, settings.block_rule.resolve(context_len, world_size),
                               settings.anchor_size, world_size);
  plan.anchor_mode = resolve_anchor_mode(settings);
  return plan;
}

std::string method_label(const MethodSettings& settings) {
  switch (settings.method) {
    case Method::Ring:
      if (settings.ring_layout == RingLayoutKind::Zigzag) return setting_name(Method::Ring);
      return setting_name(Method::Ring) + "(" + setting_name(settings.ring_layout) + ")";
    case Method::Star: {
      const BlockRule& rule = settings.block_rule;
      std::string label = fmt::format("star{}(b={},a={}", settings.duo ? "+duo" : "",
                                      rule.label() == "fixed" ? std::to_string(rule.tokens) : rule.label(),
                                      settings.anchor_size);
      if (settings.anchor_source != AnchorSource::First) label += "," + setting_name(settings.anchor_source);
      if (settings.anchor_positions != AnchorPositions::Original) {
        label += "," + setting_name(settings.anchor_positions);
      }
      const AnchorMode chosen = resolve_anchor_mode(AnchorMode::Auto, settings.anchor_source,
                                                    settings.anchor_positions, settings.duo != nullptr);
      if (settings.anchor_mode != AnchorMode::Auto && settings.anchor_mode != chosen) {
        label += "," + setting_name(settings.anchor_mode);
      }
      return label + ")";
    }
    case Method::Apb: {
      const ApbSettings& apb = settings.apb;
      return fmt::format("apb(a={},p={}{})", apb.anchor.label(), apb.passing.label(),
                         apb.query_in_anchor == ApbQueryInAnchor::On ? "" : ",query-out");
    }
    default:
      return setting_name(settings.method);
  }
}

}  // namespace sb

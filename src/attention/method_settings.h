#pragma once
// What a run asks of its attention method, as types: the method and its
// settings are enums with one name table each, parsed once where they enter
// (command line, config file) and never passed on as strings; a plan resolves
// them for one context length and rank count (star blocks and anchor, the anchor
// mode, the ring layout), once per run, for the method, the memory plan and the
// record. Adding a setting: docs/DESIGN.md, "Adding a method setting".
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "attention/apb_settings.h"
#include "attention/duo_pattern.h"
#include "attention/layout.h"
#include "attention/setting_names.h"
#include "util/error.h"

namespace sb {

enum class Method { Global, Ring, Star, Duo, Apb };
// Star ablations (the paper's section on the anchor block): which tokens form
// the anchor (First: the context's first tokens; Previous: the tokens just
// before the block) and which position ids they get (Original: their own
// positions; Adjacent: the A positions just before the block).
enum class AnchorSource { First, Previous };
enum class AnchorPositions { Original, Adjacent };
// Star: how a rank gets the anchor (star_method.h); Auto is resolved by
// resolve_anchor_mode, never run.
enum class AnchorMode { Auto, Recompute, Once, Sent };
// Ring layouts: RingLayoutKind and its names (layout.h). Name tables: setting_names.h.

template <>
struct SettingNames<Method> {
  static constexpr std::array<std::pair<Method, std::string_view>, 5> table{
      {{Method::Global, "global"}, {Method::Ring, "ring"}, {Method::Star, "star"}, {Method::Duo, "duo"},
       {Method::Apb, "apb"}}};
  static constexpr std::string_view unknown = "unknown attention method '{name}' (valid: {valid})";
};
template <>
struct SettingNames<AnchorSource> {
  static constexpr std::array<std::pair<AnchorSource, std::string_view>, 2> table{
      {{AnchorSource::First, "first"}, {AnchorSource::Previous, "previous"}}};
  static constexpr std::string_view unknown = "star: --anchor-source '{name}' is not one of {valid}";
};
template <>
struct SettingNames<AnchorPositions> {
  static constexpr std::array<std::pair<AnchorPositions, std::string_view>, 2> table{
      {{AnchorPositions::Original, "original"}, {AnchorPositions::Adjacent, "adjacent"}}};
  static constexpr std::string_view unknown = "star: --anchor-positions '{name}' is not one of {valid}";
};
template <>
struct SettingNames<AnchorMode> {
  static constexpr std::array<std::pair<AnchorMode, std::string_view>, 4> table{
      {{AnchorMode::Auto, "auto"}, {AnchorMode::Recompute, "recompute"}, {AnchorMode::Once, "once"},
       {AnchorMode::Sent, "sent"}}};
  static constexpr std::string_view unknown = "star: --anchor-mode '{name}' is not one of {valid}";
};


struct MethodSettings {
  Method method = Method::Global;
  BlockRule block_rule;      // star: tokens, C/k, or (default) context / ranks
  int64_t anchor_size = -1;  // star: -1 -> the block size
  AnchorSource anchor_source = AnchorSource::First;
  AnchorPositions anchor_positions = AnchorPositions::Original;
  AnchorMode anchor_mode = AnchorMode::Auto;  // sweeps resolve it when they make their grid
  RingLayoutKind ring_layout = RingLayoutKind::Zigzag;
  // DuoAttention head pattern: required by duo, turns star into star + duo;
  // global and ring ignore it.
  std::shared_ptr<const DuoPattern> duo = nullptr;
  ApbSettings apb;  // apb: anchor, passing block, query placement, compressor
};

// global and duo run on one rank (rank 0 of a job, with a one-rank communicator).
bool runs_on_one_rank(Method method);

// Auto resolves to the measured default (sent) unless the anchor depends on
// the block (the ablations), which needs recompute; once/sent with an ablation
// is an error. Star + duo (`duo`) keeps only the retrieval heads' context KV,
// from which sent mode would broadcast the anchor: Auto resolves to once there,
// and sent is an error. Returns the resolved mode (a resolved one is checked
// and returned as it is).
AnchorMode resolve_anchor_mode(AnchorMode mode, AnchorSource source, AnchorPositions positions, bool duo);
// The refusals above alone (sb::Error), for a mode already resolved.
void check_anchor_mode(AnchorMode mode, AnchorSource source, AnchorPositions positions, bool duo);
// The settings' own mode, resolved (with their duo pattern, if any).
AnchorMode resolve_anchor_mode(const MethodSettings& settings);

// A run's method resolved for one context length and the ranks of a job.
struct MethodPlan {
  Method method = Method::Global;
  int64_t context_len = 0;
  int ranks = 1;  // that take part: 1 for global and duo
  StarLayout star;  // star: blocks and anchor in tokens
  AnchorMode anchor_mode = AnchorMode::Auto;  // star: recompute, once or sent
  RingLayout ring;  // ring
  ApbLayout apb;    // apb: blocks (l_b), anchor (l_a), passing rows (l_p), the query's place
};

// Checks the settings against the context length and a job of `world_size`
// ranks and resolves them; sb::Error (naming the value and why) otherwise.
MethodPlan plan_method(const MethodSettings& settings, int64_t context_len, int world_size);

// The one name of a run's method in tables, progress lines and the record's
// `label`: what distinguishes runs of a sweep. "global", "duo", "ring",
// "ring(contiguous)", "star(b=C/4,a=-1)", "star+duo(b=64,a=16,previous,adjacent,recompute)": the block rule
// (tokens when fixed), the anchor as given (-1: the block), the ablations, and
// the anchor mode when it is not the one auto chooses for these settings.
std::string method_label(const MethodSettings& settings);

}  // namespace sb

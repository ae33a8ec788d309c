#include "costmodel/hardware_profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace sb {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "starbench-hardware-profile";

// Linear interpolation of log(y) over log(x) on ascending xs. Outside the range
// y is held at the end point and scaled by (x / end)^slope_below or ^slope_above
// (0: a latency floor; 1: time proportional to size; 2: quadratic).
double interpolate_log(const std::vector<double>& xs, const std::vector<double>& ys, double x, double slope_below,
                       double slope_above) {
  if (xs.size() == 1) {
    return ys[0] * std::pow(x / xs[0], x < xs[0] ? slope_below : slope_above);
  }
  if (x <= xs.front()) return ys.front() * std::pow(x / xs.front(), slope_below);
  if (x >= xs.back()) return ys.back() * std::pow(x / xs.back(), slope_above);
  const size_t hi = size_t(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin());
  const size_t lo = hi - 1;
  const double t = (std::log(x) - std::log(xs[lo])) / (std::log(xs[hi]) - std::log(xs[lo]));
  return std::exp(std::log(ys[lo]) + t * (std::log(ys[hi]) - std::log(ys[lo])));
}

// The mask class a call is charged as, and that class's own mask on (q, k).
struct MaskClass {
  std::string name;
  AttentionMask mask;
};

MaskClass classify(const AttentionMask& mask, int64_t q_len, int64_t k_len) {
  if (mask.kind == AttentionMask::Kind::None) return {"none", AttentionMask::none()};
  if (q_len == k_len && mask.causal_offset <= 0) return {"causal", AttentionMask::causal(0)};
  if (mask.causal_offset > 0 || k_len > q_len) {
    return {"bottom_right", AttentionMask::bottom_right(q_len, k_len)};
  }
  return {"none", AttentionMask::none()};
}

}  // namespace

const char* elementwise_name(ElementwiseOp op) {
  switch (op) {
    case ElementwiseOp::Embedding: return "embedding";
    case ElementwiseOp::RmsNorm: return "rmsnorm";
    case ElementwiseOp::Rope: return "rope";
    case ElementwiseOp::Swiglu: return "swiglu";
    case ElementwiseOp::LseMerge: return "lse_merge";
    case ElementwiseOp::Copy: return "copy";
    case ElementwiseOp::Argmax: return "argmax";
    case ElementwiseOp::HostToDevice: return "host_to_device";
    case ElementwiseOp::DeviceToHost: return "device_to_host";
  }
  return "?";
}

std::vector<ElementwiseOp> elementwise_ops() {
  return {ElementwiseOp::Embedding, ElementwiseOp::RmsNorm,      ElementwiseOp::Rope,
          ElementwiseOp::Swiglu,    ElementwiseOp::LseMerge,     ElementwiseOp::Copy,
          ElementwiseOp::Argmax,    ElementwiseOp::HostToDevice, ElementwiseOp::DeviceToHost};
}

double HardwareProfile::matmul_seconds(int64_t tokens, int64_t n, int64_t k) const {
  if (tokens <= 0 || n <= 0 || k <= 0) return 0.0;
  SB_REQUIRE(!gemm.empty(), "{}: the profile has no GEMM measurements", path);
  // The measured shape itself, else the one nearest in N x K, scaled by N x K
  // (weight bytes when small, FLOPs when large: both proportional to it).
  const GemmCurve* best = nullptr;
  double best_distance = 1e300;
  for (const GemmCurve& curve : gemm) {
    const double distance = std::abs(std::log(double(curve.n) * double(curve.k)) - std::log(double(n) * double(k)));
    if (distance < best_distance || (distance == best_distance && curve.n == n)) {
      best = &curve;
      best_distance = distance;
    }
  }
  std::vector<double> xs, ys;
  for (const auto& [t, ms] : best->tokens_ms) {
    xs.push_back(t);
    ys.push_back(ms);
  }
  const double ms = interpolate_log(xs, ys, double(tokens), 0.0, 1.0);
  return ms * 1e-3 * (double(n) * double(k)) / (double(best->n) * double(best->k));
}

double HardwareProfile::attention_seconds(const AttentionMask& mask, int64_t q_len, int64_t k_len, int64_t q_heads,
                                          int64_t kv_heads, int64_t head_dim) const {
  if (q_len <= 0 || k_len <= 0) return 0.0;
  const double pairs = mask.visible_pairs(q_len, k_len);
  if (pairs <= 0) return 0.0;
  const MaskClass cls = classify(mask, q_len, k_len);
  const double class_pairs = cls.mask.visible_pairs(q_len, k_len);
  // Points of the class; the head configuration nearest to the asked one.
  std::vector<const AttentionPoint*> points;
  for (const AttentionPoint& point : attention) {
    if (point.mask == cls.name) points.push_back(&point);
  }
  SB_REQUIRE(!points.empty(), "{}: the profile has no attention measurements with mask '{}'", path, cls.name);
  auto heads_distance = [&](const AttentionPoint* p) {
    return std::abs(double(p->head_dim - head_dim)) * 1e6 + std::abs(double(p->q_heads - q_heads)) +
           std::abs(double(p->kv_heads - kv_heads)) * 1e-3;
  };
  const AttentionPoint* nearest = *std::min_element(points.begin(), points.end(), [&](auto* a, auto* b) {
    return heads_distance(a) < heads_distance(b);
  });
  std::vector<const AttentionPoint*> same;
  for (const AttentionPoint* p : points) {
    if (p->q_heads == nearest->q_heads && p->kv_heads == nearest->kv_heads && p->head_dim == nearest->head_dim)
      same.push_back(p);
  }
  // Interpolate the achieved rate (visible pairs per ms), not the time: between grid points both work,
  // but outside the grid a rate held constant follows the work while a time held constant would not
  // (a star block of q = 16K against 32K keys lies below the measured k > 16K of its row). Calls far
  // below the grid cost at least the fastest call measured (launch latency).
  auto rate_of = [&](const AttentionPoint* p) {
    const AttentionMask class_mask = p->mask == "none"     ? AttentionMask::none()
                                     : p->mask == "causal" ? AttentionMask::causal(0)
                                                           : AttentionMask::bottom_right(p->q_len, p->k_len);
    return class_mask.visible_pairs(p->q_len, p->k_len) / p->ms;
  };
  double floor_ms = 1e300;
  for (const AttentionPoint* p : same) floor_ms = std::min(floor_ms, p->ms);
  double rate = 0;
  if (cls.name == "causal") {
    std::map<double, double> curve;
    for (const AttentionPoint* p : same) curve[double(p->q_len)] = rate_of(p);
    std::vector<double> xs, ys;
    for (const auto& [x, y] : curve) {
      xs.push_back(x);
      ys.push_back(y);
    }
    rate = interpolate_log(xs, ys, double(q_len), 0.0, 0.0);
  } else {
    // Rows of the (q, k) grid; within a row interpolate over k, then across the
    // two rows that bracket q (rows may cover different k: triangular grids).
    std::map<double, std::map<double, double>> rows;
    for (const AttentionPoint* p : same) rows[double(p->q_len)][double(p->k_len)] = rate_of(p);
    auto row_value = [&](const std::map<double, double>& row) {
      std::vector<double> xs, ys;
      for (const auto& [x, y] : row) {
        xs.push_back(x);
        ys.push_back(y);
      }
      return interpolate_log(xs, ys, double(k_len), 0.0, 0.0);
    };
    std::vector<double> qs, values;
    for (const auto& [q, row] : rows) {
      qs.push_back(q);
      values.push_back(row_value(row));
    }
    rate = interpolate_log(qs, values, double(q_len), 0.0, 0.0);
  }
  const double ms = std::max(class_pairs / rate, floor_ms);
  const double head_scale = double(q_heads) / double(nearest->q_heads) * double(head_dim) / double(nearest->head_dim);
  return ms * 1e-3 * head_scale * (class_pairs > 0 ? pairs / class_pairs : 1.0);
}

double HardwareProfile::elementwise_seconds(ElementwiseOp op, double bytes) const {
  auto found = elementwise.find(elementwise_name(op));
  SB_REQUIRE(found != elementwise.end(), "{}: the profile has no cost for element-wise op '{}'", path,
             elementwise_name(op));
  return found->second.seconds(bytes);
}

namespace {

// Field access that names the file and the field when something is wrong.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  const json& at(const json& object, const std::string& key, const std::string& where) const {
    SB_REQUIRE(object.is_object(), "{}: {} must be an object", origin_, where.empty() ? "the file" : where);
    auto found = object.find(key);
    SB_REQUIRE(found != object.end(), "{}: field '{}' is missing", origin_, join(where, key));
    return *found;
  }
  double positive(const json& object, const std::string& key, const std::string& where, bool allow_zero = false) const {
    const json& value = at(object, key, where);
    SB_REQUIRE(value.is_number(), "{}: field '{}' must be a number, got {}", origin_, join(where, key), value.dump());
    const double number = value.get<double>();
    SB_REQUIRE(std::isfinite(number) && (number > 0 || (allow_zero && number == 0)),
               "{}: field '{}' must be {}, got {}", origin_, join(where, key), allow_zero ? ">= 0" : "> 0", number);
    return number;
  }
  int64_t count(const json& object, const std::string& key, const std::string& where) const {
    const json& value = at(object, key, where);
    SB_REQUIRE(value.is_number_integer() && value.get<int64_t>() > 0, "{}: field '{}' must be a positive integer, got {}",
               origin_, join(where, key), value.dump());
    return value.get<int64_t>();
  }
  std::string text(const json& object, const std::string& key, const std::string& where) const {
    const json& value = at(object, key, where);
    SB_REQUIRE(value.is_string(), "{}: field '{}' must be a string, got {}", origin_, join(where, key), value.dump());
    return value.get<std::string>();
  }
  LinearCost linear(const json& object, const std::string& key, const std::string& where) const {
    const json& value = at(object, key, where);
    const std::string inner = join(where, key);
    return {positive(value, "latency_s", inner, true), positive(value, "bytes_per_s", inner)};
  }
  const std::string& origin() const { return origin_; }

 private:
  static std::string join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }
  std::string origin_;
};

}  // namespace

HardwareProfile parse_hardware_profile(const std::string& json_text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& error) {  // parse_error, and out_of_range for a number like 1e400
    fail("{}: not valid JSON: {}", origin, error.what());
  }
  Reader read(origin);
  HardwareProfile profile;
  profile.path = origin;
  SB_REQUIRE(read.text(doc, "format", "") == kFormat, "{}: field 'format' must be \"{}\"", origin, kFormat);
  profile.gpu = read.text(doc, "gpu", "");
  profile.origin = read.text(doc, "origin", "");
  for (auto [key, field] : {std::pair{"date", &profile.date}, {"driver", &profile.driver}, {"commit", &profile.commit},
                            {"backend", &profile.backend}}) {
    if (doc.contains(key)) *field = read.text(doc, key, "");
  }
  profile.memory_bytes = read.positive(doc, "memory_bytes", "");

  const json& gemm = read.at(doc, "gemm", "");
  SB_REQUIRE(gemm.is_array() && !gemm.empty(), "{}: field 'gemm' must be a non-empty list", origin);
  for (size_t i = 0; i < gemm.size(); ++i) {
    const std::string where = fmt::format("gemm[{}]", i);
    GemmCurve curve{read.count(gemm[i], "n", where), read.count(gemm[i], "k", where), {}};
    const json& points = read.at(gemm[i], "tokens_ms", where);
    SB_REQUIRE(points.is_array() && !points.empty(), "{}: field '{}.tokens_ms' must be a non-empty list", origin,
               where);
    double previous = 0;
    for (size_t j = 0; j < points.size(); ++j) {
      const json& point = points[j];
      SB_REQUIRE(point.is_array() && point.size() == 2 && point[0].is_number() && point[1].is_number() &&
                     point[0].get<double>() > previous && point[1].get<double>() > 0,
                 "{}: field '{}.tokens_ms[{}]' must be [tokens, ms] with ascending tokens and ms > 0, got {}", origin,
                 where, j, point.dump());
      previous = point[0].get<double>();
      curve.tokens_ms.emplace_back(point[0].get<double>(), point[1].get<double>());
    }
    profile.gemm.push_back(std::move(curve));
  }

  const json& attention = read.at(doc, "attention", "");
  SB_REQUIRE(attention.is_array() && !attention.empty(), "{}: field 'attention' must be a non-empty list", origin);
  std::set<std::string> masks;
  for (size_t i = 0; i < attention.size(); ++i) {
    const std::string where = fmt::format("attention[{}]", i);
    AttentionPoint point;
    point.mask = read.text(attention[i], "mask", where);
    SB_REQUIRE(point.mask == "none" || point.mask == "causal" || point.mask == "bottom_right",
               "{}: field '{}.mask' must be none, causal or bottom_right, got '{}'", origin, where, point.mask);
    point.q_len = read.count(attention[i], "q_len", where);
    point.k_len = read.count(attention[i], "k_len", where);
    point.q_heads = read.count(attention[i], "q_heads", where);
    point.kv_heads = read.count(attention[i], "kv_heads", where);
    point.head_dim = read.count(attention[i], "head_dim", where);
    point.ms = read.positive(attention[i], "ms", where);
    SB_REQUIRE(point.mask != "causal" || point.q_len == point.k_len,
               "{}: field '{}': a causal (square) point needs q_len == k_len", origin, where);
    masks.insert(point.mask);
    profile.attention.push_back(point);
  }
  for (const char* mask : {"none", "causal", "bottom_right"}) {
    SB_REQUIRE(masks.count(mask), "{}: field 'attention' has no point with mask '{}'", origin, mask);
  }

  const json& elementwise = read.at(doc, "elementwise", "");
  for (ElementwiseOp op : elementwise_ops()) {
    profile.elementwise[elementwise_name(op)] = read.linear(elementwise, elementwise_name(op), "elementwise");
  }

  const json& comm = read.at(doc, "comm", "");
  if (!comm.is_null()) {
    profile.has_comm = true;
    profile.p2p = read.linear(comm, "p2p", "comm");
    profile.broadcast = read.linear(comm, "broadcast", "comm");
    if (comm.contains("all_reduce")) {
      profile.has_all_reduce = true;
      profile.all_reduce = read.linear(comm, "all_reduce", "comm");
    }
    profile.overlap_slowdown = read.positive(comm, "overlap_slowdown", "comm");
    SB_REQUIRE(profile.overlap_slowdown >= 1.0 && profile.overlap_slowdown < 4.0,
               "{}: field 'comm.overlap_slowdown' must be in [1, 4), got {}", origin, profile.overlap_slowdown);
  }
  return profile;
}

HardwareProfile load_hardware_profile(const std::string& path) {
  std::ifstream in(path);
  SB_REQUIRE(in.good(), "cannot read the hardware profile {} (a file written by `starbench calibrate`)", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_hardware_profile(text.str(), path);
}

std::string hardware_profile_json(const HardwareProfile& profile) {
  json doc;
  doc["format"] = kFormat;
  doc["gpu"] = profile.gpu;
  doc["origin"] = profile.origin;
  doc["date"] = profile.date;
  doc["driver"] = profile.driver;
  doc["commit"] = profile.commit;
  doc["backend"] = profile.backend;
  doc["memory_bytes"] = profile.memory_bytes;
  doc["gemm"] = json::array();
  for (const GemmCurve& curve : profile.gemm) {
    json points = json::array();
    for (const auto& [tokens, ms] : curve.tokens_ms) points.push_back({tokens, ms});
    doc["gemm"].push_back({{"n", curve.n}, {"k", curve.k}, {"tokens_ms", points}});
  }
  doc["attention"] = json::array();
  for (const AttentionPoint& p : profile.attention) {
    doc["attention"].push_back({{"mask", p.mask}, {"q_len", p.q_len}, {"k_len", p.k_len}, {"q_heads", p.q_heads},
                                {"kv_heads", p.kv_heads}, {"head_dim", p.head_dim}, {"ms", p.ms}});
  }
  for (const auto& [name, cost] : profile.elementwise) {
    doc["elementwise"][name] = {{"latency_s", cost.latency_s}, {"bytes_per_s", cost.bytes_per_s}};
  }
  if (profile.has_comm) {
    doc["comm"] = {{"p2p", {{"latency_s", profile.p2p.latency_s}, {"bytes_per_s", profile.p2p.bytes_per_s}}},
                   {"broadcast",
                    {{"latency_s", profile.broadcast.latency_s}, {"bytes_per_s", profile.broadcast.bytes_per_s}}},
                   {"overlap_slowdown", profile.overlap_slowdown}};
    if (profile.has_all_reduce) {
      doc["comm"]["all_reduce"] = {{"latency_s", profile.all_reduce.latency_s},
                                   {"bytes_per_s", profile.all_reduce.bytes_per_s}};
    }
  } else {
    doc["comm"] = nullptr;
  }
  return doc.dump(1) + "\n";
}

HardwareProfile derive_profile(const HardwareProfile& measured, const std::string& gpu, double memory_bytes,
                               const DatasheetRatios& ratios, const std::string& origin) {
  HardwareProfile derived = measured;
  derived.gpu = gpu;
  derived.origin = origin;
  derived.memory_bytes = memory_bytes;
  derived.driver.clear();
  // A GEMM or attention point is compute-bound when large, memory-bound when
  // small; scale each by the slower of the two ratios that applies: the compute
  // ratio for points above 1 GFLOP, the memory ratio below.
  auto scale = [&](double flops) { return flops > 1e9 ? ratios.compute : ratios.memory; };
  for (GemmCurve& curve : derived.gemm) {
    for (auto& [tokens, ms] : curve.tokens_ms) ms /= scale(2.0 * tokens * double(curve.n) * double(curve.k));
  }
  for (AttentionPoint& p : derived.attention) {
    const AttentionMask mask = p.mask == "none"     ? AttentionMask::none()
                               : p.mask == "causal" ? AttentionMask::causal(0)
                                                    : AttentionMask::bottom_right(p.q_len, p.k_len);
    p.ms /= scale(4.0 * mask.visible_pairs(p.q_len, p.k_len) * double(p.q_heads) * double(p.head_dim));
  }
  for (auto& [name, cost] : derived.elementwise) cost.bytes_per_s *= ratios.memory;
  derived.p2p.bytes_per_s *= ratios.interconnect;
  derived.broadcast.bytes_per_s *= ratios.interconnect;
  derived.all_reduce.bytes_per_s *= ratios.interconnect;
  return derived;
}

}  // namespace sb

#pragma once
// What one GPU (and NCCL between two GPUs of a node) costs, as `starbench
// calibrate` measured it: the table the simulator's backend charges each
// operation from. Stored as JSON (configs/hardware/<gpu>.json); every number a
// prediction uses comes from a measured point of that file, interpolated.
//
// The cost of an operation is looked up by the operation's own arguments, so a
// method the simulator runs is charged for exactly what it issues:
//   matmul      time over tokens for each weight shape (N, K) measured; a shape
//               not measured scales the nearest measured one by N x K.
//   attention   time over (query rows, key rows) for three mask classes (none,
//               causal square, bottom-right causal), log-log interpolated on the
//               measured grid; other head counts scale with query heads, other
//               masks with their visible pairs.
//   element-wise and copies: latency + bytes / bandwidth, fitted per op.
//   NCCL        point-to-point and broadcast latency + bytes / bandwidth between
//               two GPUs of a node, and the slowdown of compute while a transfer
//               runs; the simulator combines them with the platform's links.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace sb {

struct LinearCost {
  double latency_s = 0;
  double bytes_per_s = 0;
  double seconds(double bytes) const { return latency_s + (bytes_per_s > 0 ? bytes / bytes_per_s : 0.0); }
};

// Element-wise operations a backend runs, by the names the profile uses.
enum class ElementwiseOp { Embedding, RmsNorm, Rope, Swiglu, LseMerge, Copy, Argmax, HostToDevice, DeviceToHost };
const char* elementwise_name(ElementwiseOp op);
std::vector<ElementwiseOp> elementwise_ops();

struct GemmCurve {
  int64_t n = 0, k = 0;                             // weight [N, K]
  std::vector<std::pair<double, double>> tokens_ms;  // ascending tokens
};

struct AttentionPoint {
  std::string mask;  // "none", "causal" (square, offset 0), "bottom_right"
  int64_t q_len = 0, k_len = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  double ms = 0;
};

struct HardwareProfile {
  // Provenance.
  std::string path;    // the file it was read from (messages)
  std::string gpu;     // "NVIDIA H200"
  std::string origin;  // "measured by starbench calibrate" or how it was derived
  std::string date, driver, commit, backend;
  double memory_bytes = 0;  // usable per GPU (the memory plan's capacity)

  std::vector<GemmCurve> gemm;
  std::vector<AttentionPoint> attention;
  std::map<std::string, LinearCost> elementwise;  // by elementwise_name()
  bool has_comm = false;
  LinearCost p2p, broadcast;     // NCCL, two GPUs of one node
  // NCCL all-reduce (sum) of a buffer between two GPUs of one node: the tensor
  // split's; absent from profiles measured before hosts had several GPUs.
  bool has_all_reduce = false;
  LinearCost all_reduce;
  double overlap_slowdown = 1.0;  // compute time x this while a transfer runs

  // Costs (seconds).
  double matmul_seconds(int64_t tokens, int64_t n, int64_t k) const;
  double attention_seconds(const AttentionMask& mask, int64_t q_len, int64_t k_len, int64_t q_heads,
                           int64_t kv_heads, int64_t head_dim) const;
  double elementwise_seconds(ElementwiseOp op, double bytes) const;
};

// Reads and checks a profile; a missing or malformed field is an sb::Error that
// names the file and the field.
HardwareProfile load_hardware_profile(const std::string& path);
HardwareProfile parse_hardware_profile(const std::string& json_text, const std::string& origin);
std::string hardware_profile_json(const HardwareProfile& profile);

// The profile of another GPU from a measured one: compute-bound parts scaled by
// the ratio of dense bf16 peaks, memory-bound parts by the ratio of memory
// bandwidths, NCCL by the ratio of NVLink bandwidths (datasheet figures given by
// the caller and written into origin).
struct DatasheetRatios {
  double compute = 1, memory = 1, interconnect = 1;
};
HardwareProfile derive_profile(const HardwareProfile& measured, const std::string& gpu, double memory_bytes,
                               const DatasheetRatios& ratios, const std::string& origin);

}  // namespace sb

#pragma once
// Where a weight's values come from, before a backend turns it into its own
// format: a view into an mmapped safetensors file (no copy made), or a seeded
// synthetic tensor that every backend materialises to identical values.
#include <cstdint>
#include <string>
#include <vector>

#include "model/synthetic_value.h"
#include "util/dtype.h"

namespace sb {

struct WeightSpec {
  std::string name;              // HF tensor name, e.g. model.layers.0.self_attn.q_proj.weight
  std::vector<int64_t> shape;    // HF layout: linear weights are [out_features, in_features]
  // Mapped source (when mapped_data != nullptr): raw little-endian elements.
  const void* mapped_data = nullptr;
  DType mapped_dtype = DType::F32;
  std::string file;              // for error messages
  // Synthetic source (when mapped_data == nullptr): value(i) = synthetic_value(seed, i) * scale + offset.
  uint64_t seed = 0;
  float scale = 0.f;
  float offset = 0.f;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  bool is_synthetic() const { return mapped_data == nullptr; }
};

// Seed of one named tensor of a model seeded with model_seed (FNV-1a of the name).
uint64_t synthetic_seed(uint64_t model_seed, const std::string& tensor_name);

}  // namespace sb

#pragma once
// Where a weight's values come from, before a backend turns it into its own
// format: a view into an mmapped safetensors file (no copy made), or a seeded
// synthetic tensor that every backend materialises to identical values.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/synthetic_value.h"
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
  // A slice of a larger weight (tensor parallelism, slice_rows / slice_columns):
  // element (r, c) of this 2-D spec is source element first_index + r *
  // source_row_stride + c (mapped: counted from mapped_data, which already
  // points at the slice's first element, so first_index is 0 there; synthetic:
  // the index of synthetic_value). 0 = a whole tensor, rows contiguous.
  uint64_t first_index = 0;
  int64_t source_row_stride = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  bool is_synthetic() const { return mapped_data == nullptr; }
  // Rows of the source are contiguous in this spec (no column slice).
  bool is_contiguous() const { return source_row_stride == 0 || shape.size() < 2 || source_row_stride == shape.back(); }
  int64_t row_stride() const { return source_row_stride != 0 ? source_row_stride : shape.empty() ? 0 : shape.back(); }
};

// Rows [begin, end) of a 2-D weight [out, in]: a column-parallel shard (q/k/v,
// gate/up). No element is copied: a mapped spec points further into its file.
WeightSpec slice_rows(const WeightSpec& spec, int64_t begin, int64_t end);
// Columns [begin, end) of a 2-D weight [out, in]: a row-parallel shard (o,
// down), strided in its source.
WeightSpec slice_columns(const WeightSpec& spec, int64_t begin, int64_t end);
// Source element of logical element i (row-major over spec.shape), relative to
// mapped_data (mapped) or the synthetic index (first_index included).
inline uint64_t source_index(const WeightSpec& spec, int64_t i) {
  if (spec.is_contiguous()) return spec.first_index + uint64_t(i);
  const int64_t columns = spec.shape.back();
  return spec.first_index + uint64_t((i / columns) * spec.source_row_stride + i % columns);
}

// Seed of one named tensor of a model seeded with model_seed (FNV-1a of the name).
uint64_t synthetic_seed(uint64_t model_seed, const std::string& tensor_name);

}  // namespace sb

#include "model/weight_spec.h"

#include "util/error.h"

namespace sb {

uint64_t synthetic_seed(uint64_t model_seed, const std::string& tensor_name) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : tensor_name) {
    hash ^= c;
    hash *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
  // splitmix64 finaliser over (name hash, model seed): nearby model seeds give
  // unrelated streams, and seed 0 does not leave the name hash exposed.
  uint64_t z = hash ^ (model_seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

void check_slice(const WeightSpec& spec, int axis, int64_t begin, int64_t end) {
  SB_REQUIRE(spec.shape.size() == 2, "weight {}: only 2-D weights are sliced, it has shape of rank {}", spec.name,
             spec.shape.size());
  SB_REQUIRE(0 <= begin && begin < end && end <= spec.shape[size_t(axis)],
             "weight {}: slice [{}, {}) of {} outside its {} {}", spec.name, begin, end, axis == 0 ? "rows" : "columns",
             axis == 0 ? "rows" : "columns", spec.shape[size_t(axis)]);
}

// Moves a spec's first element by `elements` of its source.
void advance(WeightSpec& spec, int64_t elements) {
  if (spec.is_synthetic()) {
    spec.first_index += uint64_t(elements);
  } else {
    spec.mapped_data = static_cast<const char*>(spec.mapped_data) + size_t(elements) * dtype_size(spec.mapped_dtype);
  }
}

}  // namespace

WeightSpec slice_rows(const WeightSpec& spec, int64_t begin, int64_t end) {
  check_slice(spec, 0, begin, end);
  WeightSpec slice = spec;
  slice.source_row_stride = spec.row_stride();
  advance(slice, begin * spec.row_stride());
  slice.shape[0] = end - begin;
  return slice;
}

WeightSpec slice_columns(const WeightSpec& spec, int64_t begin, int64_t end) {
  check_slice(spec, 1, begin, end);
  WeightSpec slice = spec;
  slice.source_row_stride = spec.row_stride();
  advance(slice, begin);
  slice.shape[1] = end - begin;
  return slice;
}

}  // namespace sb

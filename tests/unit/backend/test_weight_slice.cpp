// Slices of a weight (tensor parallelism): a row or column slice uploads to
// exactly the elements of the unsplit weight, synthetic or mapped (F32, BF16),
// without copying the source.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "model/weight_spec.h"
#include "tests/support/matrix_block.h"
#include "util/dtype.h"
#include "util/error.h"

namespace sb {
namespace {

using testing::block_of;

void expect_slices_match(Backend& backend, const WeightSpec& spec) {
  const int64_t rows = spec.shape[0], columns = spec.shape[1];
  const std::vector<float> full = backend.to_host_f32(backend.upload(spec));
  EXPECT_EQ(backend.to_host_f32(backend.upload(slice_rows(spec, 2, 5))), block_of(full, columns, 2, 5, 0, columns));
  EXPECT_EQ(backend.to_host_f32(backend.upload(slice_columns(spec, 3, 7))), block_of(full, columns, 0, rows, 3, 7));
  // A slice of a slice: columns of a row slice.
  EXPECT_EQ(backend.to_host_f32(backend.upload(slice_columns(slice_rows(spec, 1, 4), 2, 6))),
            block_of(full, columns, 1, 4, 2, 6));
}

TEST(WeightSlice, SyntheticSlicesAreTheUnsplitWeightsElements) {
  auto backend = std::make_unique<CpuBackend>();
  WeightSpec spec;
  spec.name = "w";
  spec.shape = {6, 10};
  spec.seed = 42;
  spec.scale = 0.5f;
  spec.offset = 0.25f;
  expect_slices_match(*backend, spec);
}

TEST(WeightSlice, MappedSlicesReadTheirRowsWhereTheyLie) {
  auto backend = std::make_unique<CpuBackend>();
  std::vector<float> values(60);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i) * 0.5f - 3.0f;
  WeightSpec f32;
  f32.name = "w_f32";
  f32.shape = {6, 10};
  f32.mapped_data = values.data();
  f32.mapped_dtype = DType::F32;
  expect_slices_match(*backend, f32);
  // The slice points into the source: nothing was copied.
  EXPECT_EQ(slice_rows(f32, 2, 5).mapped_data, static_cast<const void*>(values.data() + 20));
  EXPECT_EQ(slice_columns(f32, 3, 7).mapped_data, static_cast<const void*>(values.data() + 3));

  std::vector<uint16_t> bf16(60);
  for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = uint16_t(0x3f80 + i);  // 1.0 and above, distinct
  WeightSpec b16 = f32;
  b16.name = "w_bf16";
  b16.mapped_data = bf16.data();
  b16.mapped_dtype = DType::BF16;
  expect_slices_match(*backend, b16);
}

TEST(WeightSlice, OutOfRangeOrNot2DIsRefused) {
  WeightSpec spec;
  spec.name = "model.layers.0.mlp.down_proj.weight";
  spec.shape = {4, 8};
  EXPECT_THROW(slice_rows(spec, 2, 5), Error);
  EXPECT_THROW(slice_columns(spec, 6, 6), Error);
  WeightSpec norm;
  norm.name = "model.norm.weight";
  norm.shape = {8};
  EXPECT_THROW(slice_rows(norm, 0, 4), Error);
}

}  // namespace
}  // namespace sb

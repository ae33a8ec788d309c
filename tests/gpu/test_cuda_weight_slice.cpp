// Weight slices (hosts of several GPUs) on the cuda backend: a row or column
// slice of a synthetic or mapped (BF16, F32) weight uploads to the unsplit
// weight's elements, as on the cpu backend (kernels/synthetic_slice.cu, the
// strided staging of CudaBackend::upload_mapped).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "backend/backend_factory.h"
#include "model/weight_spec.h"
#include "tests/support/matrix_block.h"
#include "util/dtype.h"

namespace sb {
namespace {

using testing::block_of;

// Slices on cuda equal the blocks of the whole weight on cuda, and the whole weight equals cpu's to bf16.
void expect_slices_match(const WeightSpec& spec) {
  auto cuda = make_backend("cuda", 0);
  auto cpu = make_backend("cpu", 0);
  const int64_t rows = spec.shape[0], columns = spec.shape[1];
  const std::vector<float> full = cuda->to_host_f32(cuda->upload(spec));
  const std::vector<float> reference = cpu->to_host_f32(cpu->upload(spec));
  for (size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(full[i], reference[i], 1e-2 * (1 + std::abs(reference[i])));
  EXPECT_EQ(cuda->to_host_f32(cuda->upload(slice_rows(spec, 5, 900))), block_of(full, columns, 5, 900, 0, columns));
  EXPECT_EQ(cuda->to_host_f32(cuda->upload(slice_columns(spec, 300, 1000))), block_of(full, columns, 0, rows, 300, 1000));
  EXPECT_EQ(cuda->to_host_f32(cuda->upload(slice_columns(slice_rows(spec, 7, 64), 17, 513))),
            block_of(full, columns, 7, 64, 17, 513));
}

TEST(CudaWeightSlice, Synthetic) {
  WeightSpec spec;
  spec.name = "w";
  spec.shape = {1024, 1536};
  spec.seed = 77;
  spec.scale = 0.05f;
  spec.offset = 0.0f;
  expect_slices_match(spec);
}

TEST(CudaWeightSlice, MappedBf16AndF32) {
  const int64_t rows = 1024, columns = 1536;
  std::vector<float> values(size_t(rows * columns));
  std::vector<uint16_t> bf16(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    bf16[i] = uint16_t(0x3c00 + (i * 2654435761u >> 20) % 0x800);  // finite bf16 values, scattered
    values[i] = float(i % 4099) * 0.001f - 2.0f;
  }
  WeightSpec spec;
  spec.name = "w_bf16";
  spec.shape = {rows, columns};
  spec.mapped_data = bf16.data();
  spec.mapped_dtype = DType::BF16;
  expect_slices_match(spec);
  spec.name = "w_f32";
  spec.mapped_data = values.data();
  spec.mapped_dtype = DType::F32;
  expect_slices_match(spec);
}

}  // namespace
}  // namespace sb

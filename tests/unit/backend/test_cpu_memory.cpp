// Storage of the cpu backend: uploads, host transfers, views, row copies,
// memory accounting and the backend factory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "backend/backend_factory.h"
#include "backend/cpu/cpu_backend.h"
#include "reference.h"

namespace sb {
namespace {

// IEEE half written out independently of util/dtype's converter.
double f16_value(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 31, mantissa = bits & 1023;
  double magnitude = exponent == 0 ? std::ldexp(double(mantissa), -24)
                                   : std::ldexp(1.0 + double(mantissa) / 1024.0, exponent - 15);
  return sign ? -magnitude : magnitude;
}

TEST(CpuUpload, SyntheticWeightsFollowTheCounterFormula) {
  CpuBackend backend;
  WeightSpec spec;
  spec.name = "model.layers.0.mlp.up_proj.weight";
  spec.shape = {13, 7};
  spec.seed = test::fresh_seed();
  spec.scale = 0.02f;
  spec.offset = 1.f;
  auto got = backend.to_host_f32(backend.upload(spec));
  ASSERT_EQ(got.size(), 91u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], synthetic_value(spec.seed, i) * 0.02f + 1.f);
  // A different seed gives different values (the formula really depends on it).
  WeightSpec other = spec;
  other.seed = spec.seed + 1;
  EXPECT_NE(backend.to_host_f32(backend.upload(other)), got);
}

TEST(CpuUpload, MappedBf16F16F32WidenExactly) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  const int64_t n = 200;
  auto values = test::random_floats(rng, n, -100.f, 100.f);

  std::vector<uint16_t> bf16(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bf16[size_t(i)] = f32_to_bf16(values[size_t(i)]);
  WeightSpec spec{"w.bf16", {20, 10}, bf16.data(), DType::BF16, "model.safetensors"};
  auto got = backend.to_host_f32(backend.upload(spec));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t widened = uint32_t(bf16[size_t(i)]) << 16;
    float want;
    std::memcpy(&want, &widened, 4);
    EXPECT_EQ(got[size_t(i)], want);
    EXPECT_NEAR(got[size_t(i)], values[size_t(i)], std::fabs(values[size_t(i)]) / 128);
  }

  std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x3800, 0x0001, 0x83FF, 0x7BFF, 0x0000, 0x8000};
  std::uniform_int_distribution<int> bits(0, 0xFFFF);
  while (f16.size() < 300) {
    uint16_t b = uint16_t(bits(rng));
    if (((b >> 10) & 31) != 31) f16.push_back(b);  // finite values only
  }
  WeightSpec half{"w.f16", {int64_t(f16.size())}, f16.data(), DType::F16, "model.safetensors"};
  got = backend.to_host_f32(backend.upload(half));
  for (size_t i = 0; i < f16.size(); ++i) EXPECT_EQ(double(got[i]), f16_value(f16[i])) << std::hex << f16[i];

  WeightSpec full{"w.f32", {4, 50}, values.data(), DType::F32, "model.safetensors"};
  EXPECT_EQ(backend.to_host_f32(backend.upload(full)), values);
}

TEST(CpuUpload, RejectsNonFloatWeightsNamingTheTensorAndFile) {
  CpuBackend backend;
  std::vector<int32_t> ints(4);
  WeightSpec spec{"model.norm.weight", {4}, ints.data(), DType::I32, "shard-2.safetensors"};
  try {
    backend.upload(spec);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.norm.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shard-2.safetensors"), std::string::npos) << e.what();
  }
  WeightSpec empty_dim{"x", {0, 3}};
  EXPECT_THROW(backend.upload(empty_dim), Error);
}

TEST(CpuMemory, FromHostKeepsDtypeAndViewsShareStorage) {
  CpuBackend backend;
  const std::vector<int32_t> ids = {5, -7, 1 << 20};
  Tensor t = backend.from_host(DType::I32, {3}, ids.data());
  EXPECT_EQ(t.dtype(), DType::I32);
  EXPECT_EQ(backend.to_host_f32(t), (std::vector<float>{5.f, -7.f, float(1 << 20)}));
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040, 0x0000};  // 1, -3, 0
  Tensor half = backend.from_host(DType::BF16, {3}, bf16.data());
  EXPECT_EQ(half.dtype(), DType::BF16);
  EXPECT_EQ(backend.to_host_f32(half), (std::vector<float>{1.f, -3.f, 0.f}));

  std::vector<float> values(24);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i);
  Tensor x = backend.from_host(DType::F32, {6, 2, 2}, values.data());
  Tensor middle = x.rows(2, 4);
  EXPECT_EQ(middle.shape(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(backend.to_host_f32(middle), (std::vector<float>{8, 9, 10, 11, 12, 13, 14, 15}));
  // An op writing through a reshaped view lands in the parent's storage (an
  // accumulating matmul: x += 100 * 1, the residual add the model does).
  Tensor column = middle.reshape({8, 1});
  backend.matmul(test::host_tensor(backend, {8, 1}, std::vector<float>(8, 100.f)),
                 test::host_tensor(backend, {1, 1}, {1.f}), column, /*accumulate=*/true);
  auto all = backend.to_host_f32(x);
  EXPECT_EQ(all[7], 7.f);
  EXPECT_EQ(all[8], 108.f);
  EXPECT_EQ(all[15], 115.f);
  EXPECT_EQ(all[16], 16.f);
  EXPECT_THROW(x.rows(5, 7), Error);
  EXPECT_THROW(x.reshape({5, 5}), Error);
}

TEST(CpuMemory, CopyRowsCopiesWholeRowsIncludingOverlappingViews) {
  CpuBackend backend;
  std::vector<float> values(12);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i);
  Tensor src = backend.from_host(DType::F32, {4, 3}, values.data());
  Tensor dst = test::host_tensor(backend, {5, 3}, std::vector<float>(15, -1.f));
  backend.copy_rows(dst, 1, src, 2, 2);
  EXPECT_EQ(backend.to_host_f32(dst), (std::vector<float>{-1, -1, -1, 6, 7, 8, 9, 10, 11, -1, -1, -1, -1, -1, -1}));
  // Shift rows 0..2 of src down by one inside the same buffer.
  backend.copy_rows(src, 1, src, 0, 3);
  EXPECT_EQ(backend.to_host_f32(src), (std::vector<float>{0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_THROW(backend.copy_rows(dst, 4, src, 0, 2), Error);  // past dst's end
  Tensor wide = backend.empty(DType::F32, {2, 4});
  EXPECT_THROW(backend.copy_rows(wide, 0, src, 0, 1), Error);
  Tensor ints = backend.empty(DType::I32, {4, 3});
  EXPECT_THROW(backend.copy_rows(ints, 0, src, 0, 1), Error);
}

TEST(CpuMemory, AccountsBytesOfLiveTensorsAndThePeak) {
  CpuBackend backend;
  EXPECT_EQ(backend.bytes_in_use(), 0u);
  EXPECT_GT(backend.memory_capacity_bytes(), 0u);
  Tensor a = backend.empty(DType::F32, {100, 10});  // 4000 bytes
  {
    Tensor b = backend.empty(DType::BF16, {50});  // 100 bytes
    Tensor view = b.rows(0, 10);                  // views cost nothing
    EXPECT_EQ(backend.bytes_in_use(), 4100u);
    EXPECT_EQ(backend.peak_bytes(), 4100u);
  }
  EXPECT_EQ(backend.bytes_in_use(), 4000u);
  EXPECT_EQ(backend.peak_bytes(), 4100u);
  backend.reset_peak();
  EXPECT_EQ(backend.peak_bytes(), 4000u);
  Tensor view_of_a = a.rows(10, 20);
  a = Tensor();
  EXPECT_EQ(backend.bytes_in_use(), 4000u) << "a view keeps its storage alive";
  view_of_a = Tensor();
  EXPECT_EQ(backend.bytes_in_use(), 0u);
  Tensor empty = backend.empty(DType::F32, {0, 8});
  EXPECT_TRUE(empty.defined());
  EXPECT_EQ(backend.bytes_in_use(), 0u);
  EXPECT_THROW(backend.empty(DType::F32, {-1, 2}), Error);
}

// A tensor may be dropped after its backend (a method's caches after the
// backend in a caller's scope): its deleter must then return the bytes to a
// counter it shares, not to the dead backend. Were it to hold the backend (or
// its counter) by a plain pointer, the freed memory would be written; the
// allocator reuses it at once for the next backend of the same size, so that
// backend's account would show the bytes taken away (size_t wraps) or its
// object would be corrupted. The sanitizer build sees the write itself.
TEST(CpuMemory, TensorsMayOutliveTheirBackend) {
  Tensor survivor;
  {
    auto backend = std::make_unique<CpuBackend>();
    survivor = backend->empty(DType::F32, {16});
    EXPECT_EQ(backend->bytes_in_use(), 64u);
  }
  auto next = std::make_unique<CpuBackend>();  // likely where the first one lived
  Tensor own = next->empty(DType::F32, {4});
  // The survivor's storage is still its own: written and read back intact.
  for (int i = 0; i < 16; ++i) survivor.ptr<float>()[i] = float(i) + 0.5f;
  for (int i = 0; i < 16; ++i) ASSERT_EQ(survivor.ptr<float>()[i], float(i) + 0.5f);
  survivor = Tensor();  // frees after its backend
  EXPECT_EQ(next->bytes_in_use(), 16u) << "a dead backend's tensor was charged to the live one";
  EXPECT_EQ(next->peak_bytes(), 16u);
  own = Tensor();
  EXPECT_EQ(next->bytes_in_use(), 0u);
}

TEST(BackendFactory, NamesAndErrors) {
  auto cpu = make_backend("cpu", 0);
  EXPECT_EQ(cpu->name(), "cpu");
  EXPECT_EQ(cpu->act_dtype(), DType::F32);
  EXPECT_FALSE(cpu->device_name().empty());
  if (!cuda_backend_available()) {
    EXPECT_EQ(make_backend("auto", 0)->name(), "cpu");
    try {
      make_backend("cuda", 0);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
    }
  }
  try {
    make_backend("tpu", 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("tpu"), std::string::npos) << message;
    EXPECT_NE(message.find("cpu, cuda, auto"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace sb

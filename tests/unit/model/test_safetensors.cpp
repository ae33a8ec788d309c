#include <gtest/gtest.h>

#include <cmath>

#include "model/safetensors.h"
#include "model_test_util.h"

namespace sb {
namespace {

using test::expect_error;
using test::RawTensor;
using test::TempDir;

std::string header(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                   uint64_t end) {
  return fmt::format(R"({{"{}": {{"dtype": "{}", "shape": {}, "data_offsets": [{}, {}]}}}})", name, dtype, shape,
                     begin, end);
}

TEST(Safetensors, ReadsBf16F16F32Exactly) {
  TempDir dir;
  // bf16: 1.5, -2.25, smallest normal, a subnormal, +inf; values chosen to exercise every field.
  const std::vector<uint16_t> bf16 = {0x3FC0, 0xC010, 0x0080, 0x0001, 0x7F80, 0x4049};
  const std::vector<float> bf16_want = {1.5f, -2.25f, std::ldexp(1.f, -126), std::ldexp(1.f, -133), INFINITY,
                                        3.140625f};
  // f16: 1, -2, largest finite, smallest subnormal, 0.333 (0x3555), -0
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x8000};
  const std::vector<float> f16_want = {1.f, -2.f, 65504.f, std::ldexp(1.f, -24), (1.f + 0x155 / 1024.f) * 0.25f,
                                       -0.f};
  const std::vector<float> f32 = {0.1f, -7.f, 1e-40f, 3.4e38f};
  const std::string path = dir.file("t.safetensors");
  test::write_bytes(path, test::safetensors_bytes({{"a.bf16", "BF16", {2, 3}, test::bf16_bytes(bf16)},
                                                   {"b.f16", "F16", {6}, test::bf16_bytes(f16)},
                                                   {"c.f32", "F32", {2, 1, 2}, test::f32_bytes(f32)},
                                                   {"d.empty", "F32", {0, 4}, ""}}));
  auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file->tensors().size(), 4u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const SafetensorsTensor* a = file->find("a.bf16");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::BF16);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->byte_size, 12u);
  std::vector<float> got = tensor_to_float(*a);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], bf16_want[i]) << i;
  got = tensor_to_float(*file->find("b.f16"));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], f16_want[i]) << i;
  EXPECT_TRUE(std::signbit(got[5]));
  got = tensor_to_float(*file->find("c.f32"));
  EXPECT_EQ(got, f32);
  EXPECT_EQ(file->find("d.empty")->numel(), 0);
  EXPECT_EQ(file->find("missing"), nullptr);
  // No copy: the tensor points into the mapped file, just after the header.
  const char* first = static_cast<const char*>(a->data);
  EXPECT_EQ(std::memcmp(first, bf16.data(), 12), 0);
}

TEST(Safetensors, RefusesMalformedFiles) {
  TempDir dir;
  auto open_bytes = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.file(name);
    test::write_bytes(path, bytes);
    return [path] { SafetensorsFile::open(path); };
  };
  const std::string good_data = test::zeros(8);
  const std::string good = header("w", "F32", "[2]", 0, 8);

  expect_error(open_bytes("short.safetensors", "abc"), {"short.safetensors", "truncated"});
  expect_error(open_bytes("long_header.safetensors", test::u64_le(1000) + good + good_data),
               {"long_header.safetensors", "header length 1000", "past the end"});
  // A valid file cut short: the tensor's bytes run past the end.
  std::string whole = test::safetensors_bytes(good, good_data);
  expect_error(open_bytes("truncated.safetensors", whole.substr(0, whole.size() - 3)),
               {"truncated.safetensors", "'w'", "past the end"});
  expect_error(open_bytes("offset.safetensors", test::safetensors_bytes(header("w", "F32", "[2]", 4, 12), good_data)),
               {"offset.safetensors", "'w'", "[4, 12]"});
  expect_error(open_bytes("backwards.safetensors", test::safetensors_bytes(header("w", "F32", "[0]", 8, 4), good_data)),
               {"'w'", "end before"});
  expect_error(open_bytes("dtype.safetensors", test::safetensors_bytes(header("w", "F64", "[1]", 0, 8), good_data)),
               {"dtype.safetensors", "'w'", "F64"});
  expect_error(open_bytes("i64.safetensors", test::safetensors_bytes(header("ids", "I64", "[1]", 0, 8), good_data)),
               {"'ids'", "I64"});
  expect_error(open_bytes("size.safetensors", test::safetensors_bytes(header("w", "F32", "[3]", 0, 8), good_data)),
               {"size.safetensors", "'w'", "[3]", "needs 12"});
  expect_error(open_bytes("huge.safetensors",
                          test::safetensors_bytes(header("w", "BF16", "[4294967296, 4294967296, 16]", 0, 8), good_data)),
               {"'w'", "more than the file"});
  expect_error(open_bytes("negative.safetensors", test::safetensors_bytes(header("w", "F32", "[-2]", 0, 8), good_data)),
               {"'w'", "shape"});
  expect_error(open_bytes("json.safetensors", test::safetensors_bytes("{\"w\": [", good_data)),
               {"json.safetensors", "JSON"});
  expect_error(open_bytes("noshape.safetensors",
                          test::safetensors_bytes(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", good_data)),
               {"'w'", "shape"});
  expect_error(open_bytes("overlap.safetensors",
                          test::safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                                  good_data)),
               {"overlap.safetensors", "'a'", "'b'", "overlap"});
  expect_error(open_bytes("dup.safetensors",
                          test::safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                                      "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                                  good_data)),
               {"dup.safetensors", "'a'", "twice"});
  expect_error([&] { SafetensorsFile::open(dir.file("absent.safetensors")); }, {"absent.safetensors"});
  expect_error([&] { SafetensorsFile::open(dir.path()); }, {"not a regular file"});
}

}  // namespace
}  // namespace sb

#include "attention/apb_compressor.h"

#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "model/safetensors.h"
#include "model/weight_spec.h"
#include "util/error.h"
#include "util/file_digest.h"

namespace sb {
namespace {

std::string fc1_name(int64_t layer) { return fmt::format("layers.{}.fc1.weight", layer); }
std::string fc2_name(int64_t layer) { return fmt::format("layers.{}.fc2.weight", layer); }

// The weights' specs per layer, [fc1, fc2], before the split and the upload.
struct CompressorSpecs {
  std::vector<std::pair<WeightSpec, WeightSpec>> layers;
  int64_t hidden = 0;
  std::shared_ptr<SafetensorsFile> file;  // keeps mapped specs valid
  std::string digest, description;
};

CompressorSpecs random_specs(uint64_t seed, const ModelConfig& config) {
  CompressorSpecs specs;
  specs.hidden = kApbRandomHidden;
  const int64_t inputs = (config.num_heads + 2 * config.num_kv_heads) * config.head_dim;
  // Like the synthetic model weights (model/weights.cpp): uniform, scaled by
  // sqrt(3 / fan_in), so that each output has a variance of about one.
  auto make = [&](const std::string& name, int64_t rows, int64_t columns) {
    WeightSpec spec;
    spec.name = name;
    spec.shape = {rows, columns};
    spec.seed = synthetic_seed(seed, name);
    spec.scale = float(std::sqrt(3.0 / double(columns)));
    return spec;
  };
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    specs.layers.emplace_back(make(fc1_name(layer), specs.hidden, inputs),
                              make(fc2_name(layer), config.num_kv_heads, specs.hidden));
  }
  specs.digest = fmt::format("random:{}:hidden={}", seed, specs.hidden);
  specs.description = fmt::format("random:{} (synthetic, hidden {}, {} layers)", seed, specs.hidden, config.num_layers);
  return specs;
}

CompressorSpecs file_specs(const std::string& dir, const ModelConfig& config) {
  const std::string path = (std::filesystem::path(dir) / "compressor.safetensors").string();
  SB_REQUIRE(std::filesystem::is_regular_file(path),
             "--apb-compressor {}: no {} (convert thunlp's checkpoint with jobs/apb/convert_compressor.py, or use "
             "random:SEED)",
             dir, path);
  CompressorSpecs specs;
  specs.file = SafetensorsFile::open(path);
  const SafetensorsFile& file = *specs.file;
  const int64_t inputs = (config.num_heads + 2 * config.num_kv_heads) * config.head_dim;
  const SafetensorsTensor* first = file.find(fc1_name(0));
  SB_REQUIRE(first != nullptr, "{}: no tensor '{}' (a compressor holds layers.{{i}}.fc1.weight and "
             "layers.{{i}}.fc2.weight for every layer i)", path, fc1_name(0));
  SB_REQUIRE(first->shape.size() == 2 && first->shape[0] > 0,
             "{}: tensor '{}' has shape {}, not [hidden, {}]", path, fc1_name(0), shape_to_string(first->shape),
             inputs);
  specs.hidden = first->shape[0];
  std::set<std::string> expected;
  auto spec_of = [&](const std::string& name, std::vector<int64_t> shape, const char* what) {
    const SafetensorsTensor* tensor = file.find(name);
    SB_REQUIRE(tensor != nullptr, "{}: no tensor '{}': the model has {} layers", path, name, config.num_layers);
    SB_REQUIRE(tensor->shape == shape,
               "{}: tensor '{}' has shape {}, but {} of {} needs {} ((q heads {} + 2 x kv heads {}) x head dim {} "
               "inputs, hidden {})",
               path, name, shape_to_string(tensor->shape), what, config.name, shape_to_string(shape),
               config.num_heads, config.num_kv_heads, config.head_dim, specs.hidden);
    expected.insert(name);
    WeightSpec spec;
    spec.name = name;
    spec.shape = std::move(shape);
    spec.mapped_data = tensor->data;
    spec.mapped_dtype = tensor->dtype;
    spec.file = path;
    return spec;
  };
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    specs.layers.emplace_back(spec_of(fc1_name(layer), {specs.hidden, inputs}, "fc1"),
                              spec_of(fc2_name(layer), {config.num_kv_heads, specs.hidden}, "fc2"));
  }
  for (const SafetensorsTensor& tensor : file.tensors()) {
    SB_REQUIRE(expected.count(tensor.name),
               "{}: unexpected tensor '{}' (the model has {} layers; a compressor holds only "
               "layers.{{i}}.fc1.weight and layers.{{i}}.fc2.weight)",
               path, tensor.name, config.num_layers);
  }
  const auto format = file.metadata().find("format");
  SB_REQUIRE(format != file.metadata().end() && format->second == "starbench-apb-compressor",
             "{}: __metadata__ \"format\" is not \"starbench-apb-compressor\" (convert the checkpoint with "
             "jobs/apb/convert_compressor.py)",
             path);
  const SampledDigest digest = sampled_file_sha256(path);
  specs.digest = digest.sha256;
  const auto source = file.metadata().find("source");
  specs.description =
      fmt::format("{} ({}, hidden {}, {} layers{}{})", path, dtype_name(first->dtype), specs.hidden,
                  config.num_layers, digest.sampled ? ", content sampled" : "",
                  source == file.metadata().end() ? std::string() : "; source: " + source->second);
  return specs;
}

}  // namespace

ApbCompressor::ApbCompressor(const ApbCompressorSource& source, const ModelConfig& config, Backend& backend)
    : backend_(backend) {
  SB_REQUIRE(source.given, "--method apb needs a compressor: --apb-compressor DIR (compressor.safetensors) or "
                           "random:SEED");
  const CompressorSpecs specs = source.dir.empty() ? random_specs(source.seed, config) : file_specs(source.dir, config);
  hidden_ = specs.hidden;
  digest_ = specs.digest;
  description_ = specs.description;
  const int64_t q_columns = config.num_heads * config.head_dim, kv_columns = config.num_kv_heads * config.head_dim;
  for (const auto& [fc1, fc2] : specs.layers) {
    Layer layer;
    layer.fc1_q = backend.upload(slice_columns(fc1, 0, q_columns));
    layer.fc1_k = backend.upload(slice_columns(fc1, q_columns, q_columns + kv_columns));
    layer.fc1_v = backend.upload(slice_columns(fc1, q_columns + kv_columns, q_columns + 2 * kv_columns));
    layer.fc2 = backend.upload(fc2);
    layers_.push_back(std::move(layer));
  }
}

void ApbCompressor::score(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& hidden_scratch,
                          Tensor& scores) const {
  const Layer& w = layers_.at(size_t(layer));
  const int64_t rows = q.dim(0);
  Tensor hidden = hidden_scratch.rows(0, rows);
  backend_.matmul(q.reshape({rows, q.dim(1) * q.dim(2)}), w.fc1_q, hidden);
  backend_.matmul(k.reshape({rows, k.dim(1) * k.dim(2)}), w.fc1_k, hidden, /*accumulate=*/true);
  backend_.matmul(v.reshape({rows, v.dim(1) * v.dim(2)}), w.fc1_v, hidden, /*accumulate=*/true);
  backend_.silu(hidden);
  backend_.matmul(hidden, w.fc2, scores);
}

size_t ApbCompressor::weight_bytes(const ModelConfig& config, int64_t hidden, DType dtype) {
  const int64_t inputs = (config.num_heads + 2 * config.num_kv_heads) * config.head_dim;
  return size_t(config.num_layers * hidden * (inputs + config.num_kv_heads)) * dtype_size(dtype);
}

}  // namespace sb

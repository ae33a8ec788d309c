#pragma once
// The tiny synthetic Llama-3 (preset "tiny") on the cpu backend, random
// tokens, a relative error, and DuoAttention test patterns: shared by the unit
// and MPI tests of the attention methods.
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "attention/duo_pattern.h"
#include "backend/backend_factory.h"
#include "comm/comm_factory.h"
#include "engine/transformer.h"
#include "model/config.h"
#include "model/weights.h"

namespace sb::testing {

struct TinyModel {
  // with_world: also a communicator over every MPI rank (MPI tests only).
  TinyModel(uint64_t weight_seed, bool with_world) : config(preset_config("tiny")), backend(make_backend("cpu", 0)) {
    model = std::make_unique<Transformer>(config, *backend, synthetic_weight_specs(config, weight_seed));
    local = make_local_comm(*backend);
    if (with_world) world = make_comm(*backend);
  }
  ModelConfig config;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Comm> world, local;
};

inline std::vector<int32_t> random_tokens(uint64_t seed, int64_t count, int64_t vocab) {
  std::mt19937_64 generator(seed);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(vocab - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& token : tokens) token = pick(generator);
  return tokens;
}

// ||value - reference|| / ||reference||.
inline double relative_error(const std::vector<float>& reference, const std::vector<float>& value) {
  double difference = 0, norm = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    difference += std::pow(double(value[i]) - double(reference[i]), 2);
    norm += std::pow(double(reference[i]), 2);
  }
  return std::sqrt(difference / norm);
}

// A DuoAttention pattern: retrieval[layer][kv head] is 1 for a retrieval head.
inline std::shared_ptr<const DuoPattern> duo_test_pattern(const std::vector<std::vector<int>>& retrieval,
                                                          int64_t sink, int64_t recent) {
  auto pattern = std::make_shared<DuoPattern>();
  pattern->source = "test";
  pattern->num_layers = int64_t(retrieval.size());
  pattern->num_kv_heads = int64_t(retrieval.at(0).size());
  pattern->sink = sink;
  pattern->recent = recent;
  for (const std::vector<int>& layer : retrieval) {
    for (int kind : layer) {
      pattern->retrieval.push_back(uint8_t(kind));
      pattern->alphas.push_back(kind);
    }
  }
  return pattern;
}

}  // namespace sb::testing

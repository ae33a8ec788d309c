#pragma once
// Loads the HF-transformers reference files under tests/reference/data
// (made by tests/reference/make_reference.py on the GPU machine).
#include <cstdlib>
#include <string>
#include <vector>

#include "attention/method.h"
#include "backend/backend_factory.h"
#include "comm/comm_factory.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace sb::testing {

inline std::string reference_dir() { return std::string(STARBENCH_SOURCE_DIR) + "/tests/reference/data"; }
inline std::string reference_checkpoint() { return reference_dir() + "/tiny-llama3"; }

struct ReferenceCase {
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // [rows, vocab]
  std::vector<int64_t> generated;
  int64_t context_len = 0, block_size = 0, anchor_size = 0;
  std::string duo_pattern;  // DuoAttention cases: the pattern directory under reference_dir()
};

inline ReferenceCase load_reference(const std::string& file, const std::string& logits_name = "logits") {
  auto tensors = SafetensorsFile::open(reference_dir() + "/" + file);
  ReferenceCase result;
  for (float token : tensor_to_float(*tensors->find("tokens"))) result.tokens.push_back(int32_t(token));
  result.logits = tensor_to_float(*tensors->find(logits_name));
  for (float token : tensor_to_float(*tensors->find("generated"))) result.generated.push_back(int64_t(token));
  auto number = [&](const char* key) {
    auto found = tensors->metadata().find(key);
    return found == tensors->metadata().end() ? int64_t(0) : int64_t(std::atoll(found->second.c_str()));
  };
  result.context_len = number("context_len");
  result.block_size = number("block_len");
  result.anchor_size = number("anchor_len");
  if (auto found = tensors->metadata().find("duo_pattern"); found != tensors->metadata().end()) {
    result.duo_pattern = reference_dir() + "/" + found->second;
  }
  return result;
}

// The reference checkpoint on the cpu backend, with a world and a local communicator.
struct ReferenceModel {
  ReferenceModel() {
    checkpoint = Checkpoint::open(reference_checkpoint());
    backend = make_backend("cpu", 0);
    model = std::make_unique<Transformer>(checkpoint->config(), *backend, checkpoint_weight_specs(checkpoint));
    local = make_local_comm(*backend);
  }
  Comm& world() {
    if (!world_comm) world_comm = make_comm(*backend);
    return *world_comm;
  }
  std::shared_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Comm> local, world_comm;
};

inline double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double most = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) most = std::max(most, std::abs(double(a[i]) - double(b[i])));
  return a.size() == b.size() ? most : 1e30;
}

}  // namespace sb::testing

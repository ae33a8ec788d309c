#pragma once
// A Hugging Face checkpoint directory: config.json plus model.safetensors, or
// shards listed in model.safetensors.index.json. All shards are mmapped and
// validated when opened; the Checkpoint keeps the maps alive, so WeightSpecs
// taken from it stay valid as long as the shared_ptr does.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"
#include "model/weight_spec.h"

namespace sb {

// The name a checkpoint directory gives its model: "path/to/Llama-3-8B/" -> "Llama-3-8B".
std::string checkpoint_model_name(const std::string& model_dir);

class Checkpoint {
 public:
  // Throws sb::Error for a missing directory / config.json / weights, a shard
  // listed but missing, or a tensor mapped to a shard that lacks it.
  static std::shared_ptr<Checkpoint> open(const std::string& model_dir);

  const ModelConfig& config() const { return config_; }
  const std::string& directory() const { return directory_; }
  // Shard file names (base names), in index order; one entry for model.safetensors.
  std::vector<std::string> shard_files() const;
  std::vector<std::string> tensor_names() const;
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  // A view of a tensor that must have expected_shape; a missing tensor or another
  // shape throws, naming the file, the tensor and both shapes.
  WeightSpec weight(const std::string& name, std::vector<int64_t> expected_shape) const;

 private:
  struct Entry {
    const SafetensorsTensor* tensor;  // inside file
    const SafetensorsFile* file;
  };
  Checkpoint() = default;
  const SafetensorsFile& open_shard(const std::string& file_name);

  std::string directory_;
  ModelConfig config_;
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::map<std::string, Entry> tensors_;
};

}  // namespace sb

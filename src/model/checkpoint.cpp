#include "model/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace sb {

namespace fs = std::filesystem;
using nlohmann::json;

std::string checkpoint_model_name(const std::string& model_dir) {
  std::error_code ec;
  const fs::path dir(model_dir);
  std::string name = dir.lexically_normal().filename().string();  // "path/to/Llama-3-8B/" -> "Llama-3-8B"
  if (name.empty() || name == ".") name = fs::weakly_canonical(dir, ec).filename().string();
  return name;
}

std::shared_ptr<Checkpoint> Checkpoint::open(const std::string& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail("model directory '{}' does not exist or is not a directory", model_dir);
  const fs::path dir = fs::path(model_dir);
  const fs::path config_path = dir / "config.json";
  if (!fs::is_regular_file(config_path, ec))
    fail("model directory '{}' has no config.json (expected a Hugging Face checkpoint)", model_dir);

  std::shared_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->directory_ = model_dir;
  checkpoint->config_ = load_config_json(config_path.string());
  checkpoint->config_.name = checkpoint_model_name(model_dir);
  validate_config(checkpoint->config_);

  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";
  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path);
    if (!in) fail("cannot open '{}'", index_path.string());
    std::stringstream text;
    text << in.rdbuf();
    json index;
    try {
      index = json::parse(text.str());
    } catch (const json::exception& e) {
      fail("{}: not valid JSON ({})", index_path.string(), e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail("{}: no 'weight_map' object", index_path.string());
    std::map<std::string, const SafetensorsFile*> opened;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      const std::string& tensor_name = it.key();
      if (!it.value().is_string())
        fail("{}: weight_map entry for '{}' is not a file name", index_path.string(), tensor_name);
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || fs::path(shard).filename().string() != shard)
        fail("{}: weight_map entry for '{}' names '{}', which is not a file in the model directory",
             index_path.string(), tensor_name, shard);
      if (!opened.count(shard)) {
        if (!fs::is_regular_file(dir / shard, ec))
          fail("{}: shard '{}' (holding tensor '{}') is missing from '{}'", index_path.string(), shard, tensor_name,
               model_dir);
        opened[shard] = &checkpoint->open_shard(shard);
      }
      const SafetensorsFile* file = opened[shard];
      const SafetensorsTensor* tensor = file->find(tensor_name);
      if (!tensor)
        fail("{}: maps tensor '{}' to shard '{}', but that shard has no such tensor", index_path.string(),
             tensor_name, file->path());
      checkpoint->tensors_[tensor_name] = Entry{tensor, file};
    }
  } else if (fs::exists(single_path, ec)) {
    const SafetensorsFile& file = checkpoint->open_shard("model.safetensors");
    for (const SafetensorsTensor& tensor : file.tensors()) checkpoint->tensors_[tensor.name] = Entry{&tensor, &file};
  } else {
    fail("model directory '{}' has neither model.safetensors nor model.safetensors.index.json", model_dir);
  }
  return checkpoint;
}

const SafetensorsFile& Checkpoint::open_shard(const std::string& file_name) {
  shards_.push_back(SafetensorsFile::open((fs::path(directory_) / file_name).string()));
  return *shards_.back();
}

std::vector<std::string> Checkpoint::shard_files() const {
  std::vector<std::string> files;
  for (const auto& shard : shards_) files.push_back(fs::path(shard->path()).filename().string());
  return files;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : tensors_) names.push_back(name);
  return names;
}

WeightSpec Checkpoint::weight(const std::string& name, std::vector<int64_t> expected_shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    fail("checkpoint '{}' has no tensor '{}' (expected shape {})", directory_, name, shape_to_string(expected_shape));
  const SafetensorsTensor& tensor = *it->second.tensor;
  if (tensor.shape != expected_shape)
    fail("{}: tensor '{}' has shape {}, but the config needs {}", it->second.file->path(), name,
         shape_to_string(tensor.shape), shape_to_string(expected_shape));
  WeightSpec spec;
  spec.name = name;
  spec.shape = std::move(expected_shape);
  spec.mapped_data = tensor.data;
  spec.mapped_dtype = tensor.dtype;
  spec.file = it->second.file->path();
  return spec;
}

}  // namespace sb

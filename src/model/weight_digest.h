#pragma once
// The model's part of a run's identity (docs/HDF5_SCHEMA.md, "Run identity"):
// a digest of what the weights and the configuration are, so that two
// checkpoints in folders of one name, or two weight seeds, never share results.
#include <cstdint>
#include <string>

#include "model/config.h"

namespace sb {

struct ModelDigest {
  std::string sha256;       // hex
  std::string description;  // how it was taken: "safetensors, 4 file(s), 16.1 GB, content sampled" ...
};

// A checkpoint directory: SHA-256 over config.json, model.safetensors.index.json
// (when there is one) and, per weight file in the checkpoint's order, its name,
// its size, its header (tensor names, dtypes, shapes and offsets: the 8-byte
// length and the JSON) and its content digest (sampled_file_sha256: whole up to
// 256 MiB, else 64 chunks of 1 MiB at evenly spaced offsets). Throws sb::Error
// naming the file that cannot be read.
ModelDigest checkpoint_digest(const std::string& model_dir);

// Synthetic weights are a function of the configuration and the seed: SHA-256
// over the preset name, the weight seed and every configuration field.
ModelDigest synthetic_weights_digest(const ModelConfig& config, const std::string& preset, uint64_t weight_seed);

}  // namespace sb

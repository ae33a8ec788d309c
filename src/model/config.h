#pragma once
// Llama-3 model configuration: read from a Hugging Face config.json (classic
// layout with top-level rope_theta/rope_scaling, or the newer rope_parameters +
// head_dim layout) or taken from a preset with the real shapes.
#include <cstdint>
#include <string>
#include <vector>

namespace sb {

struct RopeScaling {
  // "none" or "llama3" (the only scaling Llama-3.x checkpoints use).
  std::string type = "none";
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string name;  // preset name, or the model directory's base name
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_heads when config.json has none
  double rms_norm_eps = 1e-5;
  double rope_theta = 500000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 8192;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;  // config.json may hold an int or a list
  bool tie_word_embeddings = false;

  // Total parameters, counted from the shapes (embedding + layers + norm + head).
  int64_t parameter_count() const;
  // Matrix FLOPs of one token's forward pass excluding attention scores (2 per MAC).
  double dense_flops_per_token() const;
};

// Throws sb::Error naming the file and the offending key.
ModelConfig load_config_json(const std::string& path);
ModelConfig parse_config_json(const std::string& json_text, const std::string& origin);

// "llama3-8b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "llama3-8b-gradient-1048k", "tiny".
ModelConfig preset_config(const std::string& name);
std::vector<std::string> preset_names();

// Throws sb::Error with a clear message for shapes that cannot run
// (e.g. heads not divisible by KV heads, non-positive sizes, odd head_dim).
void validate_config(const ModelConfig& config);

// Inverse RoPE frequencies (head_dim/2 of them), computed in double with the
// llama3 frequency scaling applied exactly as HF transformers does.
std::vector<double> rope_inverse_frequencies(const ModelConfig& config);

}  // namespace sb

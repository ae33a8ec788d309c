#include "model/config.h"

#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace sb {

using nlohmann::json;

namespace {

// Readers for one config.json key: each failure names the file and the key.
struct JsonReader {
  const json& object;
  const std::string& origin;

  const json* find(const char* key) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
  }
  const json& require(const char* key) const {
    const json* value = find(key);
    if (!value) fail("{}: required key '{}' is missing", origin, key);
    return *value;
  }
  int64_t integer(const json& value, const char* key) const {
    if (value.is_number_integer()) return value.get<int64_t>();
    // Some tools write integral values as 8192.0.
    if (value.is_number_float() && std::nearbyint(value.get<double>()) == value.get<double>())
      return int64_t(value.get<double>());
    fail("{}: key '{}' must be an integer, got {}", origin, key, value.dump());
  }
  int64_t integer(const char* key) const { return integer(require(key), key); }
  int64_t integer(const char* key, int64_t fallback) const {
    const json* value = find(key);
    return value ? integer(*value, key) : fallback;
  }
  double number(const json& value, const char* key) const {
    if (!value.is_number()) fail("{}: key '{}' must be a number, got {}", origin, key, value.dump());
    return value.get<double>();
  }
  double number(const char* key) const { return number(require(key), key); }
  double number(const char* key, double fallback) const {
    const json* value = find(key);
    return value ? number(*value, key) : fallback;
  }
  bool boolean(const char* key, bool fallback) const {
    const json* value = find(key);
    if (!value) return fallback;
    if (!value->is_boolean()) fail("{}: key '{}' must be true or false, got {}", origin, key, value->dump());
    return value->get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    const json* value = find(key);
    if (!value) return fallback;
    if (!value->is_string()) fail("{}: key '{}' must be a string, got {}", origin, key, value->dump());
    return value->get<std::string>();
  }
};

// The llama3 fields are the same in the classic rope_scaling object and in
// transformers-5's rope_parameters object.
RopeScaling parse_rope_scaling(const json& object, const std::string& origin, const std::string& where) {
  if (!object.is_object()) fail("{}: '{}' must be an object, got {}", origin, where, object.dump());
  const std::string context = origin + ": " + where;
  JsonReader reader{object, context};
  std::string type = reader.string("rope_type", reader.string("type", "default"));
  RopeScaling scaling;
  if (type == "default" || type == "none") return scaling;
  if (type != "llama3")
    fail("{}: rope type '{}' is not supported (only llama3 frequency scaling or none)", context, type);
  scaling.type = "llama3";
  scaling.factor = reader.number("factor");
  scaling.low_freq_factor = reader.number("low_freq_factor");
  scaling.high_freq_factor = reader.number("high_freq_factor");
  scaling.original_max_position_embeddings = reader.integer("original_max_position_embeddings");
  return scaling;
}

std::vector<int64_t> parse_token_ids(const JsonReader& reader, const char* key) {
  const json* value = reader.find(key);
  if (!value) return {};
  if (!value->is_array()) return {reader.integer(*value, key)};
  std::vector<int64_t> ids;
  for (const json& id : *value) ids.push_back(reader.integer(id, key));
  return ids;
}

}  // namespace

ModelConfig parse_config_json(const std::string& json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON ({})", origin, e.what());
  }
  if (!root.is_object()) fail("{}: expected a JSON object at the top level", origin);
  JsonReader reader{root, origin};

  std::string model_type = reader.string("model_type", "");
  if (model_type != "llama")
    fail("{}: model_type is '{}', but only Llama models (model_type \"llama\") are supported", origin, model_type);
  // The forward pass implements SwiGLU without biases; anything else would run silently wrong.
  std::string act = reader.string("hidden_act", "silu");
  if (act != "silu") fail("{}: hidden_act '{}' is not supported (only silu)", origin, act);
  if (reader.boolean("attention_bias", false)) fail("{}: attention_bias=true is not supported", origin);
  if (reader.boolean("mlp_bias", false)) fail("{}: mlp_bias=true is not supported", origin);

  ModelConfig config;
  config.vocab_size = reader.integer("vocab_size");
  config.hidden_size = reader.integer("hidden_size");
  config.intermediate_size = reader.integer("intermediate_size");
  config.num_layers = reader.integer("num_hidden_layers");
  config.num_heads = reader.integer("num_attention_heads");
  config.num_kv_heads = reader.integer("num_key_value_heads", config.num_heads);
  SB_REQUIRE(config.num_heads > 0, "{}: num_attention_heads must be positive, got {}", origin, config.num_heads);
  if (!reader.find("head_dim") && config.hidden_size % config.num_heads != 0)
    fail("{}: no head_dim, and hidden_size ({}) is not a multiple of num_attention_heads ({})", origin,
         config.hidden_size, config.num_heads);
  config.head_dim = reader.integer("head_dim", config.hidden_size / config.num_heads);
  // Defaults are transformers' LlamaConfig defaults, used when a key is absent.
  config.rms_norm_eps = reader.number("rms_norm_eps", 1e-6);
  config.max_position_embeddings = reader.integer("max_position_embeddings", 2048);
  config.bos_token_id = reader.integer("bos_token_id", -1);
  config.eos_token_ids = parse_token_ids(reader, "eos_token_id");
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", false);

  if (const json* parameters = reader.find("rope_parameters")) {
    // transformers 5: {"rope_type": ..., "rope_theta": ..., llama3 fields}.
    config.rope_scaling = parse_rope_scaling(*parameters, origin, "rope_parameters");
    JsonReader rope{*parameters, origin + ": rope_parameters"};
    config.rope_theta = rope.number("rope_theta", reader.number("rope_theta", 10000.0));
  } else {
    config.rope_theta = reader.number("rope_theta", 10000.0);
    if (const json* scaling = reader.find("rope_scaling"))
      config.rope_scaling = parse_rope_scaling(*scaling, origin, "rope_scaling");
  }
  return config;
}

ModelConfig load_config_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open model config '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_config_json(text.str(), path);
}

namespace {

ModelConfig llama3_8b_shape() {
  ModelConfig c;
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_layers = 32;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  c.tie_word_embeddings = false;
  return c;
}

RopeScaling llama31_scaling() {
  RopeScaling s;
  s.type = "llama3";
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position_embeddings = 8192;
  return s;
}

// A Llama-3.1 model of these widths: Llama-3's vocabulary, 8 KV heads of 128,
// the 3.1 RoPE scaling, 128K positions and its end-of-turn ids (the 8B, 70B and
// 405B config.json files differ in these four numbers only).
ModelConfig llama31_shape(int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads) {
  ModelConfig c = llama3_8b_shape();
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_layers = layers;
  c.num_heads = heads;
  c.rope_scaling = llama31_scaling();
  c.max_position_embeddings = 131072;
  c.eos_token_ids = {128001, 128008, 128009};
  return c;
}

}  // namespace

ModelConfig preset_config(const std::string& name) {
  ModelConfig c;
  if (name == "llama3-8b") {  // meta-llama/Meta-Llama-3-8B config.json
    c = llama3_8b_shape();
    c.max_position_embeddings = 8192;
  } else if (name == "llama3.1-8b") {  // meta-llama/Llama-3.1-8B config.json
    c = llama31_shape(4096, 14336, 32, 32);
  } else if (name == "llama3.1-70b") {  // meta-llama/Llama-3.1-70B config.json
    c = llama31_shape(8192, 28672, 80, 64);
  } else if (name == "llama3.1-405b") {  // meta-llama/Llama-3.1-405B config.json
    c = llama31_shape(16384, 53248, 126, 128);
  } else if (name == "llama3-8b-gradient-1048k") {
    // gradientai/Llama-3-8B-Instruct-Gradient-1048k config.json: Llama-3-8B shapes,
    // "rope_theta": 3580165449.0, "max_position_embeddings": 1048576, no rope_scaling
    // (the long context comes from the raised RoPE base alone).
    c = llama3_8b_shape();
    c.rope_theta = 3580165449.0;
    c.max_position_embeddings = 1048576;
    c.eos_token_ids = {128001, 128009};
  } else if (name == "tiny" || name == "tiny-llama3-vocab") {
    // CPU tests and benchmarks; matches tests/reference/data/tiny-llama3 except max
    // positions. original_max_position_embeddings=64 makes llama3 scaling matter at
    // short lengths.
    c.vocab_size = 512;
    c.hidden_size = 128;
    c.intermediate_size = 384;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 32;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 500000.0;
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 64;
    c.max_position_embeddings = int64_t(1) << 20;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    c.tie_word_embeddings = false;
    if (name == "tiny-llama3-vocab") {
      // The tiny shapes with the real Llama-3 vocabulary and special ids, so
      // that text tokenized by the real tokenizer runs end to end on a CPU.
      c.vocab_size = 128256;
      c.bos_token_id = 128000;
      c.eos_token_ids = {128001, 128008, 128009};
    }
  } else {
    std::string known;
    for (const std::string& preset : preset_names()) known += (known.empty() ? "" : ", ") + preset;
    fail("unknown model preset '{}' (known presets: {})", name, known);
  }
  c.name = name;
  return c;
}

std::vector<std::string> preset_names() {
  return {"llama3-8b",        "llama3.1-8b", "llama3.1-70b",     "llama3.1-405b",
          "llama3-8b-gradient-1048k", "tiny",        "tiny-llama3-vocab"};
}

void validate_config(const ModelConfig& c) {
  const std::string& who = c.name.empty() ? std::string("model config") : "model config '" + c.name + "'";
  auto positive = [&](const char* field, int64_t value) {
    if (value <= 0) fail("{}: {} must be positive, got {}", who, field, value);
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_layers);
  positive("num_attention_heads", c.num_heads);
  positive("num_key_value_heads", c.num_kv_heads);
  positive("head_dim", c.head_dim);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (c.num_heads % c.num_kv_heads != 0)
    fail("{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", who, c.num_heads,
         c.num_kv_heads);
  if (c.head_dim % 2 != 0) fail("{}: head_dim must be even for RoPE, got {}", who, c.head_dim);
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps))
    fail("{}: rms_norm_eps must be a positive number, got {}", who, c.rms_norm_eps);
  if (!(c.rope_theta > 1) || !std::isfinite(c.rope_theta))
    fail("{}: rope_theta must be a finite number > 1, got {}", who, c.rope_theta);
  for (int64_t id : c.eos_token_ids)
    if (id < 0 || id >= c.vocab_size) fail("{}: eos_token_id {} is outside the vocabulary [0, {})", who, id, c.vocab_size);
  if (c.bos_token_id >= c.vocab_size)
    fail("{}: bos_token_id {} is outside the vocabulary [0, {})", who, c.bos_token_id, c.vocab_size);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "llama3") {
    if (!(s.factor >= 1) || !std::isfinite(s.factor))
      fail("{}: llama3 rope scaling factor must be >= 1, got {}", who, s.factor);
    if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor))
      fail("{}: llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor, got {} and {}", who,
           s.low_freq_factor, s.high_freq_factor);
    if (s.original_max_position_embeddings <= 0)
      fail("{}: llama3 rope scaling original_max_position_embeddings must be positive, got {}", who,
           s.original_max_position_embeddings);
  } else if (s.type != "none") {
    fail("{}: rope scaling type '{}' is not supported (llama3 or none)", who, s.type);
  }
}

std::vector<double> rope_inverse_frequencies(const ModelConfig& c) {
  // transformers' _compute_default_rope_parameters then _compute_llama3_parameters,
  // in double rather than float32.
  std::vector<double> inv(size_t(c.head_dim / 2));
  for (size_t i = 0; i < inv.size(); ++i) inv[i] = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(c.head_dim));
  if (c.rope_scaling.type != "llama3") return inv;
  const RopeScaling& s = c.rope_scaling;
  const double old_context = double(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / s.low_freq_factor;
  const double high_freq_wavelen = old_context / s.high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen > low_freq_wavelen) {
      f = f / s.factor;  // low frequencies: interpolated
    } else if (!(wavelen < high_freq_wavelen)) {
      // medium frequencies: blend between interpolated and unchanged
      const double smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = (1 - smooth) * f / s.factor + smooth * f;
    }  // high frequencies: unchanged
  }
  return inv;
}

int64_t ModelConfig::parameter_count() const {
  const int64_t q = num_heads * head_dim, kv = num_kv_heads * head_dim;
  const int64_t per_layer = hidden_size /* input norm */ + hidden_size * q + 2 * hidden_size * kv + q * hidden_size +
                            hidden_size /* post-attention norm */ + 3 * hidden_size * intermediate_size;
  const int64_t embedding = vocab_size * hidden_size;
  return embedding + num_layers * per_layer + hidden_size /* final norm */ + (tie_word_embeddings ? 0 : embedding);
}

double ModelConfig::dense_flops_per_token() const {
  // Every weight matrix is used once per token (the lm_head too, tied or not); the
  // embedding is a lookup and the norms are not matrix work.
  const double q = double(num_heads * head_dim), kv = double(num_kv_heads * head_dim), h = double(hidden_size);
  const double per_layer = h * q + 2 * h * kv + q * h + 3 * h * double(intermediate_size);
  return 2.0 * (double(num_layers) * per_layer + double(vocab_size) * h);
}

}  // namespace sb

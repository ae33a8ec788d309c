#include "model/weight_digest.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/checkpoint.h"
#include "util/error.h"
#include "util/file_digest.h"
#include "util/sha256.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

// The header of a safetensors file: its 8-byte little-endian length and the JSON.
std::string safetensors_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SB_REQUIRE(in.good(), "cannot read {} (to take its digest)", path);
  unsigned char length_bytes[8] = {};
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  SB_REQUIRE(in.gcount() == 8, "{}: shorter than a safetensors header", path);
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | length_bytes[i];
  SB_REQUIRE(length <= (uint64_t(100) << 20), "{}: safetensors header of {} bytes", path, length);
  std::string header(reinterpret_cast<char*>(length_bytes), 8);
  header.resize(8 + length);
  in.read(header.data() + 8, std::streamsize(length));
  SB_REQUIRE(uint64_t(in.gcount()) == length, "{}: the safetensors header is cut short", path);
  return header;
}

}  // namespace

ModelDigest checkpoint_digest(const std::string& model_dir) {
  const std::shared_ptr<Checkpoint> checkpoint = Checkpoint::open(model_dir);
  const fs::path dir(model_dir);
  Sha256 hash;
  hash.update("starbench-model/1 safetensors\n");
  hash.update("config.json=" + file_sha256((dir / "config.json").string()) + "\n");
  const fs::path index = dir / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index, ec)) hash.update("index=" + file_sha256(index.string()) + "\n");
  uint64_t total = 0;
  bool sampled = false;
  const std::vector<std::string> files = checkpoint->shard_files();
  for (const std::string& file : files) {
    const std::string path = (dir / file).string();
    const SampledDigest content = sampled_file_sha256(path);
    total += content.size;
    sampled = sampled || content.sampled;
    hash.update(fmt::format("file={};size={};header={};content={}\n", file, content.size,
                            sha256_hex(safetensors_header(path)), content.sha256));
  }
  return {hash.finish_hex(),
          fmt::format("safetensors, {} file(s), {:.2f} GB; headers, sizes and content {}", files.size(),
                      double(total) / 1e9,
                      sampled ? fmt::format("sampled ({} x {} MiB per file over {} MiB)", kSampleChunks,
                                            kSampleChunkBytes >> 20, kWholeFileBytes >> 20)
                              : "hashed whole")};
}

ModelDigest synthetic_weights_digest(const ModelConfig& config, const std::string& preset, uint64_t weight_seed) {
  const RopeScaling& rope = config.rope_scaling;
  const std::string text = fmt::format(
      "starbench-model/1 synthetic\npreset={}\nweight_seed={}\nname={};vocab_size={};hidden_size={};"
      "intermediate_size={};num_layers={};num_heads={};num_kv_heads={};head_dim={};rms_norm_eps={:.17g};"
      "rope_theta={:.17g};rope_scaling={},{:.17g},{:.17g},{:.17g},{};max_position_embeddings={};bos={};"
      "eos={};tie_word_embeddings={}\n",
      preset, weight_seed, config.name, config.vocab_size, config.hidden_size, config.intermediate_size,
      config.num_layers, config.num_heads, config.num_kv_heads, config.head_dim, config.rms_norm_eps,
      config.rope_theta, rope.type, rope.factor, rope.low_freq_factor, rope.high_freq_factor,
      rope.original_max_position_embeddings, config.max_position_embeddings, config.bos_token_id,
      fmt::join(config.eos_token_ids, ","), int(config.tie_word_embeddings));
  return {sha256_hex(text), fmt::format("synthetic, preset {}, weight seed {}", preset, weight_seed)};
}

}  // namespace sb

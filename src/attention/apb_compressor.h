#pragma once
// APB's compressor (the Locret retaining head, one per layer): scores each row
// of a host's [anchor; block] for every KV head from the row's pre-RoPE q, k
// and v, scores = fc2(silu(fc1(concat(q, k, v)))), fc1 [hidden, (Hq + 2 Hkv) d]
// and fc2 [Hkv, hidden], no biases. Weights come from DIR/compressor.safetensors
// (layers.{i}.fc1.weight, layers.{i}.fc2.weight; docs/APB.md; made by
// jobs/apb/convert_compressor.py from thunlp's checkpoints) or are seeded
// synthetic ones (random:SEED, hidden kApbRandomHidden), uploaded once through
// the backend. fc1 is uploaded as its three column blocks (q, k, v inputs), so
// scoring is three accumulated matmuls over the q/k/v views as they are.
#include <cstdint>
#include <string>
#include <vector>

#include "attention/apb_settings.h"
#include "backend/backend.h"
#include "model/config.h"

namespace sb {

class ApbCompressor {
 public:
  // Opens and checks (every layer's two tensors, shapes against `config`,
  // nothing else in the file: sb::Error naming the file and tensor) and uploads.
  ApbCompressor(const ApbCompressorSource& source, const ModelConfig& config, Backend& backend);

  int64_t hidden() const { return hidden_; }
  int64_t num_layers() const { return int64_t(layers_.size()); }
  // SHA-256 of compressor.safetensors (sampled past 256 MiB, like checkpoints),
  // or "random:SEED:hidden=H": the compressor's part of a run's identity.
  const std::string& digest() const { return digest_; }
  // "DIR/compressor.safetensors (BF16, hidden 1024, 32 layers; source: ...)".
  const std::string& describe() const { return description_; }

  // scores [T, Hkv] (act dtype) of the T rows of pre-RoPE q [T, Hq, d], k and
  // v [T, Hkv, d]; hidden_scratch [>= T, hidden] holds fc1's output.
  void score(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& hidden_scratch,
             Tensor& scores) const;

  // Bytes of the uploaded weights in `dtype`.
  static size_t weight_bytes(const ModelConfig& config, int64_t hidden, DType dtype);

 private:
  struct Layer {
    Tensor fc1_q, fc1_k, fc1_v, fc2;  // fc1's column blocks [hidden, Hq d], [hidden, Hkv d] x 2; fc2 [Hkv, hidden]
  };
  Backend& backend_;
  int64_t hidden_ = 0;
  std::vector<Layer> layers_;
  std::string digest_, description_;
};

}  // namespace sb

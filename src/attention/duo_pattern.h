#pragma once
// DuoAttention head patterns (Xiao et al., arXiv 2410.10819; the format and
// rules of github.com/mit-han-lab/duo-attention, duo_attn/utils.py): a gate
// alpha per (layer, KV head) in `full_attention_heads.tsv` (rows = layers,
// columns = KV heads, tab-separated), next to a config.json holding
// `sink_size` and `recent_size`. A head is a retrieval head (full KV cache)
// when alpha >= threshold, else a streaming head (sink + recent window).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/head_selection.h"

namespace sb {

struct ModelConfig;

// The pattern as the user names it (--duo-* flags).
struct DuoOptions {
  // "" (no duo), a directory holding full_attention_heads.tsv and config.json,
  // a bare .tsv, or random:SEED (seeded uniform gates, for timing runs).
  std::string pattern;
  int64_t sink = -1, recent = -1;  // -1: the directory's config.json
  double threshold = NAN;          // retrieval iff alpha >= threshold (0.5 when neither is given)
  double sparsity = NAN;           // instead of a threshold: this fraction of heads streams
  bool enabled() const { return !pattern.empty(); }
};

struct DuoPattern {
  std::string source;  // the pattern as given (path or random:SEED)
  int64_t num_layers = 0, num_kv_heads = 0;
  int64_t sink = 0, recent = 0;
  std::vector<double> alphas;      // [layer * num_kv_heads + head], clipped to [0, 1] as DuoAttention loads them
  std::vector<uint8_t> retrieval;  // 1: retrieval head, 0: streaming head
  double threshold = 0.5;          // the one applied
  double requested_sparsity = NAN; // --duo-sparsity; NaN when a threshold decided

  bool is_retrieval(int64_t layer, int64_t head) const { return retrieval.at(size_t(layer * num_kv_heads + head)); }
  int64_t streaming_count() const;  // streaming KV heads over all layers
  int64_t retrieval_count() const { return num_layers * num_kv_heads - streaming_count(); }
  // Fraction of KV heads that stream (DuoAttention's "sparsity"), as applied.
  double sparsity() const {
    return double(streaming_count()) / double(std::max<int64_t>(1, num_layers * num_kv_heads));
  }
  HeadSelection retrieval_heads(int64_t layer) const;
  HeadSelection streaming_heads(int64_t layer) const;
  // "random:1 (32 layers x 8 KV heads): 128 of 256 KV heads streaming (sparsity 0.500), sink 128, recent 256"
  std::string describe() const;
};

// Loads the pattern the options name and checks it against the model's shape
// (num_layers x num_kv_heads); throws sb::Error naming the file and the shapes
// (wrong shape, missing sink/recent, unreadable or malformed file).
DuoPattern load_duo_pattern(const DuoOptions& options, const ModelConfig& config);

// DuoAttention's sparsify_attention_heads: the threshold that makes a fraction
// `sparsity` of the gates stream is numpy.quantile(alphas, sparsity) (linear
// interpolation); sparsity >= 1 streams every head (threshold 2), <= 0 none (-1).
// Unlike DuoAttention no tie-breaking noise is added: tied gates at the
// threshold are all retrieval heads, so the applied sparsity can be lower.
double duo_threshold_for_sparsity(std::vector<double> alphas, double sparsity);

// The pattern's heads by kind, per layer, for the model's attention.
struct DuoHeads {
  std::vector<HeadSelection> retrieval_kv, streaming_kv;  // of the KV heads
  std::vector<HeadSelection> retrieval_q, streaming_q;    // of the query heads (a KV head's GQA group)
  DuoHeads() = default;
  DuoHeads(const DuoPattern& pattern, int64_t num_heads);
};

}  // namespace sb

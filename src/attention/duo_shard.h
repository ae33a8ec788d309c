#pragma once
// A DuoAttention pattern on one GPU of a tensor-split host: the gates of the
// KV heads that GPU holds (engine/model_shard.h), so that duo and
// star + duo run unchanged on the host's per-GPU heads.
#include <memory>

#include "attention/duo_pattern.h"
#include "engine/model_shard.h"

namespace sb {

// The pattern itself when the shard is the whole model; otherwise its rows
// [layer_begin, +layers) and columns [kv_head_begin, +kv_heads), with the same
// source, threshold, sink and recent (what identifies a run's pattern).
std::shared_ptr<const DuoPattern> shard_duo_pattern(std::shared_ptr<const DuoPattern> pattern,
                                                    const ModelShard& shard);

}  // namespace sb

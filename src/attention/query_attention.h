#pragma once
// Phase 2 (the query and each generated token), shared by every method: each
// rank attends with the query to the KV it holds and the partial results are
// merged by log-sum-exp on the query rank (AttentionMethod's QueryAttention;
// duo's DuoQueryAttention routes its retrieval heads through the same steps).
#include <cstdint>
#include <vector>

#include "comm/comm.h"
#include "engine/kv_cache.h"

namespace sb {

// Phase-2 building blocks, shared by the query attention of every method.
// This rank's partial attention of q to the KV it holds: its context KV (no
// mask: the query follows the whole context) and, on the query rank, the tail
// KV (the query/generated tokens; k and v are appended to it first;
// bottom-right causal), merged by log-sum-exp into out and lse.
void attend_held_kv(Backend& backend, int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                    const KvCache* context, KvCache* tail, float scale, Tensor& out, Tensor& lse);
// attend_held_kv for one decoding token at a position in device memory: the
// tail's row is written by position (first tail position tail_position0) and
// the context and tail blocks attended to in one Backend::attention_blocks;
// q_heads as there (the tail and context then hold only their KV heads).
void attend_held_kv_at(Backend& backend, int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                       const KvCache* context, KvCache* tail, const Tensor& positions, int64_t tail_position0,
                       const std::vector<int64_t>& q_heads, float scale, Tensor& out, Tensor& lse);
// Gathers every rank's (out, lse) on `root` and merges them there in rank
// order (so the result does not depend on arrival order) into out and lse.
void merge_on_root(Backend& backend, Comm& comm, Tensor& out, Tensor& lse, int root);

}  // namespace sb

#pragma once
// A subset of the heads of [T, H, d] tensors (DuoAttention's retrieval or
// streaming heads of one layer), and the copies between a full tensor and a
// packed [T, size(), d] one (one Backend::copy_head_list each).
#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace sb {

class HeadSelection {
 public:
  HeadSelection() = default;
  // `heads`: ascending, distinct, each in [0, total_heads).
  HeadSelection(std::vector<int64_t> heads, int64_t total_heads);
  static HeadSelection all(int64_t total_heads);

  int64_t size() const { return int64_t(heads_.size()); }
  int64_t total() const { return total_; }
  bool empty() const { return heads_.empty(); }
  bool is_all() const { return size() == total_; }
  const std::vector<int64_t>& heads() const { return heads_; }
  // KV heads -> the query heads that read them (GQA: kv head g serves query
  // heads [g * group, (g + 1) * group)).
  HeadSelection expand(int64_t group) const;

  // packed rows [packed_row, +rows) <- the selected heads of full rows [full_row, +rows).
  void gather(Backend& backend, Tensor& packed, int64_t packed_row, const Tensor& full, int64_t full_row,
              int64_t rows) const;
  // The selected heads of full rows [full_row, +rows) <- packed rows [packed_row, +rows).
  void scatter(Backend& backend, Tensor& full, int64_t full_row, const Tensor& packed, int64_t packed_row,
               int64_t rows) const;
  // [rows, size(), d] holding the selected heads of `full` (`full` itself when
  // every head is selected: no copy).
  Tensor packed(Backend& backend, const Tensor& full) const;

 private:
  std::vector<int64_t> heads_;   // full-tensor index of packed head i
  std::vector<int64_t> packed_;  // 0, 1, ..., size() - 1
  int64_t total_ = 0;
};

}  // namespace sb

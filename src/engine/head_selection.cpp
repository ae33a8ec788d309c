#include "engine/head_selection.h"

#include "util/error.h"

namespace sb {

HeadSelection::HeadSelection(std::vector<int64_t> heads, int64_t total_heads)
    : heads_(std::move(heads)), total_(total_heads) {
  SB_REQUIRE(total_ >= 0, "head selection of {} heads", total_);
  for (size_t i = 0; i < heads_.size(); ++i) {
    SB_REQUIRE(heads_[i] >= 0 && heads_[i] < total_ && (i == 0 || heads_[i] > heads_[i - 1]),
               "head selection: head {} is out of [0, {}) or out of order", heads_[i], total_);
    packed_.push_back(int64_t(i));
  }
}

HeadSelection HeadSelection::all(int64_t total_heads) {
  std::vector<int64_t> heads(size_t(std::max<int64_t>(total_heads, 0)));
  for (int64_t h = 0; h < total_heads; ++h) heads[size_t(h)] = h;
  return HeadSelection(std::move(heads), total_heads);
}

HeadSelection HeadSelection::expand(int64_t group) const {
  std::vector<int64_t> expanded;
  expanded.reserve(heads_.size() * size_t(group));
  for (int64_t head : heads_) {
    for (int64_t i = 0; i < group; ++i) expanded.push_back(head * group + i);
  }
  return HeadSelection(std::move(expanded), total_ * group);
}

void HeadSelection::gather(Backend& backend, Tensor& packed, int64_t packed_row, const Tensor& full,
                           int64_t full_row, int64_t rows) const {
  SB_REQUIRE(full.rank() == 3 && full.dim(1) == total_ && packed.rank() == 3 && packed.dim(1) == size(),
             "head selection of {} of {} heads: cannot pack {} into {}", size(), total_, full.describe(),
             packed.describe());
  backend.copy_head_list(packed, packed_row, full, full_row, rows, packed_, heads_);
}

void HeadSelection::scatter(Backend& backend, Tensor& full, int64_t full_row, const Tensor& packed,
                            int64_t packed_row, int64_t rows) const {
  SB_REQUIRE(full.rank() == 3 && full.dim(1) == total_ && packed.rank() == 3 && packed.dim(1) == size(),
             "head selection of {} of {} heads: cannot unpack {} into {}", size(), total_, packed.describe(),
             full.describe());
  backend.copy_head_list(full, full_row, packed, packed_row, rows, heads_, packed_);
}

Tensor HeadSelection::packed(Backend& backend, const Tensor& full) const {
  if (is_all()) return full;
  Tensor packed = backend.empty(full.dtype(), {full.dim(0), size(), full.dim(2)});
  gather(backend, packed, 0, full, 0, full.dim(0));
  return packed;
}

}  // namespace sb

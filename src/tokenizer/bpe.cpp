#include "tokenizer/bpe.h"

#include <queue>

namespace sb {

void BpeModel::add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged_id) {
  // A repeated pair keeps its first (best) rank, as in Hugging Face tokenizers.
  merges_.emplace(key(left, right), Merge{rank, merged_id});
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>* out) const {
  const int n = static_cast<int>(piece.size());
  if (n == 0) return;
  std::vector<int32_t> id(n);
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_id_[static_cast<uint8_t>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  if (n == 1) {
    out->push_back(id[0]);
    return;
  }
  // Candidate merges keyed by (rank, left position); stale ones are skipped when popped.
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto consider = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const Merge* m = find(id[pos], id[next[pos]])) queue.push({m->rank, pos, id[pos], id[next[pos]]});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    const int right = next[c.pos];
    if (id[c.pos] != c.left || right < 0 || id[right] != c.right) continue;  // stale
    id[c.pos] = find(c.left, c.right)->merged_id;
    id[right] = -1;  // dead
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  for (int i = 0; i >= 0; i = next[i]) out->push_back(id[i]);
}

}  // namespace sb

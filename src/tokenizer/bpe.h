#pragma once
// Byte-pair merging of one pre-tokenized piece, by merge rank (lowest first,
// leftmost on ties, as Hugging Face tokenizers does). Works on token ids: a piece
// starts as its bytes' ids and each merge replaces a pair with the merged id.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sb {

class BpeModel {
 public:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };

  void set_byte_id(uint8_t byte, int32_t id) { byte_id_[byte] = id; }
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged_id);
  void reserve(size_t merges) { merges_.reserve(merges); }

  // Appends the ids of piece (raw bytes) to out. O(n log n) in the piece length,
  // so a long run of spaces or digits-free symbols does not go quadratic.
  void encode_piece(std::string_view piece, std::vector<int32_t>* out) const;

 private:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const Merge* find(int32_t left, int32_t right) const {
    auto it = merges_.find(key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }

  int32_t byte_id_[256] = {};
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace sb

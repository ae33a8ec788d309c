#pragma once
// SHA-256 (FIPS 180-4, section 6.2), written here from the standard: the digest
// of a run's identity (the inputs that determine its result) and the checksums
// of stored datasets. Tested against the standard's examples
// (tests/unit/util/test_sha256.cpp).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb {

class Sha256 {
 public:
  Sha256();
  // Appends bytes to the message.
  Sha256& update(const void* data, size_t size);
  Sha256& update(std::string_view text) { return update(text.data(), text.size()); }
  // Pads the message, returns its digest and starts a new, empty message.
  std::array<uint8_t, 32> finish();
  // finish() as 64 lower-case hex digits.
  std::string finish_hex();

 private:
  void compress(const uint8_t* block);  // one 64-byte block into state_
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> pending_{};  // the start of a block not yet full
  size_t pending_size_ = 0;
  uint64_t message_bytes_ = 0;
};

// The digest of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);
// Lower-case hex of bytes.
std::string to_hex(const uint8_t* bytes, size_t size);

}  // namespace sb

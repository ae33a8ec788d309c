#pragma once
// A hash of what one launch bakes into a CUDA graph (pointers, sizes, scalars):
// a replayed decoding step checks each of its launches against the capture's.
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

namespace sb {

class OpSignature {
 public:
  explicit OpSignature(const char* what) { add_bytes(what, std::strlen(what)); }
  template <typename T>
  OpSignature& operator<<(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>, "hash plain values");
    add_bytes(&value, sizeof value);
    return *this;
  }
  // A parameter struct whose padding was zeroed (zeroed() below).
  template <typename T>
  OpSignature& add_struct(const T& value) {
    add_bytes(&value, sizeof value);
    return *this;
  }
  uint64_t value() const { return hash_; }

 private:
  void add_bytes(const void* data, size_t size) {
    const unsigned char* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) hash_ = (hash_ ^ bytes[i]) * 1099511628211ull;  // FNV-1a
  }
  uint64_t hash_ = 14695981039346656037ull;
};

// Resets a kernel parameter struct to its defaults with its padding zeroed, so
// that its bytes (add_struct) are a function of its fields alone.
template <typename T>
void reset_zeroed(T& value) {
  static_assert(std::is_trivially_copyable_v<T>, "kernel parameters are plain structs");
  std::memset(static_cast<void*>(&value), 0, sizeof(T));
  new (&value) T;
}

}  // namespace sb

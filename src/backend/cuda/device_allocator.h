#pragma once
// A caching device allocator with accounting. Freed blocks go back to a free
// list keyed by rounded size and are reused by later allocations; all work runs
// on one stream per backend, so stream order makes the reuse safe. When
// cudaMalloc fails, the cache is returned to the driver and the call retried
// once before the error names the size, what is in use and what is free.
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace sb {

class DeviceAllocator {
 public:
  explicit DeviceAllocator(int device);
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // Storage that returns its block to this allocator when the last owner drops it.
  // `what` names the request in the out-of-memory message.
  static std::shared_ptr<void> allocate(const std::shared_ptr<DeviceAllocator>& self, size_t bytes, const char* what);

  size_t bytes_in_use() const;
  size_t peak_bytes() const;
  void reset_peak();

 private:
  void* take(size_t& rounded, const char* what);  // rounded: in = asked, out = block size
  void give_back(void* ptr, size_t rounded);

  int device_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  size_t in_use_ = 0, peak_ = 0;
};

}  // namespace sb

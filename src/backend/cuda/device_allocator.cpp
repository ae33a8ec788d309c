#include "backend/cuda/device_allocator.h"

#include <cuda_runtime_api.h>

#include "backend/cuda/check_cuda.h"
#include "backend/device_block_size.h"

namespace sb {

DeviceAllocator::DeviceAllocator(int device) : device_(device) {}

DeviceAllocator::~DeviceAllocator() {
  // Not CUDA_CHECK: a destructor must not throw, and at process exit the
  // driver may already be shutting down.
  for (auto& [size, ptr] : free_) cudaFree(ptr);
}

std::shared_ptr<void> DeviceAllocator::allocate(const std::shared_ptr<DeviceAllocator>& self, size_t bytes,
                                                const char* what) {
  size_t rounded = device_block_size(bytes);
  void* ptr = self->take(rounded, what);
  return std::shared_ptr<void>(ptr, [self, rounded](void* p) { self->give_back(p, rounded); });
}

void* DeviceAllocator::take(size_t& rounded, const char* what) {
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  // A cached block up to 1/8 larger than asked: reuse without much waste.
  auto it = free_.lower_bound(rounded);
  if (it != free_.end() && it->first <= rounded + rounded / 8) {
    rounded = it->first;  // the caller's deleter returns the block under its true size
    ptr = it->second;
    free_.erase(it);
  }
  if (ptr == nullptr) {
    CUDA_CHECK(cudaSetDevice(device_));
    cudaError_t status = cudaMalloc(&ptr, rounded);
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error state of the failed malloc
      for (auto& [size, cached] : free_) cudaFree(cached);
      free_.clear();
      status = cudaMalloc(&ptr, rounded);
      if (status != cudaSuccess) {
        cudaGetLastError();
        size_t free_bytes = 0, total_bytes = 0;
        cudaMemGetInfo(&free_bytes, &total_bytes);
        fail("rank {}: out of GPU memory allocating {} ({:.1f} MiB): {} MiB in use by starbench, {} MiB free of {} MiB",
             current_rank(), what, double(rounded) / (1 << 20), in_use_ >> 20, free_bytes >> 20, total_bytes >> 20);
      }
    }
  }
  in_use_ += rounded;
  if (in_use_ > peak_) peak_ = in_use_;
  return ptr;
}

void DeviceAllocator::give_back(void* ptr, size_t rounded) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_use_ -= rounded;
  free_.emplace(rounded, ptr);
}

size_t DeviceAllocator::bytes_in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_use_;
}
size_t DeviceAllocator::peak_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}
void DeviceAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  peak_ = in_use_;
}

}  // namespace sb
